"""End to end: three sample days through staging, curated and marts on a real DuckDB file."""

import dagster as dg
import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.conftest import read_table

STATE_SQL = (
    "SELECT order_id, customer_id, status, amount, currency, created_at, updated_at, seq, "
    "is_deleted FROM curated.orders ORDER BY order_id"
)


def reference_state(landing_root) -> pl.DataFrame:
    """Current state computed independently: ROW_NUMBER over all raw events in plain SQL."""
    con = duckdb.connect()
    try:
        return con.sql(
            """
            WITH events AS (
                SELECT * FROM read_csv($glob, types = {
                    'amount': 'DECIMAL(18,2)', 'created_at': 'TIMESTAMP', 'updated_at': 'TIMESTAMP'
                })
            ), ranked AS (
                SELECT *, ROW_NUMBER() OVER (
                    PARTITION BY order_id ORDER BY updated_at DESC, seq DESC) AS rn
                FROM events
            )
            SELECT order_id, customer_id, status, amount, currency, created_at, updated_at, seq,
                   op = 'D' AS is_deleted
            FROM ranked WHERE rn = 1 ORDER BY order_id
            """,
            params={"glob": f"{landing_root}/orders/*/*.csv"},
        ).pl()
    finally:
        con.close()


def reference_marts(state: pl.DataFrame) -> pl.DataFrame:
    """Daily figures from the reference state, written in SQL over the frame."""
    con = duckdb.connect()
    try:
        con.register("state", state.to_arrow())
        return con.sql(
            """
            SELECT created_at::DATE AS business_date, status, currency,
                   count(*)::BIGINT AS orders, sum(amount)::DECIMAL(18,2) AS revenue
            FROM state WHERE NOT is_deleted
            GROUP BY ALL ORDER BY ALL
            """
        ).pl()
    finally:
        con.close()


@pytest.fixture
def three_days(settings, sample_days, materialize_partition):
    keys = sample_days(days=3, orders_per_day=400)
    for key in keys:
        materialize_partition(key)
    return keys


def test_curated_orders_equals_independent_reference(settings, three_days):
    curated = read_table(settings, STATE_SQL)
    expected = reference_state(settings.landing_dir)
    assert curated.height == 3 * 400
    assert curated["is_deleted"].sum() > 0
    assert_frame_equal(curated, expected)


def test_marts_equal_reference_for_days_whose_orders_are_final(settings, three_days):
    marts = read_table(settings, "SELECT * FROM marts.daily_orders ORDER BY ALL")
    expected = reference_marts(reference_state(settings.landing_dir))
    last_day = pl.lit(three_days[-1]).str.to_date()
    assert_frame_equal(
        marts.filter(pl.col("business_date") == last_day),
        expected.filter(pl.col("business_date") == last_day),
    )
    assert set(marts["business_date"].unique()) == set(expected["business_date"].unique())


def test_marts_recomputed_after_all_days_match_reference(
    settings, three_days, materialize_partition
):
    for key in three_days:
        materialize_partition(key)
    marts = read_table(settings, "SELECT * FROM marts.daily_orders ORDER BY ALL")
    assert_frame_equal(marts, reference_marts(reference_state(settings.landing_dir)))


def test_rematerializing_leaves_tables_identical(settings, three_days, materialize_partition):
    """Curated is settled after one pass; marts of early days settle once they are rerun
    after the late updates of later days (automatic recompute is a later issue)."""
    curated_sql = "SELECT * FROM curated.orders ORDER BY order_id"
    marts_sql = "SELECT * FROM marts.daily_orders ORDER BY ALL"
    before_curated = read_table(settings, curated_sql)
    for key in three_days:
        materialize_partition(key)
    assert_frame_equal(read_table(settings, curated_sql), before_curated)
    settled_marts = read_table(settings, marts_sql)
    for key in reversed(three_days):
        materialize_partition(key)
    assert_frame_equal(read_table(settings, curated_sql), before_curated)
    assert_frame_equal(read_table(settings, marts_sql), settled_marts)


def test_replay_in_reverse_order_gives_the_same_current_state(settings, sample_days, defs):
    import dagster as dg

    keys = sample_days(days=3, orders_per_day=400)
    job = defs.resolve_job_def("orders_daily_job")
    instance = dg.DagsterInstance.ephemeral()
    for key in reversed(keys):
        assert job.execute_in_process(partition_key=key, instance=instance).success
    curated = read_table(settings, STATE_SQL)
    assert_frame_equal(curated, reference_state(settings.landing_dir))


def test_staging_files_are_byte_identical_on_rerun(settings, three_days, materialize_partition):
    staged = sorted((settings.lake_dir / "staging" / "orders").rglob("*.parquet"))
    assert len(staged) == 3
    before = [p.read_bytes() for p in staged]
    materialize_partition(three_days[0])
    assert [p.read_bytes() for p in staged] == before


def test_a_run_in_one_process_does_not_keep_the_days_rows(settings, sample_days, defs):
    """``execute_in_process`` keeps every step's output until the run ends; once written, a
    publication keeps only its frames' schemas, so a day's rows are not held to the end."""
    day = sample_days(days=1)[0]
    result = defs.resolve_job_def("orders_daily_job").execute_in_process(
        partition_key=day, instance=dg.DagsterInstance.ephemeral()
    )
    assert result.success
    outputs = [
        result.output_for_node(node, "result")
        for node in ("staging__orders", "curated__orders", "marts__daily_orders")
    ]
    assert all(publication.frames for publication in outputs)  # each step wrote its day
    for publication in outputs:
        assert {key: frame.height for key, frame in publication.frames.items()} == {
            key: 0 for key in publication.frames
        }
    assert all(p.recompute is None and p.rebuild is None for p in outputs)  # nor staged days
    assert read_table(settings, "SELECT count(*) FROM curated.orders").item() > 0
    assert "order_id" in outputs[1].frames[day].columns  # the schema stays

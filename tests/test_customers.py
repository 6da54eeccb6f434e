"""The second dataset: daily customer snapshots and the revenue-by-segment mart."""

import dagster as dg
import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.conftest import read_table

RANGE = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
REVENUE_SQL = "SELECT * FROM marts.daily_revenue_by_segment ORDER BY ALL"


def reference(settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Snapshots and revenue computed independently from the landing files, in SQL."""
    con = duckdb.connect()
    try:
        params = {
            "orders": f"{settings.landing_dir}/orders/*/*.csv",
            "customers": f"{settings.landing_dir}/customers/*/*.csv",
        }
        con.execute(
            "CREATE TABLE snapshots AS SELECT customer_id, segment, country, signup_date, "
            "CAST(dt AS DATE) AS snapshot_date FROM read_csv($customers, hive_partitioning = true)",
            {"customers": params["customers"]},
        )
        snapshots = con.sql("SELECT * FROM snapshots ORDER BY snapshot_date, customer_id").pl()
        revenue = con.sql(
            """
            WITH events AS (SELECT * FROM read_csv($orders, types = {
                'amount': 'DECIMAL(18,2)', 'created_at': 'TIMESTAMP', 'updated_at': 'TIMESTAMP'})),
            latest AS (SELECT *, row_number() OVER (
                PARTITION BY order_id ORDER BY updated_at DESC, seq DESC) AS rn FROM events)
            SELECT o.created_at::DATE AS business_date, coalesce(s.segment, 'unknown') AS segment,
                   o.currency, count(*)::BIGINT AS orders, sum(o.amount)::DECIMAL(18,2) AS revenue
            FROM latest o LEFT JOIN snapshots s
              ON s.customer_id = o.customer_id AND s.snapshot_date = o.created_at::DATE
            WHERE o.rn = 1 AND o.op <> 'D' GROUP BY ALL ORDER BY ALL
            """,
            params={"orders": params["orders"]},
        ).pl()
        return snapshots, revenue
    finally:
        con.close()


@pytest.fixture
def run_job(defs):
    instance = dg.DagsterInstance.ephemeral()

    def run(job_name: str, first: str, last: str | None = None, ok=True, force=False):
        job = defs.resolve_job_def(job_name)
        tags = dict(zip(RANGE, (first, last or first), strict=True))
        if force:
            tags["platform/force"] = "true"
        result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
        assert result.success is ok
        return result

    return run


def ledger(settings, run_id: str) -> dict[str, str]:
    rows = read_table(
        settings,
        f"SELECT dataset, partition, status FROM platform.pipeline_runs WHERE run_id = '{run_id}'",  # noqa: S608
    )
    return {f"{d} {p}": s for d, p, s in rows.rows()}


@pytest.fixture
def published(settings, sample_days, run_job):
    keys = sample_days(days=3, orders_per_day=300)
    run_job("customers_daily_job", keys[0], keys[-1])
    run_job("orders_daily_job", keys[0], keys[-1])
    return keys


def test_both_datasets_end_to_end_match_reference(settings, published):
    snapshots, revenue = reference(settings)
    curated = read_table(
        settings,
        "SELECT customer_id, segment, country, signup_date, snapshot_date "
        "FROM curated.customers_daily ORDER BY snapshot_date, customer_id",
    )
    assert curated.height > 3 * 250
    assert_frame_equal(curated, snapshots)
    mart = read_table(settings, REVENUE_SQL)
    assert set(mart["segment"]) >= {"consumer", "smb", "enterprise"}
    assert_frame_equal(mart, revenue)


def change_segment(settings, day: str, segment: str) -> None:
    path = sorted((settings.landing_dir / "customers" / f"dt={day}").glob("*.csv"))[0]
    lines = path.read_text().splitlines()
    for i in range(1, 40):
        fields = lines[i].split(",")
        fields[1] = segment
        lines[i] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")


def test_changed_snapshot_recomputes_that_day_only(settings, published, run_job):
    change_segment(settings, published[1], "enterprise")
    result = run_job("customers_daily_job", published[0], published[-1])
    statuses = ledger(settings, result.run_id)
    changed = {k: v for k, v in statuses.items() if v == "succeeded"}
    assert changed == {
        f"staging/customers {published[1]}": "succeeded",
        f"curated/customers_daily {published[1]}": "succeeded",
        f"marts/daily_revenue_by_segment {published[1]}": "succeeded",
    }
    orders = run_job("orders_daily_job", published[0], published[-1])
    assert set(ledger(settings, orders.run_id).values()) == {"skipped"}
    _, revenue = reference(settings)
    assert_frame_equal(read_table(settings, REVENUE_SQL), revenue)


def test_failing_snapshot_blocks_the_revenue_mart(settings, published, run_job):
    before = read_table(settings, REVENUE_SQL)
    snapshots_before = read_table(settings, "SELECT * FROM curated.customers_daily ORDER BY ALL")
    change_segment(settings, published[1], "vip")
    failed = run_job("customers_daily_job", published[1], ok=False)
    checks = {e.asset_check_key.name: e.passed for e in failed.get_asset_check_evaluations()}
    assert checks["segment_allowed"] is False
    statuses = ledger(settings, failed.run_id)
    assert statuses[f"curated/customers_daily {published[1]}"] == "failed"
    # the only day of the step above failed, so the mart step did not run
    assert f"marts/daily_revenue_by_segment {published[1]}" not in statuses
    # forced: the mart is recomputed from what is published (the last good snapshot)
    forced = run_job("orders_daily_job", published[1], force=True)
    assert ledger(settings, forced.run_id)[f"marts/daily_revenue_by_segment {published[1]}"] == (
        "succeeded"
    )
    assert_frame_equal(read_table(settings, REVENUE_SQL), before)
    assert_frame_equal(
        read_table(settings, "SELECT * FROM curated.customers_daily ORDER BY ALL"),
        snapshots_before,
    )

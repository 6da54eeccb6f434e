"""Late-arriving data: a late change recomputes exactly the mart days it affects.

A run of the whole job catches up the earlier mart days its merge changed in its own mart
steps. The late-changes sensor covers the rest: a merge run without the marts (the
publishing assets materialized alone, as from the UI), then the day's marts on their own,
leaves the earlier days it changed stale until the sensor's run.
"""

import re

import dagster as dg
import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from platform_assets.core.ledger import Ledger
from platform_assets.orchestration.planner import catalog_of
from tests.conftest import read_table, request_span

HEADER = "op,seq,order_id,customer_id,status,amount,currency,created_at,updated_at"
MART = dg.AssetKey(["marts", "daily_orders"])
PUBLISHING = [dg.AssetKey(["staging", "orders"]), dg.AssetKey(["curated", "orders"])]


def event(op, seq, order, status, amount, created, updated, currency="USD") -> str:
    return f"{op},{seq},{order},7,{status},{amount},{currency},{created}.000000,{updated}.000000"


DAY1 = [
    event("I", 1, 1, "placed", "10.00", "2024-01-01 08:00:00", "2024-01-01 08:00:00"),
    event("I", 2, 2, "placed", "20.00", "2024-01-01 09:00:00", "2024-01-01 09:00:00"),
    event("U", 3, 2, "paid", "20.00", "2024-01-01 09:00:00", "2024-01-01 10:00:00"),
]
DAY2 = [event("I", 4, 3, "placed", "30.00", "2024-01-02 08:00:00", "2024-01-02 08:00:00")]
DAY3 = [
    event("I", 5, 4, "placed", "40.00", "2024-01-03 08:00:00", "2024-01-03 08:00:00"),
    event("U", 6, 1, "refunded", "10.00", "2024-01-01 08:00:00", "2024-01-03 09:00:00"),
]


def land(settings, day: str, rows: list[str], name: str = "cdc-00001.csv") -> None:
    folder = settings.landing_dir / "orders" / f"dt={day}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join([HEADER, *rows]) + "\n")


def all_events(settings) -> list[str]:
    return [
        line
        for path in sorted((settings.landing_dir / "orders").rglob("*.csv"))
        for line in path.read_text().splitlines()[1:]
    ]


def reference_marts(settings) -> pl.DataFrame:
    """Daily figures computed independently from every landing event, in SQL."""
    con = duckdb.connect()
    try:
        return con.sql(
            """
            WITH events AS (SELECT * FROM read_csv($glob, types = {
                'amount': 'DECIMAL(18,2)', 'created_at': 'TIMESTAMP', 'updated_at': 'TIMESTAMP'})),
            latest AS (SELECT *, row_number() OVER (
                PARTITION BY order_id ORDER BY updated_at DESC, seq DESC) AS rn FROM events)
            SELECT created_at::DATE AS business_date, status, currency,
                   count(*)::BIGINT AS orders, sum(amount)::DECIMAL(18,2) AS revenue
            FROM latest WHERE rn = 1 AND op <> 'D' GROUP BY ALL ORDER BY ALL
            """,
            params={"glob": f"{settings.landing_dir}/orders/*/*.csv"},
        ).pl()
    finally:
        con.close()


def marts(settings) -> pl.DataFrame:
    return read_table(settings, "SELECT * FROM marts.daily_orders ORDER BY ALL")


def ledger(settings) -> pl.DataFrame:
    return read_table(
        settings, "SELECT * FROM platform.pipeline_runs ORDER BY started_at, dataset, partition"
    )


def late_changes_ticks(defs: dg.Definitions):
    """A function that ticks orders_late_changes_sensor once (keeping its cursor) and
    returns the run requests."""
    instance = dg.DagsterInstance.ephemeral()
    sensor = defs.resolve_sensor_def("orders_late_changes_sensor")
    state = {"cursor": None}

    def tick() -> list[dg.RunRequest]:
        context = dg.build_sensor_context(
            cursor=state["cursor"],
            instance=instance,
            definitions=defs,
            resources={"warehouse": defs.resources["warehouse"]},
        )
        result = sensor.evaluate_tick(context)
        state["cursor"] = result.cursor
        return list(result.run_requests or [])

    return tick


def execute_request(
    defs: dg.Definitions, request: dg.RunRequest, instance: dg.DagsterInstance
) -> dg.ExecuteInProcessResult:
    """Run a late-changes request in-process as the daemon launches it: its assets of the
    orders job, over its day or range of days (the range is in its tags), with its tags."""
    job = defs.resolve_job_def("orders_daily_job").get_subset(
        asset_selection=set(request.asset_selection)
    )
    return job.execute_in_process(
        partition_key=request.partition_key, tags=request.tags, instance=instance
    )


@pytest.fixture
def merge_alone(materialize_partition, late_marts):
    """Merge a day in a run without the marts, then run that day's marts on their own: the
    earlier business days the merge changed are left to the late-changes sensor."""

    def run(day: str) -> dg.ExecuteInProcessResult:
        merged = materialize_partition(day, assets=PUBLISHING)
        materialize_partition(day, assets=late_marts)
        return merged

    return run


@pytest.fixture
def late_marts(defs) -> list[dg.AssetKey]:
    """Every mart an orders merge can change (the late-changes sensor's), from the declarations."""
    job = defs.resolve_job_def("orders_daily_job")
    return catalog_of(defs).across_days(set(job.asset_layer.executable_asset_keys))


@pytest.fixture
def late_sensor(defs):
    return late_changes_ticks(defs)


@pytest.fixture
def run_marts(defs):
    instance = dg.DagsterInstance.ephemeral()

    def run(request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        result = execute_request(defs, request, instance)
        assert result.success
        return result

    return run


@pytest.fixture
def three_days(settings, materialize_partition, late_sensor, merge_alone):
    for day, rows in [("2024-01-01", DAY1), ("2024-01-02", DAY2)]:
        land(settings, day, rows)
        materialize_partition(day)
    assert late_sensor() == []
    land(settings, "2024-01-03", DAY3)
    return merge_alone("2024-01-03")


def test_a_run_catches_up_the_earlier_mart_days_its_merge_changed(
    settings, materialize_partition, late_sensor, late_marts
):
    """Day 3 refunds an order placed on day 1: the run of day 3 recomputes every mart's
    day 1 too, reports it as a materialization of partition 2024-01-01 and leaves the
    sensor nothing to do."""
    for day, rows in [("2024-01-01", DAY1), ("2024-01-02", DAY2)]:
        land(settings, day, rows)
        materialize_partition(day)
    land(settings, "2024-01-03", DAY3)
    result = materialize_partition("2024-01-03")

    assert_frame_equal(marts(settings), reference_marts(settings))
    assert late_sensor() == []
    caught_up = {
        e.asset_key: e.event_specific_data.materialization.metadata["caught_up_for"].value
        for e in result.get_asset_materialization_events()
        if e.partition == "2024-01-01"
    }
    assert caught_up == {mart: "2024-01-03" for mart in late_marts}
    rows = ledger(settings).filter(pl.col("run_id") == result.run_id)
    assert sorted(
        rows.filter(pl.col("partition") == "2024-01-01").select("dataset", "status").rows()
    ) == sorted((mart.to_user_string(), "succeeded") for mart in late_marts)
    assert rows.filter(pl.col("partition") == "2024-01-02").height == 0  # day 2 untouched


def test_late_update_recomputes_exactly_the_affected_days(
    settings, three_days, late_sensor, run_marts, late_marts
):
    curated = ledger(settings).filter(pl.col("dataset") == "curated/orders")
    assert curated["changed_days"].to_list() == [
        "2024-01-01",
        "2024-01-02",
        "2024-01-01,2024-01-03",
    ]
    meta = {
        e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
        for e in three_days.get_asset_materialization_events()
    }
    assert meta["curated/orders"]["changed_business_days"].value == "2024-01-01, 2024-01-03"

    requests = late_sensor()  # one run: every mart of the changed day
    assert [(set(r.asset_selection), r.partition_key) for r in requests] == [
        (set(late_marts), "2024-01-01")
    ]
    reason = "late changes from landing day(s) 2024-01-03"
    assert requests[0].tags["platform/recompute_reason"] == reason
    assert re.fullmatch(r"2024-01-01\.\.2024-01-01:[0-9a-f]{16}", requests[0].run_key)

    day2_before = marts(settings).filter(pl.col("business_date") == pl.date(2024, 1, 2))
    rows_before = ledger(settings).height
    for request in requests:
        run_marts(request)
    new_rows = ledger(settings).slice(rows_before)
    assert sorted(new_rows.select("dataset", "partition", "status").rows()) == [
        (mart.to_user_string(), "2024-01-01", "succeeded") for mart in late_marts
    ]
    assert all(note.startswith(f"{reason}; ") for note in new_rows["note"])
    assert_frame_equal(marts(settings), reference_marts(settings))
    assert_frame_equal(
        marts(settings).filter(pl.col("business_date") == pl.date(2024, 1, 2)), day2_before
    )
    assert late_sensor() == []


def test_redelivered_old_events_change_nothing_and_request_nothing(
    settings, three_days, late_sensor, run_marts, materialize_partition
):
    for request in late_sensor():
        run_marts(request)
    curated_before = read_table(settings, "SELECT * FROM curated.orders ORDER BY order_id")
    marts_before = marts(settings)
    land(settings, "2024-01-04", DAY1 + DAY3)
    materialize_partition("2024-01-04")
    curated_row = ledger(settings).filter(
        (pl.col("dataset") == "curated/orders") & (pl.col("partition") == "2024-01-04")
    )
    assert curated_row["changed_days"].to_list() == [""]
    assert late_sensor() == []
    assert_frame_equal(
        read_table(settings, "SELECT * FROM curated.orders ORDER BY order_id"), curated_before
    )
    assert_frame_equal(marts(settings), marts_before)


def test_late_delete_removes_the_order_and_older_events_do_not_revive_it(
    settings, three_days, late_sensor, run_marts, materialize_partition, late_marts, merge_alone
):
    for request in late_sensor():
        run_marts(request)
    delete = event("D", 7, 2, "paid", "20.00", "2024-01-01 09:00:00", "2024-01-04 08:00:00")
    land(settings, "2024-01-04", [delete])
    merge_alone("2024-01-04")
    requests = late_sensor()
    assert [(r.partition_key, set(r.asset_selection)) for r in requests] == [
        ("2024-01-01", set(late_marts))
    ]
    for request in requests:
        run_marts(request)
    day1 = marts(settings).filter(pl.col("business_date") == pl.date(2024, 1, 1))
    assert day1["orders"].sum() == 1
    assert_frame_equal(marts(settings), reference_marts(settings))

    stale = event("U", 3, 2, "shipped", "20.00", "2024-01-01 09:00:00", "2024-01-01 11:00:00")
    land(settings, "2024-01-05", [stale])
    materialize_partition("2024-01-05")
    assert late_sensor() == []
    revived = read_table(settings, "SELECT is_deleted FROM curated.orders WHERE order_id = 2")
    assert revived["is_deleted"].to_list() == [True]
    assert_frame_equal(marts(settings), reference_marts(settings))


def test_replaying_all_days_in_reverse_gives_the_same_marts(
    settings, three_days, late_sensor, run_marts, materialize_partition
):
    for request in late_sensor():
        run_marts(request)
    settled = marts(settings)
    for day in ["2024-01-03", "2024-01-02", "2024-01-01"]:
        materialize_partition(day, tags={"platform/force": "true"})
    for request in late_sensor():
        run_marts(request)
    assert_frame_equal(marts(settings), settled)


def test_a_merge_recorded_late_under_an_earlier_time_is_still_read(settings, defs):
    """On a shared ledger a row stamped earlier can commit after one the cursor passed."""
    import datetime as dt

    from platform_assets.orchestration.automation.late_changes import ChangesCursor, pending_changes
    from tests.test_utc import insert_merge

    warehouse = defs.resources["warehouse"]
    instance = dg.DagsterInstance.ephemeral()
    Ledger(warehouse).changed_days_after("curated/orders", "")  # creates the ledger table
    now = dt.datetime.now(dt.UTC)
    with warehouse.metadata_db() as con:
        insert_merge(con, "run-late-commit-b", now)
    changes, cursor = pending_changes(instance, warehouse, "curated/orders", ChangesCursor())
    assert changes == {"2024-11-02": {"2024-11-03"}}
    with warehouse.metadata_db() as con:  # stamped a minute earlier, committed now
        insert_merge(con, "run-late-commit-a", now - dt.timedelta(minutes=1))
    changes, cursor = pending_changes(instance, warehouse, "curated/orders", cursor)
    assert changes == {"2024-11-02": {"2024-11-03"}}  # read, though before the cursor
    again, _ = pending_changes(instance, warehouse, "curated/orders", cursor)
    assert again == {}  # and counted once


def test_changed_business_days_outside_the_partitions_are_named_not_requested(
    settings, materialize_partition, late_sensor, capfd, late_marts
):
    before_start = event("I", 9, 9, "placed", "5.00", "2023-12-31 23:00:00", "2024-01-01 07:00:00")
    land(settings, "2024-01-01", [*DAY1, before_start])
    materialize_partition("2024-01-01")
    changed = ledger(settings).filter(pl.col("dataset") == "curated/orders")["changed_days"]
    assert changed.to_list() == ["2023-12-31,2024-01-01"]
    assert late_sensor() == []
    named = re.search(
        r"business day\(s\) 2023-12-31 of (.*) changed but are outside the partitions "
        r"2024-01-01\.\.",
        capfd.readouterr().err,
    )
    assert named and sorted(named[1].split(", ")) == [m.to_user_string() for m in late_marts]


def test_consecutive_changed_days_are_one_run_and_a_gap_starts_another(
    settings, materialize_partition, late_sensor, run_marts, late_marts, defs, merge_alone
):
    """Both marts of a day in one run, consecutive days as one range: a late delivery
    touching orders placed on days 1, 2 and 4 gives two runs (1..2 and 4), not one per
    mart per day; after them the marts equal plain SQL over the landing files."""
    days = [f"2024-01-0{n}" for n in range(1, 5)]
    for n, day in enumerate(days, start=1):
        land(
            settings,
            day,
            [event("I", n, n, "placed", f"{n}0.00", f"{day} 08:00:00", f"{day} 08:00:00")],
        )
        materialize_partition(day)
    assert late_sensor() == []
    late = [
        event("U", 10 + n, n, "paid", f"{n}0.00", f"2024-01-0{n} 08:00:00", "2024-01-05 09:00:00")
        for n in (1, 2, 4)
    ]
    land(settings, "2024-01-05", late)
    merge_alone("2024-01-05")

    requests = late_sensor()
    assert sorted((request_span(r), set(r.asset_selection)) for r in requests) == [
        (("2024-01-01", "2024-01-02"), set(late_marts)),
        (("2024-01-04", "2024-01-04"), set(late_marts)),
    ]
    again = late_changes_ticks(defs)()  # a fresh cursor reads the same changes: same keys
    assert sorted(r.run_key for r in again) == sorted(r.run_key for r in requests)
    rows_before = ledger(settings).height
    for request in requests:
        run_marts(request)
    published = ledger(settings).slice(rows_before).select("dataset", "partition", "status")
    assert sorted(published.rows()) == sorted(
        (mart.to_user_string(), day, "succeeded")
        for mart in late_marts
        for day in ("2024-01-01", "2024-01-02", "2024-01-04")
    )
    assert_frame_equal(marts(settings), reference_marts(settings))
    assert late_sensor() == []


def test_a_range_run_skips_the_days_a_mart_already_published(
    settings, materialize_partition, late_sensor, run_marts, late_marts, defs, merge_alone
):
    """A range selects every mart stale on some day of it; on the other days a mart finds
    its inputs unchanged and skips, writing nothing."""
    for day, rows in [("2024-01-01", DAY1), ("2024-01-02", DAY2)]:
        land(settings, day, rows)
        materialize_partition(day)
    late_sensor()
    late = [  # orders placed on days 1 and 2 change
        event("U", 7, 1, "paid", "10.00", "2024-01-01 08:00:00", "2024-01-03 09:00:00"),
        event("U", 8, 3, "paid", "30.00", "2024-01-02 08:00:00", "2024-01-03 09:00:00"),
    ]
    land(settings, "2024-01-03", late)
    merge_alone("2024-01-03")
    # marts/daily_orders of day 2 (only it) is brought up to date by a run of its own
    run_marts(dg.RunRequest(partition_key="2024-01-02", asset_selection=[MART]))

    [request] = late_sensor()
    assert request_span(request) == ("2024-01-01", "2024-01-02")
    assert set(request.asset_selection) == set(late_marts)
    result = run_marts(request)
    computed = {
        e.asset_key: e.event_specific_data.materialization.metadata["partitions_computed"].value
        for e in result.get_asset_materialization_events()
    }
    others = [mart for mart in late_marts if mart != MART]
    assert others and computed == {
        MART: "2024-01-01",
        **{mart: "2024-01-01, 2024-01-02" for mart in others},
    }
    assert_frame_equal(marts(settings), reference_marts(settings))


def test_a_forced_run_records_the_days_it_caught_up_as_not_forced(
    settings, materialize_partition, late_marts
):
    """Rule 4's record: only the run's own days were forced; the earlier day its merge
    changed is recomputed because its input changed (found by review)."""
    for day, rows in [("2024-01-01", DAY1), ("2024-01-02", DAY2)]:
        land(settings, day, rows)
        materialize_partition(day)
    land(settings, "2024-01-03", DAY3)
    result = materialize_partition("2024-01-03", tags={"platform/force": "true"})
    marts_of_run = ledger(settings).filter(
        (pl.col("run_id") == result.run_id) & pl.col("dataset").str.starts_with("marts/")
    )
    forced = {(d, p): f for d, p, f in marts_of_run.select("dataset", "partition", "forced").rows()}
    assert forced == {
        **{(mart.to_user_string(), "2024-01-01"): False for mart in late_marts},
        **{(mart.to_user_string(), "2024-01-03"): True for mart in late_marts},
    }
    assert_frame_equal(marts(settings), reference_marts(settings))


def _change_order_1(settings) -> None:
    """A write to curated.orders behind the step's back, as a concurrent merge would make:
    order 1 (placed on 2024-01-01) shipped."""
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("UPDATE curated.orders SET status = 'shipped' WHERE order_id = 1")


@pytest.mark.parametrize("moment", ["before the figures are read", "before the write"])
def test_a_mart_day_whose_input_moves_is_not_published_with_the_old_checksum(
    settings, materialize_partition, defs, monkeypatch, moment, late_sensor, run_marts
):
    """The figures of a day and the input checksum recorded with them name the same state:
    a change after the step planned the day, before its figures are read (the snapshot
    re-reads the checksum) or before they are written (the write's transaction re-reads
    it), leaves the day unpublished and named, and the late-changes sensor's run publishes
    the new state."""
    from platform_assets.core.publisher import Publisher
    from platform_assets.orchestration import marts as mart_module

    for day, rows in [("2024-01-01", DAY1), ("2024-01-02", DAY2)]:
        land(settings, day, rows)
        materialize_partition(day)
    land(settings, "2024-01-03", DAY3)
    if moment == "before the figures are read":
        real = mart_module.build_days

        def change_then_build(mart, *args):
            if mart.asset_key == MART:
                _change_order_1(settings)
            return real(mart, *args)

        monkeypatch.setattr(mart_module, "build_days", change_then_build)
    else:
        real = Publisher.commit

        def change_then_commit(self, publication, partition, *args):
            if self.dataset == "marts/daily_orders" and partition == "2024-01-01":
                _change_order_1(settings)
            return real(self, publication, partition, *args)

        monkeypatch.setattr(Publisher, "commit", change_then_commit)
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def("orders_daily_job")
    failed = job.execute_in_process(
        partition_key="2024-01-03", instance=instance, raise_on_error=False
    )
    monkeypatch.undo()
    assert not failed.success
    day1 = ledger(settings).filter(
        (pl.col("run_id") == failed.run_id)
        & (pl.col("dataset") == "marts/daily_orders")
        & (pl.col("partition") == "2024-01-01")
    )
    assert day1["status"].to_list() == (
        ["failed"] if moment == "before the figures are read" else ["superseded"]
    )
    assert "input changed" in day1["error"][0]
    for request in late_sensor():  # the day the failed run's merge named is brought up to date
        run_marts(request)
    shipped = marts(settings).filter(
        (pl.col("business_date") == pl.date(2024, 1, 1)) & (pl.col("status") == "shipped")
    )
    assert shipped["orders"].to_list() == [1]

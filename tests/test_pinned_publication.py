"""Every decision names the bytes it is about (issue: pinned publication core).

One regression test per way the promise broke before: a landing file rewritten
while it was read, a newer staging between a run's staging and its publication,
a crash between a staged artifact and its ledger row, one bad day inside a
multi-day run, and a ledger failure right after a merge.
"""

import dagster as dg
import duckdb
import pytest

from platform_assets.core.ledger import Ledger
from platform_assets.orchestration.planner import catalog_of
from platform_assets.storage.lake import ArtifactMismatch
from platform_assets.storage.landing_local import LandingFile
from platform_assets.tools.launch import describe, launch_job
from tests.conftest import read_table, request_span, run_orders
from tests.test_late_changes import (
    DAY1,
    DAY2,
    DAY3,
    event,
    land,
    reference_marts,
)

CURATED = dg.AssetKey(["curated", "orders"])
STAGING = dg.AssetKey(["staging", "orders"])
MART = dg.AssetKey(["marts", "daily_orders"])
RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


@pytest.fixture
def instance():
    """A real (temporary, SQLite-backed) Dagster instance."""
    with dg.instance_for_test() as test_instance:
        yield test_instance


def ledger_rows(settings, run_id: str) -> dict[tuple[str, str], tuple[str, str]]:
    """{(dataset, partition): (status, error or note)} of one run's latest attempts."""
    rows = read_table(
        settings,
        "SELECT dataset, partition, status, coalesce(error, note, '') AS detail "  # noqa: S608
        f"FROM platform.pipeline_runs WHERE run_id = '{run_id}' ORDER BY attempt",
    ).rows()
    return {(d, p): (s, e) for d, p, s, e in rows}


def orders(settings) -> set[int]:
    return set(read_table(settings, "SELECT order_id FROM curated.orders")["order_id"])


def run_range(defs, instance, first: str, last: str, selection=None, tags=None):
    job = defs.resolve_job_def("orders_daily_job")
    if selection:
        job = job.get_subset(asset_selection=set(selection))
    return job.execute_in_process(
        instance=instance,
        tags={RANGE[0]: first, RANGE[1]: last, **(tags or {})},
        raise_on_error=False,
    )


def test_a_file_rewritten_while_it_is_read_is_never_recorded_under_its_final_checksum(
    settings, defs, instance, monkeypatch
):
    land(settings, "2024-01-01", DAY1)
    path = settings.landing_dir / "orders" / "dt=2024-01-01" / "cdc-00001.csv"
    complete = path.read_bytes()
    path.write_bytes(complete[: len(complete) // 2])  # a copy still in progress
    real_read = LandingFile.read_bytes

    def read_then_finish_copy(self):
        data = real_read(self)
        path.write_bytes(complete)
        return data

    monkeypatch.setattr(LandingFile, "read_bytes", read_then_finish_copy)
    first = run_orders(defs, instance, "2024-01-01")
    monkeypatch.setattr(LandingFile, "read_bytes", real_read)

    assert not first.success
    status, error = ledger_rows(settings, first.run_id)[("staging/orders", "2024-01-01")]
    assert status == "failed"
    assert str(path) in error and "changed while it was read" in error
    second = run_orders(defs, instance, "2024-01-01")  # the day is not skipped: it is staged
    assert second.success
    assert orders(settings) == {1, 2}


def test_a_publication_whose_artifact_was_superseded_writes_nothing(
    settings, defs, instance, monkeypatch
):
    land(settings, "2024-01-01", DAY1)
    assert run_orders(defs, instance, "2024-01-01").success
    extra = event("I", 7, 3, "placed", "30.00", "2024-01-01 12:00:00", "2024-01-01 12:00:00")
    land(settings, "2024-01-01", [*DAY1, extra])  # a first correction: order 3 added
    staged_only = [STAGING]

    # while run A publishes the first correction, run B stages a second one (order 3 gone)
    real_read = type(defs.resources["lake"]).read
    interleaved = []

    def read_then_restage(self, asset_key, artifacts):
        frames = real_read(self, asset_key, artifacts)
        if not interleaved:
            interleaved.append(True)
            land(settings, "2024-01-01", DAY1[:2])
            assert run_orders(defs, instance, "2024-01-01", selection=staged_only).success
        return frames

    monkeypatch.setattr(type(defs.resources["lake"]), "read", read_then_restage)
    run_a = run_orders(defs, instance, "2024-01-01")
    monkeypatch.undo()

    status, error = ledger_rows(settings, run_a.run_id)[("curated/orders", "2024-01-01")]
    assert status == "superseded", error
    assert "is now artifact" in error
    assert 3 not in orders(settings)  # the superseded artifact's order was never published
    assert run_orders(defs, instance, "2024-01-01").success
    assert orders(settings) == {1, 2}


def test_a_crash_between_the_artifact_and_its_ledger_row_publishes_nothing_unchecked(
    settings, defs, instance, monkeypatch
):
    land(settings, "2024-01-01", DAY1)
    assert run_orders(defs, instance, "2024-01-01").success
    bad = event("I", 9, 9, "placed", "-5.00", "2024-01-01 11:00:00", "2024-01-01 11:00:00")
    land(settings, "2024-01-01", [*DAY1, bad])
    real_finish = Ledger.finish

    def crash_on_staging_record(self, attempts, status, *args, **kwargs):
        if status == "succeeded" and attempts[0].dataset == "staging/orders":
            raise RuntimeError("killed between the artifact and its ledger row")
        return real_finish(self, attempts, status, *args, **kwargs)

    monkeypatch.setattr(Ledger, "finish", crash_on_staging_record)
    crashed = run_orders(defs, instance, "2024-01-01", selection=[STAGING])
    monkeypatch.undo()
    assert not crashed.success
    artifacts = list((settings.lake_dir / "staging" / "orders" / "dt=2024-01-01").glob("*.parquet"))
    assert len(artifacts) == 2  # the unrecorded artifact exists, but nothing names it

    publishers = run_orders(defs, instance, "2024-01-01", selection=[CURATED, MART])
    assert publishers.success  # they publish the current (checked) artifact: unchanged
    assert 9 not in orders(settings)
    negative = read_table(settings, "SELECT count(*) AS n FROM curated.orders WHERE amount < 0")
    assert negative["n"][0] == 0


def test_a_tampered_artifact_is_refused(settings, defs, instance):
    land(settings, "2024-01-01", DAY1)
    assert run_orders(defs, instance, "2024-01-01", selection=[STAGING]).success
    folder = settings.lake_dir / "staging" / "orders" / "dt=2024-01-01"
    (artifact,) = folder.glob("*.parquet")
    other = folder.parent / "tampered.parquet"
    duckdb.sql(f"COPY (SELECT 1 AS x) TO '{other}' (FORMAT parquet)")  # noqa: S608
    other.replace(artifact)
    result = run_orders(defs, instance, "2024-01-01", selection=[CURATED])
    assert not result.success
    status, error = ledger_rows(settings, result.run_id)[("curated/orders", "2024-01-01")]
    assert status == "failed" and ArtifactMismatch.__name__ in error
    assert "force a run" in error
    forced = run_orders(defs, instance, "2024-01-01", tags={"platform/force": "true"})
    assert forced.success  # restaging rewrites the damaged artifact under its own name
    assert orders(settings) == {1, 2}
    assert run_orders(defs, instance, "2024-01-01").success


def test_one_bad_day_in_a_range_blocks_that_day_only(settings, defs, instance):
    land(settings, "2024-01-01", DAY1)
    bad = event("I", 8, 8, "placed", "-1.00", "2024-01-02 08:00:00", "2024-01-02 08:00:00")
    land(settings, "2024-01-02", [*DAY2, bad])
    land(settings, "2024-01-03", DAY3)
    keys = ["2024-01-01", "2024-01-02", "2024-01-03"]
    launches = [launch_job(job, keys, instance, definitions=defs) for job in catalog_of(defs).jobs]
    orders_launch = launches[1]

    assert not orders_launch.success
    (run,) = orders_launch.runs
    rows = ledger_rows(settings, run.run_id)
    assert rows[("curated/orders", "2024-01-02")][0] == "failed"
    assert rows[("curated/orders", "2024-01-01")][0] == "succeeded"
    assert rows[("curated/orders", "2024-01-03")][0] == "succeeded"
    assert orders(settings) == {1, 2, 4}
    summary = describe(orders_launch, Ledger(defs.resources["warehouse"]))
    assert "not published: curated/orders 2024-01-02" in summary
    assert "amount_non_negative" in summary
    failure = run.failure_data_for_node("marts__daily_revenue_by_segment")
    assert "curated/orders 2024-01-02" in failure.user_failure_data.description

    again = launch_job("orders_daily_job", keys, instance, definitions=defs)
    (rerun,) = again.runs  # still failing, and only the bad day is recomputed
    recomputed = {k for k, (s, _) in ledger_rows(settings, rerun.run_id).items() if s != "skipped"}
    assert recomputed == {("curated/orders", "2024-01-02")}

    land(settings, "2024-01-02", DAY2)  # the fix
    fixed = launch_job("orders_daily_job", keys, instance, definitions=defs)
    assert fixed.success
    assert orders(settings) == {1, 2, 3, 4}


def test_a_ledger_failure_after_a_merge_rolls_the_merge_back_and_the_retry_names_its_days(
    settings, defs, instance, monkeypatch
):
    land(settings, "2024-01-01", DAY1)
    land(settings, "2024-01-02", DAY2)
    for day in ("2024-01-01", "2024-01-02"):
        assert run_orders(defs, instance, day).success
    before = read_table(settings, "SELECT * FROM curated.orders ORDER BY order_id")
    land(settings, "2024-01-03", DAY3)  # refunds order 1, placed on 2024-01-01
    real_finish = Ledger.finish
    failures = []

    def blip(self, attempts, status, *args, **kwargs):
        if status == "succeeded" and attempts[0].dataset == "curated/orders" and not failures:
            failures.append(True)
            raise duckdb.IOException("ledger write failed once")
        return real_finish(self, attempts, status, *args, **kwargs)

    monkeypatch.setattr(Ledger, "finish", blip)
    failed = run_orders(defs, instance, "2024-01-03")
    monkeypatch.undo()
    assert not failed.success
    after_failure = read_table(settings, "SELECT * FROM curated.orders ORDER BY order_id")
    assert after_failure.equals(before)  # the merge and its record commit together

    retried = run_orders(defs, instance, "2024-01-03")
    assert retried.success
    changed = read_table(
        settings,
        "SELECT changed_days FROM platform.pipeline_runs WHERE dataset = 'curated/orders' "  # noqa: S608
        f"AND run_id = '{retried.run_id}' AND status = 'succeeded'",
    )["changed_days"][0]
    assert "2024-01-01" in changed.split(",")
    caught_up = read_table(  # the retry's own mart step recomputes the day its merge changed
        settings,
        "SELECT status FROM platform.pipeline_runs WHERE dataset = 'marts/daily_orders' "  # noqa: S608
        f"AND run_id = '{retried.run_id}' AND partition = '2024-01-01'",
    )["status"].to_list()
    assert caught_up == ["succeeded"]
    sensor = defs.resolve_sensor_def("orders_late_changes_sensor")
    resources = {"warehouse": defs.resources["warehouse"]}
    context = dg.build_sensor_context(instance=instance, definitions=defs, resources=resources)
    assert not sensor.evaluate_tick(context).run_requests  # nothing left behind
    mart = read_table(
        settings,
        "SELECT business_date, status, currency, orders, revenue FROM marts.daily_orders "
        "ORDER BY ALL",
    )
    assert mart.equals(reference_marts(settings))


def test_a_lost_record_after_a_committed_merge_still_names_its_days_with_a_postgres_ledger(
    tmp_path, postgres_url, instance, monkeypatch
):
    from platform_assets.definitions import build_definitions
    from platform_assets.settings import load_settings

    settings = load_settings(
        {"PLATFORM_DATA_DIR": str(tmp_path / "data"), "PLATFORM_LEDGER_URL": postgres_url}
    )
    defs = build_definitions(settings)
    land(settings, "2024-01-01", DAY1)
    land(settings, "2024-01-02", DAY2)
    for day in ("2024-01-01", "2024-01-02"):
        assert run_orders(defs, instance, day).success
    sensor = defs.resolve_sensor_def("orders_late_changes_sensor")
    resources = {"warehouse": defs.resources["warehouse"]}
    context = dg.build_sensor_context(instance=instance, definitions=defs, resources=resources)
    cursor = sensor.evaluate_tick(context).cursor  # everything so far has been seen
    land(settings, "2024-01-03", DAY3)  # refunds order 1, placed on 2024-01-01
    real_finish = Ledger.finish
    lost = []

    def lose_the_record(self, attempts, status, *args, **kwargs):
        if status == "succeeded" and attempts[0].dataset == "curated/orders" and not lost:
            lost.append(True)
            raise ConnectionError("the ledger database went away after the merge committed")
        return real_finish(self, attempts, status, *args, **kwargs)

    monkeypatch.setattr(Ledger, "finish", lose_the_record)
    assert not run_orders(defs, instance, "2024-01-03").success
    monkeypatch.undo()
    assert 1 in orders(settings)  # the merge committed (the tables are not in Postgres)
    refunded = read_table(settings, "SELECT status FROM curated.orders WHERE order_id = 1")
    assert refunded["status"][0] == "refunded"

    retried = run_orders(defs, instance, "2024-01-03")  # closes the lost attempt, merges nothing
    assert retried.success
    context = dg.build_sensor_context(
        instance=instance, definitions=defs, resources=resources, cursor=cursor
    )
    requests = sensor.evaluate_tick(context).run_requests
    # named by the lost attempt
    assert any(request_span(r)[0] <= "2024-01-01" <= request_span(r)[1] for r in requests)

"""Rebuild (issue 16): current-state tables recomputed from the staged artifacts of every
published day, equal to what the incremental path publishes.

Each history runs on real DuckDB files and real Dagster runs; the published tables are
compared with the incremental path's and with a plain-SQL reference over the final
landing files (``tests.test_corrections.reference``).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.orchestration.idempotency import REBUILD_TAG
from platform_assets.settings import load_settings
from platform_assets.tools.launch import describe, launch_job
from platform_assets.tools.launch import main as launch_main
from tests.conftest import read_table, run_orders
from tests.history.runner import run_sequence
from tests.test_corrections import CURATED_SQL, DAY1, DAY2, DAY3, DAYS, MART_SQL, reference
from tests.test_late_changes import event, land

REPO = Path(__file__).resolve().parents[1]
LATE = event("U", 6, 1, "shipped", "10.00", "2024-01-01 08:00:00", "2024-01-03 09:00:00")
LEDGER_SQL = (
    "SELECT partition, status, forced, note, changed_days FROM platform.pipeline_runs "
    "WHERE dataset = 'curated/orders' AND run_id = ? ORDER BY partition"
)


def tables(settings):
    return read_table(settings, CURATED_SQL), read_table(settings, MART_SQL)


def assert_reference(settings) -> None:
    curated, mart = reference(settings)
    found_curated, found_mart = tables(settings)
    assert found_curated.equals(curated, null_equal=True)
    assert found_mart.equals(mart)


def curated_metadata(result: dg.ExecuteInProcessResult) -> dict:
    """The metadata of the run's curated/orders output (one per partition of a range)."""
    found = [
        {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["curated", "orders"])
    ]
    assert found and all(meta == found[0] for meta in found)
    return found[0]


def rebuild_run(launch) -> dg.ExecuteInProcessResult:
    """The launch's one run, which rebuilt curated/orders (and caught up its mart days)."""
    assert launch.runs[0].dagster_run.tags[REBUILD_TAG] == "true"
    return launch.runs[0]


def correct_and_withdraw(settings) -> None:
    """Day 2 re-delivered without order 3 and with a lower amount; day 3 withdrawn."""
    land(settings, DAYS[1], [DAY2[0].replace(",10.00,", ",9.00,")])
    shutil.rmtree(settings.landing_dir / "orders" / f"dt={DAYS[2]}")


def first_delivery(settings) -> None:
    land(settings, DAYS[0], DAY1)
    land(settings, DAYS[1], DAY2)
    land(settings, DAYS[2], [*DAY3, LATE])


def test_rebuild_after_a_correction_and_a_withdrawal_equals_the_incremental_path(
    settings, defs, tmp_path
):
    other = load_settings({"PLATFORM_DATA_DIR": str(tmp_path / "incremental")})
    other_defs = build_definitions(other)
    with dg.instance_for_test() as instance:
        for where, definitions in ((settings, defs), (other, other_defs)):
            first_delivery(where)
            assert launch_job("orders_daily_job", DAYS, instance, definitions=definitions).success
            correct_and_withdraw(where)
        incremental = launch_job("orders_daily_job", DAYS, instance, definitions=other_defs)
        assert incremental.success
        rebuilt = launch_job("orders_daily_job", DAYS, instance, definitions=defs, rebuild=True)
        assert rebuilt.success
    assert_reference(other)
    assert_reference(settings)
    # the incremental path: keyed recomputes of day 2 (orders 1, 3) and day 3 (orders 1, 4)
    assert curated_metadata(incremental.runs[0])["keys_recomputed"] == 4
    for mine, theirs in zip(tables(settings), tables(other), strict=True):
        assert mine.equals(theirs, null_equal=True)
    meta = curated_metadata(rebuild_run(rebuilt))
    assert meta["rebuilt"] is True
    assert meta["keys_recomputed"] == 2  # orders 1 and 2: order 3 retracted, order 4 withdrawn
    # order 1 changed (day 1), order 3 retracted (day 2), order 4 withdrawn (day 3)
    assert meta["changed_business_days"] == "2024-01-01, 2024-01-02, 2024-01-03"
    ledger = read_table(settings, LEDGER_SQL.replace("?", f"'{rebuild_run(rebuilt).run_id}'"))
    assert ledger["status"].to_list() == ["succeeded"] * 3
    assert all(ledger["forced"])
    assert all(note.startswith("rebuild of curated.orders: 2 keys") for note in ledger["note"])
    assert set(ledger["changed_days"]) == {"2024-01-01,2024-01-02,2024-01-03"}


def tamper(settings) -> None:
    import duckdb

    con = duckdb.connect(str(settings.warehouse_path))
    try:
        con.execute("UPDATE curated.orders SET amount = 99.99 WHERE order_id = 1")
        con.execute("DELETE FROM curated.orders WHERE order_id = 4")
        con.execute("INSERT INTO curated.orders SELECT * FROM curated.orders WHERE order_id = 2")
        con.execute(
            "INSERT INTO curated.orders SELECT 77 AS order_id, * EXCLUDE (order_id) "
            "FROM curated.orders WHERE order_id = 3"
        )
    finally:
        con.close()


def test_rebuild_repairs_a_tampered_table_and_a_second_rebuild_changes_nothing(settings, defs):
    first_delivery(settings)
    with dg.instance_for_test() as instance:
        assert launch_job("orders_daily_job", DAYS, instance, definitions=defs).success
        before = tables(settings)
        tamper(settings)
        # one day's window: the rebuild still covers every published day
        launch = launch_job("orders_daily_job", DAYS[2:], instance, definitions=defs, rebuild=True)
        assert launch.success
        meta = curated_metadata(rebuild_run(launch))
        assert (meta["rebuilt"], meta["keys_recomputed"], meta["source_days"]) == (True, 4, 3)
        # order 1's value, order 4 back, order 2's duplicate and order 77 gone
        assert meta["keys_changed"] == 4
        assert meta["changed_business_days"] == "2024-01-01, 2024-01-02, 2024-01-03"
        assert_reference(settings)
        for found, published in zip(tables(settings), before, strict=True):
            assert found.equals(published, null_equal=True)

        again = launch_job("orders_daily_job", DAYS[2:], instance, definitions=defs, rebuild=True)
        assert again.success
        assert len(again.runs) == 1
        meta = curated_metadata(rebuild_run(again))
        assert (meta["rebuilt"], meta["keys_changed"], meta["rows_written"]) == (False, 0, 0)
        assert meta["changed_business_days"] == "none"
    for found, published in zip(tables(settings), before, strict=True):
        assert found.equals(published, null_equal=True)


def test_the_run_tag_rebuilds_and_the_mart_days_it_changed_are_recorded(settings, defs):
    """The UI way: a run (or backfill) of the orders job with platform/rebuild=true."""
    first_delivery(settings)
    with dg.instance_for_test() as instance:
        assert launch_job("orders_daily_job", DAYS, instance, definitions=defs).success
        tamper(settings)
        result = run_orders(defs, instance, DAYS[0], tags={REBUILD_TAG: "true"})
        assert result.success
    assert curated_metadata(result)["keys_changed"] == 4
    curated, _ = reference(settings)
    assert read_table(settings, CURATED_SQL).equals(curated, null_equal=True)
    ledger = read_table(settings, LEDGER_SQL.replace("?", f"'{result.run_id}'"))
    # business days beyond the run's partition are recorded for the late-changes sensor
    assert ledger["changed_days"].to_list() == ["2024-01-01,2024-01-02,2024-01-03"]
    assert ledger["note"][0].startswith("rebuild of curated.orders")


def test_a_day_blocked_by_its_checks_keeps_its_last_good_version_in_the_rebuild(settings, defs):
    first_delivery(settings)
    with dg.instance_for_test() as instance:
        assert launch_job("orders_daily_job", DAYS, instance, definitions=defs).success
        before = tables(settings)
        bad = DAY2[1].replace(",30.00,", ",-30.00,")  # fails amount_non_negative
        land(settings, DAYS[1], [DAY2[0], bad])
        launch = launch_job("orders_daily_job", DAYS, instance, definitions=defs, rebuild=True)
        assert not launch.success
        assert curated_metadata(rebuild_run(launch))["keys_changed"] == 0
    assert tables(settings)[0].equals(before[0], null_equal=True)


def test_launch_cli_rebuild_prints_a_summary_and_exits_zero(settings, tmp_path):
    first_delivery(settings)
    env = {
        **os.environ,
        "PLATFORM_DATA_DIR": str(settings.data_dir),
        "DAGSTER_HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(REPO),
    }
    (tmp_path / "home").mkdir()
    command = [
        sys.executable,
        "-m",
        "platform_assets.tools.launch",
        "--start",
        DAYS[0],
        "--days",
        "3",
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    tamper(settings)
    done = subprocess.run(
        [*command, "--rebuild"], env=env, capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "orders_daily_job: rebuilding curated/orders over 2024-01-01..2024-01-03" in done.stderr
    assert "orders_daily_job: rebuild: one run over the window" in done.stdout
    assert "rebuilt curated/orders (replaced): 4 keys recomputed from 3 published day(s), " in (
        done.stdout
    )
    assert "customers_daily_job" not in done.stdout  # no current-state table there
    assert_reference(settings)


def test_launch_cli_refuses_a_rebuild_of_a_job_without_a_current_state_table():
    with pytest.raises(SystemExit) as exit_info:
        launch_main(["--start", DAYS[0], "--rebuild", "--job", "customers_daily_job"])
    assert exit_info.value.code == 2


def test_a_rebuild_of_one_day_recomputes_the_earlier_mart_days_it_changed(settings, defs):
    first_delivery(settings)
    with dg.instance_for_test() as instance:
        assert launch_job("orders_daily_job", DAYS, instance, definitions=defs).success
        land(settings, DAYS[2], DAY3)  # the late update of order 1 (business day 1) withdrawn
        launch = launch_job("orders_daily_job", DAYS[2:], instance, definitions=defs, rebuild=True)
        assert launch.success
        [run] = launch.runs  # the mart day outside the window is caught up in the same run
        assert curated_metadata(run)["changed_business_days"] == "2024-01-01"
        caught_up = {
            e.asset_key.to_user_string()
            for e in run.get_asset_materialization_events()
            if e.partition == "2024-01-01"
        }
        assert "marts/daily_orders" in caught_up
    assert_reference(settings)


def test_a_rebuild_on_an_empty_warehouse_publishes_what_the_incremental_path_does(settings, defs):
    first_delivery(settings)
    with dg.instance_for_test() as instance:
        launch = launch_job("orders_daily_job", DAYS, instance, definitions=defs, rebuild=True)
        assert launch.success
    assert curated_metadata(launch.runs[0])["source_days"] == 3
    assert_reference(settings)


@pytest.mark.parametrize("seed", [102])
def test_after_a_random_history_with_corrections_a_rebuild_changes_nothing(seed, tmp_path):
    """The history test's seeded histories (deliveries, corrections, withdrawn days,
    crashes, races, settled automation): the incremental path must have published what a
    rebuild publishes, so a rebuild over every published day finds nothing to change."""
    outcome = run_sequence(seed, tmp_path, corrections=True)
    assert not outcome.failed, outcome.report()
    settings = load_settings({"PLATFORM_DATA_DIR": str(tmp_path / "data")})
    definitions = build_definitions(settings)
    days = read_table(
        settings,
        "SELECT DISTINCT partition FROM platform.pipeline_runs "
        "WHERE dataset = 'curated/orders' AND status = 'succeeded' ORDER BY 1",
    )["partition"].to_list()
    before = tables(settings)
    with dg.instance_for_test() as instance:
        launch = launch_job(
            "orders_daily_job", days, instance, definitions=definitions, rebuild=True
        )
        assert launch.success, describe(launch)
    meta = curated_metadata(launch.runs[0])
    assert (meta["keys_changed"], meta["rebuilt"]) == (0, False), outcome.report()
    for found, published in zip(tables(settings), before, strict=True):
        assert found.equals(published, null_equal=True)

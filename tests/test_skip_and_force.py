"""Ledger and skip logic: unchanged partitions skip, changes and force recompute."""

import os
import shutil
import subprocess
import sys

import dagster as dg
import duckdb
import polars as pl
import pytest

from platform_assets.orchestration.idempotency import SKIPPED_KEY
from tests.conftest import read_table


def ledger(settings, run_id: str | None = None) -> pl.DataFrame:
    sql = "SELECT * FROM platform.pipeline_runs"
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        if run_id:
            return con.sql(
                sql + " WHERE run_id = ? ORDER BY dataset, partition", params=[run_id]
            ).pl()
        return con.sql(sql + " ORDER BY started_at").pl()
    finally:
        con.close()


def statuses(settings, result: dg.ExecuteInProcessResult) -> dict[str, str]:
    rows = ledger(settings, result.run_id)
    return {f"{r['dataset']} {r['partition']}": r["status"] for r in rows.iter_rows(named=True)}


def skipped_flags(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    flags = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        flags[mat.asset_key.to_user_string()] = mat.metadata[SKIPPED_KEY].value
    return flags


def lake_files(settings) -> dict[str, tuple[bytes, int]]:
    root = settings.lake_dir
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*.parquet"))
    }


@pytest.fixture
def published(settings, sample_days, materialize_partition):
    """Three days published, then a second pass so marts include later days' late updates."""
    keys = sample_days(days=3, orders_per_day=200)
    for key in keys:
        materialize_partition(key)
    for key in keys:
        materialize_partition(key)
    return keys


def test_late_updates_are_caught_up_by_the_run_that_merged_them(
    settings, sample_days, materialize_partition
):
    """The sample's later days update orders placed on day 1: the runs of those days
    recompute day 1's mart themselves, so a second pass over every day recomputes nothing."""
    keys = sample_days(days=3, orders_per_day=200)
    first = {key: statuses(settings, materialize_partition(key)) for key in keys}
    assert any(first[key].get(f"marts/daily_orders {keys[0]}") == "succeeded" for key in keys[1:])
    for key in keys:
        second = statuses(settings, materialize_partition(key))
        assert set(second.values()) == {"skipped"}, second


def test_rerun_of_unchanged_partition_skips_everything(
    settings, published, materialize_partition, orders_job_assets
):
    files_before = lake_files(settings)
    curated_before = read_table(settings, "SELECT * FROM curated.orders ORDER BY order_id")
    result = materialize_partition(published[1])
    assert skipped_flags(result) == dict.fromkeys(orders_job_assets, True)
    assert set(statuses(settings, result).values()) == {"skipped"}
    assert lake_files(settings) == files_before
    assert read_table(settings, "SELECT * FROM curated.orders ORDER BY order_id").equals(
        curated_before
    )
    notes = ledger(settings, result.run_id)["note"].to_list()
    assert all(note.startswith("unchanged; current version published by run ") for note in notes)


def test_skip_names_the_publishing_run(settings, published, materialize_partition):
    first = ledger(settings).filter(
        (pl.col("dataset") == "staging/orders") & (pl.col("partition") == published[0])
    )["run_id"][0]
    result = materialize_partition(published[0])
    mats = {
        e.event_specific_data.materialization.asset_key.to_user_string(): e
        for e in result.get_asset_materialization_events()
    }
    meta = mats["staging/orders"].event_specific_data.materialization.metadata
    assert meta["published_by_run"].value == first


@pytest.mark.parametrize("change", ["edit", "add", "remove"])
def test_changed_landing_day_recomputes_only_that_day(
    settings, published, materialize_partition, change
):
    day = published[1]
    folder = settings.landing_dir / "orders" / f"dt={day}"
    files = sorted(folder.glob("*.csv"))
    new_event = f"I,1,999,7,placed,10.00,USD,{day} 08:00:00.000000,{day} 08:00:00.000000\n"
    if change == "edit":
        with files[0].open("a") as handle:
            handle.write(new_event)
    elif change == "add":
        (folder / "cdc-extra.csv").write_text(
            files[0].read_text().splitlines()[0] + "\n" + new_event
        )
    else:
        files[0].unlink()
    changed = materialize_partition(day)
    assert statuses(settings, changed)[f"staging/orders {day}"] == "succeeded"
    assert statuses(settings, changed)[f"curated/orders {day}"] == "succeeded"
    for other in (published[0], published[2]):
        unchanged = materialize_partition(other)
        assert statuses(settings, unchanged)[f"staging/orders {other}"] == "skipped"
        assert statuses(settings, unchanged)[f"curated/orders {other}"] == "skipped"


def test_duplicate_file_adds_nothing_downstream(settings, published, materialize_partition):
    """A re-delivered copy of a file changes the landing checksum, not the staged bytes."""
    day = published[2]
    folder = settings.landing_dir / "orders" / f"dt={day}"
    shutil.copy(sorted(folder.glob("*.csv"))[0], folder / "cdc-redelivered.csv")
    result = materialize_partition(day)
    assert statuses(settings, result)[f"staging/orders {day}"] == "succeeded"
    assert statuses(settings, result)[f"curated/orders {day}"] == "skipped"


def test_touching_files_does_not_recompute(settings, published, materialize_partition):
    for path in (settings.landing_dir / "orders").rglob("*.csv"):
        os.utime(path, (1, 1))
    result = materialize_partition(published[0])
    assert set(statuses(settings, result).values()) == {"skipped"}


def test_force_tag_recomputes_unchanged_partition(
    settings, published, materialize_partition, orders_job_assets
):
    result = materialize_partition(published[0], tags={"platform/force": "true"})
    rows = ledger(settings, result.run_id)
    assert set(rows["status"]) == {"succeeded"}
    assert rows["forced"].all()
    assert skipped_flags(result) == dict.fromkeys(orders_job_assets, False)


def test_code_version_change_recomputes(settings, defs, published, materialize_partition):
    version = defs.resolve_asset_graph().get(dg.AssetKey(["staging", "orders"])).code_version
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute(
        "UPDATE platform.pipeline_runs SET code_version = 'old' "
        "WHERE dataset = 'staging/orders' AND partition = ?",
        [published[0]],
    )
    con.close()
    result = materialize_partition(published[0])
    assert statuses(settings, result)[f"staging/orders {published[0]}"] == "succeeded"
    reason = [
        e.event_specific_data.materialization.metadata["recompute_reason"].value
        for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey(["staging", "orders"])
    ]
    assert reason == [f"{published[0]}: code version old -> {version}"]
    assert statuses(settings, result)[f"curated/orders {published[0]}"] == "skipped"


def test_reverting_input_after_a_change_recomputes(settings, published, materialize_partition):
    """Skip compares with the latest publication, not any past one."""
    day = published[0]
    path = sorted((settings.landing_dir / "orders" / f"dt={day}").glob("*.csv"))[0]
    original = path.read_bytes()
    path.write_bytes(original[: len(original) // 2].rsplit(b"\n", 1)[0] + b"\n")
    materialize_partition(day)
    path.write_bytes(original)
    result = materialize_partition(day)
    assert statuses(settings, result)[f"staging/orders {day}"] == "succeeded"


RANGE_TAGS = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def test_five_partition_range_twice_on_a_persistent_instance(
    settings, defs, sample_days, tmp_path, orders_job_assets
):
    """A single-run backfill of 5 days, twice: the second run skips every partition."""
    keys = sample_days(days=5, orders_per_day=100)
    job = defs.resolve_job_def("orders_daily_job")
    tags = dict(zip(RANGE_TAGS, (keys[0], keys[-1]), strict=True))
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        first = job.execute_in_process(instance=instance, tags=tags)
        assert first.success
        assert set(statuses(settings, first).values()) == {"succeeded"}
        assert len(statuses(settings, first)) == len(orders_job_assets) * 5
        second = job.execute_in_process(instance=instance, tags=tags)
        assert second.success
        assert set(statuses(settings, second).values()) == {"skipped"}
        assert len(statuses(settings, second)) == len(orders_job_assets) * 5
        runs = instance.get_runs()
        assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS] * 2


CRASHING_CHILD = """
import os, signal, sys
import dagster as dg
from platform_assets.core import landing_parser
from platform_assets.definitions import build_definitions
from platform_assets.settings import load_settings

def crash(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

landing_parser.parse_landing_file = crash
defs = build_definitions(load_settings({"PLATFORM_DATA_DIR": sys.argv[1]}))
with dg.DagsterInstance.from_config(sys.argv[2]) as instance:
    defs.resolve_job_def("orders_daily_job").execute_in_process(
        partition_key=sys.argv[3], instance=instance
    )
"""


def test_crash_after_started_is_followed_by_a_clean_attempt(settings, defs, sample_days, tmp_path):
    key = sample_days(days=1, orders_per_day=100)[0]
    home = tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        child = subprocess.run(
            [sys.executable, "-c", CRASHING_CHILD, str(settings.data_dir), str(home), key],
            capture_output=True,
            timeout=120,
        )
        assert child.returncode == -9, child.stderr.decode()[-2000:]
        crashed = ledger(settings)
        assert crashed["status"].to_list() == ["started"]
        crashed_run = crashed["run_id"][0]
        dead = instance.get_run_by_id(crashed_run)
        instance.report_run_failed(dead)  # what the daemon's run monitoring does

        result = defs.resolve_job_def("orders_daily_job").execute_in_process(
            partition_key=key, instance=instance
        )
        assert result.success
        assert statuses(settings, result)[f"staging/orders {key}"] == "succeeded"
        old = ledger(settings).filter(pl.col("run_id") == crashed_run)
        assert old["status"].to_list() == ["failed"]
        assert old["error"][0].startswith(f"abandoned: run {crashed_run} ended (FAILURE)")
        assert read_table(settings, "SELECT count(*) AS n FROM curated.orders")["n"][0] == 100

"""Planned launches: unchanged days start no Dagster run, changed days do, force runs all."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from platform_assets.orchestration.partitions import OutsidePartitions
from platform_assets.orchestration.planner import catalog_of
from platform_assets.tools import launch as launch_cli
from platform_assets.tools.launch import launch_job
from tests.conftest import read_table

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def instance():
    """A real (temporary, SQLite-backed) Dagster instance."""
    with dg.instance_for_test() as test_instance:
        yield test_instance


def every_dataset(defs) -> set[str]:
    """Every staged, published and mart dataset of the declarations."""
    return {key.to_user_string() for key in catalog_of(defs).plan_inputs}


def launch_all(settings, defs, instance, keys, force=False):
    return [
        launch_job(job, keys, instance, force=force, definitions=defs)
        for job in catalog_of(defs).jobs
    ]


def ledger_rows(settings, run_ids: list[str]) -> pl.DataFrame:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.sql(
            "SELECT run_id, dataset, partition, status, forced, note "
            "FROM platform.pipeline_runs WHERE run_id IN (SELECT unnest(?::VARCHAR[])) "
            "ORDER BY dataset, partition",
            params=[run_ids],
        ).pl()
    finally:
        con.close()


def output_files(settings) -> dict[str, tuple[bytes, int]]:
    paths = sorted(settings.lake_dir.rglob("*.parquet")) + [settings.warehouse_path]
    return {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}


@pytest.fixture
def published(settings, defs, instance, sample_days):
    """Three days of both datasets launched once on a fresh warehouse."""
    keys = sample_days(days=3, orders_per_day=200)
    first = launch_all(settings, defs, instance, keys)
    for launch in first:
        assert launch.success
        assert launch.plan.todo == keys, f"{launch.job}: nothing is published yet"
        assert len(launch.runs) == 1
    return keys, first


def test_unchanged_days_start_no_run_and_are_ledgered_as_skipped(
    settings, defs, instance, published
):
    keys, first = published
    publishers = {run.run_id for launch in first for run in launch.runs}
    before, runs_before = output_files(settings), len(instance.get_runs())
    second = launch_all(settings, defs, instance, keys)
    assert [launch.runs for launch in second] == [[] for _ in second]
    assert all(launch.success and launch.plan.todo == [] for launch in second)
    assert len(instance.get_runs()) == runs_before
    rows = ledger_rows(settings, [launch.plan_id for launch in second])
    assert set(rows["status"]) == {"skipped"}
    assert {(r["dataset"], r["partition"]) for r in rows.iter_rows(named=True)} == {
        (dataset, key) for dataset in every_dataset(defs) for key in keys
    }
    named = {note.rsplit(" ", 1)[-1] for note in rows["note"]}
    assert named <= publishers and named
    after = output_files(settings)
    warehouse = str(settings.warehouse_path)
    assert {k: v for k, v in after.items() if k != warehouse} == {
        k: v for k, v in before.items() if k != warehouse
    }, "a planned skip rewrote a staged file"


def test_changed_day_runs_and_unchanged_days_inside_the_run_skip(
    settings, defs, instance, published
):
    keys, _ = published
    day = keys[1]
    path = sorted((settings.landing_dir / "orders" / f"dt={day}").glob("*.csv"))[0]
    event = f"I,1,999,7,placed,10.00,USD,{day} 08:00:00.000000,{day} 08:00:00.000000\n"
    with path.open("a") as handle:
        handle.write(event)
    launch = launch_job("orders_daily_job", keys, instance, definitions=defs)
    planned = {asset.dataset: asset.todo for asset in launch.plan.assets}
    job_keys = defs.resolve_job_def("orders_daily_job").asset_layer.executable_asset_keys
    marts = catalog_of(defs).across_days(set(job_keys))
    assert planned == {
        "staging/orders": [day],
        "curated/orders": [day],
        **{mart.to_user_string(): keys for mart in marts},  # a merge may change any day
    }
    assert launch.success and len(launch.runs) == 1
    statuses = {
        (r["dataset"], r["partition"]): r["status"]
        for r in ledger_rows(settings, [launch.runs[0].run_id]).iter_rows(named=True)
    }
    assert statuses[("staging/orders", day)] == "succeeded"
    assert statuses[("curated/orders", day)] == "succeeded"
    for other in (keys[0], keys[2]):
        assert statuses[("staging/orders", other)] == "skipped"
        assert statuses[("curated/orders", other)] == "skipped"
    order = read_table(settings, "SELECT status FROM curated.orders WHERE order_id = 999")
    assert order["status"].to_list() == ["placed"]


def test_force_runs_every_day_and_records_forced(settings, defs, instance, published):
    keys, _ = published
    launches = launch_all(settings, defs, instance, keys, force=True)
    assert all(launch.success and launch.plan is None for launch in launches)
    run_ids = [run.run_id for launch in launches for run in launch.runs]
    assert len(run_ids) == len(catalog_of(defs).jobs)  # one run of each job
    rows = ledger_rows(settings, run_ids)
    assert set(rows["status"]) == {"succeeded"}
    assert rows["forced"].all()
    assert {(r["dataset"], r["partition"]) for r in rows.iter_rows(named=True)} == {
        (dataset, key) for dataset in every_dataset(defs) for key in keys
    }


def test_launch_refuses_days_outside_the_partitions_before_any_run(settings, defs, instance):
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    windows = {
        ("2023-12-30", "2023-12-31", "2024-01-01"): "2023-12-30, 2023-12-31 are outside",
        (yesterday.isoformat(), (yesterday + dt.timedelta(days=1)).isoformat()): (
            f"{yesterday + dt.timedelta(days=1)} is outside"
        ),
    }
    for window, outside in windows.items():
        with pytest.raises(OutsidePartitions) as refused:
            launch_job("orders_daily_job", list(window), instance, definitions=defs)
        assert str(refused.value) == (
            f"{outside} the partitions 2024-01-01..{yesterday} "
            "(PLATFORM_START_DATE through yesterday, UTC)"
        )
    assert instance.get_runs() == []
    assert not settings.warehouse_path.exists()  # no ledger row, not even a ledger


def test_launch_cli_names_the_valid_range(capsys, monkeypatch):
    def no_launch(*args, **kwargs):
        raise AssertionError("a job was launched")

    monkeypatch.setattr(launch_cli, "launch_job", no_launch)
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    for start, days, outside in [
        ("2023-12-30", "3", "2023-12-30, 2023-12-31 are"),
        (yesterday.isoformat(), "2", f"{yesterday + dt.timedelta(days=1)} is"),
    ]:
        with pytest.raises(SystemExit) as exited:
            launch_cli.main(["--start", start, "--days", days])
        assert exited.value.code == 2
        assert capsys.readouterr().err.endswith(
            f"error: {outside} outside the partitions 2024-01-01..{yesterday} "
            "(PLATFORM_START_DATE through yesterday, UTC); no run started\n"
        )


def test_an_unchanged_launch_never_opens_the_dagster_instance(settings, defs, published, tmp_path):
    """Opening the instance's storage costs about a second: the command opens it only when
    a run starts. ``DAGSTER_HOME`` names no folder here, so opening it would fail."""
    keys, _ = published
    env = {
        **os.environ,
        "PLATFORM_DATA_DIR": str(settings.data_dir),
        "DAGSTER_HOME": str(tmp_path / "no-such-home"),
        "PYTHONPATH": str(REPO),
    }
    command = [sys.executable, "-m", "platform_assets.launch", "--start", keys[0]]
    command += ["--days", str(len(keys))]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    for job in catalog_of(defs).jobs:
        assert f"{job}: 0 day(s) to run, {len(keys)} unchanged (no run)" in done.stdout


def test_the_command_exits_with_its_launchs_code_after_runs(settings, sample_days, tmp_path):
    """``python -m platform_assets.launch`` leaves its garbage to the operating system
    (``run_as_command``): it still exits 0 after runs that published, with its report
    printed, and 1 when a day is not published."""
    keys = sample_days(days=1, orders_per_day=50)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "PLATFORM_DATA_DIR": str(settings.data_dir),
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": str(REPO),
    }
    command = [sys.executable, "-m", "platform_assets.launch", "--start", keys[0]]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "orders_daily_job: 1 day(s) to run" in done.stdout and "total " in done.stderr
    assert read_table(settings, "SELECT count(*) FROM curated.orders").item() > 0
    day = settings.landing_dir / "orders" / f"dt={keys[0]}"
    for path in day.iterdir():  # every row malformed: the day is blocked
        path.write_text("op,seq\nI,1\n")
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 1, done.stdout + done.stderr

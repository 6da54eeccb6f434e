"""The ``dagster dev`` path, timed (issue 18): a UI backfill of 3 sample days, first and
unchanged, and a fresh ``make dev`` settling the sample week.

Both drive a real ``dagster dev`` (webserver + daemon, the repo's ``dagster.yaml``) through
:class:`tests.dagster_dev.DagsterDev`, the test suite's driver, with the sensors' default
interval. Times come from polling the webserver's GraphQL every half second, so each is
exact to about 0.5 s.

- *UI backfill*: the automation is stopped (the backfill alone runs), 3 sample days land,
  and an asset backfill of every job's assets over them is launched with
  ``launchPartitionBackfill`` (the UI's mutation): the time until its runs have all
  finished, and until the backfill reports itself complete (the backfill daemon's loop).
  Then the same backfill again, every day unchanged.
- *Fresh make dev*: the sample week (``make sample``) is in the landing area before the
  server starts; from the moment the UI answers, the time until every asset has all 7
  days materialized and no run is queued or in progress, counted only if it stays so for
  two sensor intervals (so a catch-up run the late-changes sensors request restarts it).
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

from platform_assets.definitions import build_definitions
from platform_assets.orchestration.planner import catalog_of
from platform_assets.settings import load_settings
from platform_assets.tools.sample import SampleSpec, generate
from tests.dagster_dev import DagsterDev, wait_for

START = dt.date(2024, 1, 1)
ORDERS_PER_DAY, SEED = 1000, 42  # make sample's
ACTIVE = ["QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"]
TIMEOUT_S = 900


def every_asset() -> list[list[str]]:
    """Every job's assets (what an asset backfill of every dataset selects)."""
    defs = build_definitions(load_settings({}))
    keys = set().union(
        *(
            defs.resolve_job_def(job).asset_layer.executable_asset_keys
            for job in catalog_of(defs).jobs
        )
    )
    return sorted(key.path for key in keys)


def _server(root: Path) -> DagsterDev:
    shutil.rmtree(root, ignore_errors=True)
    interval = str(load_settings({}).sensor_interval_s)  # the default, not the tests' 2 s
    return DagsterDev(root, {"PLATFORM_SENSOR_INTERVAL_S": interval})


def _active_runs(server: DagsterDev) -> int | None:
    data = server.poll_graphql(
        "query($f: RunsFilter) { runsOrError(filter: $f) { ... on Runs { results { runId } } } }",
        {"f": {"statuses": ACTIVE}},
    )
    return None if data is None else len(data["runsOrError"]["results"])


def _materialized(server: DagsterDev) -> dict[str, int] | None:
    data = server.poll_graphql(
        "{ assetNodes { assetKey { path } isPartitioned partitionStats { numMaterialized } } }"
    )
    if data is None:
        return None
    return {
        "/".join(node["assetKey"]["path"]): node["partitionStats"]["numMaterialized"]
        for node in data["assetNodes"]
        if node["isPartitioned"] and node["partitionStats"]
    }


def _backfill(server: DagsterDev, assets: list[list[str]], days: list[str]) -> dict[str, float]:
    began = time.monotonic()
    backfill = server.launch_backfill(
        {"assetSelection": [{"path": p} for p in assets], "partitionNames": days}
    )

    def runs_finished():
        runs = server.runs({"dagster/backfill": backfill})
        return (
            runs and all(r["status"] in {"SUCCESS", "FAILURE", "CANCELED"} for r in runs) and runs
        )

    runs = wait_for(runs_finished, TIMEOUT_S, f"backfill {backfill}'s runs")
    runs_s = time.monotonic() - began
    status = server.wait_backfill(backfill, TIMEOUT_S)
    failed = [r["runId"] for r in runs if r["status"] != "SUCCESS"]
    if failed or status not in {"COMPLETED", "COMPLETED_SUCCESS"}:
        raise RuntimeError(f"backfill {backfill} ended {status}; runs not successful: {failed}")
    return {"runs_s": runs_s, "complete_s": time.monotonic() - began, "runs": len(runs)}


def bench_ui_backfill(work: Path, log) -> dict:
    """A UI backfill of 3 sample days: first, then unchanged."""
    server = _server(work / "ui_backfill").start()
    try:
        server.stop_automation()
        generate(SampleSpec(START, 3, ORDERS_PER_DAY, SEED), server.data_dir)
        days = [(START + dt.timedelta(days=n)).isoformat() for n in range(3)]
        assets = every_asset()
        first = _backfill(server, assets, days)
        log(f"UI backfill of 3 days: first {first['runs_s']:.1f}s ({first['complete_s']:.1f}s)")
        again = _backfill(server, assets, days)
        log(f"UI backfill of 3 days: unchanged {again['runs_s']:.1f}s ({again['complete_s']:.1f}s)")
        return {"assets": len(assets), "first": first, "unchanged": again}
    finally:
        server.stop()


def bench_fresh_dev(work: Path, log) -> dict:
    """A fresh ``make dev``: the sample week published and the queue empty, and still so
    after every sensor has had a tick to request more (the late-changes catch-up)."""
    server = _server(work / "fresh_dev")
    generate(SampleSpec(START, 7, ORDERS_PER_DAY, SEED), server.data_dir)
    started = time.monotonic()
    server.start()
    up = time.monotonic()
    assets = ["/".join(path) for path in every_asset()]
    hold_s = 2 * load_settings({}).sensor_interval_s + 5  # every sensor ticks in between
    quiet = {"since": None}

    def settled():
        counts, active = _materialized(server), _active_runs(server)
        if counts is None or active is None:
            return None
        if not (active == 0 and all(counts.get(a, 0) >= 7 for a in assets)):
            quiet["since"] = None
            return None
        quiet["since"] = quiet["since"] or time.monotonic()
        return time.monotonic() - quiet["since"] >= hold_s and quiet["since"]

    try:
        since = wait_for(settled, TIMEOUT_S, "the sample week published, the queue empty")
        settled_s = since - up
        runs = server.graphql("{ runsOrError { ... on Runs { results { runId } } } }")
        count = len(runs["runsOrError"]["results"])
    finally:
        server.stop()
    log(f"fresh make dev: settled {settled_s:.1f}s after the UI came up ({count} runs)")
    return {"ui_up_s": up - started, "settled_s": settled_s, "runs": count, "held_s": hold_s}

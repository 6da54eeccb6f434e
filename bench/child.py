"""One measurement in a fresh process: materialize days with one system, report timings.

``python -m bench.child SYSTEM --data-dir DIR --first DAY --last DAY --result FILE``
where SYSTEM is ``floor`` (raw DuckDB), ``dlt`` (dlt's merge, :mod:`bench.dlt_merge`),
``stock`` (dagster-duckdb IO manager), ``platform`` (this repo's ``orders_daily_job``) or
``noop`` (a job of the same shape doing nothing).
The platform reads its data root and Dagster home from ``PLATFORM_DATA_DIR`` and
``DAGSTER_HOME``, which the parent sets.
Writes JSON: ``setup_s`` (imports, definitions, instance), ``run_s`` (the materialization),
``run_cpu_s`` (its CPU seconds), ``ok``, ``run_ids`` (for the platform: the plan's id and the
launched runs', and what they did to curated/orders, and ``profile``: where the job's time
went, by step, with Dagster's event writes timed), the first error and ``peak_rss_mb``
(this process's own peak memory, which the parent cannot read correctly from ``wait4``)."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import resource
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
FORCE_TAG = "platform/force"
RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
ORDERS_ASSETS = (["staging", "orders"], ["curated", "orders"], ["marts", "daily_orders"])


def _cpu() -> float:
    """CPU seconds of this process so far, all threads (DuckDB's and polars' workers too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float | None:
    """This process's own peak resident memory since it started (Linux ``VmHWM``), in MB.

    Not ``ru_maxrss`` as the parent's ``wait4`` sees it: Linux starts a child's maximum at
    the peak of the process it was spawned from, so a harness that once held 1.2 GB would
    report every later child at 1.2 GB at least."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def _direct(materialize, began: float) -> dict:
    """Time ``materialize()`` (a system without Dagster); its result is the rows it wrote."""
    ready, ready_cpu = time.perf_counter(), _cpu()
    rows = materialize()
    return {
        "ok": True,
        "setup_s": ready - began,
        "run_s": time.perf_counter() - ready,
        "run_cpu_s": _cpu() - ready_cpu,
        "rows": rows,
    }


def run_floor(data_dir: Path, first: dt.date, last: dt.date, began: float) -> dict:
    """Dedupe + MERGE the days in one DuckDB connection."""
    from bench import floor

    days = {day: floor.day_files(data_dir, day) for day in _days(first, last)}
    return _direct(lambda: floor.materialize(data_dir / "floor.duckdb", days), began)


def run_dlt(data_dir: Path, first: dt.date, last: dt.date, began: float) -> dict:
    """dlt's merge of the days (one load), then the marts (dlt is imported only here)."""
    from bench import dlt_merge, floor

    days = {day: floor.day_files(data_dir, day) for day in _days(first, last)}
    pipelines = data_dir / "dlt_pipelines"
    return _direct(lambda: dlt_merge.materialize(data_dir / "dlt.duckdb", pipelines, days), began)


def _error_text(event) -> str:
    """The event's message and the chain of errors under it."""
    parts = [event.message]
    error = getattr(event.event_specific_data, "error", None)
    while error is not None:
        parts.append(error.message.strip())
        error = error.cause
    return " / ".join(parts)


def _job_result(result, setup_s: float, started: float, started_cpu: float) -> dict:
    failures = [_error_text(event) for event in result.all_events if event.is_failure]
    return {
        "ok": result.success,
        "setup_s": setup_s,
        "run_s": time.perf_counter() - started,
        "run_cpu_s": _cpu() - started_cpu,
        "run_ids": [result.run_id],
        "error": failures[0] if failures else None,
    }


def _target(first: dt.date, last: dt.date, force: bool = False) -> dict:
    """``execute_in_process`` arguments for one partition or a single-run range."""
    tags = {FORCE_TAG: "true"} if force else {}
    if first == last:
        return {"partition_key": first.isoformat(), "tags": tags}
    return {"tags": {**tags, RANGE_START: first.isoformat(), RANGE_END: last.isoformat()}}


def run_stock(data_dir: Path, first: dt.date, last: dt.date, began: float, noop: bool) -> dict:
    """The stock job (one partition per run), or the no-op job (one partition or a range)."""
    import dagster as dg

    if noop:
        from bench.noop import defs

        job = defs.resolve_job_def("noop_orders_job")
    else:
        from bench.stock import build_definitions

        job = build_definitions(data_dir).resolve_job_def("stock_orders_job")
        if first != last:
            raise ValueError("the stock path runs one partition per run")
    with dg.DagsterInstance.get() as instance:
        ready, ready_cpu = time.perf_counter(), _cpu()
        result = job.execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False, **_target(first, last)
        )
        return _job_result(result, ready - began, ready, ready_cpu)


def _curated_metadata(runs) -> dict:
    """What the runs did to curated/orders: keys recomputed (keyed recomputes or a rebuild),
    keys changed by a rebuild, business days changed (one materialization per partition
    of a range carries the range's metadata, so each run is counted once)."""
    recomputed, changed, days = 0, 0, set()
    for run in runs:
        for event in run.get_asset_materialization_events():
            materialization = event.event_specific_data.materialization
            if materialization.asset_key.path != ["curated", "orders"]:
                continue
            meta = {k: v.value for k, v in materialization.metadata.items()}
            recomputed += meta.get("keys_recomputed", 0)
            changed += meta.get("keys_changed", 0)
            listed = meta.get("changed_business_days", "none")
            days |= set() if listed == "none" else set(listed.split(", "))
            break
    return {"keys_recomputed": recomputed, "keys_changed": changed, "days_changed": len(days)}


class EventWrites:
    """Times every event the Dagster instance stores (``handle_new_event``) while installed:
    what Dagster's event log costs the platform's run (the event's time and the write's)."""

    def __init__(self):
        self.writes: list[tuple[float, float]] = []

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Patch ``DagsterInstance.handle_new_event`` for the block (the bench's own probe)."""
        import dagster as dg

        original = dg.DagsterInstance.handle_new_event

        def timed(instance, event, *args, **kwargs):
            began = time.perf_counter()
            try:
                return original(instance, event, *args, **kwargs)
            finally:
                self.writes.append((event.timestamp, time.perf_counter() - began))

        dg.DagsterInstance.handle_new_event = timed
        try:
            yield
        finally:
            dg.DagsterInstance.handle_new_event = original


def _profile(instance, run_ids: list[str], writes: EventWrites, run_s: float) -> dict:
    """Where a launch's in-job time went: each step's wall time (from its start and end
    events, in the order the steps started) and the event writes made during it; the rest
    is outside the steps (planning, definitions, run creation and end), with its writes."""
    windows: dict[str, list[float]] = {}
    for run_id in run_ids:
        for entry in instance.all_logs(run_id):
            if entry.step_key and entry.dagster_event is not None:
                name = entry.dagster_event.event_type_value
                if name in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
                    windows.setdefault(entry.step_key, []).append(entry.timestamp)
    steps = {step: {"wall_s": max(t) - min(t), "event_s": 0.0} for step, t in windows.items()}
    outside = {"wall_s": run_s - sum(step["wall_s"] for step in steps.values()), "event_s": 0.0}
    for stamp, seconds in writes.writes:
        during = [s for s, t in windows.items() if min(t) <= stamp <= max(t)]
        (steps[during[0]] if during else outside)["event_s"] += seconds
    return {
        "events": len(writes.writes),
        "event_s": sum(seconds for _, seconds in writes.writes),
        "steps": steps,
        "outside": outside,
    }


def run_platform(
    first: dt.date, last: dt.date, force: bool, began: float, rebuild: bool = False
) -> dict:
    """The real ``orders_daily_job``, limited to the three orders assets the issue names.

    Launched as a user would (``platform_assets.tools.launch.launch_job``): planned first,
    then one single-run range over the days that need work (none when unchanged);
    ``rebuild``: as ``launch --rebuild`` (one run over the window, curated/orders rebuilt).
    As ``python -m platform_assets.launch`` does, the Dagster instance is opened only when
    a run starts; the time and CPU that takes are reported as ``instance_s`` and left out
    of ``run_s`` and ``run_cpu_s`` (the other systems have no instance to open).
    """
    import dagster as dg

    from platform_assets.tools.launch import day_keys, launch_job

    keys = day_keys(first, (last - first).days + 1)
    assets = [dg.AssetKey(key) for key in ORDERS_ASSETS]
    opening = {"s": 0.0, "cpu_s": 0.0}
    with ExitStack() as stack:

        @functools.cache
        def instance() -> dg.DagsterInstance:
            wall, cpu = time.perf_counter(), _cpu()
            opened = stack.enter_context(dg.DagsterInstance.get())
            opening.update(s=time.perf_counter() - wall, cpu_s=_cpu() - cpu)
            return opened

        writes = EventWrites()
        with writes.installed():
            ready, ready_cpu = time.perf_counter(), _cpu()
            launch = launch_job(
                "orders_daily_job", keys, instance, force=force, assets=assets, rebuild=rebuild
            )
            run_s = time.perf_counter() - ready - opening["s"]
            run_cpu_s = _cpu() - ready_cpu - opening["cpu_s"]
        events = [event for run in launch.runs for event in run.all_events]
        failures = [_error_text(event) for event in events if event.is_failure]
        ran = [run.run_id for run in launch.runs]
        return {
            "ok": launch.success,
            "setup_s": ready - began,
            "run_s": run_s,
            "run_cpu_s": run_cpu_s,
            "instance_s": opening["s"],
            "run_ids": launch.run_ids,
            "runs_launched": len(launch.runs),
            "error": failures[0] if failures else None,
            "curated": _curated_metadata(launch.runs),
            "profile": _profile(instance(), ran, writes, run_s) if ran else None,
        }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    began = time.perf_counter()
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("system", choices=["floor", "dlt", "stock", "platform", "noop"])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--first", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--last", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--rebuild", action="store_true", help="platform: launch --rebuild")
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.system == "floor":
        result = run_floor(args.data_dir, args.first, args.last, began)
    elif args.system == "dlt":
        result = run_dlt(args.data_dir, args.first, args.last, began)
    elif args.system in ("stock", "noop"):
        result = run_stock(args.data_dir, args.first, args.last, began, args.system == "noop")
    else:
        result = run_platform(args.first, args.last, args.force, began, args.rebuild)
    args.result.write_text(json.dumps({**result, "peak_rss_mb": peak_rss_mb()}))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    code = main()
    if sys.argv[1:2] == ["platform"]:  # leaves as ``python -m platform_assets.launch`` does
        from platform_assets.tools.launch import run_as_command

        run_as_command(lambda: code)
    raise SystemExit(code)

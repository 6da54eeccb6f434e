"""Launch jobs over a range of days, running only the partitions that changed.

Usage: ``python -m platform_assets.launch --start 2024-01-01 --days 7 [--force]
[--job orders_daily_job]``, or ``--repair`` to recompute the published days that
``python -m platform_assets.tools.verify`` finds changed behind the platform's back, or
``--rebuild`` to recompute the current-state tables (``curated.orders``) from the
staged artifacts of every published day instead of replaying merges (one run over
the window with the tag ``platform/rebuild=true``: the window's staging is brought
up to date first, then the table is replaced, then the mart days it changed).
Each job is planned first (:mod:`platform_assets.orchestration.planner`); changed days run as
single-run ranges on the Dagster instance in ``DAGSTER_HOME`` (so they show in the
UI), and unchanged days get a ``skipped`` ledger row under the plan's id without
starting a run. ``--force`` runs every day and recomputes it.
"""

import argparse
import datetime as dt
import functools
import gc
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import NoReturn

import dagster as dg

from platform_assets.core.landing import LandingRefused
from platform_assets.core.ledger import Ledger
from platform_assets.core.partition_keys import day_ranges, validate_partition_key
from platform_assets.definitions import environment_definitions
from platform_assets.orchestration.drift import verify_all
from platform_assets.orchestration.idempotency import FORCE_TAG, REBUILD_TAG
from platform_assets.orchestration.partitions import RANGE_END, RANGE_START, require_partitions
from platform_assets.orchestration.planner import JobPlan, PlanResources, catalog_of, plan_job

# Step failures are summarised by describe(); the console would repeat them with tracebacks.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
PLAN_ID_FORMAT = "plan-%Y%m%dT%H%M%S.%fZ"  # ledger run_id of skips decided without a run

InstanceSource = dg.DagsterInstance | Callable[[], dg.DagsterInstance]
"""A Dagster instance, or a function that opens it when a run first needs it (opening the
instance's storage costs about a second; a launch that finds nothing to do never pays)."""


def opened(source: InstanceSource) -> dg.DagsterInstance:
    """The instance of ``source``."""
    return source if isinstance(source, dg.DagsterInstance) else source()


def run_range(
    job_name: str,
    first: str,
    last: str,
    instance: InstanceSource,
    force: bool = False,
    definitions: dg.Definitions | None = None,
    assets: list[dg.AssetKey] | None = None,
    rebuild: bool = False,
) -> dg.ExecuteInProcessResult:
    """Materialize the partitions ``first``..``last`` in one run of a job (or of ``assets``)."""
    tags = {RANGE_START: first, RANGE_END: last}
    if force:
        tags[FORCE_TAG] = "true"
    if rebuild:
        tags[REBUILD_TAG] = "true"
    job = (definitions or environment_definitions()).resolve_job_def(job_name)
    return job.execute_in_process(
        run_config=QUIET,
        instance=opened(instance),
        tags=tags,
        raise_on_error=False,
        asset_selection=assets,
    )


@dataclass
class JobLaunch:
    """What launching one job did: its plan (None when forced), runs, and the plan's id."""

    job: str
    plan_id: str
    plan: JobPlan | None
    runs: list[dg.ExecuteInProcessResult] = field(default_factory=list)
    rebuild: bool = False

    @property
    def success(self) -> bool:
        """Whether every launched run succeeded (true when none was needed)."""
        return all(run.success for run in self.runs)

    @property
    def run_ids(self) -> list[str]:
        """The plan's id (ledger rows of planned skips) and the ids of the launched runs."""
        return [self.plan_id, *(run.run_id for run in self.runs)]


def day_keys(first: dt.date, days: int) -> list[str]:
    """``days`` consecutive partition keys from ``first``."""
    return [(first + dt.timedelta(days=n)).isoformat() for n in range(days)]


def plan_resources(definitions: dg.Definitions) -> PlanResources:
    """The landing, ledger, published tables and lake the definitions' assets use."""
    resources = definitions.resources
    return PlanResources(
        landing=resources["landing"].store(),
        warehouse=resources["warehouse"],
        tables=resources["tables"].store(),
        lake=resources["lake"].store(),
    )


def _record_planned_skips(plan: JobPlan, plan_id: str, resources: PlanResources) -> None:
    """A ``skipped`` ledger row for every unchanged partition no launched run covers."""
    covered = set(plan.todo)
    ledger = Ledger(resources.warehouse)
    for asset in plan.assets:
        skipped = {k: v for k, v in asset.unchanged.items() if k not in covered}
        if skipped:
            ledger.record_skips(plan_id, asset.dataset, skipped)


def current_state_assets(
    job_name: str, definitions: dg.Definitions, assets: list[dg.AssetKey] | None = None
) -> list[dg.AssetKey]:
    """The job's assets (of ``assets`` if given) that publish a current-state (merge) table."""
    job = definitions.resolve_job_def(job_name)
    keys = set(job.asset_layer.executable_asset_keys)
    if assets:
        keys = keys & set(assets)
    return catalog_of(definitions).current_state(keys)


def launch_job(
    job_name: str,
    partitions: list[str],
    instance: InstanceSource,
    force: bool = False,
    definitions: dg.Definitions | None = None,
    assets: list[dg.AssetKey] | None = None,
    rebuild: bool = False,
) -> JobLaunch:
    """Plan a job over ``partitions`` and run the days that need it (all of them if forced).

    ``instance``: the Dagster instance, or a function that opens it (called only when a
    run starts); ``definitions`` default to the environment's (the planner reads their
    resources);
    ``assets`` limits planning and runs to a selection of the job's assets.
    ``rebuild``: one run over the whole window with the tag ``platform/rebuild=true``:
    the current-state tables are recomputed from every published day's staged
    artifacts (the window's days restaged first where their landing files changed),
    then the mart days they changed are recomputed. A day outside the job's partitions
    is refused (:class:`OutsidePartitions`) before any run or ledger row.
    """
    if not partitions:
        raise ValueError(f"{job_name}: no partitions to launch")
    definitions = definitions or environment_definitions()
    require_partitions(definitions.resolve_job_def(job_name).partitions_def, partitions)
    plan_id = dt.datetime.now(dt.UTC).strftime(PLAN_ID_FORMAT)
    if rebuild and not current_state_assets(job_name, definitions, assets):
        raise ValueError(f"{job_name}: no current-state (merge) table to rebuild")
    if force or rebuild:
        launch = JobLaunch(job_name, plan_id, None, rebuild=rebuild)
        ranges = [(partitions[0], partitions[-1])]
    else:
        resources = plan_resources(definitions)
        with resources.warehouse.session():
            plan = plan_job(definitions, job_name, partitions, resources, assets)
            _record_planned_skips(plan, plan_id, resources)
        launch = JobLaunch(job_name, plan_id, plan)
        ranges = plan.ranges()
    launch.runs = [
        run_range(job_name, first, last, instance, force, definitions, assets, rebuild)
        for first, last in ranges
    ]
    return launch


def describe(launch: JobLaunch, ledger: Ledger | None = None) -> str:
    """What was planned for a job and how its runs ended, naming every day not published."""
    if launch.rebuild:
        planned = "rebuild: one run over the window (platform/rebuild=true)"
    elif launch.plan is None:
        planned = f"forced: all {len(launch.runs)} range(s) run"
    else:
        todo = launch.plan.todo
        skipped = len(launch.plan.partitions) - len(todo)
        planned = f"{len(todo)} day(s) to run, {skipped} unchanged (no run)"
    runs = ", ".join(
        f"run {run.run_id} {'succeeded' if run.success else 'FAILED'}" for run in launch.runs
    )
    lines = [f"{launch.job}: {planned}" + (f"; {runs}" if runs else "")]
    lines += [f"  {line}" for run in launch.runs for line in rebuild_summary(run)]
    for run in launch.runs:
        if run.success:
            continue
        failures = ledger.run_failures(run.run_id) if ledger else []
        for dataset, partition, error in failures:
            lines.append(f"  not published: {dataset} {partition}: {error[:300]}")
        if not failures:
            for event in run.get_step_failure_events():
                message = event.step_failure_data.error.message.strip().splitlines()[0]
                lines.append(f"  step {event.step_key} failed: {message[:300]}")
    return "\n".join(lines)


def rebuild_summary(run: dg.ExecuteInProcessResult) -> list[str]:
    """One line per table a run rebuilt: keys recomputed and changed, business days changed."""
    lines, seen = [], set()
    for event in run.get_asset_materialization_events():  # one per partition of a range
        materialization = event.event_specific_data.materialization
        meta = {k: v.value for k, v in materialization.metadata.items()}
        if meta.get("write_strategy") != "rebuild" or materialization.asset_key in seen:
            continue
        seen.add(materialization.asset_key)
        what = "replaced" if meta["rebuilt"] else "already equal to its rebuild, not written"
        lines.append(
            f"rebuilt {materialization.asset_key.to_user_string()} ({what}): "
            f"{meta['keys_recomputed']} keys recomputed from {meta['source_days']} published "
            f"day(s), {meta['keys_changed']} changed ({meta['rows_written']} rows written, "
            f"{meta['rows_removed']} removed); business days changed: "
            f"{meta['changed_business_days']}"
        )
    return lines


def repair(instance: InstanceSource, definitions: dg.Definitions | None = None) -> list[JobLaunch]:
    """Recompute (forced) every published day that drifted from its ledger checksum."""
    definitions = definitions or environment_definitions()
    by_asset: dict[dg.AssetKey, list[str]] = {}
    for item in verify_all(definitions):
        by_asset.setdefault(dg.AssetKey.from_user_string(item.dataset), []).append(item.partition)
    launches = []
    for key, days in sorted(by_asset.items()):
        job = next(
            j
            for j in catalog_of(definitions).jobs
            if key in definitions.resolve_job_def(j).asset_layer.executable_asset_keys
        )
        for first, last in day_ranges(days):
            group = [day for day in sorted(days) if first <= day <= last]
            launches.append(launch_job(job, group, instance, True, definitions, [key]))
    return launches


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", help="first day, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=1)
    defs = environment_definitions()
    every_job = list(catalog_of(defs).jobs)
    parser.add_argument("--job", action="append", choices=every_job, help="default: every job")
    parser.add_argument("--force", action="store_true", help="recompute unchanged partitions")
    parser.add_argument(
        "--repair", action="store_true", help="recompute the days `verify` finds drifted"
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="recompute the current-state tables from every published day's staged artifacts "
        "(the window is restaged first where it changed); default jobs: those with one",
    )
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    if not args.repair and not args.start:
        parser.error("--start is required (or --repair)")
    if args.repair and args.rebuild:
        parser.error("--repair and --rebuild do not go together")
    jobs = args.job or every_job
    if args.rebuild:
        jobs = [job for job in jobs if current_state_assets(job, defs)]
        if not jobs:
            parser.error(f"--rebuild: no current-state table in {', '.join(args.job)}")
    began = time.monotonic()
    if not args.repair:
        try:  # refused before any run or ledger row
            partitions = day_keys(validate_partition_key(args.start), args.days)
            for job in jobs:
                require_partitions(defs.resolve_job_def(job).partitions_def, partitions)
        except ValueError as exc:  # InvalidPartitionKey, OutsidePartitions
            parser.error(f"{exc}; no run started")
    refused = []
    with ExitStack() as stack:  # the instance is opened only if a run starts
        instance = functools.cache(lambda: stack.enter_context(dg.DagsterInstance.get()))
        if args.repair:
            launches = repair(instance)
            if not launches:
                print("no drifted day: nothing to repair")
        else:
            launches = []
            for job in jobs:
                if args.rebuild:
                    tables = ", ".join(k.to_user_string() for k in current_state_assets(job, defs))
                    print(
                        f"{job}: rebuilding {tables} over {partitions[0]}..{partitions[-1]} "
                        "(restaging the window's changed days first)",
                        file=sys.stderr,
                        flush=True,
                    )
                try:
                    launches.append(
                        launch_job(job, partitions, instance, args.force, rebuild=args.rebuild)
                    )
                except LandingRefused as exc:  # the other jobs still run
                    refused.append(f"{job}: not launched: {exc}")
    ledger = Ledger(defs.resources["warehouse"])
    for launch in launches:
        print(describe(launch, ledger))
    for line in refused:
        print(line)
    print(f"total {time.monotonic() - began:.1f}s", file=sys.stderr)
    return 0 if all(launch.success for launch in launches) and not refused else 1


def run_as_command(entry: Callable[[], int]) -> NoReturn:
    """Exit with ``entry()``'s code, leaving the cyclic garbage of the process to the
    operating system (``gc.freeze``): Python's shutdown would otherwise walk Dagster's
    whole object graph, about 0.6 s after a run. Exit handlers still run, and objects
    freed by reference counting are still freed."""
    code = entry()
    gc.freeze()
    raise SystemExit(code)


if __name__ == "__main__":
    run_as_command(main)

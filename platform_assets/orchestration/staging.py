"""The landing source and staging assets of a dataset: read, parse, quarantine, stage, audit.

Per landing day: the files are read once (a snapshot whose checksum is the day's input
checksum), parsed against the contract (bad rows to ``quarantine.<dataset>``), staged by
the dataset's transform into a content-addressed artifact in the lake, and audited by its
checks (results kept with the artifact; blocking ones gate every publication of it).
Unchanged days skip; a day whose landing files change while the run reads them fails.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
import polars as pl

from platform_assets.core import check_results, checks
from platform_assets.core.checks import CheckOutcome
from platform_assets.core.code_version import CodeVersion, derive_code_version
from platform_assets.core.landing import DaySnapshot, LandingChanged, LandingEntry, LandingStore
from platform_assets.core.landing_parser import parse_day, reject_summary
from platform_assets.core.ledger import Ledger
from platform_assets.core.partition_keys import validate_partition_key
from platform_assets.core.publisher import Publication, error_text
from platform_assets.orchestration import audit
from platform_assets.orchestration.declarations import (
    PARTITION_COLUMN,
    DatasetSpec,
)
from platform_assets.orchestration.idempotency import (
    data_version,
    plan_days,
    plan_metadata,
    publisher,
    raise_if_days_failed,
    raise_if_nothing_to_publish,
)
from platform_assets.orchestration.io_managers import lake_output
from platform_assets.orchestration.metadata import versioned
from platform_assets.orchestration.partitions import Cadence, observable_source
from platform_assets.orchestration.planner import PlanInputs
from platform_assets.orchestration.quarantine import replace_quarantine
from platform_assets.orchestration.resources import (
    LakeResource,
    LandingResource,
    TablesResource,
    artifact_present,
)
from platform_assets.orchestration.warehouse_resource import WarehouseResource

TRAILING = 7  # days of history for the row-count check


def landing_source(spec: DatasetSpec, cadence: Cadence) -> dg.SourceAsset:
    """An observable source reporting one content checksum per landing day."""

    @observable_source(
        key=spec.landing_key,
        partitions_def=cadence.partitions,
        group_name=spec.name,
        description=spec.landing_description,
    )
    def landing(landing: LandingResource) -> dg.DataVersionsByPartition:
        store = landing.store()
        valid = set(cadence.partitions.get_partition_keys())
        return dg.DataVersionsByPartition(
            {
                key: dg.DataVersion(store.fingerprint(store.files(spec.name, key)))
                for key in store.partition_keys(spec.name)
                if key in valid
            }
        )

    return landing


def landing_checksums(store: LandingStore, files: dict[str, Sequence[LandingEntry]]):
    """The input checksum of each landing day, from its listed files."""
    return {key: store.fingerprint(day_files) for key, day_files in files.items()}


def planned_landing_checksums(store: LandingStore, dataset: str, keys: list[str]):
    """:func:`landing_checksums` of ``keys`` from one listing of the whole dataset."""
    by_day = store.files_by_day(dataset)
    return landing_checksums(store, {key: by_day.get(key, []) for key in keys})


def read_landing(
    store: LandingStore, dataset: str, keys: list[str]
) -> tuple[dict[str, DaySnapshot], dict[str, str]]:
    """Each day's files read once (:class:`DaySnapshot`), and the days that changed meanwhile."""
    snapshots, failed = {}, {}
    for key in keys:
        try:
            snapshots[key] = store.snapshot(dataset, key)
        except LandingChanged as exc:
            failed[key] = str(exc)
    return snapshots, failed


@dataclass(frozen=True)
class StagedDay:
    """One landing day parsed, staged and audited: what the staging asset keeps of it."""

    staged: pl.DataFrame
    rejects: pl.DataFrame
    rows_in: int
    problems: list[str]  # warnings and the reject summary, for the run log
    outcomes: list[CheckOutcome]


def stage_day(
    spec: DatasetSpec, snapshots: dict[str, DaySnapshot], key: str, trailing: list[int]
) -> StagedDay:
    """Parse, stage and audit the day ``key`` of ``snapshots``. Its files' bytes are released
    once parsed, and the parsed rows when this returns: at 5M events a day, each is about
    as large as the staged rows themselves."""
    landing_date = validate_partition_key(key)
    day = parse_day(snapshots[key].contents, spec.contract, landing_date)
    snapshots[key] = snapshots[key].released()
    staged = spec.stage(day.rows, landing_date)
    return StagedDay(
        staged=staged,
        rejects=day.rejects,
        rows_in=day.total,
        problems=[*day.warnings, reject_summary(day.rejects)],
        outcomes=spec.audit(staged, day.rejects.height, day.total, trailing),
    )


def staging_version(spec: DatasetSpec) -> CodeVersion:
    """The staging asset's derived code version: its checks' outcomes are recorded under it,
    and only outcomes under the current one decide a gate."""
    return derive_code_version("staging", spec, write_spec=lake_output(PARTITION_COLUMN))


def staging_version_in(context: dg.AssetExecutionContext, spec: DatasetSpec, default: str) -> str:
    """The code version of the staging asset as the run's definitions have it (``default``:
    the one derived from ``spec``, when the run's asset graph does not hold it)."""
    graph = context.job_def.asset_layer.asset_graph
    if graph.has(spec.staging_key):
        return graph.get(spec.staging_key).code_version or default
    return default


def staging_asset(spec: DatasetSpec, cadence: Cadence) -> dg.AssetsDefinition:
    """Parse, quarantine, stage and audit each landing day; store it as an artifact."""
    write_spec = lake_output(PARTITION_COLUMN)
    version = staging_version(spec)

    @dg.asset(
        key=spec.staging_key,
        deps=[spec.landing_key],
        partitions_def=cadence.partitions,
        backfill_policy=cadence.backfill,
        io_manager_key="lake_io_manager",
        metadata=versioned(write_spec, version),
        check_specs=audit.check_specs(spec.staging_key, spec.checks),
        code_version=version.value,
        group_name=spec.name,
        kinds={"polars", "parquet"},
        description=spec.staging_description,
    )
    def staging(
        context: dg.AssetExecutionContext,
        landing: LandingResource,
        lake: LakeResource,
        warehouse: WarehouseResource,
        tables: TablesResource,
    ):
        store, artifacts = landing.store(), lake.store()
        snapshots, unreadable = read_landing(store, spec.name, list(context.partition_keys))
        checksums = {key: snap.checksum for key, snap in snapshots.items()}
        pub = publisher(context, warehouse, spec.staging_dataset)

        def present(key: str, published) -> bool:
            return artifact_present(artifacts, spec.staging_key, key, published.output_checksum)

        with warehouse.session():  # the ledger bookkeeping on one connection
            plan = plan_days(context, pub, checksums, unreadable, present)
            trailing = {
                key: Ledger(warehouse).trailing_rows(spec.staging_dataset, key, TRAILING)
                for key in plan.todo
            }
        raise_if_nothing_to_publish(pub.dataset, plan)

        def still_current(key: str) -> str | None:
            if store.unchanged_since(snapshots[key]):
                return None
            return (
                f"landing/{spec.name} {key} changed after this run read it; a run of the "
                "current files stages it"
            )

        publication = Publication(attempts=plan.attempts, precondition=still_current)
        quarantined: dict[str, pl.DataFrame] = {}
        failed: dict[str, Exception] = {}
        try:
            for key in plan.todo:
                try:
                    day = stage_day(spec, snapshots, key, trailing[key])
                except Exception as exc:  # one day's failure never stops the run's other days
                    failed[key] = exc
                    continue
                for problem in day.problems:
                    if problem:
                        context.log.warning(f"{spec.name} {key}: {problem}")
                publication.frames[key] = day.staged
                publication.rows_in[key] = day.rows_in
                publication.outcomes[key] = day.outcomes
                quarantined[key] = day.rejects
                context.log.info(
                    f"{spec.name} {key}: {len(snapshots[key].contents)} file(s), {day.rows_in} "
                    f"rows, {day.rejects.height} quarantined, {day.staged.height} staged"
                )
            if quarantined:
                replace_quarantine(
                    tables.store(),
                    spec.quarantine_table,
                    pl.concat(quarantined.values()),
                    sorted(quarantined),
                )
        except Exception as exc:
            pub.fail(list(plan.attempts.values()), exc)
            raise
        for key, exc in sorted(failed.items()):
            context.log.error(f"{spec.name} {key}: not staged: {error_text(exc)}")
            pub.fail([plan.attempts[key]], exc)
        metadata = plan_metadata(plan, pub)
        if plan.todo:
            rows_in = sum(publication.rows_in.values())
            rejects = sum(frame.height for frame in quarantined.values())
            staged_rows = sum(frame.height for frame in publication.frames.values())
            metadata |= {
                "files_in": sum(len(snapshots[k].contents) for k in plan.todo),
                "rows_in": rows_in,
                "rows_quarantined": rejects,
                "duplicates_and_superseded": rows_in - rejects - staged_rows,
            }
        yield dg.Output(publication, metadata=metadata, data_version=data_version(checksums))
        evaluated = {k: v.output_checksum for k, v in plan.unchanged.items()}
        stored = check_results.artifact_outcomes(
            warehouse, spec.staging_dataset, evaluated, version.value
        )
        results = {**stored, **publication.outcomes}
        checks_failed = {  # an unchanged day that failed before fails again: still blocked
            key: "blocking checks failed: " + "; ".join(problems)
            for key, problems in checks.blocking_problems(results).items()
        }
        for key, why in checks_failed.items():
            context.log.error(f"{spec.staging_dataset} {key}: {why}; the day is not published")
        yield from audit.to_check_results(context.asset_key, results)
        raise_if_days_failed(context, warehouse, checks_failed)

    return staging


def staging_plan_inputs(spec: DatasetSpec) -> PlanInputs:
    """How the planner fingerprints a staging asset's days: their landing checksums, and
    whether the published artifact is still in the lake."""
    return PlanInputs(
        lambda res, keys: planned_landing_checksums(res.landing, spec.name, keys),
        present=lambda res, key, published: artifact_present(
            res.lake, spec.staging_key, key, published.output_checksum
        ),
    )

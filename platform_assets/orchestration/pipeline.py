"""Asset factories shared by every dataset: landing source, staging, publication.

A dataset declares a :class:`DatasetSpec` (contract, key, ordering, staging
transform, checks, publication strategy) and gets its assets from here, with
the same guarantees for all: per-partition checksums, ledger rows, skip when
unchanged, the force tag, quarantine, blocking checks, gated atomic publication.
Each asset's code version is derived from its declaration and write spec
(:mod:`platform_assets.core.code_version`), so a logic change recomputes without a hand bump.
"""

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dagster as dg
import duckdb
import polars as pl

from platform_assets.core import check_results, checks
from platform_assets.core.code_version import UNVERSIONED, CodeVersion, derive_code_version
from platform_assets.core.landing import DaySnapshot, LandingChanged, LandingEntry, LandingStore
from platform_assets.core.landing_parser import LandingContract, parse_day, reject_summary
from platform_assets.core.ledger import Ledger
from platform_assets.core.publisher import Publication, Rebuild, Recompute, upstream_artifacts
from platform_assets.orchestration import audit
from platform_assets.orchestration.drift import OverwriteTarget, drift
from platform_assets.orchestration.idempotency import (
    REBUILD_TAG,
    data_version,
    is_rebuild,
    plan_days,
    plan_metadata,
    publisher,
    raise_if_days_failed,
    raise_if_nothing_to_publish,
)
from platform_assets.orchestration.io_managers import lake_output, warehouse_output
from platform_assets.orchestration.partitions import (
    backfill_policy,
    daily_partitions,
    observable_source,
    validate_partition_key,
)
from platform_assets.orchestration.planner import PlanInputs, register_inputs, upstream_checksums
from platform_assets.orchestration.quarantine import replace_quarantine
from platform_assets.orchestration.resources import (
    LakeResource,
    LandingResource,
    TablesResource,
    artifact_present,
)
from platform_assets.orchestration.warehouse_resource import WarehouseResource
from platform_assets.storage.strategies import WriteStrategy
from platform_assets.storage.table_store import TableStore

WAREHOUSE_POOL = "warehouse"
DAILY = daily_partitions()
BACKFILL_POLICY = backfill_policy()
PARTITION_COLUMN = "landing_date"
TRAILING = 7  # days of history for the row-count check
CODE_VERSION_PARTS = "platform/code_version_parts"

StageFn = Callable[[pl.DataFrame, dt.date], pl.DataFrame]
AuditFn = Callable[[pl.DataFrame, int, int, list[int]], list[checks.CheckOutcome]]


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that makes a dataset different from another; the rest is shared.

    Every field but the descriptions counts in the staging asset's code version.
    """

    name: str
    landing_description: str = field(metadata=UNVERSIONED)
    contract: LandingContract
    stage: StageFn
    staging_description: str = field(metadata=UNVERSIONED)
    checks: dict[str, tuple[str, str]]
    audit: AuditFn

    @property
    def landing_key(self) -> dg.AssetKey:
        """``landing/<name>``."""
        return dg.AssetKey(["landing", self.name])

    @property
    def staging_key(self) -> dg.AssetKey:
        """``staging/<name>``."""
        return dg.AssetKey(["staging", self.name])

    @property
    def staging_dataset(self) -> str:
        """The staging asset's name in the ledger."""
        return f"staging/{self.name}"

    @property
    def quarantine_table(self) -> str:
        """``quarantine.<name>``: landing rows that could not be parsed."""
        return f"quarantine.{self.name}"


def versioned(write_spec: dict[str, str], version: CodeVersion) -> dict[str, str]:
    """Definition metadata: the write spec and the digests of the code version's parts."""
    return {**write_spec, CODE_VERSION_PARTS: version.describe()}


def landing_source(spec: DatasetSpec) -> dg.SourceAsset:
    """An observable source reporting one content checksum per landing day."""

    @observable_source(
        key=spec.landing_key,
        partitions_def=DAILY,
        group_name=spec.name,
        description=spec.landing_description,
    )
    def landing(landing: LandingResource) -> dg.DataVersionsByPartition:
        store = landing.store()
        valid = set(DAILY.get_partition_keys())
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


def staging_version(spec: DatasetSpec) -> CodeVersion:
    """The staging asset's derived code version: its checks' outcomes are recorded under it,
    and only outcomes under the current one decide a gate."""
    return derive_code_version("staging", spec, write_spec=lake_output(PARTITION_COLUMN))


def staging_asset(spec: DatasetSpec) -> dg.AssetsDefinition:
    """Parse, quarantine, stage and audit each landing day; store it as an artifact."""
    register_inputs(
        spec.staging_key,
        PlanInputs(
            lambda res, keys: planned_landing_checksums(res.landing, spec.name, keys),
            present=lambda res, key, published: artifact_present(
                res.lake, spec.staging_key, key, published.output_checksum
            ),
        ),
    )
    write_spec = lake_output(PARTITION_COLUMN)
    version = staging_version(spec)

    @dg.asset(
        key=spec.staging_key,
        deps=[spec.landing_key],
        partitions_def=DAILY,
        backfill_policy=BACKFILL_POLICY,
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
        quarantined = []
        try:
            for key in plan.todo:
                day = parse_day(snapshots[key].contents, spec.contract, validate_partition_key(key))
                for problem in [*day.warnings, reject_summary(day.rejects)]:
                    if problem:
                        context.log.warning(f"{spec.name} {key}: {problem}")
                staged = spec.stage(day.rows, validate_partition_key(key))
                publication.frames[key] = staged
                publication.rows_in[key] = day.total
                publication.outcomes[key] = spec.audit(
                    staged, day.rejects.height, day.total, trailing[key]
                )
                quarantined.append(day.rejects)
                context.log.info(
                    f"{spec.name} {key}: {len(snapshots[key].contents)} file(s), {day.total} "
                    f"rows, {day.rejects.height} quarantined, {staged.height} staged"
                )
            if plan.todo:
                replace_quarantine(
                    tables.store(), spec.quarantine_table, pl.concat(quarantined), plan.todo
                )
        except Exception as exc:
            pub.fail(list(plan.attempts.values()), exc)
            raise
        metadata = plan_metadata(plan, pub)
        if plan.todo:
            rows_in = sum(publication.rows_in.values())
            rejects = sum(frame.height for frame in quarantined)
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


def warehouse_asset(**kwargs):
    """``dg.asset`` for a daily asset published to the warehouse (IO manager, pool, policy)."""
    return dg.asset(
        partitions_def=DAILY,
        backfill_policy=BACKFILL_POLICY,
        io_manager_key="warehouse_io_manager",
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        **kwargs,
    )


@dataclass(frozen=True)
class Publish:
    """How a dataset's staged partitions are published to a warehouse table."""

    key: list[str]
    table: str
    strategy: WriteStrategy
    description: str = field(metadata=UNVERSIONED)
    transform: Callable[[pl.DataFrame], pl.DataFrame]
    business_key: list[str] | None = None
    ordering: list[str] | None = None
    partition_column: str | None = None
    impact_day_column: str | None = None


DRIFT_CHECK = "matches_ledger"


def drift_specs(key: dg.AssetKey, strategy: WriteStrategy) -> list[dg.AssetCheckSpec]:
    """The WARN check of a day-overwrite asset: its days still hold what was published."""
    if strategy is not WriteStrategy.OVERWRITE_PARTITION:
        return []
    return [
        dg.AssetCheckSpec(
            DRIFT_CHECK,
            asset=key,
            description="each day of the run still holds the rows its publication recorded "
            "(row count and hash in the ledger); a drifted day was changed behind the "
            "platform's back: python -m platform_assets.launch --repair (WARN)",
        )
    ]


def drift_result(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    tables: TablesResource,
    target: OverwriteTarget,
) -> dg.AssetCheckResult:
    """The drift check over the run's days, after its writes."""
    found = drift(tables.store(), Ledger(warehouse), target, list(context.partition_keys))
    for item in found:
        context.log.warning(f"drift: {item.describe()}; repair with launch --repair")
    return dg.AssetCheckResult(
        check_name=DRIFT_CHECK,
        passed=not found,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"drifted_partitions": ", ".join(d.partition for d in found) or "none"},
    )


def keyed_recompute(
    ledger: Ledger,
    lake: LakeResource,
    staging_key: dg.AssetKey,
    dataset: str,
    publish: Publish,
    staged: dict[str, pl.DataFrame],
) -> Callable[[str], Recompute | None]:
    """The keyed recompute of a current-state table for a partition published before.

    When day ``d``'s artifact replaces the one the table holds for it (a corrected
    or withdrawn delivery, a forced run, a code change), the keys it contributed
    before and after are recomputed from every day's current published artifact
    (the new one for ``d``) with the same total order, so a withdrawn event
    disappears and the result is what a rebuild would give. Called in the write's
    transaction, so "every day's current artifact" is the ledger's state at commit.
    ``staged`` holds the (verified) new artifact of each day the run publishes.
    """
    key_columns = publish.business_key or []

    def recompute(day: str) -> Recompute | None:
        held = ledger.published(dataset, ledger.partitions(dataset))
        old = held.get(day)
        if old is None:
            return None  # a first publication: the newer-wins merge is the same
        sources = {d: v.input_checksum for d, v in held.items() if v is not None and d != day}
        new = staged[day]
        try:
            before = lake.read(staging_key, {day: old.input_checksum})[day]
        except FileNotFoundError as lost:  # its keys are unknown: recompute every key
            frames = [new, *lake.read(staging_key, sources).values()]
            note = (
                f"{dataset} {day}: the artifact {old.input_checksum} it held is missing "
                f"({lost}); {publish.table} is rebuilt from every current artifact instead "
                "of recomputing that day's keys"
            )
            return Recompute(publish.transform(pl.concat(frames)), None, note)
        keys = pl.concat([before.select(key_columns), new.select(key_columns)]).unique()
        rows = [new.join(keys, on=key_columns, how="semi")]
        for frame in lake.read(staging_key, sources).values():
            rows.append(frame.join(keys, on=key_columns, how="semi"))
        return Recompute(publish.transform(pl.concat(rows)), keys)

    return recompute


def full_recompute(
    ledger: Ledger,
    lake: LakeResource,
    staging_key: dg.AssetKey,
    dataset: str,
    publish: Publish,
    staged: dict[str, pl.DataFrame],
    artifacts: dict[str, str],
) -> Callable[[list[str]], Rebuild]:
    """The rebuild of a current-state table: every published day's current artifact at once.

    Called in the write's transaction with the days of the run that are still
    current: their new artifacts (``staged``, verified) replace the ones the table
    holds for them; every other published day contributes the artifact its latest
    publication merged (a day whose new delivery failed its checks keeps its last
    good version, as in the incremental path). The same total order as the merges
    (``publish.transform``) collapses the events to one row per key, so the result
    is what the incremental path gives, and keys no current artifact contains
    (withdrawn or corrected deliveries, tampering) are not in it. ``artifacts``:
    the checksum of each day's new artifact.
    """

    def rebuild(days: list[str]) -> Rebuild:
        held = ledger.published(dataset, ledger.partitions(dataset))
        kept = {d: v.input_checksum for d, v in held.items() if v is not None and d not in days}
        frames = [staged[day] for day in days] + list(lake.read(staging_key, kept).values())
        sources = {**kept, **{day: artifacts[day] for day in days}}
        return Rebuild(publish.transform(pl.concat(frames)), dict(sorted(sources.items())))

    return rebuild


def gate_problems(
    warehouse: WarehouseResource, spec: DatasetSpec, artifacts: dict[str, str], checks_version: str
) -> dict[str, str]:
    """Days whose staged artifact did not pass the current blocking checks (those of the
    staging asset's code version ``checks_version``), with the reason; outcomes of other
    checks, or none at all, do not count as passed."""
    staged_dataset = spec.staging_dataset
    outcomes = check_results.artifact_outcomes(warehouse, staged_dataset, artifacts, checks_version)
    return {
        key: f"blocked by checks on {staged_dataset} (artifact {artifacts[key]}): "
        + "; ".join(problems)
        for key, problems in checks.blocking_problems(outcomes).items()
    }


def staging_version_in(context: dg.AssetExecutionContext, spec: DatasetSpec, default: str) -> str:
    """The code version of the staging asset as the run's definitions have it (``default``:
    the one derived from ``spec``, when the run's asset graph does not hold it)."""
    graph = context.job_def.asset_layer.asset_graph
    if graph.has(spec.staging_key):
        return graph.get(spec.staging_key).code_version or default
    return default


def published_asset(spec: DatasetSpec, publish: Publish) -> dg.AssetsDefinition:
    """Publish each day's current staged artifact to ``publish.table`` once its checks passed.

    The input checksum of a day is its current staged artifact (the latest
    succeeded staging attempt's output), so a byte-identical staging output skips
    the publication; the gate reads the check results of exactly that artifact,
    the artifact read is verified against it, and the write commits only if it is
    still the day's current artifact.
    """
    checks_version = staging_version(spec).value  # the checks of this dataset's staging
    register_inputs(
        dg.AssetKey(publish.key),
        PlanInputs(
            lambda res, keys: upstream_checksums(res.warehouse, spec.staging_dataset, keys),
            present=lambda res, key, published: (
                not gate_problems(
                    res.warehouse, spec, {key: published.input_checksum}, checks_version
                )
            ),
        ),
    )
    dataset = dg.AssetKey(publish.key).to_user_string()
    write_spec = warehouse_output(
        publish.table,
        publish.strategy,
        partition_column=publish.partition_column,
        key=publish.business_key,
        order_by=publish.ordering,
        impact_day_column=publish.impact_day_column,
    )
    version = derive_code_version(
        "publish", publish, upstream=spec.staging_dataset, write_spec=write_spec
    )

    @warehouse_asset(
        key=publish.key,
        deps=[spec.staging_key],
        metadata=versioned(write_spec, version),
        code_version=version.value,
        group_name=spec.name,
        description=publish.description,
        check_specs=drift_specs(dg.AssetKey(publish.key), publish.strategy),
    )
    def published(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        warehouse: WarehouseResource,
        tables: TablesResource,
    ):
        ledger = Ledger(warehouse)
        rebuild = publish.strategy is WriteStrategy.MERGE_UPSERT and is_rebuild(context)
        if rebuild:
            context.log.info(
                f"{dataset}: rebuild ({REBUILD_TAG}=true): {publish.table} is recomputed from "
                "the current staged artifacts of every published day and replaced in one "
                "transaction; this run's days are recomputed even if unchanged"
            )
        pub = publisher(context, warehouse, dataset, rebuild=rebuild)
        with warehouse.session():
            artifacts, missing = upstream_artifacts(
                ledger, spec.staging_dataset, list(context.partition_keys)
            )
            plan = plan_days(context, pub, artifacts, missing)
            checked_by = staging_version_in(context, spec, checks_version)
            blocked = gate_problems(
                warehouse, spec, {key: artifacts[key] for key in plan.todo}, checked_by
            )
            pub.block(plan, blocked)
            held = gate_problems(
                warehouse, spec, {k: artifacts[k] for k in plan.unchanged}, checked_by
            )
            pub.flag(plan, held)
        raise_if_nothing_to_publish(dataset, plan)
        for key, why in sorted(blocked.items()):
            context.log.error(f"{dataset} {key}: not published: {why}")
        for key, why in sorted(held.items()):
            context.log.error(f"{dataset} {key}: published before, now fails the checks: {why}")

        def still_current(key: str) -> str | None:
            now = ledger.published(spec.staging_dataset, [key])[key]
            if now is not None and now.output_checksum == artifacts[key]:
                return None
            newer = now.output_checksum if now else "none"
            return (
                f"{spec.staging_dataset} {key} is now artifact {newer}; this run's "
                f"{artifacts[key]} is not published"
            )

        publication = Publication(attempts=plan.attempts, precondition=still_current)
        staged: dict[str, pl.DataFrame] = {}
        if rebuild:
            publication.rebuild = full_recompute(
                ledger, lake, spec.staging_key, dataset, publish, staged, artifacts
            )
        elif publish.strategy is WriteStrategy.MERGE_UPSERT:
            publication.recompute = keyed_recompute(
                ledger, lake, spec.staging_key, dataset, publish, staged
            )
        try:
            staged |= lake.read(spec.staging_key, {key: artifacts[key] for key in plan.todo})
            for key, frame in staged.items():
                publication.frames[key] = publish.transform(frame)
                publication.rows_in[key] = frame.height
        except Exception as exc:
            pub.fail(list(plan.attempts.values()), exc)
            raise
        yield dg.Output(
            publication, metadata=plan_metadata(plan, pub), data_version=data_version(artifacts)
        )
        if publish.strategy is WriteStrategy.OVERWRITE_PARTITION:
            target = OverwriteTarget(context.asset_key, publish.table, publish.partition_column)
            yield drift_result(context, warehouse, tables, target)
        raise_if_days_failed(context, warehouse)

    return published


DayChecksums = Callable[[duckdb.DuckDBPyConnection, list[dt.date]], dict[dt.date, str]]
BuildMart = Callable[
    [duckdb.DuckDBPyConnection, list[dt.date]], tuple[pl.DataFrame, dict[str, int]]
]


@dataclass(frozen=True)
class Mart:
    """A per-business-day mart over published tables, replaced day by day.

    ``input_checksums`` fingerprints what a day's figures are computed from (the
    skip rule and the late-changes sensor use it); ``build`` computes the
    figures of some days and the rows read per day; both get a DuckDB
    connection on which the published tables in ``reads`` have their warehouse
    names (the warehouse file, or views of Delta tables). A mart needs no gate
    of its own: it reads only published tables, and nothing reaches them
    without passing its checks.
    """

    key: list[str]
    group: str = field(metadata=UNVERSIONED)
    deps: list[dg.AssetKey] = field(metadata=UNVERSIONED)  # graph wiring; ``reads`` counts
    table: str
    description: str = field(metadata=UNVERSIONED)
    input_checksums: DayChecksums
    build: BuildMart
    reads: list[str]
    partition_column: str = "business_date"

    @property
    def asset_key(self) -> dg.AssetKey:
        """The mart's asset key."""
        return dg.AssetKey(self.key)


def mart_checksums(mart: Mart, tables: TableStore, keys: list[str]) -> dict[str, str]:
    """The input checksum of each day of ``mart`` (from the published tables it reads)."""
    days = [validate_partition_key(key) for key in keys]
    with tables.query(mart.reads) as con:
        by_day = mart.input_checksums(con, days)
    return {day.isoformat(): checksum for day, checksum in by_day.items()}


def mart_asset(mart: Mart) -> dg.AssetsDefinition:
    """The mart as an asset: skip days whose inputs are unchanged, publish the others."""
    register_inputs(
        mart.asset_key,
        PlanInputs(
            lambda res, keys: mart_checksums(mart, res.tables, keys),
            same_day=False,
        ),
    )
    name = mart.asset_key.to_user_string()
    write_spec = warehouse_output(
        mart.table, WriteStrategy.OVERWRITE_PARTITION, partition_column=mart.partition_column
    )
    version = derive_code_version("mart", mart, write_spec=write_spec)

    @warehouse_asset(
        key=mart.key,
        deps=mart.deps,
        metadata=versioned(write_spec, version),
        code_version=version.value,
        group_name=mart.group,
        description=mart.description,
        check_specs=drift_specs(mart.asset_key, WriteStrategy.OVERWRITE_PARTITION),
    )
    def mart_days(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, tables: TablesResource
    ):
        store = tables.store()
        checksums = mart_checksums(mart, store, list(context.partition_keys))
        pub = publisher(context, warehouse, name)
        with warehouse.session():
            plan = plan_days(context, pub, checksums)
        publication = Publication(attempts=plan.attempts)
        try:
            if plan.todo:
                with store.query(mart.reads) as con:
                    days = [validate_partition_key(k) for k in plan.todo]
                    figures, rows_in = mart.build(con, days)
                for key in plan.todo:
                    day = validate_partition_key(key)
                    publication.frames[key] = figures.filter(pl.col(mart.partition_column) == day)
                    publication.rows_in[key] = rows_in.get(key, 0)
                context.log.info(f"{name} {', '.join(plan.todo)}: {figures.height} rows")
        except Exception as exc:
            pub.fail(list(plan.attempts.values()), exc)
            raise
        yield dg.Output(
            publication, metadata=plan_metadata(plan, pub), data_version=data_version(checksums)
        )
        target = OverwriteTarget(context.asset_key, mart.table, mart.partition_column)
        yield drift_result(context, warehouse, tables, target)
        raise_if_days_failed(context, warehouse)

    return mart_days

"""Asset factories shared by every dataset: landing source, staging, publication.

A dataset declares a :class:`DatasetSpec` (contract, key, ordering, staging
transform, checks, publication strategy) and gets its assets from here, with
the same guarantees for all: per-partition checksums, ledger rows, skip when
unchanged, the force tag, quarantine, blocking checks, gated atomic publication.
"""

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import dagster as dg
import duckdb
import polars as pl

from platform_assets import audit
from platform_assets.idempotency import (
    Publication,
    skip_or_compute,
    staged_by_run,
    upstream_checksums,
)
from platform_assets.io.managers import lake_output, warehouse_output
from platform_assets.io.metadata import count_by_day, markdown_preview
from platform_assets.io.strategies import WriteStrategy
from platform_assets.io.table_store import TableStore
from platform_assets.landing import LandingEntry, LandingStore
from platform_assets.landing_parser import LandingContract, parse_day, quarantine_lines
from platform_assets.partitions import (
    backfill_policy,
    daily_partitions,
    observable_source,
    validate_partition_key,
)
from platform_assets.planner import PlanInputs, register_inputs
from platform_assets.quarantine import replace_quarantine
from platform_assets.resources import LakeResource, LandingResource, TablesResource
from platform_assets.warehouse_resource import WarehouseResource

WAREHOUSE_POOL = "warehouse"
DAILY = daily_partitions()
BACKFILL_POLICY = backfill_policy()
PARTITION_COLUMN = "landing_date"

StageFn = Callable[[pl.DataFrame, dt.date], pl.DataFrame]
AuditFn = Callable[[pl.DataFrame, int, int, list[int]], list[audit.CheckOutcome]]


@dataclass(frozen=True)
class DatasetSpec:
    """Everything that makes a dataset different from another; the rest is shared."""

    name: str
    landing_description: str
    contract: LandingContract
    stage: StageFn
    staging_description: str
    checks: dict[str, tuple[str, str]]
    audit: AuditFn
    publishes: list[str] = field(default_factory=list)
    code_version: str = "1"

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


def staging_asset(spec: DatasetSpec) -> dg.AssetsDefinition:
    """Parse, quarantine and stage each landing day, then audit it with blocking checks."""
    register_inputs(
        spec.staging_key,
        PlanInputs(lambda res, keys: planned_landing_checksums(res.landing, spec.name, keys)),
    )

    @dg.asset(
        key=spec.staging_key,
        deps=[spec.landing_key],
        partitions_def=DAILY,
        backfill_policy=BACKFILL_POLICY,
        io_manager_key="lake_io_manager",
        metadata=lake_output(PARTITION_COLUMN),
        check_specs=audit.check_specs(spec.staging_key, spec.checks),
        code_version=spec.code_version,
        group_name=spec.name,
        kinds={"polars", "parquet"},
        description=spec.staging_description,
    )
    def staging(
        context: dg.AssetExecutionContext,
        landing: LandingResource,
        warehouse: WarehouseResource,
        tables: TablesResource,
    ):
        store = landing.store()
        files = {key: store.files(spec.name, key) for key in context.partition_keys}
        checksums = landing_checksums(store, files)
        evidence: dict[str, audit.StagedEvidence] = {}

        def compute(keys: list[str]):
            frames, rejects, rows_in = [], [], {}
            for key in keys:
                day = parse_day(files[key], spec.contract, validate_partition_key(key))
                for problem in day.warnings + quarantine_lines(day.rejects):
                    context.log.warning(f"{spec.name} {key}: {problem}")
                staged = spec.stage(day.rows, validate_partition_key(key))
                evidence[key] = audit.StagedEvidence(staged, day.rejects.height, day.total)
                frames.append(staged)
                rejects.append(day.rejects)
                rows_in[key] = day.total
                context.log.info(
                    f"{spec.name} {key}: {len(files[key])} file(s), {day.total} rows, "
                    f"{day.rejects.height} quarantined"
                )
            staged, quarantined = pl.concat(frames), pl.concat(rejects)
            replace_quarantine(tables.store(), spec.quarantine_table, quarantined, keys)
            metadata = {
                "landing_checksum": ", ".join(checksums[k] for k in keys),
                "files_in": sum(len(files[k]) for k in keys),
                "rows_in": sum(rows_in.values()),
                "rows_quarantined": quarantined.height,
                "duplicates_and_superseded": sum(rows_in.values())
                - quarantined.height
                - staged.height,
            }
            if quarantined.height:
                metadata["quarantine_sample"] = dg.MetadataValue.md(markdown_preview(quarantined))
            return staged, rows_in, metadata

        yield skip_or_compute(context, warehouse, spec.staging_dataset, checksums, compute)
        yield from audit.audit_staged(
            context, warehouse, spec.staging_dataset, evidence, spec.audit, spec.publishes
        )

    return staging


def publication_gate(warehouse: WarehouseResource, staged: list[str]):
    """A gate refusing to publish days whose staged data (of any of ``staged``) failed a check."""

    def gate(keys: list[str]) -> None:
        for dataset in staged:
            audit.assert_publishable(warehouse, dataset, staged_by_run(warehouse, dataset, keys))

    return gate


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
    description: str
    transform: Callable[[pl.DataFrame], pl.DataFrame]
    business_key: list[str] | None = None
    ordering: list[str] | None = None
    partition_column: str | None = None
    impact_day_column: str | None = None
    code_version: str = "1"


def published_asset(spec: DatasetSpec, publish: Publish) -> dg.AssetsDefinition:
    """Publish the staged days to ``publish.table`` once their blocking checks passed.

    The input checksum is the staged file's checksum, so a byte-identical
    staging output skips the publication.
    """
    register_inputs(
        dg.AssetKey(publish.key),
        PlanInputs(lambda res, keys: upstream_checksums(res.warehouse, spec.staging_dataset, keys)),
    )

    @warehouse_asset(
        key=publish.key,
        deps=[spec.staging_key],
        metadata=warehouse_output(
            publish.table,
            publish.strategy,
            partition_column=publish.partition_column,
            key=publish.business_key,
            order_by=publish.ordering,
            impact_day_column=publish.impact_day_column,
        ),
        code_version=publish.code_version,
        group_name=spec.name,
        description=publish.description,
    )
    def published(
        context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
    ) -> dg.Output[Publication]:
        staged = upstream_checksums(warehouse, spec.staging_dataset, context.partition_keys)

        def compute(keys: list[str]):
            frame = lake.read(spec.staging_key, keys)
            return publish.transform(frame), count_by_day(frame, PARTITION_COLUMN), {}

        gate = publication_gate(warehouse, [spec.staging_dataset])
        dataset = dg.AssetKey(publish.key).to_user_string()
        return skip_or_compute(context, warehouse, dataset, staged, compute, gate)

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
    names (the warehouse file, or views of Delta tables). ``gated_by`` lists the
    staged datasets whose blocking checks must pass for a day to be published.
    """

    key: list[str]
    group: str
    deps: list[dg.AssetKey]
    table: str
    description: str
    input_checksums: DayChecksums
    build: BuildMart
    gated_by: list[str]
    reads: list[str]
    partition_column: str = "business_date"
    code_version: str = "1"

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

    @warehouse_asset(
        key=mart.key,
        deps=mart.deps,
        metadata=warehouse_output(
            mart.table, WriteStrategy.OVERWRITE_PARTITION, partition_column=mart.partition_column
        ),
        code_version=mart.code_version,
        group_name=mart.group,
        description=mart.description,
    )
    def mart_days(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, tables: TablesResource
    ) -> dg.Output[Publication]:
        store = tables.store()
        checksums = mart_checksums(mart, store, context.partition_keys)

        def compute(keys: list[str]):
            with store.query(mart.reads) as con:
                figures, rows_in = mart.build(con, [validate_partition_key(k) for k in keys])
            context.log.info(
                f"{mart.asset_key.to_user_string()} {', '.join(keys)}: {figures.height} rows"
            )
            return figures, rows_in, {}

        gate = publication_gate(warehouse, mart.gated_by)
        name = mart.asset_key.to_user_string()
        return skip_or_compute(context, warehouse, name, checksums, compute, gate)

    return mart_days

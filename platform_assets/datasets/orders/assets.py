"""Assets of the orders dataset: landing -> staging -> curated (merge) -> marts (overwrite)."""

import dagster as dg
import polars as pl

from platform_assets import audit
from platform_assets.datasets.orders import checks, schema, transforms
from platform_assets.fingerprint import fingerprint_files
from platform_assets.idempotency import (
    Publication,
    skip_or_compute,
    staged_by_run,
    upstream_checksums,
)
from platform_assets.io.managers import lake_output, warehouse_output
from platform_assets.io.metadata import count_by_day, markdown_preview
from platform_assets.io.strategies import WriteStrategy
from platform_assets.io.table_fingerprint import daily_slice_checksums
from platform_assets.landing_parser import parse_day, quarantine_lines
from platform_assets.partitions import (
    backfill_policy,
    daily_partitions,
    observable_source,
    validate_partition_key,
)
from platform_assets.quarantine import replace_quarantine
from platform_assets.resources import LakeResource, LandingResource
from platform_assets.warehouse import qualified, query_frame
from platform_assets.warehouse_resource import WarehouseResource

GROUP = "orders"
WAREHOUSE_POOL = "warehouse"
DAILY = daily_partitions()
BACKFILL_POLICY = backfill_policy()


@observable_source(
    key=["landing", "orders"],
    partitions_def=DAILY,
    group_name=GROUP,
    description=(
        "AWS DMS-style CDC files of the orders table, one folder per landing day "
        "(landing/orders/dt=YYYY-MM-DD/). Its data version per day is a content "
        "checksum of that day's files."
    ),
)
def landing_orders(landing: LandingResource) -> dg.DataVersionsByPartition:
    """Report one content checksum per landing day."""
    store = landing.store()
    valid = set(DAILY.get_partition_keys())
    return dg.DataVersionsByPartition(
        {
            key: dg.DataVersion(fingerprint_files(store.files(schema.DATASET, key)))
            for key in store.partition_keys(schema.DATASET)
            if key in valid
        }
    )


STAGING_KEY = dg.AssetKey(["staging", "orders"])
PUBLISHES = ["curated/orders", "marts/daily_orders"]


@dg.asset(
    key=STAGING_KEY,
    deps=[landing_orders],
    partitions_def=DAILY,
    backfill_policy=BACKFILL_POLICY,
    io_manager_key="lake_io_manager",
    metadata=lake_output("landing_date"),
    check_specs=audit.check_specs(STAGING_KEY, checks.CHECKS),
    code_version="1",
    group_name=GROUP,
    kinds={"polars", "parquet"},
    description=(
        "The landing day's CDC events parsed, typed and deduplicated: the latest event per "
        "order_id by (updated_at, seq); deletes as tombstones. Parquet in the lake "
        "(a staging area consumers do not read); unparseable rows go to quarantine.orders. "
        "Blocking checks gate publication. Skipped when the landing files are unchanged."
    ),
)
def staging_orders(
    context: dg.AssetExecutionContext, landing: LandingResource, warehouse: WarehouseResource
):
    """Parse, quarantine and deduplicate each landing day of the run, then audit it."""
    store = landing.store()
    files = {key: store.files(schema.DATASET, key) for key in context.partition_keys}
    checksums = {key: fingerprint_files(day_files) for key, day_files in files.items()}
    evidence: dict[str, audit.StagedEvidence] = {}

    def compute(keys: list[str]):
        frames, rejects, events_in = [], [], {}
        for key in keys:
            day_files = files[key]
            day = parse_day(day_files, schema.LANDING_CONTRACT, validate_partition_key(key))
            for problem in day.warnings + quarantine_lines(day.rejects):
                context.log.warning(f"orders {key}: {problem}")
            staged = transforms.staged_rows(day.rows, validate_partition_key(key))
            evidence[key] = audit.StagedEvidence(staged, day.rejects.height, day.total)
            frames.append(staged)
            rejects.append(day.rejects)
            events_in[key] = day.total
            context.log.info(
                f"orders {key}: {len(day_files)} file(s), {day.total} events, "
                f"{day.rejects.height} quarantined"
            )
        staged, quarantined = pl.concat(frames), pl.concat(rejects)
        replace_quarantine(warehouse, schema.QUARANTINE_TABLE, quarantined, keys)
        metadata = {
            "landing_checksum": ", ".join(checksums[k] for k in keys),
            "files_in": sum(len(files[k]) for k in keys),
            "events_in": sum(events_in.values()),
            "rows_quarantined": quarantined.height,
            "duplicates_and_superseded": sum(events_in.values())
            - quarantined.height
            - staged.height,
        }
        if quarantined.height:
            metadata["quarantine_sample"] = dg.MetadataValue.md(markdown_preview(quarantined))
        return staged, events_in, metadata

    yield skip_or_compute(context, warehouse, "staging/orders", checksums, compute)
    yield from audit.audit_staged(
        context, warehouse, "staging/orders", evidence, checks.audit_partition, PUBLISHES
    )


@dg.asset(
    key=["curated", "orders"],
    deps=[STAGING_KEY],
    partitions_def=DAILY,
    backfill_policy=BACKFILL_POLICY,
    io_manager_key="warehouse_io_manager",
    metadata=warehouse_output(
        schema.CURATED_TABLE,
        WriteStrategy.MERGE_UPSERT,
        key=schema.BUSINESS_KEY,
        order_by=schema.ORDERING,
        impact_day_column="created_at",
    ),
    code_version="1",
    pool=WAREHOUSE_POOL,
    group_name=GROUP,
    kinds={"duckdb"},
    description=(
        "Current state of every order in curated.orders: the landing day merged on order_id; "
        "a row wins only if newer by (updated_at, seq); deleted orders kept as tombstones. "
        "Skipped when the day's staging file is byte-identical to the one already merged."
    ),
)
def curated_orders(
    context: dg.AssetExecutionContext, lake: LakeResource, warehouse: WarehouseResource
) -> dg.Output[Publication]:
    """Merge the staged days into the current state (the IO manager runs the MERGE)."""
    staged_versions = upstream_checksums(warehouse, "staging/orders", context.partition_keys)

    def compute(keys: list[str]):
        staged = lake.read(STAGING_KEY, keys)
        return transforms.current_state_rows(staged), count_by_day(staged, "landing_date"), {}

    return skip_or_compute(
        context, warehouse, "curated/orders", staged_versions, compute, publication_gate(warehouse)
    )


@dg.asset(
    key=["marts", "daily_orders"],
    deps=[curated_orders],
    partitions_def=DAILY,
    backfill_policy=BACKFILL_POLICY,
    io_manager_key="warehouse_io_manager",
    metadata=warehouse_output(
        schema.MART_TABLE, WriteStrategy.OVERWRITE_PARTITION, partition_column="business_date"
    ),
    code_version="1",
    pool=WAREHOUSE_POOL,
    group_name=GROUP,
    kinds={"duckdb"},
    description=(
        "Orders and revenue per business day (the day an order was placed), status and "
        "currency, from the current state; each day's rows replaced in marts.daily_orders. "
        "Skipped when the current state of that day's orders is unchanged."
    ),
)
def marts_daily_orders(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.Output[Publication]:
    """Aggregate the current state of the orders placed in the partition's days."""
    days = [validate_partition_key(key) for key in context.partition_keys]
    with warehouse.connect(read_only=True) as con:
        by_day = daily_slice_checksums(con, schema.CURATED_TABLE, "created_at", days)
    checksums = {day.isoformat(): checksum for day, checksum in by_day.items()}

    def compute(keys: list[str]):
        with warehouse.connect(read_only=True) as con:
            current = query_frame(
                con,
                f"SELECT * FROM {qualified(schema.CURATED_TABLE)} "  # noqa: S608
                "WHERE CAST(created_at AS DATE) IN (SELECT unnest(?::DATE[]))",
                [[validate_partition_key(k) for k in keys]],
            )
        figures = transforms.daily_order_figures(current)
        context.log.info(f"daily_orders {', '.join(checksums)}: {figures.height} rows")
        rows_in = count_by_day(current.with_columns(day=pl.col("created_at").dt.date()), "day")
        return figures, rows_in, {"orders_in_current_state": current.height}

    return skip_or_compute(
        context, warehouse, "marts/daily_orders", checksums, compute, publication_gate(warehouse)
    )


def publication_gate(warehouse: WarehouseResource):
    """Refuse to publish days whose staged orders failed a blocking check."""

    def gate(keys: list[str]) -> None:
        runs = staged_by_run(warehouse, "staging/orders", keys)
        audit.assert_publishable(warehouse, "staging/orders", runs)

    return gate


ASSETS = [landing_orders, staging_orders, curated_orders, marts_daily_orders]

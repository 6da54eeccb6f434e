"""Assets of the orders dataset: landing -> staging -> curated (merge) -> marts (overwrite)."""

import dagster as dg
import polars as pl

from platform_assets.datasets.orders import schema, transforms
from platform_assets.fingerprint import fingerprint_files
from platform_assets.io.managers import lake_output, warehouse_output
from platform_assets.io.strategies import WriteStrategy
from platform_assets.partitions import daily_partitions, validate_partition_key
from platform_assets.resources import LandingResource
from platform_assets.warehouse import WarehouseResource, qualified, query_frame

GROUP = "orders"
WAREHOUSE_POOL = "warehouse"
DAILY = daily_partitions()


@dg.observable_source_asset(
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


@dg.asset(
    key=["staging", "orders"],
    deps=[landing_orders],
    partitions_def=DAILY,
    io_manager_key="lake_io_manager",
    metadata=lake_output("landing_date"),
    code_version="1",
    group_name=GROUP,
    kinds={"polars", "parquet"},
    description=(
        "The landing day's CDC events parsed, typed and deduplicated: the latest event per "
        "order_id by (updated_at, seq); deletes as tombstones. Parquet in the lake."
    ),
)
def staging_orders(
    context: dg.AssetExecutionContext, landing: LandingResource
) -> dg.Output[pl.DataFrame]:
    """Parse and deduplicate each landing day of the run."""
    store = landing.store()
    frames, events_in, files_in, checksums = [], 0, 0, {}
    for key in context.partition_keys:
        files = store.files(schema.DATASET, key)
        checksums[key] = fingerprint_files(files)
        events = pl.concat(
            [transforms.read_landing_file(f) for f in files]
            or [pl.DataFrame(schema=schema.LANDING_SCHEMA)]
        )
        events_in += events.height
        files_in += len(files)
        frames.append(transforms.staged_rows(events, validate_partition_key(key)))
        context.log.info(f"orders {key}: {len(files)} file(s), {events.height} events")
    staged = pl.concat(frames)
    return dg.Output(
        staged,
        metadata={
            "input_checksum": ", ".join(checksums.values()),
            "files_in": files_in,
            "events_in": events_in,
            "duplicates_and_superseded": events_in - staged.height,
        },
    )


@dg.asset(
    key=["curated", "orders"],
    ins={"staged": dg.AssetIn(key=["staging", "orders"])},
    partitions_def=DAILY,
    io_manager_key="warehouse_io_manager",
    metadata=warehouse_output(
        schema.CURATED_TABLE,
        WriteStrategy.MERGE_UPSERT,
        key=schema.BUSINESS_KEY,
        order_by=schema.ORDERING,
    ),
    code_version="1",
    pool=WAREHOUSE_POOL,
    group_name=GROUP,
    kinds={"duckdb"},
    description=(
        "Current state of every order in curated.orders: the landing day merged on order_id; "
        "a row wins only if newer by (updated_at, seq); deleted orders kept as tombstones."
    ),
)
def curated_orders(staged: pl.DataFrame) -> pl.DataFrame:
    """Collapse the staged days to one row per order; the IO manager merges it."""
    return transforms.current_state_rows(staged)


@dg.asset(
    key=["marts", "daily_orders"],
    deps=[curated_orders],
    partitions_def=DAILY,
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
        "currency, from the current state; each day's rows replaced in marts.daily_orders."
    ),
)
def marts_daily_orders(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> pl.DataFrame:
    """Aggregate the current state of the orders placed in the partition's days."""
    window = context.partition_time_window
    with warehouse.connect(read_only=True) as con:
        current = query_frame(
            con,
            f"SELECT * FROM {qualified(schema.CURATED_TABLE)} "  # noqa: S608
            "WHERE created_at >= ? AND created_at < ?",
            [window.start.replace(tzinfo=None), window.end.replace(tzinfo=None)],
        )
    figures = transforms.daily_order_figures(current)
    context.log.info(f"daily_orders {context.partition_key_range}: {figures.height} rows")
    return figures


ASSETS = [landing_orders, staging_orders, curated_orders, marts_daily_orders]

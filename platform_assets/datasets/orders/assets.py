"""The orders dataset declared: landing -> staging -> curated (merge) -> marts (overwrite)."""

import datetime as dt

import dagster as dg
import duckdb
import polars as pl

from platform_assets.core.write_spec import MergeUpsert
from platform_assets.datasets.orders import checks, schema, transforms
from platform_assets.orchestration.declarations import Dataset, DatasetSpec, Mart, Publish
from platform_assets.storage.table_fingerprint import daily_row_counts, daily_slice_checksums
from platform_assets.storage.table_schema import existing_columns
from platform_assets.storage.warehouse import qualified, query_frame

ORDERS = DatasetSpec(
    name=schema.DATASET,
    landing_description=(
        "AWS DMS-style CDC files of the orders table, one folder per landing day "
        "(landing/orders/dt=YYYY-MM-DD/). Its data version per day is a content "
        "checksum of that day's files."
    ),
    contract=schema.LANDING_CONTRACT,
    stage=transforms.staged_rows,
    staging_description=(
        "The landing day's CDC events parsed, typed and deduplicated: the latest event per "
        "order_id by (updated_at, seq); deletes as tombstones. Parquet in the lake "
        "(a staging area consumers do not read); unparseable rows go to quarantine.orders. "
        "Blocking checks gate publication. Skipped when the landing files are unchanged."
    ),
    checks=checks.CHECKS,
    audit=checks.audit_partition,
)

CURATED_ORDERS = Publish(
    key=["curated", "orders"],
    write=MergeUpsert(
        schema.CURATED_TABLE,
        key=schema.BUSINESS_KEY,
        ordering=schema.ORDERING,
        impact_day_column="created_at",
    ),
    transform=transforms.current_state_rows,
    description=(
        "Current state of every order in curated.orders: the landing day merged on "
        "order_id; a row wins only if newer by the total order (updated_at, seq, a delete "
        "first, then the values); deleted orders kept as "
        "tombstones. Skipped when the day's staging file is byte-identical to the one "
        "already merged. A corrected day recomputes the keys it touches; a run tagged "
        "platform/rebuild=true recomputes the whole table from every published day's "
        "staged artifacts (README: Rebuild)."
    ),
)


def orders_read_per_day(con: duckdb.DuckDBPyConnection, days: list[dt.date]) -> dict[str, int]:
    """Current-state rows (tombstones included) of the orders placed on each of ``days``."""
    return daily_row_counts(con, schema.CURATED_TABLE, "created_at", days)


def order_day_checksums(con: duckdb.DuckDBPyConnection, days: list[dt.date]):
    """Per business day: a checksum of the current state of that day's orders."""
    return daily_slice_checksums(con, schema.CURATED_TABLE, "created_at", days)


FIGURES = (
    "CAST(created_at AS DATE) AS business_date, status, currency, "
    "count(*) AS orders, CAST(sum(amount) AS DECIMAL(18, 2)) AS revenue"
)


def build_daily_orders(con: duckdb.DuckDBPyConnection, days: list[dt.date]):
    """Figures of ``days``, aggregated in the warehouse, and the orders read per day."""
    if not existing_columns(con, schema.CURATED_TABLE):
        return pl.DataFrame(schema=schema.MART_SCHEMA), {}
    figures = query_frame(
        con,
        f"SELECT {FIGURES} FROM {qualified(schema.CURATED_TABLE)} "  # noqa: S608
        "WHERE NOT is_deleted AND CAST(created_at AS DATE) IN (SELECT unnest(?::DATE[])) "
        "GROUP BY ALL ORDER BY business_date, status, currency",
        [days],
    )
    return figures.cast(schema.MART_SCHEMA), orders_read_per_day(con, days)


DAILY_ORDERS = Mart(
    key=["marts", "daily_orders"],
    group=schema.DATASET,
    deps=[dg.AssetKey(CURATED_ORDERS.key)],
    table=schema.MART_TABLE,
    description=(
        "Orders and revenue per business day (the day an order was placed), status and "
        "currency, from the current state; each day's rows replaced in marts.daily_orders. "
        "Skipped when the current state of that day's orders is unchanged."
    ),
    input_checksums=order_day_checksums,
    build=build_daily_orders,
    reads=[schema.CURATED_TABLE],
)

DECLARATIONS = [
    Dataset(
        spec=ORDERS,
        publications=(CURATED_ORDERS,),
        marts=(DAILY_ORDERS,),
        job_description=(
            "Stage, merge and publish one landing day of orders: staging -> curated -> "
            "the marts over curated.orders."
        ),
    )
]

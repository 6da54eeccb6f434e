"""marts/daily_revenue_by_segment: orders of a business day joined with that day's snapshot.

Grain: (business_date, segment, currency). Inputs per day: the current state of
the orders placed that day and the customer snapshot of that day, so a change
in either recomputes exactly that day. Orders whose customer is not in the
day's snapshot count under segment ``unknown``.
"""

import datetime as dt

import duckdb
import polars as pl

from platform_assets.datasets.customers.dataset import CUSTOMERS, curated_customers_daily
from platform_assets.datasets.orders.assets import (
    ORDERS,
    curated_orders,
    order_day_checksums,
    orders_by_business_day,
)
from platform_assets.datasets.orders.schema import MONEY
from platform_assets.fingerprint import combine_fingerprints
from platform_assets.io.metadata import count_by_day
from platform_assets.io.table_fingerprint import daily_slice_checksums
from platform_assets.io.table_schema import existing_columns
from platform_assets.pipeline import Mart, mart_asset
from platform_assets.warehouse import query_frame

SNAPSHOT_TABLE = "curated.customers_daily"


def revenue_day_checksums(con: duckdb.DuckDBPyConnection, days: list[dt.date]):
    """Per day: the orders' state checksum combined with the snapshot's checksum."""
    orders = order_day_checksums(con, days)
    snapshots = daily_slice_checksums(con, SNAPSHOT_TABLE, "snapshot_date", days)
    return {d: combine_fingerprints({"orders": orders[d], "customers": snapshots[d]}) for d in days}


def revenue_by_segment(orders: pl.DataFrame, snapshots: pl.DataFrame) -> pl.DataFrame:
    """Orders and revenue per business day, segment and currency (deleted orders excluded)."""
    placed = orders.filter(~pl.col("is_deleted")).with_columns(
        business_date=pl.col("created_at").dt.date()
    )
    segments = snapshots.select("customer_id", business_date="snapshot_date", segment="segment")
    return (
        placed.join(segments, on=["customer_id", "business_date"], how="left")
        .with_columns(pl.col("segment").fill_null("unknown"))
        .group_by("business_date", "segment", "currency")
        .agg(orders=pl.len().cast(pl.Int64), revenue=pl.col("amount").sum().cast(MONEY))
        .sort("business_date", "segment", "currency")
    )


def build_revenue(con: duckdb.DuckDBPyConnection, days: list[dt.date]):
    """Figures of ``days`` and the orders read per day."""
    orders = orders_by_business_day(con, days)
    snapshots = pl.DataFrame(
        schema={"customer_id": pl.Int64, "snapshot_date": pl.Date, "segment": pl.String}
    )
    if existing_columns(con, SNAPSHOT_TABLE):
        snapshots = query_frame(
            con,
            "SELECT customer_id, snapshot_date, segment FROM curated.customers_daily "
            "WHERE snapshot_date IN (SELECT unnest(?::DATE[]))",
            [days],
        )
    rows_in = count_by_day(orders.with_columns(day=orders["created_at"].dt.date()), "day")
    return revenue_by_segment(orders, snapshots), rows_in


DAILY_REVENUE_BY_SEGMENT = Mart(
    key=["marts", "daily_revenue_by_segment"],
    group="revenue",
    deps=[curated_orders.key, curated_customers_daily.key],
    table="marts.daily_revenue_by_segment",
    description=(
        "Revenue and order counts per business day, customer segment and currency: the "
        "orders placed that day (current state) joined with that day's customer snapshot. "
        "Recomputed when either input of the day changed; skipped otherwise."
    ),
    input_checksums=revenue_day_checksums,
    build=build_revenue,
    gated_by=[ORDERS.staging_dataset, CUSTOMERS.staging_dataset],
)
marts_daily_revenue_by_segment = mart_asset(DAILY_REVENUE_BY_SEGMENT)

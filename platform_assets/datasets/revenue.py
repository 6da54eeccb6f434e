"""marts/daily_revenue_by_segment: orders of a business day joined with that day's snapshot.

Grain: (business_date, segment, currency). Inputs per day: the current state of
the orders placed that day and the customer snapshot of that day, so a change
in either recomputes exactly that day. Orders whose customer is not in the
day's snapshot count under segment ``unknown``.
"""

import datetime as dt

import dagster as dg
import duckdb
import polars as pl

from platform_assets.core.fingerprint import combine_fingerprints
from platform_assets.datasets.customers.dataset import CUSTOMERS_DAILY
from platform_assets.datasets.orders.assets import (
    CURATED_ORDERS,
    order_day_checksums,
    orders_read_per_day,
)
from platform_assets.datasets.orders.schema import MONEY
from platform_assets.orchestration.declarations import Mart
from platform_assets.storage.table_fingerprint import daily_slice_checksums
from platform_assets.storage.table_schema import existing_columns
from platform_assets.storage.warehouse import qualified, query_frame

SNAPSHOT_TABLE = CUSTOMERS_DAILY.table
CURATED_TABLE = CURATED_ORDERS.table
SNAPSHOT_DAYS = (
    f"SELECT customer_id, snapshot_date, segment FROM {qualified(SNAPSHOT_TABLE)} "  # noqa: S608
    "WHERE snapshot_date IN (SELECT unnest($days::DATE[]))"
)
NO_SNAPSHOTS = (
    "SELECT NULL::BIGINT AS customer_id, NULL::DATE AS snapshot_date, "
    "NULL::VARCHAR AS segment WHERE false"
)


def revenue_day_checksums(con: duckdb.DuckDBPyConnection, days: list[dt.date]):
    """Per day: the orders' state checksum combined with the snapshot's checksum."""
    orders = order_day_checksums(con, days)
    snapshots = daily_slice_checksums(con, SNAPSHOT_TABLE, "snapshot_date", days)
    return {d: combine_fingerprints({"orders": orders[d], "customers": snapshots[d]}) for d in days}


REVENUE_SCHEMA = pl.Schema(
    {
        "business_date": pl.Date,
        "segment": pl.String,
        "currency": pl.String,
        "orders": pl.Int64,
        "revenue": MONEY,
    }
)


def build_revenue(con: duckdb.DuckDBPyConnection, days: list[dt.date]):
    """Figures of ``days``, aggregated in the warehouse, and the orders read per day."""
    if not existing_columns(con, CURATED_TABLE):
        return pl.DataFrame(schema=REVENUE_SCHEMA), {}
    snapshot_days = SNAPSHOT_DAYS if existing_columns(con, SNAPSHOT_TABLE) else NO_SNAPSHOTS
    figures = query_frame(
        con,
        f"WITH snapshots AS ({snapshot_days}), "  # noqa: S608
        "placed AS (SELECT customer_id, currency, amount, "
        "CAST(created_at AS DATE) AS business_date "
        f"FROM {qualified(CURATED_TABLE)} WHERE NOT is_deleted "
        "AND CAST(created_at AS DATE) IN (SELECT unnest($days::DATE[]))) "
        "SELECT p.business_date, coalesce(s.segment, 'unknown') AS segment, p.currency, "
        "count(*) AS orders, CAST(sum(p.amount) AS DECIMAL(18, 2)) AS revenue "
        "FROM placed p LEFT JOIN snapshots s "
        "ON s.customer_id = p.customer_id AND s.snapshot_date = p.business_date "
        "GROUP BY ALL ORDER BY business_date, segment, currency",
        {"days": days},
    )
    return figures.cast(REVENUE_SCHEMA), orders_read_per_day(con, days)


DAILY_REVENUE_BY_SEGMENT = Mart(
    key=["marts", "daily_revenue_by_segment"],
    group="revenue",
    deps=[dg.AssetKey(CURATED_ORDERS.key), dg.AssetKey(CUSTOMERS_DAILY.key)],
    table="marts.daily_revenue_by_segment",
    description=(
        "Revenue and order counts per business day, customer segment and currency: the "
        "orders placed that day (current state) joined with that day's customer snapshot. "
        "Recomputed when either input of the day changed; skipped otherwise."
    ),
    input_checksums=revenue_day_checksums,
    build=build_revenue,
    reads=[CURATED_TABLE, SNAPSHOT_TABLE],
)
DECLARATIONS = [DAILY_REVENUE_BY_SEGMENT]  # a mart over two datasets: in both their jobs

"""The payments dataset declared: landing -> staging -> curated (merge) -> net revenue mart."""

import datetime as dt

import dagster as dg
import duckdb
import polars as pl

from platform_assets.core.fingerprint import combine_fingerprints
from platform_assets.core.write_spec import MergeUpsert
from platform_assets.datasets.orders.assets import (
    CURATED_ORDERS,
    order_day_checksums,
    orders_read_per_day,
)
from platform_assets.datasets.payments import checks, schema, transforms
from platform_assets.orchestration.declarations import Dataset, DatasetSpec, Mart, Publish
from platform_assets.storage.table_fingerprint import daily_row_counts, daily_slice_checksums
from platform_assets.storage.table_schema import existing_columns
from platform_assets.storage.warehouse import qualified, query_frame

PAYMENTS = DatasetSpec(
    name=schema.DATASET,
    landing_description=(
        "CDC files of the payments table (payments and refunds, each linked to an order), "
        "one folder per landing day (landing/payments/dt=YYYY-MM-DD/)."
    ),
    contract=schema.LANDING_CONTRACT,
    stage=transforms.staged_rows,
    staging_description=(
        "The landing day's payment events parsed, typed and deduplicated: the latest event "
        "per payment_id by the total order; deletes as tombstones. Blocking checks gate "
        "publication."
    ),
    checks=checks.CHECKS,
    audit=checks.audit_partition,
)
CURATED_PAYMENTS = Publish(
    key=["curated", "payments"],
    write=MergeUpsert(
        schema.CURATED_TABLE,
        key=tuple(schema.BUSINESS_KEY),
        ordering=tuple(schema.ORDERING),
        impact_day_column="created_at",
    ),
    transform=transforms.current_state_rows,
    description=(
        "Current state of every payment and refund in curated.payments, merged on "
        "payment_id by the total order; deleted ones kept as tombstones. A corrected day "
        "recomputes the keys it touches."
    ),
)


def net_revenue_checksums(con: duckdb.DuckDBPyConnection, days: list[dt.date]):
    """Per day: the orders' state checksum combined with the payments' of that day."""
    orders = order_day_checksums(con, days)
    payments = daily_slice_checksums(con, schema.CURATED_TABLE, "created_at", days)
    return {d: combine_fingerprints({"orders": orders[d], "payments": payments[d]}) for d in days}


NO_PAYMENTS = (
    "SELECT NULL::DATE AS business_date, NULL::VARCHAR AS currency, "
    "NULL::DECIMAL(18, 2) AS refunds WHERE false"
)
SUM_AS = "CAST(sum(amount) AS DECIMAL(18, 2)) AS "
NO_ORDERS = (
    "SELECT NULL::DATE AS business_date, NULL::VARCHAR AS currency, "
    "NULL::DECIMAL(18, 2) AS revenue WHERE false"
)


def build_net_revenue(con: duckdb.DuckDBPyConnection, days: list[dt.date]):
    """Revenue of the orders placed on each day minus the refunds created that day, per
    currency (a day with only one of them counts the other as zero)."""
    has_orders = bool(existing_columns(con, CURATED_ORDERS.table))
    has_payments = bool(existing_columns(con, schema.CURATED_TABLE))
    if not (has_orders or has_payments):  # nothing published yet: the days are empty
        return pl.DataFrame(schema=schema.MART_SCHEMA), {}
    placed = "CAST(created_at AS DATE) IN (SELECT unnest($days::DATE[]))"
    orders, refunds = NO_ORDERS, NO_PAYMENTS
    if has_orders:
        orders = (
            f"SELECT CAST(created_at AS DATE) AS business_date, currency, {SUM_AS}revenue "  # noqa: S608
            f"FROM {qualified(CURATED_ORDERS.table)} WHERE NOT is_deleted AND {placed} "
            "GROUP BY ALL"
        )
    if has_payments:
        refunds = (
            f"SELECT CAST(created_at AS DATE) AS business_date, currency, {SUM_AS}refunds "  # noqa: S608
            f"FROM {qualified(schema.CURATED_TABLE)} WHERE NOT is_deleted AND kind = 'refund' "
            f"AND {placed} GROUP BY ALL"
        )
    figures = query_frame(
        con,
        f"WITH o AS ({orders}), r AS ({refunds}) "  # noqa: S608
        "SELECT coalesce(o.business_date, r.business_date) AS business_date, "
        "coalesce(o.currency, r.currency) AS currency, coalesce(o.revenue, 0) AS revenue, "
        "coalesce(r.refunds, 0) AS refunds, "
        "CAST(coalesce(o.revenue, 0) - coalesce(r.refunds, 0) AS DECIMAL(18, 2)) AS net_revenue "
        "FROM o FULL OUTER JOIN r USING (business_date, currency) ORDER BY ALL",
        {"days": days},
    )
    read = orders_read_per_day(con, days)
    for day, count in daily_row_counts(con, schema.CURATED_TABLE, "created_at", days).items():
        read[day] = read.get(day, 0) + count
    return figures.cast(schema.MART_SCHEMA), read


DAILY_NET_REVENUE = Mart(
    key=["marts", "daily_net_revenue"],
    group=schema.DATASET,
    deps=[dg.AssetKey(CURATED_ORDERS.key), dg.AssetKey(CURATED_PAYMENTS.key)],
    table=schema.MART_TABLE,
    description=(
        "Net revenue per business day and currency: the revenue of the orders placed that "
        "day (current state) minus the refunds created that day. Recomputed when either "
        "input of the day changed; skipped otherwise."
    ),
    input_checksums=net_revenue_checksums,
    build=build_net_revenue,
    reads=[CURATED_ORDERS.table, schema.CURATED_TABLE],
)

DECLARATIONS = [
    Dataset(
        spec=PAYMENTS,
        publications=(CURATED_PAYMENTS,),
        marts=(DAILY_NET_REVENUE,),
        job_description=(
            "Stage, merge and publish one landing day of payments: staging -> curated -> "
            "marts/daily_net_revenue."
        ),
    )
]

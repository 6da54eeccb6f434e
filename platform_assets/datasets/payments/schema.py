"""The payments dataset's contracts: landing columns, staging and published schemas."""

from __future__ import annotations

import polars as pl

from platform_assets.core import cdc

DATASET = "payments"
BUSINESS_KEY = ["payment_id"]
KINDS = ("payment", "refund")
# The total order of a payment's events, as for orders: the newest by (updated_at, seq); at a
# tie a delete wins, then the larger value column by column, NULL lowest.
ORDERING = [
    "updated_at",
    "seq",
    "is_deleted",
    "order_id",
    "kind",
    "amount",
    "currency",
    "created_at",
]
CURATED_TABLE = "curated.payments"
MART_TABLE = "marts.daily_net_revenue"

MONEY = pl.Decimal(18, 2)
TIMESTAMP = pl.Datetime("us")
LANDING_SCHEMA = pl.Schema(
    {
        "op": pl.String,
        "seq": pl.Int64,
        "payment_id": pl.Int64,
        "order_id": pl.Int64,
        "kind": pl.String,
        "amount": MONEY,
        "currency": pl.String,
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
    }
)
STATE_FIELDS = ["payment_id", "order_id", "kind", "amount", "currency"]
STAGING_SCHEMA = cdc.staging_schema(LANDING_SCHEMA, STATE_FIELDS)
STAGING_COLUMNS = list(STAGING_SCHEMA)
CURRENT_STATE_COLUMNS = cdc.current_state_columns(STAGING_SCHEMA)
LANDING_CONTRACT = cdc.landing_contract(LANDING_SCHEMA, BUSINESS_KEY)

MART_SCHEMA = pl.Schema(
    {
        "business_date": pl.Date,
        "currency": pl.String,
        "revenue": MONEY,
        "refunds": MONEY,
        "net_revenue": MONEY,
    }
)

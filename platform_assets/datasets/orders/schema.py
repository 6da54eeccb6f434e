"""The orders dataset's contracts: landing columns, staging and published schemas."""

from __future__ import annotations

import polars as pl

from platform_assets.core import cdc

DATASET = "orders"
BUSINESS_KEY = ["order_id"]
# The total order of an order's events (rule 3): the newest by (updated_at, seq) wins; at a
# tie a delete wins, then the larger value column by column, NULL lowest. Staging's dedupe,
# the curated merge and the keyed recompute all use it, so every path keeps the same event.
ORDERING = [
    "updated_at",
    "seq",
    "is_deleted",
    "customer_id",
    "status",
    "amount",
    "currency",
    "created_at",
]
CURATED_TABLE = "curated.orders"
MART_TABLE = "marts.daily_orders"

MONEY = pl.Decimal(18, 2)
TIMESTAMP = pl.Datetime("us")

LANDING_SCHEMA = pl.Schema(
    {
        "op": pl.String,
        "seq": pl.Int64,
        "order_id": pl.Int64,
        "customer_id": pl.Int64,
        "status": pl.String,
        "amount": MONEY,
        "currency": pl.String,
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
    }
)

STATE_FIELDS = ["order_id", "customer_id", "status", "amount", "currency"]
STAGING_SCHEMA = cdc.staging_schema(LANDING_SCHEMA, STATE_FIELDS)
STAGING_COLUMNS = list(STAGING_SCHEMA)
CURRENT_STATE_COLUMNS = cdc.current_state_columns(STAGING_SCHEMA)
LANDING_CONTRACT = cdc.landing_contract(LANDING_SCHEMA, BUSINESS_KEY)

MART_SCHEMA = pl.Schema(
    {
        "business_date": pl.Date,
        "status": pl.String,
        "currency": pl.String,
        "orders": pl.Int64,
        "revenue": MONEY,
    }
)

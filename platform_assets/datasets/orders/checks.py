"""The orders dataset's checks on staged data (all ERROR checks block publication)."""

import functools

import polars as pl

from platform_assets.core import cdc, checks
from platform_assets.core.checks import ERROR, WARN, RowRule
from platform_assets.datasets.orders.schema import BUSINESS_KEY, STAGING_SCHEMA

ALLOWED_STATUSES = ("placed", "paid", "shipped", "cancelled", "delivered", "refunded")
REJECT_RATE_THRESHOLD = 0.05
TRAILING_PARTITIONS = 7
# How far before its landing day an event's business dates may lie (the bound of the
# plausibility check; after the landing day, timestamps_consistent already refuses them).
# Raise it for a source that re-sends very old orders; a change re-evaluates every day.
PLAUSIBLE_DAYS_BEFORE = 366

ROW_RULES = [
    RowRule(
        "amount_non_negative", "amount >= 0 (deletes exempt)", cdc.LIVE & (pl.col("amount") < 0)
    ),
    RowRule(
        "status_allowed",
        f"status in {', '.join(ALLOWED_STATUSES)} (deletes exempt)",
        cdc.LIVE & ~pl.col("status").is_in(ALLOWED_STATUSES),
    ),
    *cdc.event_rules(PLAUSIBLE_DAYS_BEFORE),
]

CHECKS = {
    "business_key_unique": (ERROR, "order_id is not null and unique after dedupe"),
    "schema_contract": (ERROR, "staged columns and types equal the contract"),
    "reject_rate": (
        ERROR,
        f"at most {REJECT_RATE_THRESHOLD:.0%} of landing rows quarantined (quarantine.orders)",
    ),
    **{rule.name: (rule.severity, rule.description) for rule in ROW_RULES},
    "row_count_vs_trailing": (
        WARN,
        f"row count within 3x of the median of the {TRAILING_PARTITIONS} previous partitions",
    ),
}


audit_partition = functools.partial(
    checks.audit_staged,
    key=BUSINESS_KEY,
    schema=STAGING_SCHEMA,
    reject_threshold=REJECT_RATE_THRESHOLD,
    rules=ROW_RULES,
)
"""Every check of one partition's staged rows and landing reject counts."""

"""The orders dataset's checks on staged data (all ERROR checks block publication)."""

import polars as pl

from platform_assets.core import cdc, checks
from platform_assets.core.checks import ERROR, WARN, CheckOutcome, RowRule
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


def audit_partition(
    staged: pl.DataFrame, rejected: int, total: int, trailing: list[int]
) -> list[CheckOutcome]:
    """Evaluate every check on one partition's staged rows and landing reject counts."""
    return [
        checks.unique_key(staged, BUSINESS_KEY),
        checks.schema_contract(staged, STAGING_SCHEMA),
        checks.reject_rate(rejected, total, REJECT_RATE_THRESHOLD),
        *[checks.evaluate_rule(staged, rule) for rule in ROW_RULES],
        checks.row_count_near_trailing(staged.height, trailing),
    ]

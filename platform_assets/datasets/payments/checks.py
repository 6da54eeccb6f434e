"""The payments dataset's checks on staged data (all ERROR checks block publication)."""

import polars as pl

from platform_assets.core import cdc, checks
from platform_assets.core.checks import ERROR, WARN, CheckOutcome, RowRule
from platform_assets.datasets.payments.schema import BUSINESS_KEY, KINDS, STAGING_SCHEMA

REJECT_RATE_THRESHOLD = 0.05
PLAUSIBLE_DAYS_BEFORE = 366  # how far before its landing day a payment's dates may lie

ROW_RULES = [
    RowRule("amount_positive", "amount > 0 (deletes exempt)", cdc.LIVE & (pl.col("amount") <= 0)),
    RowRule(
        "kind_allowed",
        f"kind in {', '.join(KINDS)} (deletes exempt)",
        cdc.LIVE & ~pl.col("kind").is_in(KINDS),
    ),
    RowRule(
        "order_linked", "order_id is set (deletes exempt)", cdc.LIVE & pl.col("order_id").is_null()
    ),
    *cdc.event_rules(PLAUSIBLE_DAYS_BEFORE),
]
CHECKS = {
    "business_key_unique": (ERROR, "payment_id is not null and unique after dedupe"),
    "schema_contract": (ERROR, "staged columns and types equal the contract"),
    "reject_rate": (
        ERROR,
        f"at most {REJECT_RATE_THRESHOLD:.0%} of landing rows quarantined (quarantine.payments)",
    ),
    **{rule.name: (rule.severity, rule.description) for rule in ROW_RULES},
    "row_count_vs_trailing": (WARN, "row count within 3x of the median of the previous days"),
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

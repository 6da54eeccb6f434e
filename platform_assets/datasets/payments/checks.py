"""The payments dataset's checks on staged data (all ERROR checks block publication)."""

import functools

import polars as pl

from platform_assets.core import cdc, checks
from platform_assets.core.checks import ERROR, WARN, RowRule
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


audit_partition = functools.partial(
    checks.audit_staged,
    key=BUSINESS_KEY,
    schema=STAGING_SCHEMA,
    reject_threshold=REJECT_RATE_THRESHOLD,
    rules=ROW_RULES,
)
"""Every check of one partition's staged rows and landing reject counts."""

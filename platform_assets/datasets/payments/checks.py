"""The payments dataset's checks on staged data (all ERROR checks block publication)."""

import polars as pl

from platform_assets.core import checks
from platform_assets.core.checks import ERROR, WARN, CheckOutcome, RowRule
from platform_assets.datasets.payments.schema import BUSINESS_KEY, KINDS, STAGING_SCHEMA

REJECT_RATE_THRESHOLD = 0.05
PLAUSIBLE_DAYS_BEFORE = 366  # how far before its landing day a payment's dates may lie

_next_day = (pl.col("landing_date") + pl.duration(days=1)).cast(pl.Datetime("us"))
_earliest = (pl.col("landing_date") - pl.duration(days=PLAUSIBLE_DAYS_BEFORE)).cast(
    pl.Datetime("us")
)
_live = ~pl.col("is_deleted")  # a delete may carry only its key
ROW_RULES = [
    RowRule("amount_positive", "amount > 0 (deletes exempt)", _live & (pl.col("amount") <= 0)),
    RowRule(
        "kind_allowed",
        f"kind in {', '.join(KINDS)} (deletes exempt)",
        _live & ~pl.col("kind").is_in(KINDS),
    ),
    RowRule(
        "order_linked", "order_id is set (deletes exempt)", _live & pl.col("order_id").is_null()
    ),
    RowRule(
        "currency_well_formed",
        "currency is a three-letter upper-case ISO code (deletes exempt)",
        _live & ~pl.col("currency").str.contains(r"^[A-Z]{3}$"),
    ),
    RowRule(
        "timestamps_consistent",
        "created_at <= updated_at (deletes exempt), and updated_at before the end of the "
        "landing day",
        (_live & (pl.col("created_at") > pl.col("updated_at")))
        | (pl.col("updated_at") >= _next_day),
    ),
    RowRule(
        "business_dates_plausible",
        f"created_at (deletes exempt) and updated_at no more than {PLAUSIBLE_DAYS_BEFORE} "
        "days before the landing day",
        (_live & (pl.col("created_at") < _earliest)) | (pl.col("updated_at") < _earliest),
    ),
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

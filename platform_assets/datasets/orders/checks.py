"""The orders dataset's checks on staged data (all ERROR checks block publication)."""

import polars as pl

from platform_assets.core import checks
from platform_assets.core.checks import ERROR, WARN, CheckOutcome, RowRule
from platform_assets.datasets.orders.schema import BUSINESS_KEY, STAGING_SCHEMA

ALLOWED_STATUSES = ("placed", "paid", "shipped", "cancelled", "delivered", "refunded")
REJECT_RATE_THRESHOLD = 0.05
TRAILING_PARTITIONS = 7
# How far before its landing day an event's business dates may lie (the bound of the
# plausibility check; after the landing day, timestamps_consistent already refuses them).
# Raise it for a source that re-sends very old orders; a change re-evaluates every day.
PLAUSIBLE_DAYS_BEFORE = 366

_next_day = (pl.col("landing_date") + pl.duration(days=1)).cast(pl.Datetime("us"))
_earliest = (pl.col("landing_date") - pl.duration(days=PLAUSIBLE_DAYS_BEFORE)).cast(
    pl.Datetime("us")
)
_live = ~pl.col("is_deleted")  # a delete may carry only its key (DMS without a before-image)
ROW_RULES = [
    RowRule("amount_non_negative", "amount >= 0 (deletes exempt)", _live & (pl.col("amount") < 0)),
    RowRule(
        "status_allowed",
        f"status in {', '.join(ALLOWED_STATUSES)} (deletes exempt)",
        _live & ~pl.col("status").is_in(ALLOWED_STATUSES),
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

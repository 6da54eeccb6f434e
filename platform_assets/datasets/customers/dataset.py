"""Customers: daily full snapshots -> staging -> curated.customers_daily (overwrite per day).

Grain: one row per (snapshot_date, customer_id). Key: customer_id. Write:
overwrite the day's partition. Checks: below (ERROR ones block publication).
"""

import datetime as dt
import functools

import polars as pl

from platform_assets.core import checks
from platform_assets.core.checks import ERROR, WARN, RowRule
from platform_assets.core.landing_parser import LandingContract
from platform_assets.core.write_spec import OverwritePartition
from platform_assets.orchestration.declarations import Dataset, DatasetSpec, Publish

SEGMENTS = ("consumer", "smb", "enterprise")
REJECT_RATE_THRESHOLD = 0.01
EARLIEST_SIGNUP = dt.date(1900, 1, 1)  # the plausibility bound of signup_date
LANDING = pl.Schema(
    {"customer_id": pl.Int64, "segment": pl.String, "country": pl.String, "signup_date": pl.Date}
)
STAGING = pl.Schema({**LANDING, "landing_date": pl.Date})
ROW_RULES = [
    RowRule(
        "segment_allowed", f"segment in {', '.join(SEGMENTS)}", ~pl.col("segment").is_in(SEGMENTS)
    ),
    RowRule(
        "country_well_formed",
        "country is a two-letter ISO code",
        ~pl.col("country").str.contains(r"^[A-Z]{2}$"),
    ),
    RowRule(
        "signup_not_after_snapshot",
        "signup_date <= snapshot day",
        pl.col("signup_date") > pl.col("landing_date"),
    ),
    RowRule(
        "signup_date_plausible",
        f"signup_date on or after {EARLIEST_SIGNUP}",
        pl.col("signup_date") < EARLIEST_SIGNUP,
    ),
]
CHECKS = {
    "business_key_unique": (ERROR, "customer_id is not null and unique in the snapshot"),
    "schema_contract": (ERROR, "staged columns and types equal the contract"),
    "reject_rate": (ERROR, f"at most {REJECT_RATE_THRESHOLD:.0%} of snapshot rows quarantined"),
    **{rule.name: (rule.severity, rule.description) for rule in ROW_RULES},
    "row_count_vs_trailing": (  # WARN: a blocking check sees only its own day's input, so a
        WARN,  # day's verdict never depends on which other days were published before
        "snapshot within 3x of the previous days' (a partial export?)",
    ),
}


def stage(rows: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """One row per customer (an exact duplicate line collapses), sorted by key."""
    return rows.unique().sort(pl.all()).with_columns(landing_date=pl.lit(day)).select(list(STAGING))


def snapshot_rows(staged: pl.DataFrame) -> pl.DataFrame:
    """Published rows: the staged snapshot with its day as ``snapshot_date``."""
    return staged.rename({"landing_date": "snapshot_date"})


audit_day = functools.partial(
    checks.audit_staged,
    key=["customer_id"],
    schema=STAGING,
    reject_threshold=REJECT_RATE_THRESHOLD,
    rules=ROW_RULES,
)
"""Every check of one staged snapshot."""


CUSTOMERS = DatasetSpec(
    name="customers",
    landing_description="Full customer snapshot per day: landing/customers/dt=YYYY-MM-DD/.",
    contract=LandingContract(schema=LANDING, not_null=("customer_id",)),
    stage=stage,
    staging_description="The day's customer snapshot, typed and validated; one row per customer.",
    checks=CHECKS,
    audit=audit_day,
)
CUSTOMERS_DAILY = Publish(
    key=["curated", "customers_daily"],
    write=OverwritePartition("curated.customers_daily", partition_column="snapshot_date"),
    transform=snapshot_rows,
    description="Each day's customer snapshot in curated.customers_daily, day replaced whole.",
)
DECLARATIONS = [
    Dataset(
        spec=CUSTOMERS,
        publications=(CUSTOMERS_DAILY,),
        job_description=(
            "Stage and publish one day's customer snapshot (overwrite), then the marts "
            "that read it."
        ),
    )
]

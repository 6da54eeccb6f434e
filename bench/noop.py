"""A job of the platform's shape that does nothing: Dagster's own cost of one run.

Three partitioned assets (staging with the eight check results of the orders dataset,
curated and marts in the ``warehouse`` pool) that compute and write nothing, for one
partition or a single-run range. Its run time is what any run of that shape costs, so
it bounds how cheap a skip run can be.
"""

import dagster as dg

from platform_assets.datasets.orders.checks import CHECKS

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01")
RANGES = dg.BackfillPolicy.single_run()
STAGING = dg.AssetKey(["staging", "orders"])


@dg.asset(
    key=STAGING,
    partitions_def=DAILY,
    backfill_policy=RANGES,
    check_specs=[dg.AssetCheckSpec(name, asset=STAGING, blocking=True) for name in CHECKS],
)
def staging_orders():
    """Nothing staged; every check passes."""
    yield dg.MaterializeResult()
    for name in CHECKS:
        yield dg.AssetCheckResult(check_name=name, passed=True)


@dg.asset(
    key=["curated", "orders"],
    deps=[staging_orders],
    partitions_def=DAILY,
    backfill_policy=RANGES,
    pool="warehouse",
)
def curated_orders() -> dg.MaterializeResult:
    """Nothing merged."""
    return dg.MaterializeResult()


@dg.asset(
    key=["marts", "daily_orders"],
    deps=[curated_orders],
    partitions_def=DAILY,
    backfill_policy=RANGES,
    pool="warehouse",
)
def marts_daily_orders() -> dg.MaterializeResult:
    """Nothing published."""
    return dg.MaterializeResult()


defs = dg.Definitions(
    assets=[staging_orders, curated_orders, marts_daily_orders],
    jobs=[dg.define_asset_job("noop_orders_job", partitions_def=DAILY)],
)

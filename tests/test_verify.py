"""Drift detection: a published day changed behind the platform's back is named and repaired."""

import dagster as dg
import duckdb
import pytest

from platform_assets.orchestration.drift import verify_all
from platform_assets.orchestration.planner import catalog_of
from platform_assets.tools.launch import launch_job, repair
from tests.conftest import read_table, run_orders

MART_SQL = "SELECT * FROM marts.daily_orders ORDER BY ALL"


@pytest.fixture
def published(settings, defs, sample_days):
    keys = sample_days(days=3, orders_per_day=100)
    with dg.instance_for_test() as instance:
        for job in catalog_of(defs).jobs:
            assert launch_job(job, keys, instance, definitions=defs).success
        yield keys, instance


def tamper(settings, sql: str, day: str) -> None:
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        con.execute(sql, [day])
    finally:
        con.close()


def test_a_clean_warehouse_has_no_drift(defs, published):
    assert verify_all(defs) == []


def test_a_changed_day_is_named_flagged_by_the_check_and_repaired(settings, defs, published):
    keys, instance = published
    before = read_table(settings, MART_SQL)
    tamper(
        settings,
        "UPDATE marts.daily_orders SET orders = orders + 1 WHERE business_date = ?",
        keys[1],
    )
    tamper(settings, "DELETE FROM curated.customers_daily WHERE snapshot_date = ?", keys[2])

    drifted = verify_all(defs)
    assert {(d.dataset, d.partition) for d in drifted} == {
        ("marts/daily_orders", keys[1]),
        ("curated/customers_daily", keys[2]),
    }
    assert all(d.found != d.recorded for d in drifted)

    rerun = run_orders(defs, instance, keys[1])  # unchanged inputs: the day skips...
    assert rerun.success
    checks = {
        (e.asset_key.to_user_string(), e.check_name): e for e in rerun.get_asset_check_evaluations()
    }
    flagged = checks[("marts/daily_orders", "matches_ledger")]
    assert flagged.passed is False  # ...and the WARN check says it drifted
    assert flagged.metadata["drifted_partitions"].value == keys[1]
    assert checks[("marts/daily_revenue_by_segment", "matches_ledger")].passed is True

    launches = repair(instance, defs)
    assert launches and all(launch.success for launch in launches)
    assert verify_all(defs) == []
    assert read_table(settings, MART_SQL).equals(before)

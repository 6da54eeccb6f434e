"""The payments dataset end to end (issue 19): declared by one module, run by its own job
and by the orders job (its mart reads both), equal to plain SQL over the landing files."""

import datetime as dt

import dagster as dg
import duckdb

from platform_assets.datasets.payments.assets import build_net_revenue
from platform_assets.datasets.payments.schema import MART_SCHEMA
from platform_assets.orchestration.planner import catalog_of
from platform_assets.tools.launch import launch_job
from tests.conftest import read_table

NET = "SELECT business_date, currency, revenue, refunds, net_revenue FROM marts.daily_net_revenue"


def reference(settings) -> list[tuple]:
    """marts.daily_net_revenue from the final landing files, in plain SQL."""
    latest = (
        "SELECT * EXCLUDE (rn) FROM (SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY "
        "updated_at DESC, seq DESC, (op = 'D') DESC) AS rn FROM read_csv({glob}, types = "
        "{{'amount': 'DECIMAL(18,2)', 'created_at': 'TIMESTAMP', 'updated_at': 'TIMESTAMP'}})) "
        "WHERE rn = 1 AND op <> 'D'"
    )
    orders = latest.format(key="order_id", glob="$orders")
    payments = latest.format(key="payment_id", glob="$payments")
    sql = (
        "WITH o AS (SELECT created_at::DATE AS d, currency, sum(amount) AS revenue "  # noqa: S608
        f"FROM ({orders}) GROUP BY ALL), "
        "r AS (SELECT created_at::DATE AS d, currency, sum(amount) AS refunds "
        f"FROM ({payments}) WHERE kind = 'refund' GROUP BY ALL) "
        "SELECT coalesce(o.d, r.d) AS business_date, coalesce(o.currency, r.currency), "
        "coalesce(revenue, 0)::DECIMAL(18,2), coalesce(refunds, 0)::DECIMAL(18,2), "
        "(coalesce(revenue, 0) - coalesce(refunds, 0))::DECIMAL(18,2) "
        "FROM o FULL OUTER JOIN r USING (d, currency) "
        "WHERE business_date BETWEEN DATE '2024-01-01' AND DATE '2024-01-03' ORDER BY ALL"
    )
    land = settings.landing_dir
    params = {"orders": f"{land}/orders/*/*.csv", "payments": f"{land}/payments/*/*.csv"}
    with duckdb.connect() as con:
        return con.execute(sql, params).fetchall()


def test_payments_publish_a_net_revenue_mart_equal_to_plain_sql(settings, defs, sample_days):
    days = sample_days(days=3, orders_per_day=200)
    assert "payments_daily_job" in catalog_of(defs).jobs
    with dg.instance_for_test() as instance:
        for job in catalog_of(defs).jobs:
            assert launch_job(job, days, instance, definitions=defs).success
        again = [launch_job(job, days, instance, definitions=defs) for job in catalog_of(defs).jobs]
    assert all(launch.success and not launch.runs for launch in again), "a rerun starts no run"
    actual = read_table(settings, NET + " ORDER BY ALL").rows()
    assert actual == reference(settings)
    refunds = "SELECT count(*) AS n FROM curated.payments WHERE kind = 'refund'"
    assert read_table(settings, refunds)["n"][0] > 0


def test_the_net_revenue_of_days_before_anything_is_published_is_empty():
    with duckdb.connect() as con:  # neither curated.orders nor curated.payments exists
        figures, read = build_net_revenue(con, [dt.date(2024, 1, 1)])
    assert figures.schema == MART_SCHEMA and figures.is_empty() and read == {}

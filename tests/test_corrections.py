"""Corrections and withdrawals: a re-delivered or withdrawn day replaces what it contributed.

After each history the published tables equal a plain-SQL reference over the final
landing files (not the platform's code).
"""

import shutil

import dagster as dg
import duckdb
import polars as pl
import pytest

from platform_assets.core.ledger import Ledger
from platform_assets.tools.artifacts import rollback
from platform_assets.tools.launch import launch_job
from tests.conftest import read_table
from tests.test_check_history import _env
from tests.test_late_changes import event, land

DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]
DAY1 = [
    event("I", 1, 1, "placed", "10.00", "2024-01-01 08:00:00", "2024-01-01 08:00:00"),
    event("I", 2, 2, "placed", "20.00", "2024-01-01 09:00:00", "2024-01-01 09:00:00"),
]
DAY2 = [
    event("U", 3, 1, "paid", "10.00", "2024-01-01 08:00:00", "2024-01-02 08:00:00"),
    event("I", 4, 3, "placed", "30.00", "2024-01-02 09:00:00", "2024-01-02 09:00:00"),
]
DAY3 = [event("I", 5, 4, "placed", "40.00", "2024-01-03 08:00:00", "2024-01-03 08:00:00")]
CURATED_SQL = (
    "SELECT order_id, customer_id, status, amount, currency, created_at, updated_at, seq, "
    "is_deleted FROM curated.orders ORDER BY order_id"
)
MART_SQL = (
    "SELECT business_date, status, currency, orders, revenue FROM marts.daily_orders ORDER BY ALL"
)


def reference(settings) -> tuple[pl.DataFrame, pl.DataFrame]:
    """curated.orders and marts.daily_orders from the landing files, in plain SQL."""
    latest = (
        "WITH latest AS (SELECT * EXCLUDE (rn) FROM (SELECT *, row_number() OVER ("
        "PARTITION BY order_id ORDER BY updated_at DESC, seq DESC, (op = 'D') DESC, "
        "customer_id DESC, status DESC, amount DESC, currency DESC, created_at DESC) AS rn "
        "FROM read_csv($glob, types = {'amount': 'DECIMAL(18,2)', "
        "'created_at': 'TIMESTAMP', 'updated_at': 'TIMESTAMP'})) WHERE rn = 1) "
    )
    params = {"glob": f"{settings.landing_dir}/orders/*/*.csv"}
    con = duckdb.connect()
    try:
        curated = con.sql(
            latest + "SELECT order_id, customer_id, status, amount, currency, created_at, "  # noqa: S608
            "updated_at, seq, op = 'D' AS is_deleted FROM latest ORDER BY order_id",
            params=params,
        ).pl()
        mart = con.sql(
            latest + "SELECT created_at::DATE AS business_date, status, currency, "  # noqa: S608
            "count(*)::BIGINT AS orders, sum(amount)::DECIMAL(18,2) AS revenue FROM latest "
            "WHERE op <> 'D' GROUP BY ALL ORDER BY ALL",
            params=params,
        ).pl()
    finally:
        con.close()
    return curated, mart


@pytest.fixture
def published(settings, defs):
    land(settings, DAYS[0], DAY1)
    land(settings, DAYS[1], DAY2)
    land(settings, DAYS[2], DAY3)
    with dg.instance_for_test() as instance:
        assert launch_job("orders_daily_job", DAYS, instance, definitions=defs).success
        yield instance


def relaunch(settings, defs, instance) -> None:
    assert launch_job("orders_daily_job", DAYS, instance, definitions=defs).success
    curated, mart = reference(settings)
    assert read_table(settings, CURATED_SQL).equals(curated, null_equal=True)
    assert read_table(settings, MART_SQL).equals(mart)


def test_published_state_equals_the_reference(settings, defs, published):
    relaunch(settings, defs, published)


def test_a_redelivered_day_without_an_erroneous_update_reverts_it(settings, defs, published):
    land(settings, DAYS[1], DAY2[1:])  # the update to order 1 was a mistake
    relaunch(settings, defs, published)
    status = read_table(settings, "SELECT status FROM curated.orders WHERE order_id = 1")
    assert status["status"][0] == "placed"


def test_a_redelivered_day_without_an_erroneous_insert_retracts_it(settings, defs, published):
    land(settings, DAYS[1], DAY2[:1])  # order 3 was never placed
    relaunch(settings, defs, published)
    assert 3 not in read_table(settings, "SELECT order_id FROM curated.orders")["order_id"]
    days = read_table(settings, "SELECT DISTINCT business_date FROM marts.daily_orders")
    assert "2024-01-02" not in {str(d) for d in days["business_date"]}


def test_a_lower_value_under_the_same_event_replaces_the_higher(settings, defs, published):
    lower = DAY2[1].replace(",30.00,", ",3.00,")
    land(settings, DAYS[1], [DAY2[0], lower])
    relaunch(settings, defs, published)
    amount = read_table(settings, "SELECT amount FROM curated.orders WHERE order_id = 3")
    assert str(amount["amount"][0]) == "3.00"


def test_a_withdrawn_day_retracts_its_orders(settings, defs, published):
    shutil.rmtree(settings.landing_dir / "orders" / f"dt={DAYS[2]}")
    relaunch(settings, defs, published)
    assert 4 not in read_table(settings, "SELECT order_id FROM curated.orders")["order_id"]


def test_a_rollback_of_a_correction_brings_back_what_it_retracted(settings, defs, published):
    land(settings, DAYS[1], DAY2[:1])  # order 3 retracted
    relaunch(settings, defs, published)
    ledger, lake = Ledger(defs.resources["warehouse"]), defs.resources["lake"].store()
    rollback(ledger, lake, dg.AssetKey(["staging", "orders"]), DAYS[1])
    publishing = [dg.AssetKey(["curated", "orders"]), dg.AssetKey(["marts", "daily_orders"])]
    assert launch_job(
        "orders_daily_job", DAYS, published, definitions=defs, assets=publishing
    ).success
    assert 3 in read_table(settings, "SELECT order_id FROM curated.orders")["order_id"]


def test_a_one_day_launch_recomputes_the_earlier_mart_days_it_changed(settings, defs):
    land(settings, DAYS[0], DAY1)
    land(settings, DAYS[1], DAY2)
    refund = event("U", 9, 2, "refunded", "20.00", "2024-01-01 09:00:00", "2024-01-03 09:00:00")
    with dg.instance_for_test() as instance:
        assert launch_job("orders_daily_job", DAYS[:2], instance, definitions=defs).success
        land(settings, DAYS[2], [*DAY3, refund])  # changes business day 2024-01-01
        launch = launch_job("orders_daily_job", DAYS[2:], instance, definitions=defs)
        assert launch.success
        [run] = launch.runs  # the day's own mart steps recompute the days it changed
        day1 = [e for e in run.get_asset_materialization_events() if e.partition == DAYS[0]]
        assert dg.AssetKey(["marts", "daily_orders"]) in {e.asset_key for e in day1}
        _, mart = reference(settings)
        assert read_table(settings, MART_SQL).equals(mart)


TIED = ("2024-01-01 09:00:00", "2024-01-02 10:00:00")  # created, updated of the tied events


@pytest.mark.parametrize("order", ["same day", "delete first", "update first"])
def test_a_delete_tied_with_an_update_wins_on_every_path(settings, defs, order):
    """One total order everywhere: at a tie on (updated_at, seq) a delete wins, whether
    the two events arrive in one file (staging's dedupe), in two days published in
    either order (the merge), or through a correction (the keyed recompute)."""
    update = event("U", 9, 2, "paid", "20.00", *TIED)
    delete = event("D", 9, 2, "paid", "20.00", *TIED)
    land(settings, DAYS[0], DAY1)
    with dg.instance_for_test() as instance:
        if order == "same day":
            land(settings, DAYS[1], [update, delete])
            relaunch(settings, defs, instance)
        else:
            first, second = (delete, update) if order == "delete first" else (update, delete)
            land(settings, DAYS[1], [first])
            land(settings, DAYS[2], [second])
            for day in (DAYS[2], DAYS[0], DAYS[1]):  # the later day is published first
                assert launch_job("orders_daily_job", [day], instance, definitions=defs).success
            relaunch(settings, defs, instance)
        deleted = read_table(settings, "SELECT is_deleted FROM curated.orders WHERE order_id = 2")
        assert deleted["is_deleted"].to_list() == [True]


LOST_ORDERS_SQL = (
    "SELECT order_id, customer_id, status, amount, currency, created_at, updated_at, seq, "
    "is_deleted FROM curated.orders ORDER BY order_id"
)


def test_a_lost_artifact_held_by_a_blocked_day_is_replaced_by_a_rebuild(tmp_path):
    """Day 1 is published (artifact A), then re-delivered with a bad row (artifact B, blocked:
    curated keeps A). A is no longer staging's current artifact, so nothing restages it when
    it is lost (a lifecycle rule, a hand deletion). The fixed re-delivery's keyed recompute
    cannot know A's keys: it rebuilds the table from every current artifact instead (found
    by the review of 7ea7df3: day 1 could never be published again)."""
    days = ["2024-01-01", "2024-01-02"]
    good = [event("I", 1, 1, "placed", "10.00", "2024-01-01 08:00:00", "2024-01-01 08:00:00")]
    bad = [event("I", 1, 1, "placed", "-10.00", "2024-01-01 08:00:00", "2024-01-01 08:00:00")]
    fixed = [event("I", 1, 1, "placed", "11.00", "2024-01-01 08:00:00", "2024-01-01 08:00:00")]
    day2 = [event("I", 2, 2, "placed", "20.00", "2024-01-02 08:00:00", "2024-01-02 08:00:00")]
    settings, defs = _env(tmp_path, "lost")
    folder = settings.lake_dir / "staging" / "orders" / f"dt={days[0]}"
    with dg.instance_for_test() as instance:
        land(settings, days[0], good)
        land(settings, days[1], day2)
        assert launch_job("orders_daily_job", days, instance, definitions=defs).success
        held = sorted(folder.glob("*.parquet"))
        assert len(held) == 1
        land(settings, days[0], bad)
        assert not launch_job("orders_daily_job", [days[0]], instance, definitions=defs).success
        held[0].unlink()  # the artifact curated still holds for day 1 is lost
        land(settings, days[0], fixed)  # the delivery is fixed
        launches = [  # a plain relaunch, then a forced one (what the error message advises)
            launch_job("orders_daily_job", days, instance, force=force, definitions=defs)
            for force in (False, True)
        ]
        notes = [
            record.user_message
            for run in launches[0].runs
            for record in instance.all_logs(run.run_id)
            if "is missing" in (record.user_message or "")
        ]
    assert notes and "rebuilt from every current artifact" in notes[0], notes
    curated, _ = reference(settings)
    actual = read_table(settings, LOST_ORDERS_SQL)
    assert launches[0].success, "the fixed day 1 is never published again"
    assert launches[1].success
    assert actual.equals(curated, null_equal=True)

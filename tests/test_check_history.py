"""Check outcomes and history: a day's verdict depends on its own input and the current
checks only (found by an adversarial review of 7ea7df3; each test failed there).

Each test plays a history against real DuckDB files and compares with a clean run over
the final landing files with the current code, or checks that a run that did not publish
what it claims is not green.
"""

import dagster as dg
import duckdb
import polars as pl

from platform_assets.definitions import build_definitions
from platform_assets.settings import load_settings
from platform_assets.tools.launch import launch_job

CUSTOMER_HEADER = "customer_id,segment,country,signup_date"


def _env(tmp_path, name, declarations=None):
    settings = load_settings({"PLATFORM_DATA_DIR": str(tmp_path / name / "data")})
    return settings, build_definitions(settings, declarations)


def _land_customers(settings, day: str, count: int) -> None:
    folder = settings.landing_dir / "customers" / f"dt={day}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [f"{i},consumer,US,2023-12-01" for i in range(1, count + 1)]
    (folder / "snapshot.csv").write_text("\n".join([CUSTOMER_HEADER, *rows]) + "\n")


def _read(settings, sql: str) -> pl.DataFrame:
    if not settings.warehouse_path.exists():
        return pl.DataFrame()
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.sql(sql).pl()
    finally:
        con.close()


SNAPSHOT_DAYS = (
    "SELECT snapshot_date::VARCHAR AS day, count(*) AS customers "
    "FROM curated.customers_daily GROUP BY ALL ORDER BY ALL"
)


def with_spec(spec) -> list:
    """Every dataset declaration, the orders dataset declared from a changed ``spec``."""
    import dataclasses

    from platform_assets.datasets import declarations
    from platform_assets.orchestration.declarations import Dataset

    return [
        dataclasses.replace(d, spec=spec) if isinstance(d, Dataset) and d.name == spec.name else d
        for d in declarations()
    ]


def test_a_customers_day_is_published_whatever_was_published_before(tmp_path):
    """Days delivered one at a time publish what one clean run over the same final landing
    files publishes: the customers row count against the trailing days (which reads earlier
    days' ledger rows) is a WARN, so it cannot make a verdict depend on what ran before (it
    was an ERROR: day by day the second day was blocked for good)."""
    days = ["2024-01-01", "2024-01-02"]
    # history A: the days arrive one at a time (the landing sensor / daily schedule)
    inc, inc_defs = _env(tmp_path, "incremental")
    with dg.instance_for_test() as instance:
        _land_customers(inc, days[0], 10)
        assert launch_job("customers_daily_job", [days[0]], instance, definitions=inc_defs).success
        _land_customers(inc, days[1], 40)
        second = launch_job("customers_daily_job", [days[1]], instance, definitions=inc_defs)
        rerun = launch_job("customers_daily_job", [days[1]], instance, definitions=inc_defs)
    # history B: a clean run over the same final landing files
    clean, clean_defs = _env(tmp_path, "clean")
    _land_customers(clean, days[0], 10)
    _land_customers(clean, days[1], 40)
    with dg.instance_for_test() as instance:
        fresh = launch_job("customers_daily_job", days, instance, definitions=clean_defs)
    expected = _read(clean, SNAPSHOT_DAYS)
    actual = _read(inc, SNAPSHOT_DAYS)
    print("clean run success:", fresh.success, "\n", expected)
    print("incremental second/rerun success:", second.success, rerun.success, "\n", actual)
    assert actual.equals(expected), "same landing files, different curated.customers_daily"


def test_a_withdrawn_customer_snapshot_day_is_retracted(tmp_path):
    """A customers day whose folder is withdrawn stages as an empty snapshot and replaces the
    published one: curated.customers_daily equals a clean run over the final landing files
    (the trailing row-count check, then an ERROR, blocked the empty day for good)."""
    import shutil

    days = ["2024-01-01", "2024-01-02", "2024-01-03"]
    inc, inc_defs = _env(tmp_path, "incremental")
    with dg.instance_for_test() as instance:
        for day in days:
            _land_customers(inc, day, 10)
            assert launch_job("customers_daily_job", [day], instance, definitions=inc_defs).success
        shutil.rmtree(inc.landing_dir / "customers" / f"dt={days[2]}")
        first = launch_job("customers_daily_job", [days[2]], instance, definitions=inc_defs)
        again = launch_job("customers_daily_job", [days[2]], instance, definitions=inc_defs)
    clean, clean_defs = _env(tmp_path, "clean")
    for day in days[:2]:
        _land_customers(clean, day, 10)
    with dg.instance_for_test() as instance:
        assert launch_job("customers_daily_job", days, instance, definitions=clean_defs)
    expected = _read(clean, SNAPSHOT_DAYS)
    actual = _read(inc, SNAPSHOT_DAYS)
    print("withdrawal runs:", first.success, again.success, "\n", actual, "\n", expected)
    assert actual.equals(expected), "a withdrawn snapshot day is still published"


def test_a_staging_only_rerun_of_a_blocked_day_fails_again(tmp_path):
    """A staging-only run of a day whose staged data fails a blocking check ends failed, and
    so does the same run again: staging skips the unchanged day, but its stored failed
    outcome still counts (the rerun was green)."""
    from tests.conftest import run_orders
    from tests.test_late_changes import event, land

    day = "2024-01-01"
    bad = [event("I", 1, 1, "placed", "-10.00", "2024-01-01 08:00:00", "2024-01-01 08:00:00")]
    settings, defs = _env(tmp_path, "incremental")
    land(settings, day, bad)
    staging = [dg.AssetKey(["staging", "orders"])]
    with dg.instance_for_test() as instance:
        first = run_orders(defs, instance, day, selection=staging)
        second = run_orders(defs, instance, day, selection=staging)
    print(first.success, second.success)
    assert not first.success
    assert not second.success, "same input, same blocked day: the rerun must not be green"


def test_a_key_only_delete_retracts_its_order(tmp_path):
    """A CDC delete that carries only the key, sequence and timestamp (what DMS writes for a
    PostgreSQL source without REPLICA IDENTITY FULL) retracts its order, as the plain-SQL
    oracle says: the row rules exempt deletes (they failed its NULLs and blocked the day)."""
    from tests.history.oracle import WarehouseFile, compare
    from tests.test_late_changes import event, land

    days = ["2024-01-01", "2024-01-02"]
    settings, defs = _env(tmp_path, "incremental")
    land(
        settings,
        days[0],
        [event("I", 1, 1, "placed", "10.00", "2024-01-01 08:00:00", "2024-01-01 08:00:00")],
    )
    land(settings, days[1], ["D,2,1,,,,,,2024-01-02 08:00:00.000000"])
    with dg.instance_for_test() as instance:
        runs = [launch_job("orders_daily_job", days, instance, definitions=defs) for _ in (1, 2)]
    import datetime as dt

    diffs = compare(WarehouseFile(settings.warehouse_path), settings.landing_dir, dt.date.today())
    print([r.success for r in runs], "\n".join(diffs))
    assert runs[-1].success, "a valid delete blocks its day"
    assert not diffs


def test_a_removed_check_no_longer_blocks(tmp_path):
    """A code change drops a check (amount_non_negative: refunds may be negative). Staging's
    derived version changes, the day is restaged (same artifact bytes) and checked by the
    current checks only: the day is published, as a clean run with the new code does. (The
    gate read the latest outcome per check name ever recorded for the artifact: the dropped
    check kept blocking, then crashed staging with an unexpected check result.)"""
    import dataclasses

    from platform_assets.core import checks as core_checks
    from platform_assets.core.ledger import Ledger
    from platform_assets.datasets.orders import assets as order_assets
    from platform_assets.datasets.orders import checks as order_checks
    from platform_assets.datasets.orders.schema import BUSINESS_KEY, STAGING_SCHEMA
    from platform_assets.tools.launch import describe
    from tests.test_late_changes import event, land

    kept = [rule for rule in order_checks.ROW_RULES if rule.name != "amount_non_negative"]

    def audit_without_amount(staged, rejected, total, trailing):
        return [
            core_checks.unique_key(staged, BUSINESS_KEY),
            core_checks.schema_contract(staged, STAGING_SCHEMA),
            core_checks.reject_rate(rejected, total, order_checks.REJECT_RATE_THRESHOLD),
            *[core_checks.evaluate_rule(staged, rule) for rule in kept],
            core_checks.row_count_near_trailing(staged.height, trailing),
        ]

    spec = dataclasses.replace(
        order_assets.ORDERS,
        checks={k: v for k, v in order_checks.CHECKS.items() if k != "amount_non_negative"},
        audit=audit_without_amount,
    )
    changed = with_spec(spec)  # the dataset module declares both from one spec

    day = "2024-01-01"
    rows = [event("I", 1, 1, "refunded", "-10.00", "2024-01-01 08:00:00", "2024-01-01 08:00:00")]
    inc, inc_defs = _env(tmp_path, "incremental")
    land(inc, day, rows)
    with dg.instance_for_test() as instance:
        assert not launch_job("orders_daily_job", [day], instance, definitions=inc_defs).success
        inc_defs = build_definitions(inc, changed)  # the code change
        runs = [
            launch_job("orders_daily_job", [day], instance, definitions=inc_defs) for _ in (1, 2)
        ]
    clean, clean_defs = _env(tmp_path, "clean", changed)  # built with the new code
    land(clean, day, rows)
    with dg.instance_for_test() as instance:
        fresh = launch_job("orders_daily_job", [day], instance, definitions=clean_defs)
    print(describe(fresh, Ledger(clean_defs.resources["warehouse"])))
    for run in runs:
        print(describe(run, Ledger(inc_defs.resources["warehouse"])))
    assert fresh.success, "the new code publishes the day on a clean run"
    assert runs[-1].success, "the dropped check still blocks the day"


def test_a_new_blocking_check_fails_every_run_over_what_it_fails(tmp_path):
    """A code change adds a blocking check (amount_at_most_1000). Staging's derived version
    changes, the day is restaged (same artifact bytes) and the new check fails on it.
    curated/orders' input (the artifact) is unchanged, so it skips the day, but not
    silently: the skipped day is gated too, recorded failed, and every run over it (also
    one planned by launch) ends failed naming the check, as a clean run with the new code
    does."""
    import dataclasses

    from platform_assets.core.checks import ERROR, RowRule
    from platform_assets.datasets.orders import assets as order_assets
    from platform_assets.datasets.orders import checks as order_checks
    from tests.test_late_changes import event, land

    cap = RowRule("amount_at_most_1000", "amount <= 1000", pl.col("amount") > 1000, ERROR)

    def audit_with_cap(staged, rejected, total, trailing):
        from platform_assets.core import checks as core_checks

        return [
            *order_checks.audit_partition(staged, rejected, total, trailing),
            core_checks.evaluate_rule(staged, cap),
        ]

    spec = dataclasses.replace(
        order_assets.ORDERS,
        checks={**order_checks.CHECKS, cap.name: (ERROR, cap.description)},
        audit=audit_with_cap,
    )
    changed = with_spec(spec)  # the dataset module declares both from one spec
    day = "2024-01-01"
    rows = [event("I", 1, 1, "placed", "5000.00", "2024-01-01 08:00:00", "2024-01-01 08:00:00")]
    inc, inc_defs = _env(tmp_path, "incremental")
    land(inc, day, rows)
    with dg.instance_for_test() as instance:
        assert launch_job("orders_daily_job", [day], instance, definitions=inc_defs).success
        inc_defs = build_definitions(inc, changed)  # the code change
        after = launch_job("orders_daily_job", [day], instance, definitions=inc_defs)
        again = launch_job("orders_daily_job", [day], instance, definitions=inc_defs)
    clean, clean_defs = _env(tmp_path, "clean", changed)  # built with the new code
    land(clean, day, rows)
    with dg.instance_for_test() as instance:
        fresh = launch_job("orders_daily_job", [day], instance, definitions=clean_defs)
    published = _read(inc, "SELECT order_id, amount FROM curated.orders")
    print("clean run:", fresh.success, "after the change:", after.success, published)
    assert not fresh.success  # the clean run blocks the day
    assert not after.success, "green run while a published row fails a blocking check"
    assert not again.success, "a rerun (planned by launch) must not be green either"
    failed = _read(
        inc,
        "SELECT error FROM platform.pipeline_runs WHERE dataset = 'curated/orders' "
        "AND status = 'failed'",
    )
    assert failed.height == 2 and all("amount_at_most_1000" in e for e in failed["error"])
    assert published.height == 1  # kept, not retracted (documented): a passing delivery replaces it

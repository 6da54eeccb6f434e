"""Open findings of the adversarial review of 7ea7df3: each test fails until its fix lands.

Marked ``pending`` and left out of ``make test``; ``make pending`` runs them. When one
passes, move it into the module of what it tests and drop it here.
- a lost artifact that a publication still holds (a blocked day's last good version)
  blocks that day for good (issue 15: fall back to a rebuild of the keys);
- amounts with more decimals than the contract are rounded half-even (issue 17, item 1);
- Parquet landing files with UTC timestamps are quarantined whole (issue 17, item 8).
"""

import dagster as dg
import polars as pl
import pytest

from platform_assets.tools.launch import launch_job
from tests.test_check_history import _env, _read

ORDERS_SQL = (
    "SELECT order_id, customer_id, status, amount, currency, created_at, updated_at, seq, "
    "is_deleted FROM curated.orders ORDER BY order_id"
)


pytestmark = pytest.mark.pending


def test_a_lost_held_artifact_of_a_blocked_day_blocks_the_day_forever(tmp_path):
    """Day 1 is published (artifact A), then re-delivered with a bad row (artifact B, blocked:
    curated keeps A). A is no longer staging's current artifact, so nothing restages it when
    it is lost (a lifecycle rule, a hand deletion; the README promises a lost *current*
    artifact is restaged). From then on the fixed re-delivery of day 1 fails on every run
    (the keyed recompute reads A), and so does every correction of any other day: day 1 can
    never be published again, although the landing files are good."""
    from tests.test_corrections import reference
    from tests.test_late_changes import event, land

    days = ["2024-01-01", "2024-01-02"]
    good = [event("I", 1, 1, "placed", "10.00", "2024-01-01 08:00:00", "2024-01-01 08:00:00")]
    bad = [event("I", 1, 1, "placed", "-10.00", "2024-01-01 08:00:00", "2024-01-01 08:00:00")]
    fixed = [event("I", 1, 1, "placed", "11.00", "2024-01-01 08:00:00", "2024-01-01 08:00:00")]
    day2 = [event("I", 2, 2, "placed", "20.00", "2024-01-02 08:00:00", "2024-01-02 08:00:00")]
    settings, defs = _env(tmp_path, "incremental")
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
    curated, _ = reference(settings)
    actual = _read(settings, ORDERS_SQL)
    from platform_assets.core.ledger import Ledger
    from platform_assets.tools.launch import describe

    print(describe(launches[-1], Ledger(defs.resources["warehouse"])), "\n", actual, curated)
    assert launches[-1].success, "the fixed day 1 is never published again"
    assert actual.equals(curated, null_equal=True)


def test_sub_cent_amounts_are_rounded_half_even_and_a_negative_amount_passes(tmp_path):
    """amount is cast with polars' str -> Decimal(18, 2), which rounds excess digits
    half-to-even and never rejects them: '10.005' is published as 10.00 (the plain-SQL
    oracle of the history test, DuckDB's cast, gives 10.01), and '-0.001', a negative
    amount, is published as 0.00 after passing amount_non_negative. Expected: the value as
    the oracle reads it, and a negative landing amount never published (quarantined or
    blocked)."""
    from tests.test_corrections import reference
    from tests.test_late_changes import event, land

    day = "2024-01-01"
    rows = [
        event("I", 1, 1, "placed", "10.005", "2024-01-01 08:00:00", "2024-01-01 08:00:00"),
        event("I", 2, 2, "placed", "-0.001", "2024-01-01 09:00:00", "2024-01-01 09:00:00"),
    ]
    settings, defs = _env(tmp_path, "incremental")
    land(settings, day, rows)
    with dg.instance_for_test() as instance:
        run = launch_job("orders_daily_job", [day], instance, definitions=defs)
    actual = _read(settings, "SELECT order_id, amount FROM curated.orders ORDER BY 1")
    curated, _ = reference(settings)
    print(run.success, actual, curated.select("order_id", "amount"))
    negative_published = actual.filter(pl.col("order_id") == 2).height
    assert actual.equals(curated.select("order_id", "amount")) and not negative_published


def test_a_parquet_delivery_with_utc_timestamps_is_rejected_whole(tmp_path):
    """Landing Parquet is parsed by casting every column to text and parsing the text with
    the CSV timestamp format; a timestamp column with a time zone (timestamp[us, UTC], as
    Parquet writers that set isAdjustedToUTC produce) renders as '... +00:00' and every row
    is quarantined, so the day is blocked by reject_rate until the files are rewritten."""
    import datetime as dt
    from decimal import Decimal

    from tests.test_late_changes import land

    day = "2024-01-01"
    settings, defs = _env(tmp_path, "incremental")
    land(settings, day, [])  # creates the folder
    (settings.landing_dir / "orders" / f"dt={day}" / "cdc-00001.csv").unlink()
    at = dt.datetime(2024, 1, 1, 8, tzinfo=dt.UTC)
    frame = pl.DataFrame(
        {
            "op": ["I"],
            "seq": [1],
            "order_id": [1],
            "customer_id": [7],
            "status": ["placed"],
            "amount": [Decimal("10.50")],
            "currency": ["USD"],
            "created_at": [at],
            "updated_at": [at],
        }
    )
    frame.write_parquet(settings.landing_dir / "orders" / f"dt={day}" / "cdc-00001.parquet")
    with dg.instance_for_test() as instance:
        run = launch_job("orders_daily_job", [day], instance, definitions=defs)
    assert run.success, "a valid Parquet delivery is blocked (every row quarantined)"
    assert _read(settings, "SELECT order_id FROM curated.orders").height == 1

"""Staged artifacts: immutable and content-addressed, collected after retention, rolled back."""

import datetime as dt
import os

import dagster as dg
import pytest

from platform_assets.core.ledger import Ledger
from platform_assets.orchestration.resources import artifact_folder
from platform_assets.storage.lake import artifact_name
from platform_assets.tools.artifacts import artifact_states, rollback, staged_assets
from platform_assets.tools.launch import launch_job
from tests.conftest import read_table
from tests.test_customers import change_segment

CUSTOMERS = dg.AssetKey(["staging", "customers"])
DAY = "2024-01-02"


@pytest.fixture
def two_versions(settings, defs, sample_days):
    """A customer snapshot published, changed and published again."""
    keys = sample_days(days=3, orders_per_day=50)
    with dg.instance_for_test() as instance:
        assert launch_job("customers_daily_job", keys, instance, definitions=defs).success
        first = read_table(settings, "SELECT * FROM curated.customers_daily ORDER BY ALL")
        change_segment(settings, DAY, "enterprise")
        assert launch_job("customers_daily_job", keys, instance, definitions=defs).success
        yield instance, first


def stores(defs):
    return Ledger(defs.resources["warehouse"]), defs.resources["lake"].store()


def test_a_changed_day_gets_a_new_artifact_beside_the_old_one(settings, defs, two_versions):
    ledger, lake = stores(defs)
    states = artifact_states(lake, ledger, CUSTOMERS, DAY)
    assert [(s.current, s.recorded) for s in states] == [(True, True), (False, True)]
    assert states[1].superseded_at is not None
    for state in states:  # named by the checksum of their bytes
        path = settings.lake_dir / artifact_folder(CUSTOMERS, DAY) / artifact_name(state.checksum)
        assert path.exists()
    assert len(artifact_states(lake, ledger, CUSTOMERS, "2024-01-01")) == 1
    assert CUSTOMERS in staged_assets(defs)


def test_collection_keeps_the_current_artifact_and_young_orphans(settings, defs, two_versions):
    ledger, lake = stores(defs)
    folder = settings.lake_dir / artifact_folder(CUSTOMERS, DAY)
    young, old = folder / ("a" * 32 + ".parquet"), folder / ("b" * 32 + ".parquet")
    young.write_bytes(b"written by a run still in flight")
    old.write_bytes(b"left by a crashed run")
    long_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).timestamp()
    os.utime(old, (long_ago, long_ago))
    now = dt.datetime.now(dt.UTC)

    week = [
        s
        for s in artifact_states(lake, ledger, CUSTOMERS, DAY)
        if s.collectable(now, dt.timedelta(days=7))
    ]
    assert [s.checksum for s in week] == ["xxh3:" + "b" * 32]  # superseded minutes ago: kept
    later = now + dt.timedelta(days=8)
    gone = [
        s
        for s in artifact_states(lake, ledger, CUSTOMERS, DAY)
        if s.collectable(later, dt.timedelta(days=7))
    ]
    assert {s.current for s in gone} == {False}
    assert len(gone) == 3  # the superseded artifact and both orphans, not the current one


def test_rollback_republishes_the_previous_snapshot(settings, defs, two_versions):
    instance, first = two_versions
    ledger, lake = stores(defs)
    before = artifact_states(lake, ledger, CUSTOMERS, DAY)
    restored = rollback(ledger, lake, CUSTOMERS, DAY)
    assert restored == before[1].checksum
    publishing = [dg.AssetKey(["curated", "customers_daily"])]
    launch = launch_job("customers_daily_job", [DAY], instance, definitions=defs, assets=publishing)
    assert launch.success
    now = read_table(settings, "SELECT * FROM curated.customers_daily ORDER BY ALL")
    assert now.equals(first)
    with pytest.raises(SystemExit, match="never staged"):
        rollback(ledger, lake, CUSTOMERS, "2023-12-31")


def test_an_artifact_a_publication_still_holds_is_never_collected(settings, defs, sample_days):
    keys = sample_days(days=3, orders_per_day=50)
    with dg.instance_for_test() as instance:
        assert launch_job("customers_daily_job", keys, instance, definitions=defs).success
        change_segment(settings, DAY, "vip")  # fails segment_allowed: curated keeps the old one
        assert not launch_job("customers_daily_job", keys, instance, definitions=defs).success
    ledger, lake = stores(defs)
    states = artifact_states(lake, ledger, CUSTOMERS, DAY)
    assert [(s.current, s.published) for s in states] == [(True, False), (False, True)]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    assert not [s for s in states if s.collectable(later, dt.timedelta(days=7))]


def test_a_deleted_current_artifact_is_restaged_by_the_next_launch(settings, defs, sample_days):
    """The launch planner applies the asset's own skip rule: a day whose current staged
    artifact is gone (deleted by hand or by a lifecycle rule) is restaged, byte-identical,
    and nothing below it changes."""
    keys = sample_days(days=3, orders_per_day=50)
    orders = dg.AssetKey(["staging", "orders"])
    with dg.instance_for_test() as instance:
        assert launch_job("orders_daily_job", keys, instance, definitions=defs).success
        ledger, lake = stores(defs)
        checksum = ledger.published("staging/orders", [DAY])[DAY].output_checksum
        artifact = settings.lake_dir / artifact_folder(orders, DAY) / artifact_name(checksum)
        before = read_table(settings, "SELECT * FROM curated.orders ORDER BY ALL")
        artifact.unlink()

        launched = launch_job("orders_daily_job", keys, instance, definitions=defs)

        assert launched.success
        staging = next(a for a in launched.plan.assets if a.dataset == "staging/orders")
        assert staging.todo == [DAY]
        assert artifact.exists()  # the same bytes under the same name
        assert ledger.published("staging/orders", [DAY])[DAY].output_checksum == checksum
        assert read_table(settings, "SELECT * FROM curated.orders ORDER BY ALL").equals(before)
        assert launch_job("orders_daily_job", keys, instance, definitions=defs).runs == []

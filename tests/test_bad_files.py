"""File-level rejects (issue 17, item 5).

A landing entry that is a symbolic link, has a name that is not UTF-8, cannot be read,
or is not a regular file is one quarantine row naming it (line 0, nothing read); the
rest of its day and every other day publish as if it were not there.
"""

import datetime as dt
import os

import dagster as dg
import pytest

from platform_assets.core.landing import LandingRefused
from platform_assets.core.ledger import Ledger
from platform_assets.storage.landing_local import (
    BAD_NAME,
    DAY_LINK,
    LINK,
    NOT_REGULAR,
    UNREADABLE,
    LocalLanding,
)
from platform_assets.tools.launch import describe, launch_job
from tests.conftest import read_table
from tests.test_bad_input import csv_text
from tests.unreadable import unreadable

DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]
BAD_DAY = DAYS[1]
TABLES = ["curated.orders", "marts.daily_orders", "quarantine.orders"]


def orders(day: str, first: int, count: int = 60) -> str:
    """``count`` valid CDC rows of new orders ``first``.. on ``day``."""
    stamp = f"{day} 08:00:00.000000"
    return csv_text(
        *[f"I,{n},{n},7,placed,5.00,USD,{stamp},{stamp}" for n in range(first, first + count)]
    )


def day_folder(settings, day: str):
    return settings.landing_dir / "orders" / f"dt={day}"


def tables(settings) -> dict[str, list[tuple]]:
    return {t: read_table(settings, f"SELECT * FROM {t} ORDER BY ALL").rows() for t in TABLES}  # noqa: S608


def quarantined(settings) -> list[tuple]:
    return read_table(
        settings, "SELECT landing_date, source_file, line, reason, raw FROM quarantine.orders"
    ).rows()


def run_logs(instance, launched) -> list[str]:
    return [entry.user_message for run in launched.runs for entry in instance.all_logs(run.run_id)]


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def published(settings, defs, instance):
    """Three good days, launched once; the published tables."""
    for n, day in enumerate(DAYS):
        folder = day_folder(settings, day)
        folder.mkdir(parents=True)
        (folder / "cdc-1.csv").write_text(orders(day, 1000 * (n + 1)))
    assert launch_job("orders_daily_job", DAYS, instance, definitions=defs).success
    return tables(settings)


def link_outside(settings, tmp_path):
    secret = tmp_path / "elsewhere" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text(orders(BAD_DAY, 9000))  # valid rows: were it read, they would publish
    (day_folder(settings, BAD_DAY) / "evil.csv").symlink_to(secret)
    return "evil.csv", LINK


def link_inside(settings, tmp_path):
    target = day_folder(settings, DAYS[0]) / "cdc-1.csv"
    (day_folder(settings, BAD_DAY) / "again.csv").symlink_to(target)
    return "again.csv", LINK


def undecodable_name(settings, tmp_path):
    name = os.fsdecode(b"caf\xe9.csv")  # Latin-1, not UTF-8
    (day_folder(settings, BAD_DAY) / name).write_text(orders(BAD_DAY, 9000))
    return "caf\\xe9.csv", BAD_NAME


def fifo(settings, tmp_path):
    os.mkfifo(day_folder(settings, BAD_DAY) / "pipe.csv")  # opening it would block
    return "pipe.csv", NOT_REGULAR


@pytest.mark.parametrize("bad_entry", [link_outside, link_inside, undecodable_name, fifo])
def test_a_bad_entry_is_one_quarantine_row_and_the_rest_publishes_unchanged(
    settings, defs, instance, published, tmp_path, bad_entry
):
    name, reason = bad_entry(settings, tmp_path)
    launched = launch_job("orders_daily_job", DAYS, instance, definitions=defs)
    assert_one_reject(settings, instance, published, launched, name, reason)


def test_an_unreadable_file_is_one_quarantine_row_and_the_rest_publishes_unchanged(
    settings, defs, instance, published
):
    path = day_folder(settings, BAD_DAY) / "locked.csv"
    path.write_text(orders(BAD_DAY, 9000))
    with unreadable(path):
        launched = launch_job("orders_daily_job", DAYS, instance, definitions=defs)
    assert UNREADABLE == "cannot be read: Permission denied (EACCES)"
    assert_one_reject(settings, instance, published, launched, "locked.csv", UNREADABLE)
    again = launch_job("orders_daily_job", DAYS, instance, definitions=defs)  # now readable
    assert [asset.todo for asset in again.plan.assets][0] == [BAD_DAY]
    curated = read_table(settings, "SELECT count(*) AS n FROM curated.orders")["n"][0]
    assert curated == 4 * 60 and quarantined(settings) == []


def assert_one_reject(settings, instance, before, launched, name, reason) -> None:
    """The bad day alone was restaged; one reject names the entry; nothing else changed."""
    assert launched.success, describe(launched)
    staging = launched.plan.assets[0]
    assert staging.dataset == "staging/orders" and staging.todo == [BAD_DAY]
    assert quarantined(settings) == [(dt.date.fromisoformat(BAD_DAY), name, 0, reason, "")]
    after = tables(settings)
    assert {t: after[t] for t in TABLES[:2]} == {t: before[t] for t in TABLES[:2]}
    assert any(name in line and reason in line for line in run_logs(instance, launched))


def test_a_day_folder_that_is_a_link_blocks_that_day_and_retracts_nothing(
    settings, defs, instance, published, tmp_path
):
    folder = day_folder(settings, BAD_DAY)
    moved = tmp_path / "elsewhere" / folder.name
    moved.parent.mkdir()
    folder.rename(moved)
    folder.symlink_to(moved)  # the same files, outside the landing area
    launched = launch_job("orders_daily_job", DAYS, instance, definitions=defs)
    assert not launched.success
    assert launched.plan.assets[0].todo == [BAD_DAY]
    message = describe(launched, Ledger(defs.resources["warehouse"]))
    assert f"not published: curated/orders {BAD_DAY}: blocked by checks on staging/orders" in (
        message
    )
    assert "reject_rate failed (1 of 1 landing row(s) quarantined" in message
    assert quarantined(settings) == [
        (dt.date.fromisoformat(BAD_DAY), f"dt={BAD_DAY}", 0, DAY_LINK, "")
    ]
    after = tables(settings)
    assert {t: after[t] for t in TABLES[:2]} == {t: published[t] for t in TABLES[:2]}


def test_a_dataset_folder_that_is_a_link_is_refused_whole(settings, defs, instance, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / f"dt={DAYS[0]}").mkdir(parents=True)
    (elsewhere / f"dt={DAYS[0]}" / "cdc-1.csv").write_text(orders(DAYS[0], 1000))
    settings.landing_dir.mkdir(parents=True)
    (settings.landing_dir / "orders").symlink_to(elsewhere)
    store = LocalLanding(settings.landing_dir)
    for read in (store.partition_keys, store.files_by_day, lambda d: store.files(d, DAYS[0])):
        with pytest.raises(LandingRefused, match="is a symbolic link; links are not followed"):
            read("orders")
    with pytest.raises(LandingRefused):
        launch_job("orders_daily_job", DAYS, instance, definitions=defs)
    assert instance.get_runs() == []
    assert not settings.warehouse_path.exists()


def test_refused_entries_are_fingerprinted_by_name_and_problem_without_reading(settings, tmp_path):
    day_folder(settings, BAD_DAY).mkdir(parents=True)
    link_outside(settings, tmp_path)
    undecodable_name(settings, tmp_path)
    fifo(settings, tmp_path)
    store = LocalLanding(settings.landing_dir)
    files = store.files("orders", BAD_DAY)
    assert [(f.name, f.problem) for f in files] == [
        ("caf\\xe9.csv", BAD_NAME),
        ("evil.csv", LINK),
        ("pipe.csv", NOT_REGULAR),
    ]
    snapshot = store.snapshot("orders", BAD_DAY)
    assert [data for _, data in snapshot.contents] == [b"", b"", b""]
    assert snapshot.checksum == store.fingerprint(files)  # the planner's and the run's agree
    assert store.unchanged_since(snapshot)
    (day_folder(settings, BAD_DAY) / "evil.csv").unlink()
    assert store.fingerprint(store.files("orders", BAD_DAY)) != snapshot.checksum

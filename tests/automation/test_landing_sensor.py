"""The landing sensor, evaluated with build_sensor_context against real files."""

import datetime as dt
import os

import dagster as dg
import pytest

from platform_assets.automation.landing_cursor import load_cursor
from platform_assets.sample import SampleSpec, generate
from tests.conftest import START


@pytest.fixture
def sensor(defs):
    return defs.resolve_sensor_def("orders_landing_sensor")


@pytest.fixture
def evaluate(sensor, defs, settings):
    """Evaluate the sensor once with a cursor; return (run requests, new cursor)."""
    instance = dg.DagsterInstance.ephemeral()

    def tick(cursor: str | None):
        context = dg.build_sensor_context(
            cursor=cursor,
            instance=instance,
            definitions=defs,
            resources={"landing": defs.resources["landing"]},
        )
        result = sensor.evaluate_tick(context)
        return result.run_requests or [], result.cursor

    return tick


def day_folder(settings, day: str):
    return settings.landing_dir / "orders" / f"dt={day}"


def test_new_day_gives_one_request(settings, evaluate):
    generate(SampleSpec(START, 1, 50, 1), settings.data_dir)
    requests, cursor = evaluate(None)
    assert [r.partition_key for r in requests] == ["2024-01-01"]
    day, checksum = requests[0].run_key.split(":", 1)
    assert day == "2024-01-01" and checksum.startswith("xxh3:")
    assert load_cursor(cursor)["2024-01-01"].checksum == checksum


def test_same_files_again_give_no_request(settings, evaluate):
    generate(SampleSpec(START, 2, 50, 1), settings.data_dir)
    _, cursor = evaluate(None)
    requests, again = evaluate(cursor)
    assert requests == []
    assert again == cursor


def test_touched_files_are_reread_but_give_no_request(settings, evaluate):
    generate(SampleSpec(START, 1, 50, 1), settings.data_dir)
    _, cursor = evaluate(None)
    for path in day_folder(settings, "2024-01-01").iterdir():
        os.utime(path, ns=(1, 1))
    requests, touched = evaluate(cursor)
    assert requests == []
    assert touched != cursor
    assert load_cursor(touched)["2024-01-01"].checksum == load_cursor(cursor)["2024-01-01"].checksum


def test_changed_file_gives_one_new_request_with_new_run_key(settings, evaluate):
    generate(SampleSpec(START, 2, 50, 1), settings.data_dir)
    first, cursor = evaluate(None)
    target = sorted(day_folder(settings, "2024-01-02").glob("*.csv"))[0]
    with target.open("a") as handle:
        handle.write(
            "I,1,5,5,placed,1.00,USD,2024-01-02 01:00:00.000000,2024-01-02 01:00:00.000000\n"
        )
    requests, advanced = evaluate(cursor)
    assert [r.partition_key for r in requests] == ["2024-01-02"]
    old_key = next(r.run_key for r in first if r.partition_key == "2024-01-02")
    assert requests[0].run_key != old_key
    assert load_cursor(advanced)["2024-01-02"].checksum == requests[0].run_key.split(":", 1)[1]


def test_added_day_gives_a_request_for_that_day_only(settings, evaluate):
    generate(SampleSpec(START, 1, 50, 1), settings.data_dir)
    _, cursor = evaluate(None)
    generate(SampleSpec(START, 2, 50, 1), settings.data_dir)
    requests, advanced = evaluate(cursor)
    assert [r.partition_key for r in requests] == ["2024-01-02"]
    assert set(load_cursor(advanced)) == {"2024-01-01", "2024-01-02"}


def test_days_outside_the_partitions_are_ignored(settings, evaluate):
    day_folder(settings, "2019-12-31").mkdir(parents=True)
    (day_folder(settings, "2019-12-31") / "a.csv").write_text("op\n")
    day_folder(settings, "2999-01-01").mkdir(parents=True)
    requests, _ = evaluate(None)
    assert requests == []


def test_daily_schedule_targets_the_last_complete_day(defs):
    schedule = defs.resolve_schedule_def("orders_daily_job_nightly")
    fired_at = dt.datetime(2024, 3, 5, 1, 0, tzinfo=dt.UTC)
    context = dg.build_schedule_context(scheduled_execution_time=fired_at)
    requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert [r.partition_key for r in requests] == ["2024-03-04"]

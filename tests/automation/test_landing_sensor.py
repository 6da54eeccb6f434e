"""The landing sensor, evaluated with build_sensor_context against real files."""

import datetime as dt
import os

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.orchestration.automation.landing_cursor import load_cursor
from platform_assets.orchestration.automation.sensors import changed_days
from platform_assets.orchestration.planner import catalog_of
from platform_assets.settings import load_settings
from platform_assets.storage.landing_local import BAD_NAME, LINK, NOT_REGULAR, UNREADABLE
from platform_assets.tools.sample import SampleSpec, generate
from tests.conftest import START, request_span, requested_days
from tests.unreadable import unreadable

DELIVERED = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


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


def modified_at(settings, when: dt.datetime) -> None:
    """Set every landing file's modification time to ``when``."""
    for path in settings.landing_dir.rglob("*"):
        if path.is_file():
            os.utime(path, (when.timestamp(), when.timestamp()))


def deliver(settings, days: int) -> None:
    """Sample files for ``days`` days, written long enough ago to be past the quiet period."""
    generate(SampleSpec(START, days, 50, 1), settings.data_dir)
    modified_at(settings, dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))


def test_new_day_gives_one_request(settings, evaluate):
    deliver(settings, 1)
    requests, cursor = evaluate(None)
    assert [r.partition_key for r in requests] == ["2024-01-01"]
    day, checksum = requests[0].run_key.split(":", 1)
    assert day == "2024-01-01" and checksum.startswith("xxh3:")
    assert load_cursor(cursor)["2024-01-01"].checksum == checksum


def test_same_files_again_give_no_request(settings, evaluate):
    deliver(settings, 2)
    _, cursor = evaluate(None)
    requests, again = evaluate(cursor)
    assert requests == []
    assert again == cursor


def test_touched_files_are_reread_but_give_no_request(settings, evaluate):
    deliver(settings, 1)
    _, cursor = evaluate(None)
    for path in day_folder(settings, "2024-01-01").iterdir():
        os.utime(path, ns=(1, 1))
    requests, touched = evaluate(cursor)
    assert requests == []
    assert touched != cursor
    assert load_cursor(touched)["2024-01-01"].checksum == load_cursor(cursor)["2024-01-01"].checksum


def test_changed_file_gives_one_new_request_with_new_run_key(settings, evaluate):
    deliver(settings, 2)
    first, cursor = evaluate(None)
    target = sorted(day_folder(settings, "2024-01-02").glob("*.csv"))[0]
    with target.open("a") as handle:
        handle.write(
            "I,1,5,5,placed,1.00,USD,2024-01-02 01:00:00.000000,2024-01-02 01:00:00.000000\n"
        )
    modified_at(settings, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30))
    requests, advanced = evaluate(cursor)
    assert [r.partition_key for r in requests] == ["2024-01-02"]
    assert [r.partition_key_range for r in first] == [
        dg.PartitionKeyRange("2024-01-01", "2024-01-02")
    ]
    assert requests[0].run_key != first[0].run_key
    checksum = requests[0].tags["platform/input_checksum"]
    assert load_cursor(advanced)["2024-01-02"].checksum == checksum
    assert requests[0].run_key == f"2024-01-02:{checksum}:2"  # the day's second change


def test_a_day_that_goes_back_to_earlier_files_is_requested_again(settings, evaluate):
    generate(SampleSpec(START, 1, 50, 1), settings.data_dir)
    modified_at(settings, dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    target = sorted(day_folder(settings, "2024-01-01").glob("*.csv"))[0]
    original = target.read_bytes()
    first, cursor = evaluate(None)
    target.write_bytes(
        original + b"I,1,5,5,placed,1.00,USD,2024-01-01 01:00:00,2024-01-01 01:00:00\n"
    )
    modified_at(settings, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=40))
    second, cursor = evaluate(cursor)
    target.write_bytes(original)  # the correction is withdrawn: A -> B -> A
    modified_at(settings, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30))
    third, _ = evaluate(cursor)
    keys = [r.run_key for r in first + second + third]
    assert len(keys) == 3 and len(set(keys)) == 3  # the daemon would drop a repeated key
    assert third[0].tags["platform/input_checksum"] == first[0].tags["platform/input_checksum"]


def test_consecutive_new_days_are_one_run_over_their_range(tmp_path):
    """Three new days are one run over 01..03 (not three runs); with at most 2 days per run
    (PLATFORM_MAX_PARTITIONS_PER_RUN) they are two runs, 01..02 and 03; the keys are stable."""
    for limit, expected in [
        (None, [("2024-01-01", "2024-01-03")]),
        ("2", [("2024-01-01", "2024-01-02"), ("2024-01-03", "2024-01-03")]),
    ]:
        env = {"PLATFORM_DATA_DIR": str(tmp_path / f"data-{limit}")}
        if limit:
            env["PLATFORM_MAX_PARTITIONS_PER_RUN"] = limit
        settings = load_settings(env)
        deliver(settings, 3)
        defs = build_definitions(settings)
        requests = tick(defs, None).run_requests
        spans = [request_span(r) for r in requests]
        assert spans == expected
        assert [r.run_key for r in tick(defs, None).run_requests] == [r.run_key for r in requests]
        for request in requests:
            assert request.tags["platform/trigger"] == "landing_sensor"
            if request.partition_key_range:
                first, last = spans[requests.index(request)]
                assert request.run_key.startswith(f"{first}..{last}:")


def test_added_day_gives_a_request_for_that_day_only(settings, evaluate):
    deliver(settings, 1)
    _, cursor = evaluate(None)
    deliver(settings, 2)
    requests, advanced = evaluate(cursor)
    assert [r.partition_key for r in requests] == ["2024-01-02"]
    assert set(load_cursor(advanced)) == {"2024-01-01", "2024-01-02"}


def test_days_outside_the_partitions_are_named_and_never_requested(settings, defs, capfd):
    day_folder(settings, "2019-12-31").mkdir(parents=True)
    (day_folder(settings, "2019-12-31") / "a.csv").write_text("op\n")
    day_folder(settings, "2999-01-01").mkdir(parents=True)
    result = tick(defs, None)
    assert not result.run_requests
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    outside = (
        f"landing/orders dt=2019-12-31, dt=2999-01-01: outside the partitions "
        f"2024-01-01..{yesterday}; not requested"
    )
    assert result.skip_message == f"no landing/orders day changed; {outside}"
    assert outside in capfd.readouterr().err  # the tick's log


def tick(defs, cursor: str | None):
    """One evaluation of the landing sensor (errors raise)."""
    context = dg.build_sensor_context(
        cursor=cursor,
        instance=dg.DagsterInstance.ephemeral(),
        definitions=defs,
        resources={"landing": defs.resources["landing"]},
    )
    return defs.resolve_sensor_def("orders_landing_sensor").evaluate_tick(context)


def test_the_sensor_keeps_running_with_refused_entries_and_sees_them_fixed(settings, defs):
    deliver(settings, 2)
    folder = day_folder(settings, "2024-01-01")
    (folder / "evil.csv").symlink_to(settings.data_dir.parent / "nowhere.csv")  # dangling
    (folder / os.fsdecode(b"caf\xe9.csv")).write_text("op\n")
    os.mkfifo(folder / "pipe.csv")
    locked = folder / "locked.csv"
    locked.touch()  # empty: made readable, only its problem changes (not size nor mtime)
    delivered = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).timestamp()
    for path in folder.iterdir():
        os.utime(path, (delivered, delivered), follow_symlinks=False)
    with unreadable(locked):
        first = tick(defs, None)
        again = tick(defs, first.cursor)
    assert requested_days(first.run_requests) == ["2024-01-01", "2024-01-02"]
    store = defs.resources["landing"].store()
    with unreadable(locked):
        snapshot = store.snapshot("orders", "2024-01-01")  # what the requested run reads
    assert [(f.name, f.problem) for f in snapshot.files if f.problem] == [
        ("caf\\xe9.csv", BAD_NAME),
        ("evil.csv", LINK),
        ("locked.csv", UNREADABLE),
        ("pipe.csv", NOT_REGULAR),
    ]
    assert load_cursor(first.cursor)["2024-01-01"].checksum == snapshot.checksum
    assert not again.run_requests and again.cursor == first.cursor
    fixed = tick(defs, first.cursor)  # locked.csv is readable again
    assert [r.partition_key for r in fixed.run_requests] == ["2024-01-01"]


def test_a_dataset_folder_that_is_a_link_is_skipped_with_the_reason(settings, defs, tmp_path):
    deliver(settings, 1)
    cursor = tick(defs, None).cursor
    orders = settings.landing_dir / "orders"
    orders.rename(tmp_path / "moved")
    orders.symlink_to(tmp_path / "moved")
    result = tick(defs, cursor)
    assert not result.run_requests  # no day is withdrawn
    assert result.cursor == cursor
    assert result.skip_message.startswith(f"landing folder {orders} is a symbolic link; links")


def test_a_day_is_requested_once_its_files_have_been_quiet(settings, defs):
    generate(SampleSpec(START, 1, 50, 1), settings.data_dir)
    modified_at(settings, DELIVERED)
    landing, valid = defs.resources["landing"], {"2024-01-01"}

    def tick(cursor, now, quiet_s=10):
        changes = changed_days(landing, "orders", valid, cursor, now=now, quiet_s=quiet_s)
        assert changes[3] == []  # no day outside the partitions
        return changes[:3]

    assert tick({}, DELIVERED) == ([], {}, {"2024-01-01": 0.0})
    assert tick({}, DELIVERED + dt.timedelta(seconds=9.5)) == ([], {}, {"2024-01-01": 9.5})
    requests, cursor, waiting = tick({}, DELIVERED + dt.timedelta(seconds=10))
    assert [day for day, _ in requests] == ["2024-01-01"] and waiting == {}
    assert cursor["2024-01-01"].checksum == requests[0][1]
    assert tick({}, DELIVERED, quiet_s=0) == (requests, cursor, {})


def test_the_sensor_waits_for_a_day_still_being_written(tmp_path, capfd):
    env = {"PLATFORM_DATA_DIR": str(tmp_path / "data"), "PLATFORM_LANDING_QUIET_S": "3600"}
    settings = load_settings(env)
    defs = build_definitions(settings)
    generate(SampleSpec(START, 1, 50, 1), settings.data_dir)  # modified just now
    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(),
        definitions=defs,
        resources={"landing": defs.resources["landing"]},
    )
    result = defs.resolve_sensor_def("orders_landing_sensor").evaluate_tick(context)
    assert not result.run_requests
    assert load_cursor(result.cursor) == {}
    assert result.skip_message == "landing/orders 2024-01-01 still changing; waiting"
    logged = capfd.readouterr().err  # dagster's own handler, not propagated to caplog
    assert "landing/orders 2024-01-01: files still changing (newest modified" in logged
    assert "quiet period 3600s); waiting" in logged


def test_the_quiet_period_defaults_to_10s_locally_and_0_on_s3():
    assert load_settings({}).landing_quiet_s == 10
    s3 = {"PLATFORM_STORAGE": "s3", "PLATFORM_S3_BUCKET": "b"}
    assert load_settings(s3).landing_quiet_s == 0
    assert load_settings({**s3, "PLATFORM_LANDING_QUIET_S": "2.5"}).landing_quiet_s == 2.5
    for bad in ("-1", "nan"):
        with pytest.raises(ValueError, match="PLATFORM_LANDING_QUIET_S"):
            load_settings({"PLATFORM_LANDING_QUIET_S": bad})


def test_daily_schedule_targets_the_last_complete_day(defs):
    schedule = defs.resolve_schedule_def("orders_daily_job_nightly")
    fired_at = dt.datetime(2024, 3, 5, 1, 0, tzinfo=dt.UTC)
    context = dg.build_schedule_context(scheduled_execution_time=fired_at)
    requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert [r.partition_key for r in requests] == ["2024-03-04"]


def test_every_datasets_sensor_requests_its_job_for_each_new_day(settings, defs):
    """Each dataset's landing sensor (one per declared dataset, from the declarations) asks
    for a run of its own job over the delivered days."""
    deliver(settings, 2)
    sensors = [s for s in defs.sensors if s.name.endswith("_landing_sensor")]
    assert len(sensors) == len(catalog_of(defs).jobs)
    for sensor in sensors:
        context = dg.build_sensor_context(
            instance=dg.DagsterInstance.ephemeral(),
            definitions=defs,
            resources={"landing": defs.resources["landing"]},
        )
        requests = sensor.evaluate_tick(context).run_requests or []
        dataset = sensor.name.removesuffix("_landing_sensor")
        assert sensor.job_name == f"{dataset}_daily_job"
        assert requested_days(requests) == ["2024-01-01", "2024-01-02"], sensor.name
        assert len(requests) == 1, sensor.name  # one run over both days

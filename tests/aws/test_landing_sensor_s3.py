"""The landing sensor on S3 (moto server): listing with ETags, no downloads."""

import datetime as dt

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.orchestration.automation.landing_cursor import DayState, load_cursor
from platform_assets.orchestration.automation.sensors import changed_days
from platform_assets.orchestration.resources_s3 import RetryingS3Resource, S3LandingResource
from platform_assets.tools.sample import SampleSpec, generate
from tests.aws.fault_proxy import FaultProxy
from tests.conftest import START, requested_days
from tests.s3 import upload_tree

PREFIX = "env/prod/landing"


@pytest.fixture
def evaluate(s3_settings):
    """Evaluate the orders landing sensor once with a cursor; return (requests, new cursor)."""
    defs = build_definitions(s3_settings)
    sensor = defs.resolve_sensor_def("orders_landing_sensor")
    instance = dg.DagsterInstance.ephemeral()

    def tick(cursor: str | None):
        with dg.build_sensor_context(  # a context manager: the landing nests S3Resource
            cursor=cursor,
            instance=instance,
            definitions=defs,
            resources={"landing": defs.resources["landing"]},
        ) as context:
            result = sensor.evaluate_tick(context)
        return result.run_requests or [], result.cursor

    return tick


@pytest.fixture
def sample(tmp_path):
    """Two days of sample files on local disk, to upload."""
    root = tmp_path / "sample"
    generate(SampleSpec(START, 2, 50, 1), root)
    return root / "landing"


def test_new_day_then_same_objects(s3, bucket, sample, evaluate):
    requests, cursor = evaluate(None)
    assert requests == []
    upload_tree(s3, bucket, sample / "orders" / "dt=2024-01-01", f"{PREFIX}/orders/dt=2024-01-01")

    requests, cursor = evaluate(cursor)
    assert [r.partition_key for r in requests] == ["2024-01-01"]
    day, checksum = requests[0].run_key.split(":", 1)
    assert day == "2024-01-01" and checksum.startswith("xxh3:")
    assert load_cursor(cursor)["2024-01-01"] == DayState(stat=checksum, checksum=checksum)

    again, same = evaluate(cursor)
    assert again == []
    assert same == cursor


def test_reuploaded_identical_objects_give_no_request_changed_one_does(
    s3, bucket, sample, evaluate
):
    upload_tree(s3, bucket, sample, PREFIX)
    first, cursor = evaluate(None)
    assert requested_days(first) == ["2024-01-01", "2024-01-02"]

    upload_tree(s3, bucket, sample, PREFIX)  # the same bytes delivered again
    requests, cursor = evaluate(cursor)
    assert requests == []

    key = (
        f"{PREFIX}/orders/dt=2024-01-02/"
        + sorted(p.name for p in (sample / "orders" / "dt=2024-01-02").iterdir())[0]
    )
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    extra = b"I,1,5,5,placed,1.00,USD,2024-01-02 01:00:00.000000,2024-01-02 01:00:00.000000\n"
    s3.put_object(Bucket=bucket, Key=key, Body=body + extra)
    requests, _ = evaluate(cursor)
    assert [r.partition_key for r in requests] == ["2024-01-02"]
    assert requests[0].run_key not in {r.run_key for r in first}


@pytest.fixture
def counting_proxy(aws_env, monkeypatch):
    """A pass-through proxy in front of moto that counts the requests it forwards."""
    with FaultProxy(aws_env) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        yield proxy


def test_a_tick_lists_the_whole_dataset_in_one_request(s3, bucket, tmp_path, counting_proxy):
    root = tmp_path / "many"
    generate(SampleSpec(START, 12, 20, 3), root)
    upload_tree(s3, bucket, root / "landing", PREFIX)
    landing = S3LandingResource(
        s3=RetryingS3Resource(endpoint_url=counting_proxy.url), bucket=bucket, prefix="env/prod"
    )
    valid = {(START + dt.timedelta(days=n)).isoformat() for n in range(12)}
    before = counting_proxy.requests
    now = dt.datetime.now(dt.UTC)
    requests, cursor, _, _ = changed_days(landing, "orders", valid, {}, now=now, quiet_s=0)
    assert counting_proxy.requests - before == 1, "one ListObjectsV2 for 12 days, no GetObject"
    assert [day for day, _ in requests] == sorted(valid)
    store = landing.store()
    assert {day: state.checksum for day, state in cursor.items()} == {
        day: store.fingerprint(store.files("orders", day)) for day in sorted(valid)
    }
    _, _, waiting, _ = changed_days(landing, "orders", valid, {}, now=now, quiet_s=3600)
    assert set(waiting) == valid, "objects uploaded just now (LastModified) are not yet quiet"


def test_flat_listing_matches_day_by_day_listing(s3, bucket, sample, s3_settings):
    upload_tree(s3, bucket, sample, PREFIX)
    extras = {
        f"{PREFIX}/orders/dt=2024-01-01/.hidden.csv": b"x",  # hidden: not a landing file
        f"{PREFIX}/orders/dt=2024-01-01/nested/cdc.csv": b"x",  # deeper than the day
        f"{PREFIX}/orders/dt=2024-13-01/cdc.csv": b"x",  # not a date
        f"{PREFIX}/orders/notes.txt": b"x",  # not a day prefix
        f"{PREFIX}/orders/dt=2024-01-05/cdc.csv.part": b"x",  # a day holding only a partial upload
    }
    for key, body in extras.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    store = build_definitions(s3_settings).resources["landing"].store()
    by_day = store.files_by_day("orders")
    assert (
        list(by_day)
        == store.partition_keys("orders")
        == [
            "2024-01-01",
            "2024-01-02",
            "2024-01-05",
        ]
    )
    for day, files in by_day.items():
        assert [(f.key, f.size, f.etag) for f in files] == [
            (f.key, f.size, f.etag) for f in store.files("orders", day)
        ]
    assert by_day["2024-01-05"] == []

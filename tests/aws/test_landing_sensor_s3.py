"""The landing sensor on S3 (moto server): listing with ETags, no downloads."""

import dagster as dg
import pytest

from platform_assets.automation.landing_cursor import DayState, load_cursor
from platform_assets.definitions import build_definitions
from platform_assets.sample import SampleSpec, generate
from tests.aws.conftest import upload_tree
from tests.conftest import START

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
    assert sorted(r.partition_key for r in first) == ["2024-01-01", "2024-01-02"]

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
    old_key = next(r.run_key for r in first if r.partition_key == "2024-01-02")
    assert requests[0].run_key != old_key

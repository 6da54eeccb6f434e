"""S3 faults between the platform and S3: moto's server behind a fault-injecting proxy.

Throttling (503 SlowDown), reset connections and stalled requests are retried with
backoff by the client the platform builds (``PLATFORM_S3_*`` settings); a fault that
outlasts ``PLATFORM_S3_MAX_ATTEMPTS`` fails after exactly that many requests with an
error naming the bucket and key; credentials never reach logs, events or metadata.
"""

import re

import boto3
import botocore.exceptions
import dagster as dg
import pytest
from dagster._serdes import serialize_value

from platform_assets.definitions import build_definitions, build_landing
from platform_assets.settings import load_settings
from platform_assets.storage.landing_s3 import S3LandingError
from platform_assets.tools.sample import SampleSpec, generate
from tests.aws.fault_proxy import FAULTS, FaultProxy
from tests.conftest import START, read_table
from tests.s3 import upload_tree

DAY = "2024-01-02"
PREFIX = "env/prod"
MAX_ATTEMPTS = 4
READ_TIMEOUT_S = 1.0
FAULTS_PER_REQUEST = 2  # below MAX_ATTEMPTS: every request ends up answered
ACCESS_KEY = "AKIACANARYFAULT7QX2M"
SECRET_KEY = "canarySecret/Zq9xWv3Lm8Tr5Yp2Ks7Hd4Jb6Nf1Gc0Vu"


def proxied_settings(
    data_dir,
    bucket: str,
    endpoint: str,
    retry_mode: str = "standard",
    *,
    max_attempts: int = MAX_ATTEMPTS,
    read_timeout_s: float = READ_TIMEOUT_S,
):
    """S3 settings whose clients go through ``endpoint`` with short, testable limits."""
    return load_settings(
        {
            "PLATFORM_DATA_DIR": str(data_dir),
            "PLATFORM_STORAGE": "s3",
            "PLATFORM_S3_BUCKET": bucket,
            "PLATFORM_S3_PREFIX": PREFIX,
            "AWS_ENDPOINT_URL": endpoint,
            "PLATFORM_S3_MAX_ATTEMPTS": str(max_attempts),
            "PLATFORM_S3_RETRY_MODE": retry_mode,
            "PLATFORM_S3_CONNECT_TIMEOUT_S": "2",
            "PLATFORM_S3_READ_TIMEOUT_S": str(read_timeout_s),
        }
    )


def upload_sample(tmp_path, s3, bucket: str, days: int = 3) -> None:
    """Generate ``days`` days of sample landing files and put them under the prefix."""
    generate(SampleSpec(START, days, 100, 7), tmp_path / "sample")
    upload_tree(s3, bucket, tmp_path / "sample" / "landing", f"{PREFIX}/landing")


@pytest.fixture
def proxy(aws_env, monkeypatch):
    """A fault proxy in front of moto; ``AWS_ENDPOINT_URL`` points at it."""
    with FaultProxy(aws_env, stall_s=30) as fault_proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", fault_proxy.url)
        yield fault_proxy


@pytest.fixture
def landed(tmp_path, s3, bucket) -> str:
    """Three sample days in the bucket (uploaded straight to moto); returns the bucket."""
    upload_sample(tmp_path, s3, bucket)
    return bucket


def store_for(tmp_path, bucket: str, proxy: FaultProxy, retry_mode: str = "standard"):
    """The landing store exactly as the platform builds it, through the proxy."""
    settings = proxied_settings(tmp_path / "data", bucket, proxy.url, retry_mode)
    return build_landing(settings).store()


def through(proxy: FaultProxy, fault: str | None, call):
    """Run ``call`` with the next requests faulted; return (result, requests it took)."""
    if fault:
        proxy.inject(fault, FAULTS_PER_REQUEST)
    before = proxy.requests
    result = call()
    proxy.clear()
    return result, proxy.requests - before


def day_snapshot(proxy: FaultProxy, store, fault: str | None) -> tuple[tuple, list[int]]:
    """List, fingerprint and read one day, each request under ``fault``; result + requests."""
    days, listing_days = through(proxy, fault, lambda: store.partition_keys("orders"))
    files, listing_files = through(proxy, fault, lambda: store.files("orders", DAY))
    contents, reads = {}, []
    for landing_file in files:
        contents[landing_file.name], taken = through(proxy, fault, landing_file.read_bytes)
        reads.append(taken)
    result = (days, store.fingerprint(files), contents)
    return result, [listing_days, listing_files, *reads]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("fault", "retry_mode"),
    [*((fault, "standard") for fault in FAULTS), ("slowdown", "adaptive")],
)
def test_transient_faults_are_retried_to_the_same_result(
    tmp_path, proxy, landed, fault, retry_mode
):
    store = store_for(tmp_path, landed, proxy, retry_mode)
    clean, clean_requests = day_snapshot(proxy, store, None)
    assert clean_requests == [1] * len(clean_requests)
    assert clean[0] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert len(clean[2]) >= 3 and all(body.startswith(b"op,") for body in clean[2].values())

    faulted, faulted_requests = day_snapshot(proxy, store, fault)
    assert faulted == clean
    assert faulted_requests == [1 + FAULTS_PER_REQUEST] * len(clean_requests)
    assert proxy.faults_served == FAULTS_PER_REQUEST * len(clean_requests)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fault", FAULTS)
def test_a_persistent_fault_fails_naming_the_object(tmp_path, proxy, landed, fault):
    store = store_for(tmp_path, landed, proxy)
    first = store.files("orders", DAY)[0]

    proxy.inject(fault, 100)
    before = proxy.requests
    with pytest.raises(S3LandingError, match=re.escape(f"GetObject s3://{landed}/{first.key}")):
        first.read_bytes()
    assert proxy.requests - before == MAX_ATTEMPTS

    before = proxy.requests
    day_prefix = f"s3://{landed}/{PREFIX}/landing/orders/dt={DAY}/"
    with pytest.raises(S3LandingError, match=re.escape(f"ListObjectsV2 {day_prefix}")):
        store.files("orders", DAY)
    assert proxy.requests - before == MAX_ATTEMPTS

    proxy.clear()
    assert first.read_bytes()  # the store works again once the fault is gone


def test_a_definite_answer_is_not_retried_and_names_the_object(tmp_path, s3, proxy, landed):
    store = store_for(tmp_path, landed, proxy)
    first = store.files("orders", DAY)[0]
    s3.put_object(Bucket=landed, Key=first.key, Body=b"op,seq\nU,2\n")  # replaced since listing
    before = proxy.requests
    with pytest.raises(botocore.exceptions.ClientError, match="PreconditionFailed") as raised:
        first.read_bytes()
    assert f"S3 GetObject s3://{landed}/{first.key}" in raised.value.__notes__
    assert proxy.requests - before == 1


@pytest.mark.timeout(300)
def test_credentials_never_reach_events_metadata_or_output(
    tmp_path, moto_endpoint, monkeypatch, capfd
):
    for name, value in {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    bucket = "credentials-canary"
    s3.create_bucket(Bucket=bucket)
    upload_sample(tmp_path, s3, bucket)
    instance = dg.DagsterInstance.ephemeral()

    ok_settings = proxied_settings(tmp_path / "data", bucket, moto_endpoint)
    job = build_definitions(ok_settings).resolve_job_def("orders_daily_job")
    succeeded = job.execute_in_process(partition_key=DAY, instance=instance)
    assert succeeded.success

    with FaultProxy(moto_endpoint) as proxy:  # a failing run: its error text is logged too
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        failing_settings = proxied_settings(tmp_path / "data", bucket, proxy.url)
        job = build_definitions(failing_settings).resolve_job_def("orders_daily_job")
        proxy.inject("reset", 1000)
        failed = job.execute_in_process(
            partition_key="2024-01-03", instance=instance, raise_on_error=False
        )
    assert not failed.success

    records = [
        serialize_value(entry)
        for result in (succeeded, failed)
        for entry in instance.all_logs(result.run_id)
    ]
    runs = [serialize_value(instance.get_run_by_id(r.run_id)) for r in (succeeded, failed)]
    ledger = read_table(ok_settings, "SELECT * FROM platform.pipeline_runs")
    captured = capfd.readouterr()
    haystack = "\n".join([*records, *runs, str(ledger.rows()), captured.out, captured.err])

    assert "ASSET_MATERIALIZATION" in haystack and f"s3://{bucket}/" in haystack  # searched
    assert any("S3LandingError" in record for record in records)  # the failure was logged
    for secret in (ACCESS_KEY, SECRET_KEY):
        assert secret not in haystack

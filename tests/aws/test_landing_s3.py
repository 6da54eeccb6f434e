"""The S3 landing store against moto's standalone S3 server: listing, reading, fingerprints."""

import botocore.exceptions
import pytest

from platform_assets.core.partition_keys import InvalidPartitionKey
from platform_assets.storage.landing_s3 import S3Landing

ROOT = "env/prod/landing"


def put(s3, bucket: str, key: str, body: bytes = b"op,seq\nI,1\n") -> None:
    s3.put_object(Bucket=bucket, Key=f"{ROOT}/{key}", Body=body)


class CountingClient:
    """A boto3 client proxy that records which operations were called."""

    def __init__(self, client):
        self.client = client
        self.calls: list[str] = []

    def __getattr__(self, name):
        self.calls.append(name)
        return getattr(self.client, name)


@pytest.fixture
def landed(s3, bucket) -> S3Landing:
    """Three days, ignored names, a nested prefix and folders that are not dates."""
    for key in [
        "orders/dt=2024-01-01/cdc-2.csv",
        "orders/dt=2024-01-01/cdc-1.parquet",
        "orders/dt=2024-01-01/.cdc-3.csv.tmp",
        "orders/dt=2024-01-01/.hidden.csv",
        "orders/dt=2024-01-01/notes.txt",
        "orders/dt=2024-01-01/nested/cdc-9.csv",
        "orders/dt=2024-01-02/cdc-1.csv",
        "orders/dt=2024-01-03/cdc-1.csv",
        "orders/dt=2024-02-30/cdc-1.csv",
        "orders/dt=yesterday/cdc-1.csv",
        "orders/misc/cdc-1.csv",
        "customers/dt=2024-01-05/snapshot.csv",
    ]:
        put(s3, bucket, key)
    return S3Landing(s3, bucket, ROOT, page_size=2)


def test_partition_keys_are_valid_days_in_order(landed):
    assert landed.partition_keys("orders") == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert landed.partition_keys("customers") == ["2024-01-05"]
    assert landed.partition_keys("nothing") == []


def test_files_keep_data_files_in_name_order(landed):
    files = landed.files("orders", "2024-01-01")
    assert [f.name for f in files] == ["cdc-1.parquet", "cdc-2.csv"]
    assert all(f.size == len(b"op,seq\nI,1\n") and len(f.etag) == 32 for f in files)
    assert files[1].key == f"{ROOT}/orders/dt=2024-01-01/cdc-2.csv"
    assert files[1].path.suffix == ".csv"
    assert files[1].read_bytes() == b"op,seq\nI,1\n"
    assert landed.files("orders", "2024-01-09") == []


def test_listing_pages_through_many_objects(s3, bucket):
    names = [f"cdc-{i:04d}.csv" for i in range(25)]
    for name in reversed(names):
        put(s3, bucket, f"orders/dt=2024-01-01/{name}")
    for day in range(1, 8):
        put(s3, bucket, f"orders/dt=2024-01-{day:02d}/extra.csv")
    store = S3Landing(s3, bucket, ROOT, page_size=3)
    assert [f.name for f in store.files("orders", "2024-01-01")] == [*names, "extra.csv"]
    assert store.partition_keys("orders") == [f"2024-01-{d:02d}" for d in range(1, 8)]


@pytest.mark.parametrize("key", ["../x", "2024-01-01/../../etc", "2024-1-1", ""])
def test_partition_keys_are_validated_before_listing(landed, key):
    with pytest.raises(InvalidPartitionKey):
        landed.files("orders", key)


def test_fingerprint_follows_content_not_uploads(s3, bucket):
    put(s3, bucket, "orders/dt=2024-01-01/a.csv", b"op,seq\nI,1\n")
    put(s3, bucket, "orders/dt=2024-01-01/b.csv", b"op,seq\nI,2\n")
    counting = CountingClient(s3)
    store = S3Landing(counting, bucket, ROOT)

    def fingerprint() -> str:
        return store.fingerprint(store.files("orders", "2024-01-01"))

    first = fingerprint()
    assert first.startswith("xxh3:")
    put(s3, bucket, "orders/dt=2024-01-01/a.csv", b"op,seq\nI,1\n")  # same bytes again
    assert fingerprint() == first
    put(s3, bucket, "orders/dt=2024-01-01/a.csv", b"op,seq\nI,9\n")  # same size, new bytes
    changed = fingerprint()
    assert changed != first
    put(s3, bucket, "orders/dt=2024-01-01/c.csv")
    assert fingerprint() not in {first, changed}
    assert "get_object" not in counting.calls  # ETag and size come from the listing
    assert store.fingerprint([]) == "empty"


def test_reading_an_object_replaced_since_listing_is_refused(s3, bucket):
    put(s3, bucket, "orders/dt=2024-01-01/a.csv", b"op,seq\nI,1\n")
    store = S3Landing(s3, bucket, ROOT)
    [listed] = store.files("orders", "2024-01-01")
    put(s3, bucket, "orders/dt=2024-01-01/a.csv", b"op,seq\nU,2\n")
    with pytest.raises(botocore.exceptions.ClientError, match="PreconditionFailed"):
        listed.read_bytes()
    [again] = store.files("orders", "2024-01-01")
    assert again.read_bytes() == b"op,seq\nU,2\n"

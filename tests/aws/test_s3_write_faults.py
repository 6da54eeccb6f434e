"""S3 faults on the write paths: the lake's single-PUT partitions and Delta commits.

moto's server sits behind the fault-injecting proxy, as in ``test_s3_faults.py``. The
lake's PUT and GET are retried by botocore (``RetryingS3Resource``); Delta writes by
delta-rs (object_store) with the retry budget of :func:`delta_storage_options`.

Tables are checked through a second store straight on moto (not through the proxy): it
is the fault-free reader, and delta-rs holds the GIL in some calls (``history()``),
which would starve the in-process proxy's threads. Each faulted write is repeated on a
twin table under another root without faults: the faulted table must equal it.

What delta-rs guarantees and what it does not: data files and a commit answered ``503``
are retried; a commit PUT (put-if-absent of the next log entry) whose connection is reset
is not retried, because the server may have applied it. The write then raises, and the
table is at the previous version or at exactly one new version holding the whole write
(never partial, never twice); rerunning the write, as a run retry does, converges.
"""

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
import pytest
from deltalake.exceptions import DeltaError
from polars.testing import assert_frame_equal

from platform_assets.definitions import build_lake
from platform_assets.settings import Settings
from platform_assets.storage.delta_location import (
    delta_storage_options,
    s3_root,
    s3_storage_options,
)
from platform_assets.storage.delta_store import DeltaTableStore
from tests.aws.fault_proxy import LOST_ANSWER, FaultProxy
from tests.aws.test_s3_faults import proxied_settings
from tests.io.workload import (
    CURRENT,
    CURRENT_KEY,
    DAY_COLUMN,
    MART,
    ORDERING,
    entity_rows,
    mart_rows,
)

D1, D2, D3 = dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)
MAX_ATTEMPTS = 5
READ_TIMEOUT_S = 1.5
LAKE_FAULTS = ["slowdown", "slowdown", "reset", "reset"]  # then the last attempt succeeds
DATA_PUT = r"\.parquet$"
COMMIT_PUT = r"/_delta_log/\d{20}\.json$"


def settings_through(data_dir, bucket: str, endpoint: str) -> Settings:
    """S3 settings through ``endpoint`` with this file's attempt and timeout limits."""
    return proxied_settings(
        data_dir, bucket, endpoint, max_attempts=MAX_ATTEMPTS, read_timeout_s=READ_TIMEOUT_S
    )


@pytest.fixture
def proxy(aws_env, monkeypatch):
    """A fault proxy in front of moto; ``AWS_ENDPOINT_URL`` points at it."""
    with FaultProxy(aws_env, stall_s=30) as fault_proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", fault_proxy.url)
        yield fault_proxy


def through(proxy: FaultProxy, faults: list[str], call: Callable):
    """Run ``call`` with the next requests given ``faults``; (result, requests it took)."""
    proxy.inject_sequence(faults)
    before = proxy.requests
    result = call()
    proxy.clear()
    return result, proxy.requests - before


# --- the lake: one PUT per staged partition --------------------------------------------


@pytest.mark.timeout(120)
def test_a_staged_partition_is_written_and_read_back_through_faults(tmp_path, proxy, bucket, s3):
    settings = settings_through(tmp_path / "data", bucket, proxy.url)
    lake = build_lake(settings).store()
    frame = mart_rows(D2, 0, 2_000)
    clean, faulted = "orders/dt=2024-01-02/part-00000.parquet", "orders/dt=2024-01-03/p.parquet"

    clean_checksum, clean_requests = through(proxy, [], lambda: lake.write_parquet(clean, frame))
    checksum, requests = through(proxy, LAKE_FAULTS, lambda: lake.write_parquet(faulted, frame))
    assert (clean_requests, requests) == (1, 1 + len(LAKE_FAULTS))
    assert checksum == clean_checksum

    def stored(relpath: str) -> bytes:
        key = lake.uri(relpath).removeprefix(f"s3://{bucket}/")
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    assert stored(faulted) == stored(clean)
    read, requests = through(proxy, LAKE_FAULTS, lambda: lake.read_parquet([faulted]))
    assert requests == 1 + len(LAKE_FAULTS)
    assert_frame_equal(read, frame)
    assert proxy.faults_served == 2 * len(LAKE_FAULTS)


# --- Delta tables: data files, then one commit -----------------------------------------


@dataclass
class Stores:
    """The store under test (through the proxy), its fault-free reader and a clean twin."""

    faulted: DeltaTableStore
    reader: DeltaTableStore
    clean: DeltaTableStore


@dataclass(frozen=True)
class Write:
    """One publish: a table, how to write it, its Delta operation and sort key."""

    table: str
    operation: str
    key: list[str]
    run: Callable[[DeltaTableStore], object]


WRITES = [
    Write(
        MART,
        "WRITE",
        [DAY_COLUMN, "line_id"],
        lambda store: store.overwrite_partition(MART, mart_rows(D2, 1, 300), DAY_COLUMN, D2, D3),
    ),
    Write(
        CURRENT,
        "MERGE",
        CURRENT_KEY,
        lambda store: store.merge_upsert(CURRENT, entity_rows(1, 100, 400), CURRENT_KEY, ORDERING),
    ),
]


def seed(store: DeltaTableStore) -> None:
    """Two days of mart rows and a first CDC batch: version 0 of each table."""
    days = pl.concat([mart_rows(D1, 0, 300), mart_rows(D2, 0, 300)])
    store.overwrite_partition(MART, days, DAY_COLUMN, D1, D3)
    store.merge_upsert(CURRENT, entity_rows(0, 0, 300), CURRENT_KEY, ORDERING)


@pytest.fixture
def stores(tmp_path, proxy, bucket, aws_env) -> Stores:
    """Seeded tables: the faulted root (written through the proxy) and a clean twin root."""
    settings = settings_through(tmp_path / "data", bucket, proxy.url)
    faulted_root, clean_root = f"{s3_root(settings)}/faulted", f"{s3_root(settings)}/clean"
    direct = s3_storage_options(aws_env)
    result = Stores(
        DeltaTableStore(faulted_root, delta_storage_options(settings)),
        DeltaTableStore(faulted_root, direct),
        DeltaTableStore(clean_root, direct),
    )
    seed(result.reader)
    seed(result.clean)
    return result


def assert_same_table(stores: Stores, write: Write) -> None:
    """The faulted table has the clean twin's version and rows."""
    assert stores.reader.load(write.table).version() == stores.clean.load(write.table).version()
    assert_frame_equal(
        stores.reader.read(write.table).sort(write.key),
        stores.clean.read(write.table).sort(write.key),
    )


def puts(proxy: FaultProxy, pattern: str) -> int:
    """How many PUTs the proxy saw to a path matching ``pattern``."""
    return sum(method == "PUT" and bool(re.search(pattern, path)) for method, path in proxy.log)


TRANSIENT = {  # (fault, how many requests get it, which requests): below MAX_ATTEMPTS
    "slowdown-data": ("slowdown", 2, DATA_PUT),
    "reset-data": ("reset", 2, DATA_PUT),
    "stall-data": ("stall", 1, DATA_PUT),
    "slowdown-commit": ("slowdown", 2, COMMIT_PUT),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", TRANSIENT.keys())
def test_transient_faults_commit_each_write_once(proxy, stores, case):
    fault, count, target = TRANSIENT[case]
    for write in WRITES:
        version = stores.reader.load(write.table).version()
        before, served = puts(proxy, target), proxy.faults_served
        proxy.inject_matching(fault, count, "PUT", target)
        write.run(stores.faulted)
        proxy.clear()
        write.run(stores.clean)

        assert proxy.faults_served - served == count
        assert puts(proxy, target) - before == 1 + count  # one PUT (one file, one commit)
        assert stores.reader.load(write.table).version() == version + 1
        history = stores.reader.history(write.table)  # newest first
        assert (len(history), history[0]["operation"]) == (version + 2, write.operation)
        assert_same_table(stores, write)


PERSISTENT = {  # more faults than MAX_ATTEMPTS: retried, then the write fails
    "slowdown-data": ("slowdown", DATA_PUT),
    "reset-data": ("reset", DATA_PUT),
    "slowdown-commit": ("slowdown", COMMIT_PUT),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", PERSISTENT.keys())
def test_a_persistent_fault_fails_the_write_and_leaves_the_table(proxy, stores, case):
    fault, target = PERSISTENT[case]
    for write in WRITES:
        version = stores.reader.load(write.table).version()
        before = puts(proxy, target)
        proxy.inject_matching(fault, 100, "PUT", target)
        with pytest.raises((DeltaError, OSError)) as raised:
            write.run(stores.faulted)
        proxy.clear()
        assert "SlowDown" in str(raised.value) or "error sending request" in str(raised.value)
        assert puts(proxy, target) - before == MAX_ATTEMPTS
        assert stores.reader.load(write.table).version() == version  # no commit at all
        assert_same_table(stores, write)  # the clean twin has not had the write either

        write.run(stores.faulted)  # the store works again once the fault is gone
        write.run(stores.clean)
        assert stores.reader.load(write.table).version() == version + 1
        assert_same_table(stores, write)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fault", ["reset", LOST_ANSWER])
def test_a_commit_put_cut_off_lands_once_or_not_at_all(proxy, stores, fault):
    """``reset``: the commit never reached S3; ``lost_answer``: S3 applied it, the answer was
    lost. delta-rs does not retry either (it cannot tell them apart) and raises; the table
    is then at the previous version or at exactly one new one, and a rerun converges."""
    landed = fault == LOST_ANSWER
    for write in WRITES:
        version = stores.reader.load(write.table).version()
        before = puts(proxy, COMMIT_PUT)
        proxy.inject_matching(fault, 1, "PUT", COMMIT_PUT)
        with pytest.raises(OSError, match="error sending request"):
            write.run(stores.faulted)
        proxy.clear()
        assert puts(proxy, COMMIT_PUT) - before == 1  # not retried
        assert stores.reader.load(write.table).version() == version + landed
        if landed:
            write.run(stores.clean)
        assert_same_table(stores, write)  # the whole write or none of it

        write.run(stores.faulted)  # the rerun a run retry makes
        if not landed:
            write.run(stores.clean)
        # a MERGE that changes nothing (its batch is already in) commits nothing
        rerun_commits = 0 if landed and write.operation == "MERGE" else 1
        assert stores.reader.load(write.table).version() == version + landed + rerun_commits
        assert_frame_equal(
            stores.reader.read(write.table).sort(write.key),
            stores.clean.read(write.table).sort(write.key),
        )

"""Delta-only behaviour of the Delta table store (S3 on moto).

What every store must do, Delta included, is the contract suite's (``tests/stores``,
run on this store too). Here is what only Delta has: a write is atomic because it is
one commit (so the table's versions show it), predicates are SQL text built from
validated values, delta-rs's optimistic commit protocol, and two places where
delta-rs 1.6.6's schema evolution makes the Delta table differ from the DuckDB one.
"""

import datetime as dt

import polars as pl
import pytest
from deltalake import write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError

from platform_assets.settings import load_settings
from platform_assets.storage.delta_sql import window_predicate
from platform_assets.storage.delta_store import DeltaTableStore
from platform_assets.storage.delta_tables import DeltaTables
from platform_assets.storage.strategies import PartitionWindowError
from platform_assets.storage.table_schema import SchemaDriftError
from tests.io.workload import (
    CURRENT,
    CURRENT_KEY,
    DAY_COLUMN,
    EPOCH,
    MART,
    entity_rows,
    mart_rows,
)
from tests.stores.backends import forbid_nulls
from tests.stores.writes import D1, D2, D3, ROWS, WRITES, days, entity_ids, mart, merge, with_a_null

ONE_DAY = dt.timedelta(days=1)


@pytest.fixture
def s3_store(aws_env, bucket) -> DeltaTableStore:
    """A store in a fresh bucket, configured as the pipeline configures it."""
    env = {
        "PLATFORM_STORAGE": "s3",
        "PLATFORM_S3_BUCKET": bucket,
        "PLATFORM_S3_PREFIX": "env/prod",
        "AWS_ENDPOINT_URL": aws_env,
    }
    return DeltaTableStore.from_settings(load_settings(env))


def test_partition_bounds_must_be_dates(s3_store):
    """The window becomes literals of a Delta predicate, so only ``datetime.date`` values
    (no datetimes, no strings) get there; DuckDB binds the values instead."""
    s3_store.overwrite_partition(MART, mart_rows(D1, 0, 10), DAY_COLUMN, D1, D2)
    for start, end in [(EPOCH, EPOCH + ONE_DAY), ("2024-01-02", "2024-01-03")]:
        with pytest.raises(TypeError, match="datetime.date"):
            s3_store.overwrite_partition(MART, mart_rows(D2, 0, 10).clear(), DAY_COLUMN, start, end)
    assert s3_store.load(MART).version() == 0


def test_each_write_is_one_commit_and_a_refused_write_none(s3_store):
    """Rule 2 on Delta: a write is one commit, so a reader sees the version before it or the
    one after it; a refused write commits nothing (a MERGE adding a column: see below)."""
    tables = DeltaTables(s3_store)
    tables.overwrite_partition(MART, mart({D1: 0, D2: 0}), DAY_COLUMN, days(D1, D2))
    tables.overwrite_partition(MART, mart_rows(D2, 1, ROWS), DAY_COLUMN, days(D2))
    tables.overwrite_partition(MART, mart_rows(D1, 0, ROWS).clear(), DAY_COLUMN, days(D1))
    merge(tables, entity_rows(0, 0, ROWS))
    merge(tables, entity_rows(1, ROWS // 2, ROWS))
    tables.replace_keys(CURRENT, entity_rows(2, 0, 10), CURRENT_KEY, entity_ids(*range(20)))
    tables.replace_all(CURRENT, entity_rows(3, 0, 10), CURRENT_KEY)
    with pytest.raises(PartitionWindowError):
        tables.overwrite_partition(MART, mart_rows(D3, 0, 5), DAY_COLUMN, days(D1))
    with pytest.raises(SchemaDriftError):
        merge(tables, entity_rows(4, 0, 5).drop("status"))
    with pytest.raises(ValueError, match="duplicate keys"):
        tables.replace_all(CURRENT, pl.concat([entity_rows(4, 0, 2)] * 2), CURRENT_KEY)

    mart_log, current_log = s3_store.history(MART), s3_store.history(CURRENT)  # newest first
    assert [h["operationParameters"].get("mode") for h in mart_log] == ["Overwrite"] * 2 + [
        "ErrorIfExists"
    ]
    assert mart_log[0]["operationParameters"]["predicate"] == (
        f"{DAY_COLUMN} >= '{D1}'::date AND {DAY_COLUMN} < '{D2}'::date"
    )
    assert [h["operation"] for h in current_log] == ["WRITE", "MERGE", "MERGE", "WRITE"]


@pytest.mark.parametrize("write", WRITES, ids=[w.name for w in WRITES])
def test_a_failed_write_that_adds_a_column_leaves_neither_rows_nor_column(s3_store, write):
    """On S3 as locally (``tests/stores``): the column a write adds is in the write's one
    commit, so a write failing inside delta-rs leaves the table's schema and rows as they
    were, and rerunning the write lands whole."""
    tables = DeltaTables(s3_store)
    write.seed(tables)
    forbid_nulls(tables, write.table, "status")
    before = tables.read(write.table).sort(write.key)
    frame = write.frame().with_columns(channel=pl.lit("web"))
    with pytest.raises(DeltaError, match="failed validation check"):
        write.run(tables, with_a_null(frame, "status"))
    assert tables.read(write.table).sort(write.key).equals(before)
    write.run(tables, frame)
    expected = write.expected(before, frame)
    got = tables.read(write.table).select(expected.columns)  # by name: see the next test
    assert got.sort(write.key).equals(expected.sort(write.key))


def test_an_added_column_puts_the_partition_column_behind_the_data_columns(s3_store):
    """delta-rs 1.6.6's schema merge moves a partition column behind the data columns, so
    after an overwrite adds a column the mart's columns are in another order than in DuckDB
    (which appends the new column). Every reader of the tables goes by column name."""
    tables = DeltaTables(s3_store)
    tables.overwrite_partition(MART, mart_rows(D1, 0, 10), DAY_COLUMN, (D1, D2))
    wider = mart_rows(D2, 0, 10).with_columns(channel=pl.lit("web"))
    tables.overwrite_partition(MART, wider, DAY_COLUMN, (D2, D3))
    data_columns = [c for c in mart_rows(D1, 0, 1).columns if c != DAY_COLUMN]
    assert tables.read(MART).columns == [*data_columns, DAY_COLUMN, "channel"]


def test_delta_rs_rebases_a_stale_commit_unless_it_touches_the_same_partition(s3_store):
    """The commit protocol the store relies on, made deterministic with two stale snapshots:
    a commit on another partition is rebased, one on the same partition fails (the store
    then reruns the write on the new snapshot; DuckDB writers queue on the file lock)."""
    s3_store.overwrite_partition(MART, mart_rows(D1, 0, 10), DAY_COLUMN, D1, D2)
    first, second = s3_store.load(MART), s3_store.load(MART)
    write_deltalake(
        first,
        mart_rows(D2, 0, 10),
        mode="overwrite",
        predicate=window_predicate(DAY_COLUMN, D2, D3),
    )
    write_deltalake(
        second,
        mart_rows(D3, 0, 10),
        mode="overwrite",
        predicate=window_predicate(DAY_COLUMN, D3, D3 + ONE_DAY),
    )
    assert s3_store.load(MART).version() == 2  # the stale commit was rebased onto version 1
    assert s3_store.read(MART).group_by(DAY_COLUMN).len().height == 3
    stale = s3_store.load(MART, version=1)
    with pytest.raises(CommitFailedError, match="concurrent"):
        write_deltalake(
            stale,
            mart_rows(D3, 1, 10),
            mode="overwrite",
            predicate=window_predicate(DAY_COLUMN, D3, D3 + ONE_DAY),
        )
    assert s3_store.load(MART).version() == 2

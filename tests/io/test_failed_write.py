"""DuckDB-only: a failed write releases the file lock and leaves its connection clean.

The published table declares ``amount`` NOT NULL, so a frame with one missing amount
passes the Python-side checks and the schema check, its DELETE runs, and DuckDB rejects
its INSERT: a real failure inside the transaction. That the table is left as it was is
the contract suite's, on every store (``tests/stores``); here is what only a DuckDB file
has: one writer process at a time (a leaked lock would block every later writer) and a
connection that outlives a failed transaction.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing

import duckdb
import polars as pl
import pytest

from platform_assets.storage.strategies import overwrite_partition
from platform_assets.storage.warehouse import connect
from tests.io.workload import MART, MART_KEY, frame_checksum, mart_rows, table_checksum
from tests.io.writer_child import WRITE_DAY, fail_then_wait, materialize

ROWS = 20_000
WINDOW = (WRITE_DAY, WRITE_DAY + dt.timedelta(days=1))
COLUMNS = mart_rows(WRITE_DAY, 0, 1).columns


def _create_mart(db) -> None:
    with connect(db) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute(
            "CREATE TABLE marts.daily_lines (business_date DATE, line_id BIGINT, "
            "customer_id BIGINT, status VARCHAR, currency VARCHAR, amount DECIMAL(18,2) NOT NULL)"
        )
        overwrite_partition(con, MART, mart_rows(WRITE_DAY, 0, ROWS), "business_date", WINDOW)


def _day_checksum(con) -> tuple[int, str]:
    return table_checksum(con, MART, COLUMNS, MART_KEY, ("business_date", "=", WRITE_DAY))


def test_insert_failure_after_delete_frees_the_file_while_the_process_lives_on(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    _create_mart(db)
    ctx = multiprocessing.get_context("spawn")
    results, release, go = ctx.Queue(), ctx.Event(), ctx.Event()
    failing = ctx.Process(target=fail_then_wait, args=(str(db), 1, ROWS, results, release))
    failing.start()
    try:
        outcome = results.get(timeout=60)
        assert outcome[0] == "failed", outcome
        assert outcome[1] == "ConstraintException" and "NOT NULL" in outcome[2], outcome
        assert failing.is_alive()  # the lock must be gone although the process lives on

        # no retry here: the file must be openable right now
        con = duckdb.connect(str(db), read_only=True)
        con.close()

        # another process opens it for writing with a short lock timeout and writes
        go.set()
        writer = ctx.Process(
            target=materialize,
            args=(str(db), WRITE_DAY.isoformat(), 2, ROWS, go, results, 2.0),
        )
        writer.start()
        assert results.get(timeout=60)[0] == "ready"
        done = results.get(timeout=60)
        writer.join(timeout=60)
        assert done[0] == "done", done
        assert done[3] < 1.0, f"waited {done[3]:.2f}s for a lock nobody should hold"
        assert writer.exitcode == 0
    finally:
        release.set()
        failing.join(timeout=60)
    with connect(db, read_only=True) as con:
        assert _day_checksum(con) == frame_checksum(mart_rows(WRITE_DAY, 2, ROWS), MART_KEY)


def test_a_failed_write_closes_its_connection_and_rolls_back_its_new_column(tmp_path):
    """DuckDB's ALTER TABLE joins the write's transaction; Delta commits a new column of
    a merge on its own (``tests/aws/test_delta_store.py``)."""
    db = tmp_path / "warehouse.duckdb"
    _create_mart(db)
    frame = mart_rows(WRITE_DAY, 1, ROWS).with_columns(
        amount=pl.when(pl.col("line_id") == 5).then(None).otherwise(pl.col("amount")),
        extra=pl.lit("new column"),
    )
    with pytest.raises(duckdb.ConstraintException, match="NOT NULL"):
        with connect(db) as con:
            overwrite_partition(con, MART, frame, "business_date", WINDOW)
    with pytest.raises(duckdb.ConnectionException):
        con.execute("SELECT 1")  # closed by connect() although the body raised
    with connect(db, timeout_s=1) as con:
        columns = [r[0] for r in con.execute("DESCRIBE marts.daily_lines").fetchall()]
        assert "extra" not in columns  # the ALTER TABLE was rolled back with the rest
        # the same connection is clean afterwards: no open transaction, no leftover relation
        with pytest.raises(duckdb.ConstraintException):
            overwrite_partition(con, MART, frame, "business_date", WINDOW)
        with pytest.raises(duckdb.CatalogException):
            con.execute("SELECT * FROM platform_incoming")
        result = overwrite_partition(
            con, MART, mart_rows(WRITE_DAY, 1, ROWS), "business_date", WINDOW
        )
        assert (result.rows_deleted, result.rows_in) == (ROWS, ROWS + ROWS // 100)
        assert _day_checksum(con) == frame_checksum(mart_rows(WRITE_DAY, 1, ROWS), MART_KEY)

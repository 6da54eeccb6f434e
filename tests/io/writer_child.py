"""Child-process side of the crash and concurrency tests (no test code runs here).

``python -m tests.io.writer_child crash <overwrite|merge> <db> <rows>`` and
``python -m tests.io.writer_child lake <root> <relpath> <rows>`` print ``ready``,
wait for ``go [<version>]`` on stdin, then write (the lake child in a loop until
killed), printing a timestamped marker (``<name> <time.monotonic()>``) before and
after each phase, so the parent knows where a SIGKILL landed. The functions
below ``main`` are targets for ``multiprocessing`` with the ``spawn`` start method.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import sys
import time
from pathlib import Path

import duckdb
import polars as pl

from platform_assets.storage.lake import LocalLake
from platform_assets.storage.strategies import merge_upsert, overwrite_partition
from platform_assets.storage.warehouse import connect
from tests.io.workload import (
    CURRENT,
    CURRENT_KEY,
    MART,
    ORDERING,
    entity_rows,
    mart_rows,
)

CRASH_DAY = dt.date(2024, 1, 2)
MERGE_SPLIT = 0.5  # keys below this share of the base are never touched by later batches


def marker(name: str) -> None:
    """Write one marker line straight to the stdout pipe (no buffering to lose on SIGKILL)."""
    os.write(1, f"{name} {time.monotonic():.6f}\n".encode())


def crash_frame(strategy: str, version: int, rows: int) -> pl.DataFrame:
    """What the crash child writes for ``version`` (the same function builds the expectations).

    Overwrite: three versions of one day, used in turn (consecutive ones always
    differ). Merge: version 0 is the base state (keys ``0..rows-1``), version 1 a
    newer batch over keys ``split..rows+split-1`` (updates, tombstones, new keys).
    """
    if strategy == "overwrite":
        return mart_rows(CRASH_DAY, version % 3, rows)
    if version == 0:
        return entity_rows(0, 0, rows)
    split = int(rows * MERGE_SPLIT)
    return entity_rows(version, split, rows + split)


def crash_write(con: duckdb.DuckDBPyConnection, strategy: str, frame: pl.DataFrame) -> None:
    """The write under test: one partition overwrite or one merge batch."""
    if strategy == "overwrite":
        window = (CRASH_DAY, CRASH_DAY + dt.timedelta(days=1))
        overwrite_partition(con, MART, frame, "business_date", window)
    else:
        merge_upsert(con, CURRENT, frame, CURRENT_KEY, ORDERING)


def _crash_child(strategy: str, db: Path, rows: int) -> None:
    marker("ready")
    line = sys.stdin.readline().split()
    if not line:
        return
    frame = crash_frame(strategy, int(line[1]), rows)
    marker("connecting")
    with connect(db, timeout_s=30) as con:
        marker("connected")
        marker("writing")
        crash_write(con, strategy, frame)
        marker("committed")
    marker("closed")


def lake_frame(version: int, rows: int) -> pl.DataFrame:
    """A staging-like partition file whose content depends on ``version``."""
    return entity_rows(version, 0, rows + version)


def _lake_child(root: Path, relpath: str, rows: int) -> None:
    lake = LocalLake(root)
    frames = [lake_frame(0, rows), lake_frame(1, rows)]
    marker("ready")
    if not sys.stdin.readline().strip():
        return
    for attempt in itertools.count(1):
        marker(f"writing-{attempt % 2}")
        lake.write_parquet(relpath, frames[attempt % 2])
        marker(f"written-{attempt % 2}")


def main(argv: list[str]) -> None:
    """Dispatch on the child kind."""
    kind, *args = argv
    if kind == "crash":
        strategy, db, rows = args
        _crash_child(strategy, Path(db), int(rows))
    elif kind == "lake":
        root, relpath, rows = args
        _lake_child(Path(root), relpath, int(rows))
    else:
        raise SystemExit(f"unknown child kind {kind!r}")


def materialize(
    db: str,
    strategy: str,
    day: str,
    version: int,
    rows: int,
    go,
    results,
    lock_timeout_s: float = 60.0,
) -> None:
    """Build a frame, wait for ``go``, then write it through ``connect``; report to ``results``.

    Reports the time spent waiting for the file lock and the times
    (``time.monotonic()``, comparable across processes) when the connection was
    open, when the write had committed (the lock still held) and when it was closed.
    """
    try:
        date = dt.date.fromisoformat(day)
        if strategy == "overwrite":
            frame = mart_rows(date, version, rows)
        else:
            frame = entity_rows(version, 0, rows)
        results.put(("ready", day, version))
        go.wait(timeout=60)
        asked = time.monotonic()
        with connect(Path(db), timeout_s=lock_timeout_s) as con:
            connected = time.monotonic()
            if strategy == "overwrite":
                window = (date, date + dt.timedelta(days=1))
                result = overwrite_partition(con, MART, frame, "business_date", window)
            else:
                result = merge_upsert(con, CURRENT, frame, CURRENT_KEY, ORDERING)
            written = time.monotonic()
        closed = time.monotonic()
        results.put(("done", day, version, connected - asked, connected, written, closed, result))
    except BaseException as exc:  # report everything; the parent fails the test
        results.put(("error", day, version, f"{type(exc).__name__}: {exc}"))
        raise


def fail_then_wait(db: str, version: int, rows: int, results, release) -> None:
    """Attempt an overwrite whose INSERT fails after the DELETE, report, then stay alive.

    The published table declares ``amount`` NOT NULL; one row of the new frame
    has no amount, so DuckDB rejects the INSERT inside the transaction.
    """
    frame = mart_rows(CRASH_DAY, version, rows).with_columns(
        amount=pl.when(pl.col("line_id") == rows // 2).then(None).otherwise(pl.col("amount"))
    )
    window = (CRASH_DAY, CRASH_DAY + dt.timedelta(days=1))
    try:
        with connect(Path(db), timeout_s=10) as con:
            overwrite_partition(con, MART, frame, "business_date", window)
        results.put(("no error",))
    except duckdb.Error as exc:
        results.put(("failed", type(exc).__name__, str(exc)))
    release.wait(timeout=60)  # keep this process (and anything it leaked) alive meanwhile


if __name__ == "__main__":
    main(sys.argv[1:])

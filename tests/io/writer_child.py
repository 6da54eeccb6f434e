"""Child-process side of the lake crash test and the DuckDB lock tests (no test code runs here).

``python -m tests.io.writer_child lake <root> <relpath> <rows>`` prints ``ready``, waits
for ``go`` on stdin, then writes in a loop until killed, printing a timestamped marker
(``<name> <time.monotonic()>``) before and after each write, so the parent knows where a
SIGKILL landed. The functions below ``main`` are targets for ``multiprocessing`` with the
``spawn`` start method. (The table stores' crash child is ``tests/stores/writer_child.py``.)
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
from platform_assets.storage.strategies import overwrite_partition
from platform_assets.storage.warehouse import connect
from tests.io.workload import DAY_COLUMN, MART, entity_rows, mart_rows

WRITE_DAY = dt.date(2024, 1, 2)


def marker(name: str) -> None:
    """Write one marker line straight to the stdout pipe (no buffering to lose on SIGKILL)."""
    os.write(1, f"{name} {time.monotonic():.6f}\n".encode())


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
    if kind == "lake":
        root, relpath, rows = args
        _lake_child(Path(root), relpath, int(rows))
    else:
        raise SystemExit(f"unknown child kind {kind!r}")


def materialize(
    db: str,
    day: str,
    version: int,
    rows: int,
    go,
    results,
    lock_timeout_s: float = 60.0,
) -> None:
    """Build a day of mart rows, wait for ``go``, then overwrite the day through ``connect``;
    report to ``results``.

    Reports the time spent waiting for the file lock and the times
    (``time.monotonic()``, comparable across processes) when the connection was
    open, when the write had committed (the lock still held) and when it was closed.
    """
    try:
        date = dt.date.fromisoformat(day)
        frame = mart_rows(date, version, rows)
        results.put(("ready", day, version))
        go.wait(timeout=60)
        asked = time.monotonic()
        with connect(Path(db), timeout_s=lock_timeout_s) as con:
            connected = time.monotonic()
            window = (date, date + dt.timedelta(days=1))
            result = overwrite_partition(con, MART, frame, DAY_COLUMN, window)
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
    frame = mart_rows(WRITE_DAY, version, rows).with_columns(
        amount=pl.when(pl.col("line_id") == rows // 2).then(None).otherwise(pl.col("amount"))
    )
    window = (WRITE_DAY, WRITE_DAY + dt.timedelta(days=1))
    try:
        with connect(Path(db), timeout_s=10) as con:
            overwrite_partition(con, MART, frame, DAY_COLUMN, window)
        results.put(("no error",))
    except duckdb.Error as exc:
        results.put(("failed", type(exc).__name__, str(exc)))
    release.wait(timeout=60)  # keep this process (and anything it leaked) alive meanwhile


if __name__ == "__main__":
    main(sys.argv[1:])

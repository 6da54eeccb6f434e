"""Child-process side of the store crash and concurrency tests (no test code runs here).

``python -m tests.stores.writer_child <kind> <location> <overwrite|merge> <day> <version> <rows>``
opens the store (:func:`tests.stores.backends.open_store`) and builds its frame, prints
``ready``, waits for a line on stdin (the start signal), prints ``writing``, writes through
the store, prints ``committed`` and then waits for stdin to close before it exits, so the
parent can kill it at any point of the write, right after it included. Markers are
``<name> <time.monotonic()>`` lines written straight to the stdout pipe (none is lost on SIGKILL).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time

import polars as pl

from platform_assets.storage.table_store import TableStore
from tests.io.workload import (
    CURRENT,
    CURRENT_KEY,
    DAY_COLUMN,
    MART,
    ORDERING,
    entity_rows,
    mart_rows,
)
from tests.stores.backends import open_store


def marker(name: str) -> None:
    """Write one marker line to the stdout pipe (unbuffered)."""
    os.write(1, f"{name} {time.monotonic():.6f}\n".encode())


def child_frame(strategy: str, day: dt.date, version: int, rows: int) -> pl.DataFrame:
    """What a child writes (the parent builds its expectations with the same function).

    Overwrite: one day of mart rows at ``version``. Merge: CDC rows at ``version`` (newer as
    it grows) for ``rows`` keys from ``day.day * rows // 2`` on: consecutive days overlap by half.
    """
    if strategy == "overwrite":
        return mart_rows(day, version, rows)
    lo = day.day * rows // 2
    return entity_rows(version, lo, lo + rows)


def write(store: TableStore, strategy: str, frame: pl.DataFrame, day: dt.date) -> None:
    """The write under test: the day overwritten, or the batch merged."""
    if strategy == "overwrite":
        store.overwrite_partition(MART, frame, DAY_COLUMN, (day, day + dt.timedelta(days=1)))
    else:
        store.merge_upsert(CURRENT, frame, CURRENT_KEY, ORDERING)


def main(kind: str, location: str, strategy: str, day: str, version: str, rows: str) -> None:
    """Build, signal ``ready``, wait for the start line, write, signal, wait for stdin EOF."""
    date = dt.date.fromisoformat(day)
    frame = child_frame(strategy, date, int(version), int(rows))
    store = open_store(kind, location)
    marker("ready")
    if not sys.stdin.readline():
        return
    marker("writing")
    write(store, strategy, frame, date)
    marker("committed")
    sys.stdin.read()
    marker("closed")


if __name__ == "__main__":
    main(*sys.argv[1:])

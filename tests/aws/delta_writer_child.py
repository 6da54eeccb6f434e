"""Child-process side of the Delta crash and concurrency tests (no test code runs here).

``python -m tests.aws.delta_writer_child <overwrite|merge> <day> <version> <rows>`` builds
its frame and the store (``DeltaTableStore.from_settings`` of the environment), prints
``ready``, waits for a line on stdin (the start signal), publishes, prints ``committed``
and then waits for stdin to close before it exits, so the parent can kill it at any
point of the publish, including right after the commit. Markers are
``<name> <time.monotonic()>`` lines written straight to the stdout pipe.
"""

import datetime as dt
import os
import sys
import time

import polars as pl

from platform_assets.settings import load_settings
from platform_assets.storage.delta_store import DeltaTableStore
from tests.io.workload import CURRENT, CURRENT_KEY, MART, ORDERING, entity_rows, mart_rows

DAY_COLUMN = "business_date"


def marker(name: str) -> None:
    """Write one marker line to the stdout pipe (unbuffered, nothing lost on SIGKILL)."""
    os.write(1, f"{name} {time.monotonic():.6f}\n".encode())


def child_frame(strategy: str, day: dt.date, version: int, rows: int) -> pl.DataFrame:
    """What a child publishes (the parent builds its expectations with the same function).

    Overwrite: one day of mart rows for ``version``. Merge: CDC rows of ``version`` for
    ``rows`` keys from ``day.day * rows // 2`` on (batches of consecutive days overlap by half).
    """
    if strategy == "overwrite":
        return mart_rows(day, version, rows)
    lo = day.day * rows // 2
    return entity_rows(version, lo, lo + rows)


def publish(store: DeltaTableStore, strategy: str, frame: pl.DataFrame, day: dt.date) -> None:
    """The write under test: one day overwritten, or one CDC batch merged."""
    if strategy == "overwrite":
        store.overwrite_partition(MART, frame, DAY_COLUMN, day, day + dt.timedelta(days=1))
    else:
        store.merge_upsert(CURRENT, frame, CURRENT_KEY, ORDERING)


def main(strategy: str, day: str, version: str, rows: str) -> None:
    """Build, signal ``ready``, wait for the start line, publish, signal, wait for stdin EOF."""
    date = dt.date.fromisoformat(day)
    frame = child_frame(strategy, date, int(version), int(rows))
    store = DeltaTableStore.from_settings(load_settings())
    marker("ready")
    if not sys.stdin.readline():
        return
    marker("writing")
    publish(store, strategy, frame, date)
    marker("committed")
    sys.stdin.read()
    marker("closed")


if __name__ == "__main__":
    main(*sys.argv[1:])

"""The writes the store tests share: their frames, and what each must leave in the table.

The expectations are computed from the frames alone, in polars: :func:`merged` is the
merge's total order, :data:`WRITES` are the four writes of the protocol, each with a
first version, a next one and the table the next one must leave.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from platform_assets.storage.strategies import WriteResult
from platform_assets.storage.table_store import TableStore
from tests.io.workload import (
    CURRENT,
    CURRENT_KEY,
    DAY_COLUMN,
    MART,
    MART_KEY,
    ORDERING,
    entity_rows,
    mart_rows,
)

D1, D2, D3, D4, D5, D6 = (dt.date(2024, 1, day) for day in range(1, 7))
ROWS = 200


def days(first: dt.date, last: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The window of ``first`` (to ``last``, inclusive)."""
    return first, (last or first) + dt.timedelta(days=1)


def stacked(*frames: pl.DataFrame) -> pl.DataFrame:
    """Rows of ``frames`` in the columns of the first, then the ones the others add."""
    columns = list(dict.fromkeys(c for frame in frames for c in frame.columns))
    return pl.concat(frames, how="diagonal").select(columns)


def mart(versions: dict[dt.date, int]) -> pl.DataFrame:
    """Mart rows of each day at its version."""
    return pl.concat([mart_rows(day, version, ROWS) for day, version in versions.items()])


def publish(store: TableStore, versions: dict[dt.date, int]) -> pl.DataFrame:
    """Overwrite the range of ``versions``' days in one write; return the mart's rows."""
    rows = mart(versions)
    store.overwrite_partition(MART, rows, DAY_COLUMN, days(min(versions), max(versions)))
    return rows


def merged(*frames: pl.DataFrame) -> pl.DataFrame:
    """What merging ``frames`` in any order must leave: per key the greatest row by the
    ordering, then every other column in table order, NULL lowest."""
    rows = stacked(*frames)
    rest = [c for c in rows.columns if c not in [*CURRENT_KEY, *ORDERING]]
    return rows.sort([*ORDERING, *rest], nulls_last=False, maintain_order=True).unique(
        CURRENT_KEY, keep="last", maintain_order=True
    )


def merge(store: TableStore, frame: pl.DataFrame, table: str = CURRENT) -> WriteResult:
    """Merge CDC rows of ``curated.entities`` (or ``table``) on their key and ordering."""
    return store.merge_upsert(table, frame, CURRENT_KEY, ORDERING)


def entity_ids(*ids: int) -> pl.DataFrame:
    """Keys of ``curated.entities``."""
    return pl.DataFrame({"entity_id": list(ids)}, schema={"entity_id": pl.Int64})


@dataclass(frozen=True)
class Write:
    """One write on a published table: its first version, its next one, and the table the
    next one must leave (from the rows before it and its frame alone)."""

    name: str
    table: str
    key: list[str]
    seed: Callable[[TableStore], object]
    frame: Callable[[], pl.DataFrame]
    run: Callable[[TableStore, pl.DataFrame], WriteResult]
    expected: Callable[[pl.DataFrame, pl.DataFrame], pl.DataFrame]


REPLACED = entity_ids(*range(3 * ROWS // 4))  # 0..ROWS/4-1 deleted, the rest of them replaced
WRITES = [
    Write(
        "overwrite",
        MART,
        MART_KEY,
        lambda store: publish(store, {D1: 0, D2: 0}),
        lambda: mart_rows(D2, 1, ROWS),
        lambda store, frame: store.overwrite_partition(MART, frame, DAY_COLUMN, days(D2)),
        lambda before, frame: stacked(before.filter(pl.col(DAY_COLUMN) != D2), frame),
    ),
    Write(
        "merge",
        CURRENT,
        CURRENT_KEY,
        lambda store: merge(store, entity_rows(0, 0, ROWS)),
        lambda: entity_rows(1, ROWS // 2, ROWS + ROWS // 2),
        merge,
        merged,
    ),
    Write(
        "replace_keys",
        CURRENT,
        CURRENT_KEY,
        lambda store: merge(store, entity_rows(0, 0, ROWS)),
        lambda: entity_rows(1, ROWS // 4, 3 * ROWS // 4),
        lambda store, frame: store.replace_keys(CURRENT, frame, CURRENT_KEY, REPLACED),
        lambda before, frame: stacked(before.join(REPLACED, on=CURRENT_KEY, how="anti"), frame),
    ),
    Write(
        "replace_all",
        CURRENT,
        CURRENT_KEY,
        lambda store: merge(store, entity_rows(0, 0, ROWS)),
        lambda: entity_rows(1, ROWS // 2, ROWS + ROWS // 2),
        lambda store, frame: store.replace_all(CURRENT, frame, CURRENT_KEY),
        lambda before, frame: frame,
    ),
]


def with_a_null(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """``frame`` with ``column`` NULL in its middle row."""
    middle = pl.int_range(pl.len()) == pl.len() // 2
    return frame.with_columns(pl.when(~middle).then(pl.col(column)).alias(column))

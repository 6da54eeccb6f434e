"""Write strategies for published DuckDB tables, each one transaction.

``overwrite_partition`` replaces the rows of a partition window (daily
snapshots, marts); ``merge_upsert`` merges CDC rows into a current-state table
where an incoming row wins only if it is newer by its ordering columns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

import duckdb
import polars as pl

from platform_assets.io.table_schema import ensure_table
from platform_assets.warehouse import qualified, quote_ident

_INCOMING = "platform_incoming"


class WriteStrategy(StrEnum):
    """How a dataset's output replaces what is published."""

    OVERWRITE_PARTITION = "overwrite_partition"
    MERGE_UPSERT = "merge_upsert"


class PartitionWindowError(ValueError):
    """An output holds rows outside the partition it was written for."""


@dataclass(frozen=True)
class WriteResult:
    """What a write did: rows in the output, rows deleted and rows changed."""

    rows_in: int
    rows_deleted: int
    rows_changed: int
    columns_added: list[str]


def _register(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> None:
    con.register(_INCOMING, frame.to_arrow())


def _transaction(con: duckdb.DuckDBPyConnection, body):
    con.execute("BEGIN TRANSACTION")
    try:
        result = body()
        con.execute("COMMIT")
        return result
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister(_INCOMING)


def overwrite_partition(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: pl.DataFrame,
    partition_column: str,
    window: tuple[dt.date, dt.date],
) -> WriteResult:
    """Replace the rows with ``window[0] <= partition_column < window[1]`` by ``frame``.

    Delete and insert share one transaction; rows are inserted by column name.
    An empty ``frame`` deliberately leaves the window empty.
    """
    start, end = window
    outside = frame.filter(
        pl.col(partition_column).is_null()
        | (pl.col(partition_column) < start)
        | (pl.col(partition_column) >= end)
    )
    if outside.height:
        raise PartitionWindowError(
            f"{table}: {outside.height} row(s) fall outside partition "
            f"[{start.isoformat()}, {end.isoformat()}) on column {partition_column}, "
            f"e.g. {outside[partition_column][0]!r}"
        )
    _register(con, frame)

    def body() -> WriteResult:
        added = ensure_table(con, table, frame.schema)
        col = quote_ident(partition_column)
        deleted = con.execute(
            f"DELETE FROM {qualified(table)} WHERE {col} >= ? AND {col} < ?",  # noqa: S608
            [start, end],
        ).fetchone()[0]
        names = ", ".join(quote_ident(c) for c in frame.columns)
        con.execute(
            f"INSERT INTO {qualified(table)} BY NAME SELECT {names} FROM {_INCOMING}"  # noqa: S608
        )
        return WriteResult(frame.height, deleted, frame.height, added)

    return _transaction(con, body)


def merge_upsert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: pl.DataFrame,
    key: list[str],
    order_by: list[str],
) -> WriteResult:
    """Merge ``frame`` into ``table`` on ``key``; a row wins only if newer by ``order_by``.

    Deletes are expected as tombstone rows (a flag column), so a replay in any
    order converges on the same state. Refuses to run without a key, and
    without unique keys in ``frame``.
    """
    if not key:
        raise ValueError(f"{table}: merge_upsert needs a business key")
    if not order_by:
        raise ValueError(f"{table}: merge_upsert needs ordering columns")
    if frame.select(key).is_duplicated().any():
        raise ValueError(f"{table}: merge input has duplicate keys on {key}; dedupe first")
    _register(con, frame)
    on = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}" for k in key)
    newer = _lexicographic_greater([quote_ident(c) for c in order_by])
    updates = ", ".join(
        f"{quote_ident(c)} = s.{quote_ident(c)}" for c in frame.columns if c not in key
    )
    names = ", ".join(quote_ident(c) for c in frame.columns)

    def body() -> WriteResult:
        added = ensure_table(con, table, frame.schema)
        changed = con.execute(
            f"MERGE INTO {qualified(table)} AS t "  # noqa: S608
            f"USING (SELECT {names} FROM {_INCOMING}) AS s ON {on} "
            f"WHEN MATCHED AND ({newer}) THEN UPDATE SET {updates} "
            "WHEN NOT MATCHED THEN INSERT BY NAME"
        ).fetchone()[0]
        return WriteResult(frame.height, 0, changed, added)

    return _transaction(con, body)


def _lexicographic_greater(columns: list[str]) -> str:
    """SQL for (s.c1, s.c2, ...) > (t.c1, t.c2, ...), null-safe on the target side."""
    head, *rest = columns
    greater = f"(s.{head} > t.{head} OR t.{head} IS NULL)"
    if not rest:
        return greater
    return f"({greater} OR (s.{head} = t.{head} AND {_lexicographic_greater(rest)}))"

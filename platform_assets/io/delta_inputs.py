"""Refuse outputs the write strategies must not publish, before anything is written.

The same refusals, with the same errors, as the DuckDB write layer in
:mod:`platform_assets.io.strategies`.
"""

import datetime as dt

import polars as pl

from platform_assets.io.delta_sql import validate_date
from platform_assets.io.strategies import (
    PartitionWindowError,
    _describe_window,
    _require_columns,
)


def check_window(
    table: str, frame: pl.DataFrame, partition_column: str, start: dt.date, end: dt.date
) -> None:
    """Raise :class:`PartitionWindowError` if a row of ``frame`` is outside [start, end)."""
    if not validate_date(start) < validate_date(end):
        raise ValueError(f"{table}: empty partition window [{start}, {end})")
    _require_columns(table, frame, [partition_column], "partition")
    outside = frame.filter(
        pl.col(partition_column).is_null()
        | (pl.col(partition_column) < start)
        | (pl.col(partition_column) >= end)
    )
    if outside.height:
        raise PartitionWindowError(
            f"{table}: {outside.height} row(s) fall outside {_describe_window(start, end)} "
            f"([{start.isoformat()}, {end.isoformat()}) on column {partition_column}), "
            f"e.g. {outside[partition_column][0]!r}"
        )


def check_merge_input(table: str, frame: pl.DataFrame, key: list[str], order_by: list[str]) -> None:
    """Refuse a merge without key or ordering, with NULL keys or with duplicate keys."""
    if not key:
        raise ValueError(f"{table}: merge_upsert needs a business key")
    if not order_by:
        raise ValueError(f"{table}: merge_upsert needs ordering columns")
    _require_columns(table, frame, key, "key")
    _require_columns(table, frame, order_by, "ordering")
    if set(key) & set(order_by):
        raise ValueError(f"{table}: key {key} and ordering {order_by} overlap")
    null_keys = frame.filter(pl.any_horizontal(pl.col(key).is_null())).height
    if null_keys:
        raise ValueError(f"{table}: merge input has {null_keys} row(s) with a NULL key {key}")
    if frame.select(key).is_duplicated().any():
        raise ValueError(f"{table}: merge input has duplicate keys on {key}; dedupe first")

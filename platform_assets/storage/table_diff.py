"""What replacing a table's contents would change: differing rows, their keys and days.

A rebuild recomputes a current-state table as a whole; comparing the result with
the table as it is tells which rows the replacement changes (so an unchanged
table is not written at all), how many keys, and which business days, recorded
before the write like a merge's. Rows are compared on every column of the new
contents, NULL equal to NULL; a key held by several rows of the table (tampering)
counts as changed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class TableDiff:
    """The difference between a table and its new contents."""

    rows_added: int  # rows of the new contents the table lacks (new or changed keys)
    rows_removed: int  # rows of the table the new contents lack (changed, gone, duplicated)
    keys_changed: int
    days: list[dt.date]

    @property
    def changed(self) -> bool:
        """Whether replacing the table by the new contents changes anything."""
        return bool(self.rows_added or self.rows_removed)


def _aligned(current: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """``current`` with the columns of ``rows`` (a column it lacks as NULL), in their types."""
    return current.select(
        [
            pl.col(name).cast(dtype) if name in current.columns else pl.lit(None, dtype).alias(name)
            for name, dtype in rows.schema.items()
        ]
    )


def table_diff(
    current: pl.DataFrame | None, rows: pl.DataFrame, key: list[str], day_column: str | None
) -> TableDiff:
    """Compare the table's rows (``current``; None: no table) with its new contents ``rows``.

    ``days``: the values of ``day_column`` (as dates) of every removed and added row,
    so both the old and the new business day of a changed key are named.
    """
    columns = list(rows.columns)
    if current is None or current.is_empty():
        removed, added = rows.clear(), rows
    else:
        old = _aligned(current, rows)
        duplicated = old.select(key).is_duplicated()
        unique_rows = old.filter(~duplicated)
        removed = pl.concat(
            [
                unique_rows.join(rows, on=columns, how="anti", nulls_equal=True),
                old.filter(duplicated),
            ]
        )
        added = rows.join(unique_rows, on=columns, how="anti", nulls_equal=True)
    keys = pl.concat([removed.select(key), added.select(key)]).unique().height
    days: list[dt.date] = []
    if day_column:
        both = pl.concat([removed.get_column(day_column), added.get_column(day_column)])
        days = sorted(both.cast(pl.Date).drop_nulls().unique().to_list())
    return TableDiff(added.height, removed.height, keys, days)

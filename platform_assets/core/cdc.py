"""Change data capture in general: a table's events collapsed to the latest per key.

Pure functions over polars frames. A CDC dataset declares its business key and its total
order (the newest by ``updated_at`` and ``seq``, then a delete, then the values); every
path that picks an event (staging's dedupe, the merge, the keyed recompute, the rebuild)
uses the same order, so none depends on file or row order.
"""

from __future__ import annotations

import datetime as dt

import polars as pl


def keep_latest(frame: pl.DataFrame, key: list[str], ordering: list[str]) -> pl.DataFrame:
    """The latest row per ``key`` by ``ordering`` (NULLs lowest), sorted by key.

    ``ROW_NUMBER() OVER (PARTITION BY <key> ORDER BY <ordering> DESC NULLS LAST) = 1``:
    rows still tied are equal in every ordering column.
    """
    return frame.sort([*key, *ordering]).unique(subset=key, keep="last", maintain_order=True)


def staged_events(
    events: pl.DataFrame,
    landing_date: dt.date,
    key: list[str],
    ordering: list[str],
    columns: list[str],
) -> pl.DataFrame:
    """One landing day's events as staging rows: the latest per key, a delete (``op = D``)
    as a tombstone (``is_deleted``), the landing day as ``landing_date``."""
    return (
        keep_latest(events.with_columns(is_deleted=pl.col("op") == "D"), key, ordering)
        .with_columns(landing_date=pl.lit(landing_date, dtype=pl.Date))
        .select(columns)
    )

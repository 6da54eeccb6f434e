"""Pure transformations of the orders dataset (no I/O, no Dagster)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from platform_assets.datasets.orders.schema import (
    BUSINESS_KEY,
    CURRENT_STATE_COLUMNS,
    ORDERING,
    STAGING_COLUMNS,
)


def keep_latest(frame: pl.DataFrame) -> pl.DataFrame:
    """Keep the latest row per order by the dataset's total order (:data:`ORDERING`).

    ``ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY <ORDERING> DESC, NULLS
    LAST) = 1``: rows still tied are equal in every published column, so the result
    never depends on file or row order. Output is sorted by key.
    """
    return frame.sort([*BUSINESS_KEY, *ORDERING]).unique(
        subset=BUSINESS_KEY, keep="last", maintain_order=True
    )


def staged_rows(events: pl.DataFrame, landing_date: dt.date) -> pl.DataFrame:
    """One day's CDC events as staging rows: latest per order, deletes as tombstones."""
    return (
        keep_latest(events.with_columns(is_deleted=pl.col("op") == "D"))
        .with_columns(landing_date=pl.lit(landing_date, dtype=pl.Date))
        .select(STAGING_COLUMNS)
    )


def current_state_rows(staged: pl.DataFrame) -> pl.DataFrame:
    """Staged rows of one or more days collapsed to one current-state row per order.

    ``landing_date`` is dropped: the current state depends only on the set of
    events, never on which day (or how often) an event was delivered.
    """
    return keep_latest(staged).select(CURRENT_STATE_COLUMNS)

"""Pure transformations of the orders dataset (no I/O, no Dagster)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from platform_assets.datasets.orders.schema import CURRENT_STATE_COLUMNS, STAGING_COLUMNS


def keep_latest(frame: pl.DataFrame) -> pl.DataFrame:
    """Keep the latest row per ``order_id`` by (``updated_at``, ``seq``).

    The rule ``ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY updated_at
    DESC, seq DESC) = 1``, with every remaining column as a final tie-break so
    the result never depends on file or row order. Output is sorted by key.
    """
    tie_break = [c for c in frame.columns if c not in ("order_id", "updated_at", "seq")]
    return frame.sort(["order_id", "updated_at", "seq", *tie_break]).unique(
        subset=["order_id"], keep="last", maintain_order=True
    )


def staged_rows(events: pl.DataFrame, landing_date: dt.date) -> pl.DataFrame:
    """One day's CDC events as staging rows: latest per order, deletes as tombstones."""
    return (
        keep_latest(events)
        .with_columns(
            is_deleted=pl.col("op") == "D",
            landing_date=pl.lit(landing_date, dtype=pl.Date),
        )
        .select(STAGING_COLUMNS)
    )


def current_state_rows(staged: pl.DataFrame) -> pl.DataFrame:
    """Staged rows of one or more days collapsed to one current-state row per order.

    ``landing_date`` is dropped: the current state depends only on the set of
    events, never on which day (or how often) an event was delivered.
    """
    return keep_latest(staged).select(CURRENT_STATE_COLUMNS)

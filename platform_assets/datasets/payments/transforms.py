"""Pure transformations of the payments dataset (no I/O, no Dagster)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from platform_assets.core import cdc
from platform_assets.datasets.payments.schema import (
    BUSINESS_KEY,
    CURRENT_STATE_COLUMNS,
    ORDERING,
    STAGING_COLUMNS,
)


def staged_rows(events: pl.DataFrame, landing_date: dt.date) -> pl.DataFrame:
    """One day's CDC events as staging rows: latest per payment, deletes as tombstones."""
    return cdc.staged_events(events, landing_date, BUSINESS_KEY, ORDERING, STAGING_COLUMNS)


def current_state_rows(staged: pl.DataFrame) -> pl.DataFrame:
    """Staged rows of one or more days collapsed to one current-state row per payment."""
    return cdc.keep_latest(staged, BUSINESS_KEY, ORDERING).select(CURRENT_STATE_COLUMNS)

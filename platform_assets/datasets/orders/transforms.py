"""Pure transformations of the orders dataset (no I/O, no Dagster)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from platform_assets.datasets.orders.schema import (
    CURRENT_STATE_COLUMNS,
    LANDING_SCHEMA,
    MART_SCHEMA,
    MONEY,
    STAGING_COLUMNS,
)
from platform_assets.landing import LandingFile

CSV_DATETIME = "%Y-%m-%d %H:%M:%S%.f"


def read_landing_file(file: LandingFile) -> pl.DataFrame:
    """Parse one CDC file (CSV or Parquet) into the landing schema."""
    if file.path.suffix == ".parquet":
        frame = pl.read_parquet(file.path)
        return frame.select([pl.col(c).cast(t) for c, t in LANDING_SCHEMA.items()])
    raw = pl.read_csv(
        file.path, schema_overrides={c: pl.String for c in LANDING_SCHEMA}, infer_schema=False
    )
    return raw.select(
        pl.col("op"),
        pl.col("seq").cast(pl.Int64),
        pl.col("order_id").cast(pl.Int64),
        pl.col("customer_id").cast(pl.Int64),
        pl.col("status"),
        pl.col("amount").cast(MONEY),
        pl.col("currency"),
        pl.col("created_at").str.to_datetime(CSV_DATETIME, time_unit="us"),
        pl.col("updated_at").str.to_datetime(CSV_DATETIME, time_unit="us"),
    )


def read_events(files: list[LandingFile]) -> pl.DataFrame:
    """All events of a day's files, in file order (an empty frame for no files)."""
    frames = [read_landing_file(f) for f in files]
    return pl.concat(frames) if frames else pl.DataFrame(schema=LANDING_SCHEMA)


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


def daily_order_figures(current: pl.DataFrame) -> pl.DataFrame:
    """Orders and revenue per business day (day placed), status and currency.

    ``current`` is the current state; tombstones (deleted orders) do not count.
    """
    return (
        current.filter(~pl.col("is_deleted"))
        .group_by(
            business_date=pl.col("created_at").dt.date(), status="status", currency="currency"
        )
        .agg(orders=pl.len().cast(pl.Int64), revenue=pl.col("amount").sum().cast(MONEY))
        .select(list(MART_SCHEMA))
        .sort(["business_date", "status", "currency"])
    )

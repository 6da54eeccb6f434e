"""Change data capture in general: a table's events collapsed to the latest per key.

Pure functions over polars frames. A CDC dataset declares its business key and its total
order (the newest by ``updated_at`` and ``seq``, then a delete, then the values); every
path that picks an event (staging's dedupe, the merge, the keyed recompute, the rebuild)
uses the same order, so none depends on file or row order.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from platform_assets.core.checks import RowRule
from platform_assets.core.frame_keys import ascending_unique
from platform_assets.core.landing_parser import LandingContract

OPS = frozenset({"I", "U", "D"})
"""The ``op`` codes of a CDC event: insert, update, delete."""


def landing_contract(landing: pl.Schema, key: list[str]) -> LandingContract:
    """What a CDC feed's landing file must hold: its typed columns, its key set, a known op."""
    return LandingContract(schema=landing, not_null=tuple(key), allowed_values={"op": OPS})


def staging_schema(landing: pl.Schema, state_fields: list[str]) -> pl.Schema:
    """A CDC feed's staged columns: its state fields, the event's times and sequence, a
    delete as ``is_deleted``, and the landing day."""
    kept = [*state_fields, "created_at", "updated_at", "seq"]
    return pl.Schema(
        {**{c: landing[c] for c in kept}, "is_deleted": pl.Boolean, "landing_date": pl.Date}
    )


def current_state_columns(staging: pl.Schema) -> list[str]:
    """The staged columns a current-state table keeps: all but the landing day (the state
    depends only on the set of events, never on which day delivered them)."""
    return [c for c in staging if c != "landing_date"]


def keep_latest(frame: pl.DataFrame, key: list[str], ordering: list[str]) -> pl.DataFrame:
    """The latest row per ``key`` by ``ordering`` (NULLs lowest), sorted by key.

    ``ROW_NUMBER() OVER (PARTITION BY <key> ORDER BY <ordering> DESC NULLS LAST) = 1``:
    rows still tied are equal in every ordering column. A frame already holding one row
    per key in key order (one day's staged rows) is returned as it is.
    """
    if ascending_unique(frame, key):
        return frame
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


LIVE = ~pl.col("is_deleted")
"""Rows that are not deletes (a delete may carry only its key: DMS without a before-image)."""


def event_rules(plausible_days_before: int) -> list[RowRule]:
    """The row rules every CDC feed's staged events share (deletes exempt where they may
    carry only their key): an ISO currency, consistent timestamps, and business dates no
    more than ``plausible_days_before`` days before the landing day (after it,
    ``timestamps_consistent`` already refuses them)."""
    next_day = (pl.col("landing_date") + pl.duration(days=1)).cast(pl.Datetime("us"))
    earliest = (pl.col("landing_date") - pl.duration(days=plausible_days_before)).cast(
        pl.Datetime("us")
    )
    return [
        RowRule(
            "currency_well_formed",
            "currency is a three-letter upper-case ISO code (deletes exempt)",
            LIVE & ~pl.col("currency").str.contains(r"^[A-Z]{3}$"),
        ),
        RowRule(
            "timestamps_consistent",
            "created_at <= updated_at (deletes exempt), and updated_at before the end of the "
            "landing day",
            (LIVE & (pl.col("created_at") > pl.col("updated_at")))
            | (pl.col("updated_at") >= next_day),
        ),
        RowRule(
            "business_dates_plausible",
            f"created_at (deletes exempt) and updated_at no more than {plausible_days_before} "
            "days before the landing day",
            (LIVE & (pl.col("created_at") < earliest)) | (pl.col("updated_at") < earliest),
        ),
    ]

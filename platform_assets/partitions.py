"""Daily partitions and partition-key validation."""

from __future__ import annotations

import datetime as dt
import re
import warnings

import dagster as dg

from platform_assets.settings import load_settings

_DATE_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class InvalidPartitionKey(ValueError):
    """A partition key that is not a plain ``YYYY-MM-DD`` calendar date."""


def validate_partition_key(key: str) -> dt.date:
    """Return the date of a daily partition key, or raise before it reaches a path or SQL."""
    if not isinstance(key, str) or not _DATE_KEY.match(key):
        raise InvalidPartitionKey(f"partition key {key!r} is not a YYYY-MM-DD date")
    try:
        return dt.date.fromisoformat(key)
    except ValueError as exc:
        raise InvalidPartitionKey(f"partition key {key!r} is not a valid date: {exc}") from exc


def daily_partitions(start_date: str | None = None) -> dg.DailyPartitionsDefinition:
    """Daily partitions from ``PLATFORM_START_DATE`` (or ``start_date``), ending yesterday."""
    start = start_date or load_settings().start_date
    validate_partition_key(start)
    return dg.DailyPartitionsDefinition(start_date=start)


def backfill_policy() -> dg.BackfillPolicy:
    """UI asset backfills run ranges of up to ``PLATFORM_MAX_PARTITIONS_PER_RUN`` days per run."""
    return dg.BackfillPolicy.multi_run(load_settings().max_partitions_per_run)


def observable_source(**kwargs):
    """``dg.observable_source_asset`` without its beta warning on every import."""

    def decorate(fn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)
            return dg.observable_source_asset(**kwargs)(fn)

    return decorate

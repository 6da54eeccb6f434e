"""Daily partitions of the Dagster assets, and the backfill policy."""

from __future__ import annotations

import warnings

import dagster as dg

from platform_assets.core.partition_keys import validate_partition_key
from platform_assets.settings import load_settings


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

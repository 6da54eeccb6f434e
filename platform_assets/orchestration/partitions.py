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


class OutsidePartitions(ValueError):
    """Partition keys the partitions definition does not have (refused before any run)."""


def partition_range(partitions_def: dg.PartitionsDefinition) -> str:
    """The definition's keys as ``first..last``."""
    first = partitions_def.get_first_partition_key()
    return f"{first}..{partitions_def.get_last_partition_key()}" if first else "(none yet)"


def outside_partitions(partitions_def: dg.PartitionsDefinition, keys: list[str]) -> list[str]:
    """Those of ``keys`` that ``partitions_def`` does not have, in order."""
    valid = set(partitions_def.get_partition_keys())
    return sorted(key for key in keys if key not in valid)


def name_keys(keys: list[str], shown: int = 3) -> str:
    """The first ``shown`` keys and how many more, for messages."""
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more


def require_partitions(partitions_def: dg.PartitionsDefinition, keys: list[str]) -> None:
    """Raise :class:`OutsidePartitions`, naming the valid range, if a key is not a partition."""
    outside = outside_partitions(partitions_def, keys)
    if outside:
        raise OutsidePartitions(
            f"{name_keys(outside)} {'is' if len(outside) == 1 else 'are'} outside the partitions "
            f"{partition_range(partitions_def)} (PLATFORM_START_DATE through yesterday, UTC)"
        )


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

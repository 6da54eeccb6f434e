"""Daily partitions of the Dagster assets and their backfill policy (from the settings)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import dagster as dg

from platform_assets.core.partition_keys import validate_partition_key

# The tags of a run over a range of partitions (one run, every day of the range).
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class Cadence:
    """The partitions and backfill policy every asset of a code location shares.

    ``partitions``: daily from the settings' start date, ending yesterday (UTC);
    ``backfill``: UI asset backfills run ranges of up to the settings' maximum days per run.
    """

    partitions: dg.DailyPartitionsDefinition
    backfill: dg.BackfillPolicy

    @classmethod
    def daily(cls, start_date: str, max_partitions_per_run: int) -> Cadence:
        """Daily partitions from ``start_date``, backfilled in ranges of at most
        ``max_partitions_per_run`` days per run."""
        validate_partition_key(start_date)
        return cls(
            dg.DailyPartitionsDefinition(start_date=start_date),
            dg.BackfillPolicy.multi_run(max_partitions_per_run),
        )


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


def observable_source(**kwargs):
    """``dg.observable_source_asset`` without its beta warning on every import."""

    def decorate(fn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.BetaWarning)
            return dg.observable_source_asset(**kwargs)(fn)

    return decorate

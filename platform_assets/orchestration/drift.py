"""Drift detection: published partitions compared with what the ledger says was published.

Every day a platform write replaces (a mart day, a customer snapshot) has its
checksum recorded in the ledger (``output_checksum``: row count and an
order-independent hash of the day's rows, computed in the write's transaction).
A day whose rows no longer have that checksum was changed behind the platform's
back: the skip rule would otherwise keep it as it is. Reported by the WARN check
``matches_ledger``, ``python -m platform_assets.tools.verify`` and repaired by
``python -m platform_assets.launch --repair``.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from platform_assets.core.ledger import Ledger
from platform_assets.core.partition_keys import validate_partition_key
from platform_assets.orchestration.planner import catalog_of
from platform_assets.storage.table_fingerprint import daily_slice_checksums
from platform_assets.storage.table_store import TableStore


@dataclass(frozen=True)
class Drift:
    """A published day whose rows differ from what its publication recorded."""

    dataset: str
    partition: str
    recorded: str
    found: str

    def describe(self) -> str:
        """One line for logs and metadata."""
        return f"{self.dataset} {self.partition}: published {self.recorded}, now {self.found}"


@dataclass(frozen=True)
class OverwriteTarget:
    """An asset whose days are replaced whole in a published table."""

    asset_key: dg.AssetKey
    table: str
    column: str

    @property
    def dataset(self) -> str:
        """The asset's name in the ledger."""
        return self.asset_key.to_user_string()


def drift(
    tables: TableStore, ledger: Ledger, target: OverwriteTarget, partitions: list[str]
) -> list[Drift]:
    """Days of ``partitions`` whose published rows differ from their recorded checksum."""
    published = ledger.published(target.dataset, partitions)
    recorded = {k: v.output_checksum for k, v in published.items() if v and v.output_checksum}
    if not recorded:
        return []
    days = {validate_partition_key(key): key for key in recorded}
    with tables.query([target.table]) as con:
        found = daily_slice_checksums(con, target.table, target.column, sorted(days))
    return [
        Drift(target.dataset, key, recorded[key], found[day])
        for day, key in sorted(days.items())
        if found[day] != recorded[key]
    ]


def overwrite_targets(defs: dg.Definitions) -> list[OverwriteTarget]:
    """Every asset published by day overwrite, from the definitions' catalog."""
    overwrites = catalog_of(defs).overwrites()
    return [OverwriteTarget(k, w.table, w.partition_column) for k, w in overwrites.items()]


def verify_all(defs: dg.Definitions) -> list[Drift]:
    """Drift of every published day of every overwrite asset."""
    ledger = Ledger(defs.resources["warehouse"])
    tables = defs.resources["tables"].store()
    found = []
    for target in overwrite_targets(defs):
        found += drift(tables, ledger, target, ledger.partitions(target.dataset))
    return found

"""Write specs: how an asset's rows replace what is published in its table.

A write spec is one typed value per strategy. A dataset declares it on its
publication, the assembly derives the asset's code version and its UI metadata
from it, the asset hands it to its IO manager on the
:class:`~platform_assets.core.publisher.Publication`, and the IO manager calls the
table store with its fields. Nothing travels as text metadata.

Adding a strategy is one class here (its fields, their validation and its display
metadata), its write in both table stores, and its branch in
:meth:`platform_assets.orchestration.io_managers.WarehouseIOManager.handle_output`.
"""

from __future__ import annotations

from dataclasses import dataclass


def _columns(table: str, role: str, names: tuple[str, ...]) -> None:
    if not names or any(not isinstance(n, str) or not n for n in names):
        raise ValueError(f"{table}: {role} must name at least one column, got {names!r}")


@dataclass(frozen=True)
class OverwritePartition:
    """Each day replaces the rows of its window ``partition_column in [day, day + 1)``.

    For daily snapshots and marts. A day written twice holds only the second write;
    an empty day leaves the window empty.
    """

    table: str
    partition_column: str

    strategy = "overwrite_partition"

    def __post_init__(self) -> None:
        _columns(self.table, "the partition column", (self.partition_column,))

    def metadata(self) -> dict[str, str]:
        """How the UI shows this write (asset definition metadata)."""
        return {
            "platform/table": self.table,
            "platform/write_strategy": self.strategy,
            "platform/partition_column": self.partition_column,
        }


@dataclass(frozen=True)
class MergeUpsert:
    """A current-state table: one row per ``key``, the newest by ``ordering`` then every
    other column (a total order), deletes as tombstone rows.

    A day published for the first time is merged (a row wins only if newer); a day
    published before is a correction: the keys of its old and new versions are
    recomputed from every current staged artifact. ``impact_day_column`` (optional):
    the column whose day each change is recorded under, so marts of those days are
    recomputed (late changes).
    """

    table: str
    key: tuple[str, ...]
    ordering: tuple[str, ...]
    impact_day_column: str | None = None

    strategy = "merge_upsert"

    def __post_init__(self) -> None:
        if isinstance(self.key, str) or isinstance(self.ordering, str):
            raise ValueError(f"{self.table}: key and ordering are sequences of column names")
        object.__setattr__(self, "key", tuple(self.key))
        object.__setattr__(self, "ordering", tuple(self.ordering))
        _columns(self.table, "the business key", self.key)
        _columns(self.table, "the ordering", self.ordering)
        if set(self.key) & set(self.ordering):
            raise ValueError(f"{self.table}: key {self.key} and ordering {self.ordering} overlap")
        if self.impact_day_column is not None:
            _columns(self.table, "the impact day column", (self.impact_day_column,))

    def metadata(self) -> dict[str, str]:
        """How the UI shows this write (asset definition metadata)."""
        shown = {
            "platform/table": self.table,
            "platform/write_strategy": self.strategy,
            "platform/key": ", ".join(self.key),
            "platform/ordering": ", ".join(self.ordering),
        }
        if self.impact_day_column:
            shown["platform/impact_day_column"] = self.impact_day_column
        return shown


WriteSpec = OverwritePartition | MergeUpsert

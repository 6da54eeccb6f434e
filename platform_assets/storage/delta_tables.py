"""Published tables as Delta Lake tables: the
:class:`~platform_assets.storage.table_store.TableStore` of ``PLATFORM_STORAGE=s3``.

Writes are :class:`DeltaTableStore` commits (one per partition overwrite or
merge); SQL (merge impact, marts, per-day checksums) runs in DuckDB on
:func:`delta_views`, so it is the warehouse's SQL unchanged. Counts and reads
go through the store. The ledger and check results are not here: they stay in
the warehouse resource.
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager, nullcontext

import duckdb
import polars as pl

from platform_assets.storage.delta_duckdb import delta_views
from platform_assets.storage.delta_store import DeltaTableStore, in_window
from platform_assets.storage.merge_impact import changed_days, key_days
from platform_assets.storage.strategies import WriteResult
from platform_assets.storage.table_store import Window


class DeltaTables:
    """Published tables at ``<store root>/<schema>/<table>``, one Delta table each."""

    def __init__(self, store: DeltaTableStore):
        self.store = store

    def session(self) -> AbstractContextManager[object]:
        """Nothing to share: each Delta write is its own commit."""
        return nullcontext()

    def transaction(self) -> AbstractContextManager[object]:
        """Each Delta write is one atomic commit; nothing spans two."""
        return nullcontext()

    def shares_ledger(self, warehouse: object) -> bool:
        """Never: the ledger record follows the Delta commit (an idempotent rewrite recovers)."""
        return False

    def overwrite_partition(
        self, table: str, frame: pl.DataFrame, partition_column: str, window: Window
    ) -> WriteResult:
        """Replace the window in one Delta commit."""
        return self.store.overwrite_partition(table, frame, partition_column, *window)

    def merge_upsert(
        self, table: str, frame: pl.DataFrame, key: list[str], order_by: list[str]
    ) -> WriteResult:
        """Delta ``MERGE`` in one commit (a new column in a commit of its own before it)."""
        return self.store.merge_upsert(table, frame, key, order_by)

    def replace_keys(
        self, table: str, frame: pl.DataFrame, key: list[str], keys: pl.DataFrame
    ) -> WriteResult:
        """One Delta ``MERGE`` deleting, updating and inserting the keys' rows."""
        return self.store.replace_keys(table, frame, key, keys)

    def replace_all(self, table: str, frame: pl.DataFrame, key: list[str]) -> WriteResult:
        """One Delta overwrite commit of the whole table."""
        return self.store.replace_all(table, frame, key)

    def exists(self, table: str) -> bool:
        """Whether the Delta table exists."""
        return self.store.load(table) is not None

    def key_days(
        self, table: str, key: list[str], keys: pl.DataFrame, day_column: str
    ) -> list[dt.date]:
        """:func:`merge_impact.key_days` of the table's latest snapshot."""
        with delta_views(self.store, [table]) as con:
            return key_days(con, table, key, keys, day_column)

    def changed_days(
        self, table: str, frame: pl.DataFrame, key: list[str], order_by: list[str], day_column: str
    ) -> list[dt.date]:
        """:func:`merge_impact.changed_days` against the table's latest snapshot.

        Writers of one table run one at a time (the ``warehouse`` pool), so the
        merge that follows commits on top of this snapshot.
        """
        with delta_views(self.store, [table]) as con:
            return changed_days(con, table, frame, key, order_by, day_column)

    def count(self, table: str) -> int:
        """Rows of the latest snapshot."""
        return self.store.count(table)

    def read(self, table: str, column: str | None = None, window: Window | None = None):
        """Rows of the latest snapshot, those in ``window`` on ``column`` when both are given."""
        where = in_window(column, *window) if column and window else None
        return self.store.read(table, where)

    def query(self, tables: list[str]) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """:func:`delta_views` of ``tables``: their snapshots, under their warehouse names."""
        return delta_views(self.store, tables)

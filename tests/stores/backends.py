"""The table stores under test, opened by kind and location (by the tests and their children).

``duckdb``: :class:`WarehouseTables` over a DuckDB file (the location is its path), with the
warehouse's short-lived retrying connections. ``delta``: :class:`DeltaTables` over a
:class:`DeltaTableStore` at an S3 root (``s3://<bucket>/<prefix>``) on the endpoint
``AWS_ENDPOINT_URL`` names, committing by conditional put as in production.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import duckdb
from deltalake.exceptions import DeltaError

from platform_assets.storage.delta_location import s3_storage_options
from platform_assets.storage.delta_store import DeltaTableStore
from platform_assets.storage.delta_tables import DeltaTables
from platform_assets.storage.table_store import TableStore, WarehouseTables
from platform_assets.storage.warehouse import connect, qualified, quote_ident

KINDS = ["duckdb", "delta"]
# what a write raises when the table itself refuses its rows (see :func:`forbid_nulls`)
WRITE_FAILURES = (duckdb.ConstraintException, DeltaError)


@dataclass(frozen=True)
class LocalWarehouse:
    """The warehouse file as :class:`WarehouseTables` needs it (the Dagster resource's
    connections, without importing Dagster: writer children start fast)."""

    path: str
    ledger_url: str | None = None

    def connect(self, read_only: bool = False) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A connection closed at the end of the block; waits while another process holds it."""
        return connect(Path(self.path), read_only=read_only)

    def session(self) -> AbstractContextManager[None]:
        """No shared connection: every call opens its own."""
        return nullcontext()


def open_store(kind: str, location: str) -> TableStore:
    """The store of ``kind`` at ``location``."""
    if kind == "duckdb":
        return WarehouseTables(LocalWarehouse(location))
    if kind == "delta":
        options = s3_storage_options(os.environ["AWS_ENDPOINT_URL"])
        return DeltaTables(DeltaTableStore(location, options))
    raise ValueError(f"unknown store kind {kind!r}")


def forbid_nulls(store: TableStore, table: str, column: str) -> None:
    """Make ``table`` itself refuse a NULL ``column``: a write carrying one passes every
    check of the store and fails inside it (a DuckDB NOT NULL, a Delta CHECK constraint)."""
    if isinstance(store, WarehouseTables):
        with store.warehouse.connect() as con:
            con.execute(
                f"ALTER TABLE {qualified(table)} ALTER COLUMN {quote_ident(column)} SET NOT NULL"
            )
    else:
        snapshot = store.store.load(table)
        snapshot.alter.add_constraint({f"{column}_present": f"{column} IS NOT NULL"})

"""The seam between the pipeline and where published tables live.

:class:`TableStore` is what the IO manager, the marts and the late-changes
sensor need from published tables: the two write strategies, the business days
a merge would change, counts, reads, and read-only SQL over some tables.
:class:`WarehouseTables` is the DuckDB warehouse file (``PLATFORM_STORAGE=local``);
:class:`platform_assets.storage.delta_tables.DeltaTables` is Delta Lake on S3. Both
answer :meth:`TableStore.query` with a DuckDB connection where each table has
its warehouse name, so the marts' SQL is the same for both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

import duckdb
import polars as pl

from platform_assets.storage import merge_impact, strategies
from platform_assets.storage.strategies import WriteResult
from platform_assets.storage.table_schema import existing_columns
from platform_assets.storage.warehouse import qualified, query_frame, quote_ident, transaction

Window = tuple[dt.date, dt.date]


class WarehouseFile(Protocol):
    """The DuckDB warehouse file and where its ledger lives (the warehouse resource is one)."""

    path: str
    ledger_url: str | None

    def connect(self, read_only: bool = False) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A short-lived connection (or the open session's one)."""
        ...

    def session(self) -> AbstractContextManager[None]:
        """One shared connection for every ``connect()`` inside the block."""
        ...


class TableStore(Protocol):
    """Published tables: written by strategy, read by window, queried with DuckDB SQL."""

    def session(self) -> AbstractContextManager[object]:
        """A block in which the store's writes may share one connection with the ledger's."""

    def transaction(self) -> AbstractContextManager[object]:
        """A block whose writes commit together (and with the ledger's, where it shares it)."""

    def shares_ledger(self, warehouse: WarehouseFile) -> bool:
        """Whether ``warehouse``'s ledger records commit inside :meth:`transaction`."""

    def overwrite_partition(
        self, table: str, frame: pl.DataFrame, partition_column: str, window: Window
    ) -> WriteResult:
        """Replace the rows of ``window`` by ``frame``, atomically (rule 2)."""

    def merge_upsert(
        self, table: str, frame: pl.DataFrame, key: list[str], order_by: list[str]
    ) -> WriteResult:
        """Merge ``frame`` on ``key``; a row wins only if newer by ``order_by`` (rule 3)."""

    def replace_keys(
        self, table: str, frame: pl.DataFrame, key: list[str], keys: pl.DataFrame
    ) -> WriteResult:
        """Replace the rows of ``keys`` by ``frame`` atomically (absent keys are deleted).

        Counts the rows of absent keys as deleted and the rows of ``frame`` the table did
        not hold as they are as changed, so replaying a replacement reports 0 and 0."""

    def replace_all(self, table: str, frame: pl.DataFrame, key: list[str]) -> WriteResult:
        """Replace the table's whole contents by ``frame`` atomically (a rebuild)."""

    def exists(self, table: str) -> bool:
        """Whether ``table`` exists."""

    def key_days(
        self, table: str, key: list[str], keys: pl.DataFrame, day_column: str
    ) -> list[dt.date]:
        """Days (by ``day_column``) of the table's current rows of ``keys``."""

    def changed_days(
        self, table: str, frame: pl.DataFrame, key: list[str], order_by: list[str], day_column: str
    ) -> list[dt.date]:
        """Days (by ``day_column``) whose rows a merge of ``frame`` would change."""

    def count(self, table: str) -> int:
        """Rows in ``table``."""

    def read(self, table: str, column: str | None = None, window: Window | None = None):
        """Rows of ``table`` as a polars DataFrame, those in ``window`` on ``column`` if given."""

    def query(self, tables: list[str]) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A read-only DuckDB connection on which ``tables`` have their warehouse names."""


def overwrite_days(
    tables: TableStore, table: str, frame: pl.DataFrame, column: str, days: list[dt.date]
) -> WriteResult:
    """Replace each of ``days`` by its rows of ``frame``, one atomic overwrite per day.

    Days not listed keep their rows, also those between two listed days. A day that is
    empty in ``frame`` and in the table is left alone (no write, no commit), once the
    table exists.
    """
    deleted = changed = 0
    added: list[str] = []
    if tables.exists(table):
        holding = days_holding_rows(tables, table, column, days)
        holding.update(frame.get_column(column).unique().to_list())
        days = [day for day in days if day in holding]
    for day in days:
        part = frame.filter(pl.col(column) == day)
        result = tables.overwrite_partition(table, part, column, (day, day + dt.timedelta(days=1)))
        deleted, changed = deleted + result.rows_deleted, changed + result.rows_changed
        added += result.columns_added
    return WriteResult(frame.height, deleted, changed, added)


def days_holding_rows(
    tables: TableStore, table: str, column: str, days: list[dt.date]
) -> set[dt.date]:
    """Those of ``days`` on which ``table`` (which exists) has rows by ``column``."""
    if not days:
        return set()
    with tables.query([table]) as con:
        rows = con.execute(
            f"SELECT DISTINCT CAST({quote_ident(column)} AS DATE) FROM {qualified(table)} "  # noqa: S608
            f"WHERE CAST({quote_ident(column)} AS DATE) IN (SELECT unnest(?::DATE[]))",
            [days],
        ).fetchall()
    return {row[0] for row in rows}


class WarehouseTables:
    """Published tables in the DuckDB warehouse file, written by :mod:`strategies`.

    Every call takes a connection from the warehouse resource, so inside
    :meth:`session` the writes, their checks and the ledger rows share one.
    """

    def __init__(self, warehouse: WarehouseFile):
        self.warehouse = warehouse

    def session(self) -> AbstractContextManager[object]:
        """The warehouse's shared-connection session."""
        return self.warehouse.session()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One DuckDB transaction on the session's connection, which the ledger shares
        when it lives in the same file."""
        with self.warehouse.session(), self.warehouse.connect() as con, transaction(con):
            yield

    def shares_ledger(self, warehouse: WarehouseFile) -> bool:
        """True when the ledger is in this warehouse file (no ``PLATFORM_LEDGER_URL``)."""
        return warehouse.ledger_url is None and warehouse.path == self.warehouse.path

    def overwrite_partition(
        self, table: str, frame: pl.DataFrame, partition_column: str, window: Window
    ) -> WriteResult:
        """Delete and insert the window in one DuckDB transaction."""
        with self.warehouse.connect() as con:
            return strategies.overwrite_partition(con, table, frame, partition_column, window)

    def merge_upsert(
        self, table: str, frame: pl.DataFrame, key: list[str], order_by: list[str]
    ) -> WriteResult:
        """The newer-wins merge in one DuckDB transaction."""
        with self.warehouse.connect() as con:
            return strategies.merge_upsert(con, table, frame, key, order_by)

    def replace_keys(
        self, table: str, frame: pl.DataFrame, key: list[str], keys: pl.DataFrame
    ) -> WriteResult:
        """Delete the keys and insert their rows in one DuckDB transaction."""
        with self.warehouse.connect() as con:
            return strategies.replace_keys(con, table, frame, key, keys)

    def replace_all(self, table: str, frame: pl.DataFrame, key: list[str]) -> WriteResult:
        """Delete every row and insert ``frame`` in one DuckDB transaction."""
        with self.warehouse.connect() as con:
            return strategies.replace_all(con, table, frame, key)

    def exists(self, table: str) -> bool:
        """Whether the table is in the warehouse file."""
        with self.warehouse.connect(read_only=True) as con:
            return bool(existing_columns(con, table))

    def key_days(
        self, table: str, key: list[str], keys: pl.DataFrame, day_column: str
    ) -> list[dt.date]:
        """:func:`merge_impact.key_days` of the table as it is now."""
        with self.warehouse.connect() as con:
            return merge_impact.key_days(con, table, key, keys, day_column)

    def changed_days(
        self, table: str, frame: pl.DataFrame, key: list[str], order_by: list[str], day_column: str
    ) -> list[dt.date]:
        """:func:`merge_impact.changed_days` against the table as it is now."""
        with self.warehouse.connect() as con:
            return merge_impact.changed_days(con, table, frame, key, order_by, day_column)

    def count(self, table: str) -> int:
        """``count(*)`` of the table."""
        with self.warehouse.connect() as con:
            return con.execute(f"SELECT count(*) FROM {qualified(table)}").fetchone()[0]  # noqa: S608

    def read(self, table: str, column: str | None = None, window: Window | None = None):
        """``SELECT *``, limited to ``window`` on ``column`` when both are given."""
        sql, params = f"SELECT * FROM {qualified(table)}", []  # noqa: S608
        if column and window:
            sql += f" WHERE {quote_ident(column)} >= ? AND {quote_ident(column)} < ?"
            params = list(window)
        with self.warehouse.connect(read_only=True) as con:
            return query_frame(con, sql, params)

    def query(self, tables: list[str]) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A read-only connection to the warehouse file (every table is in it)."""
        return self.warehouse.connect(read_only=True)

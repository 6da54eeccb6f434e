"""The run-metadata database: where the ledger and the check results live.

By default that is the DuckDB warehouse file; with ``PLATFORM_LEDGER_URL`` it is a
PostgreSQL database that every run (every ECS task) shares
(:mod:`platform_assets.metadata_db_postgres`). Callers write each statement once,
with ``?`` placeholders and syntax both databases accept, and branch on
:attr:`MetadataConnection.dialect` only where they differ.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress

import duckdb
import polars as pl

from platform_assets.warehouse import query_frame, transaction

DUCKDB, POSTGRES = "duckdb", "postgres"


class MetadataConnection(ABC):
    """One connection to the run-metadata database, in autocommit unless in a transaction."""

    dialect: str

    @abstractmethod
    def execute(self, sql: str, params: Sequence | None = None) -> None:
        """Run one statement with ``?`` placeholders bound to ``params``."""

    @abstractmethod
    def query(self, sql: str, params: Sequence | None = None) -> list[tuple]:
        """Run a query and return all its rows."""

    @abstractmethod
    def frame(self, sql: str, params: Sequence | None = None) -> pl.DataFrame:
        """Run a query and return its rows as a polars DataFrame."""

    @abstractmethod
    def ensure(self, name: str, ddl: str) -> None:
        """Create the tables of ``ddl`` (idempotent statements) if they do not exist."""

    @abstractmethod
    def lock(self, keys: Iterable[str]) -> None:
        """Hold ``keys`` exclusively until the current transaction ends."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block in one transaction: committed at the end, rolled back on error."""
        self.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            with suppress(Exception):  # a dead connection: keep the original error
                self.execute("ROLLBACK")
            raise
        self.execute("COMMIT")


class DuckDBMetadata(MetadataConnection):
    """Run metadata in the DuckDB warehouse file (the local default)."""

    dialect = DUCKDB

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def execute(self, sql: str, params: Sequence | None = None) -> None:
        """Run one statement with ``?`` placeholders bound to ``params``."""
        self.con.execute(sql, params or [])

    def query(self, sql: str, params: Sequence | None = None) -> list[tuple]:
        """Run a query and return all its rows."""
        return self.con.execute(sql, params or []).fetchall()

    def frame(self, sql: str, params: Sequence | None = None) -> pl.DataFrame:
        """Run a query and return its rows as a polars DataFrame."""
        return query_frame(self.con, sql, list(params or []))

    def ensure(self, name: str, ddl: str) -> None:
        """Run the idempotent ``ddl`` (cheap on a local file, and the file may be replaced)."""
        self.con.execute(ddl)

    def lock(self, keys: Iterable[str]) -> None:
        """Nothing to do: a DuckDB file has one writer process, and a transaction at a time."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction, or the block joins the one open on this connection (a table
        write whose ledger record commits with it)."""
        with transaction(self.con):
            yield

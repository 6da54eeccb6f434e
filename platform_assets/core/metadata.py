"""The run-metadata database as the core sees it: a port that storage adapters implement.

The ledger and the check results live there: by default the DuckDB warehouse file
(:mod:`platform_assets.storage.metadata_duckdb`), or with ``PLATFORM_LEDGER_URL`` a
PostgreSQL database that every run shares (:mod:`platform_assets.storage.metadata_postgres`).
Callers write each statement once, with ``?`` placeholders and syntax both databases
accept, and branch on :attr:`MetadataConnection.dialect` only where they differ.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Protocol

import polars as pl

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


class MetadataSource(Protocol):
    """Where run metadata is read and written (the warehouse resource is one)."""

    def metadata_db(self) -> AbstractContextManager[MetadataConnection]:
        """A connection to the run-metadata database (the open session's one, if any)."""
        ...

    def metadata_transaction(self) -> AbstractContextManager[None]:
        """One run-metadata transaction that every ledger and check write inside joins."""
        ...

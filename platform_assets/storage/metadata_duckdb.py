"""Run metadata in the DuckDB warehouse file: the local adapter of
:class:`platform_assets.core.metadata.MetadataConnection`."""

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import duckdb
import polars as pl

from platform_assets.core.metadata import DUCKDB, MetadataConnection
from platform_assets.storage.warehouse import query_frame, transaction


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

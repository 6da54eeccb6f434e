"""The warehouse as a Dagster resource, and where its run metadata lives."""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path

import dagster as dg
import duckdb

from platform_assets.core.metadata import MetadataConnection
from platform_assets.storage.metadata_duckdb import DuckDBMetadata
from platform_assets.storage.metadata_session import SharedConnections
from platform_assets.storage.warehouse import connect

_SHARED: SharedConnections[duckdb.DuckDBPyConnection] = SharedConnections(
    "platform_warehouse_session"
)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file: hands out short-lived connections that retry on lock.

    Run metadata (the ledger ``platform.pipeline_runs`` and ``platform.check_results``)
    lives in the same file, or, with ``ledger_url`` (``PLATFORM_LEDGER_URL``), in a
    PostgreSQL database shared by every run.
    """

    path: str
    lock_timeout_s: float = 120.0
    ledger_url: str | None = None

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection that is closed when the block ends (or the open session's one)."""
        opener = partial(connect, Path(self.path), self.lock_timeout_s, read_only=read_only)
        with _SHARED.connect(self.path, opener) as con:
            yield con

    @contextmanager
    def metadata_db(self) -> Iterator[MetadataConnection]:
        """A connection to the run-metadata database (the open session's one, if any)."""
        if self.ledger_url:
            from platform_assets.storage.metadata_postgres import postgres_connection

            with postgres_connection(self.ledger_url) as con:
                yield con
        else:
            with self.connect() as con:
                yield DuckDBMetadata(con)

    @contextmanager
    def metadata_transaction(self) -> Iterator[None]:
        """One run-metadata transaction that every ledger and check write inside joins."""
        with self.session(), self.metadata_db() as con, con.transaction():
            yield

    @contextmanager
    def session(self) -> Iterator[None]:
        """One connection per database shared by every ``connect()`` inside the block.

        For short bursts of many small statements (planning a launch, the ledger
        rows of a step). Each connection opens on first use; once the warehouse
        file is opened it stays locked until the block ends, so keep the block out
        of long computations.
        """
        with ExitStack() as stack:
            opener = partial(connect, Path(self.path), self.lock_timeout_s)
            stack.enter_context(_SHARED.session(self.path, opener))
            if self.ledger_url:  # psycopg2 is imported only for a Postgres ledger
                from platform_assets.storage.metadata_postgres import postgres_session

                stack.enter_context(postgres_session(self.ledger_url))
            yield

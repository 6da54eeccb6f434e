"""The warehouse as a Dagster resource."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import dagster as dg
import duckdb

from platform_assets.warehouse import connect

_SHARED: ContextVar[tuple[str, duckdb.DuckDBPyConnection] | None] = ContextVar(
    "platform_warehouse_session", default=None
)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file: hands out short-lived connections that retry on lock."""

    path: str
    lock_timeout_s: float = 120.0

    def _shared(self) -> duckdb.DuckDBPyConnection | None:
        shared = _SHARED.get()
        return shared[1] if shared is not None and shared[0] == self.path else None

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection that is closed when the block ends (or the open session's one)."""
        shared = self._shared()
        if shared is not None:
            yield shared
            return
        with connect(Path(self.path), self.lock_timeout_s, read_only=read_only) as con:
            yield con

    @contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One read-write connection shared by every ``connect()`` inside the block.

        For short bursts of many small statements (planning a launch): the file
        stays locked for the whole block, so keep it out of long computations.
        """
        shared = self._shared()
        if shared is not None:
            yield shared
            return
        with connect(Path(self.path), self.lock_timeout_s) as con:
            token = _SHARED.set((self.path, con))
            try:
                yield con
            finally:
                _SHARED.reset(token)

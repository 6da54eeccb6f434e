"""The warehouse as a Dagster resource."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from platform_assets.warehouse import connect


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file: hands out short-lived connections that retry on lock."""

    path: str
    lock_timeout_s: float = 120.0

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection that is closed when the block ends."""
        with connect(Path(self.path), self.lock_timeout_s, read_only=read_only) as con:
            yield con

"""The ``store`` fixture: every test of this folder runs on each table store, fresh."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from platform_assets.storage.table_store import TableStore
from tests.stores.backends import KINDS, open_store


@dataclass(frozen=True)
class Location:
    """Where a test's store is: what a writer child needs to open the same store."""

    kind: str
    path: str


@pytest.fixture(params=KINDS)
def location(request, tmp_path) -> Location:
    """A new DuckDB file, or a root in a new bucket on the session's moto server."""
    if request.param == "duckdb":
        return Location("duckdb", str(tmp_path / "warehouse.duckdb"))
    bucket = request.getfixturevalue("bucket")  # also puts the endpoint in the environment
    return Location("delta", f"s3://{bucket}/tables")


@pytest.fixture
def store(location) -> TableStore:
    """The store at ``location``, as the pipeline opens it."""
    return open_store(location.kind, location.path)

"""DuckDB SQL over Delta tables: each table a view of one Delta snapshot."""

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb

from platform_assets.storage.delta_location import split_table
from platform_assets.storage.delta_store import DeltaTableStore, sql_dataset
from platform_assets.storage.warehouse import qualified, quote_ident, use_utc


@contextmanager
def delta_views(store: DeltaTableStore, tables: list[str]) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection where each existing table is a view of the same name.

    Each view reads one Delta snapshot (taken on entry) through its pyarrow
    dataset, so SQL written for the warehouse (``SELECT ... FROM curated.orders``)
    runs unchanged, in UTC as there; a missing table has no view.
    """
    con = duckdb.connect()
    try:
        use_utc(con)
        for table in tables:
            snapshot = store.load(table)
            if snapshot is None:
                continue
            dataset = sql_dataset(snapshot)
            source = "platform_delta_" + "__".join(split_table(table))
            con.register(source, dataset)
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(split_table(table)[0])}")
            con.execute(f"CREATE VIEW {qualified(table)} AS SELECT * FROM {quote_ident(source)}")  # noqa: S608
        yield con
    finally:
        con.close()

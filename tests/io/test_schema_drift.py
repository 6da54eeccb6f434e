"""Schema drift on published tables: added columns are added, drops and retypes are errors."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from platform_assets.storage.strategies import merge_upsert, overwrite_partition
from platform_assets.storage.table_schema import SchemaDriftError
from platform_assets.storage.warehouse import connect, qualified
from tests.io.workload import CURRENT, CURRENT_KEY, MART, MART_KEY, ORDERING, entity_rows, mart_rows
from tests.io.workload import table_checksum as checksum

DAY = dt.date(2024, 1, 2)
ROWS = 500


def _write(db, strategy: str, frame: pl.DataFrame):
    with connect(db) as con:
        if strategy == "overwrite":
            return overwrite_partition(
                con, MART, frame, "business_date", (DAY, DAY + dt.timedelta(1))
            )
        return merge_upsert(con, CURRENT, frame, CURRENT_KEY, ORDERING)


def _new_version(strategy: str) -> pl.DataFrame:
    """Version 1: the day again, or a batch updating half of the keys and adding as many."""
    if strategy == "overwrite":
        return mart_rows(DAY, 1, ROWS)
    return entity_rows(1, ROWS // 2, ROWS + ROWS // 2)


@pytest.fixture(params=["overwrite", "merge"])
def published(request, tmp_path):
    """(db, strategy, table, key) with version 0 published (for the mart: two days)."""
    strategy, db = request.param, tmp_path / "warehouse.duckdb"
    if strategy == "overwrite":
        with connect(db) as con:
            for day in (DAY - dt.timedelta(days=1), DAY):
                overwrite_partition(
                    con,
                    MART,
                    mart_rows(day, 0, ROWS),
                    "business_date",
                    (day, day + dt.timedelta(1)),
                )
        return db, strategy, MART, MART_KEY
    _write(db, strategy, entity_rows(0, 0, ROWS))
    return db, strategy, CURRENT, CURRENT_KEY


def _snapshot(db, table: str, key: list[str]):
    with connect(db, read_only=True) as con:
        described = con.execute(f"DESCRIBE {qualified(table)}").fetchall()
        columns = [row[0] for row in described]
        return described, checksum(con, table, columns, key)


def test_added_column_is_added_nullable_and_old_rows_are_null(published):
    db, strategy, table, key = published
    frame = _new_version(strategy).with_columns(channel=pl.lit("web"))
    result = _write(db, strategy, frame)
    assert result.columns_added == ["channel"]
    with connect(db, read_only=True) as con:
        column = con.execute(
            "SELECT data_type, is_nullable FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? AND column_name = 'channel'",
            table.split("."),
        ).fetchall()
        counts = con.execute(
            f"SELECT channel, count(*) FROM {qualified(table)} GROUP BY ALL ORDER BY ALL"  # noqa: S608
        ).fetchall()
    assert column == [("VARCHAR", "YES")]
    # rows written before the column existed are NULL; the new rows carry the value
    assert counts == [("web", frame.height), (None, ROWS if strategy == "overwrite" else ROWS // 2)]
    assert _write(db, strategy, frame).columns_added == []  # the second time it is just there


@pytest.mark.parametrize(
    ("change", "column"),
    [
        (lambda f: f.with_columns(pl.col("amount").cast(pl.Float64)), "amount"),
        (lambda f: f.with_columns(pl.col("customer_id").cast(pl.Int32)), "customer_id"),
    ],
    ids=["decimal-to-double", "bigint-to-integer"],
)
def test_retyped_column_fails_naming_column_and_table(published, change, column):
    db, strategy, table, key = published
    before = _snapshot(db, table, key)
    frame = change(_new_version(strategy)).with_columns(channel=pl.lit("web"))
    with pytest.raises(SchemaDriftError, match=rf"table {table}: column\(s\) retyped: {column} "):
        _write(db, strategy, frame)
    assert _snapshot(db, table, key) == before  # nothing written, no column added


def test_dropped_column_fails_naming_it(published):
    db, strategy, table, key = published
    before = _snapshot(db, table, key)
    frame = _new_version(strategy).drop("status")
    with pytest.raises(SchemaDriftError, match=rf"table {table}: column\(s\) status missing"):
        _write(db, strategy, frame)
    assert _snapshot(db, table, key) == before


def test_column_names_match_case_insensitively_as_in_duckdb(published):
    db, strategy, table, key = published
    frame = _new_version(strategy).rename({"status": "Status"})
    assert _write(db, strategy, frame).columns_added == []
    described, _ = _snapshot(db, table, key)
    assert "status" in [row[0] for row in described]
    assert "Status" not in [row[0] for row in described]

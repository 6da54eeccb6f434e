"""Content checksums and row counts of slices of a published table, per day."""

import datetime as dt

import duckdb

from platform_assets.core.fingerprint import EMPTY_INPUT
from platform_assets.storage.table_schema import existing_columns
from platform_assets.storage.warehouse import qualified, quote_ident


def daily_slice_checksums(
    con: duckdb.DuckDBPyConnection, table: str, day_column: str, days: list[dt.date]
) -> dict[dt.date, str]:
    """Per day: row count and an order-independent hash of the rows whose ``day_column``
    falls on that day (``"empty"`` for a day without rows or a missing table)."""
    result = {day: EMPTY_INPUT for day in days}
    if not days or not existing_columns(con, table):
        return result
    column = quote_ident(day_column)
    rows = con.execute(
        f"SELECT CAST(t.{column} AS DATE) AS day, count(*), bit_xor(hash(t)) "  # noqa: S608
        f"FROM {qualified(table)} AS t WHERE t.{column} >= ? AND t.{column} < ? GROUP BY day",
        [min(days), max(days) + dt.timedelta(days=1)],
    ).fetchall()
    for day, count, digest in rows:
        if day in result:
            result[day] = f"rows:{count}:hash:{digest:016x}"
    return result


def daily_row_counts(
    con: duckdb.DuckDBPyConnection, table: str, day_column: str, days: list[dt.date]
) -> dict[str, int]:
    """Per ISO day: the rows whose ``day_column`` falls on that day (days without rows and a
    missing table left out)."""
    if not days or not existing_columns(con, table):
        return {}
    column = quote_ident(day_column)
    rows = con.execute(
        f"SELECT CAST({column} AS DATE), count(*) FROM {qualified(table)} "  # noqa: S608
        f"WHERE CAST({column} AS DATE) IN (SELECT unnest(?::DATE[])) GROUP BY ALL",
        [days],
    ).fetchall()
    return {day.isoformat(): count for day, count in rows}

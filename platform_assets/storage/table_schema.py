"""Create published tables and apply the schema-drift policy.

Policy: a new column in the output is added to the table as a nullable column;
a column the table has but the output lacks, or one whose type changed, is an
error naming the column and the table. Nothing is ever dropped or retyped
silently. Column names match case-insensitively, as in DuckDB.
"""

from __future__ import annotations

import duckdb
import polars as pl

from platform_assets.storage.warehouse import qualified, quote_ident

_SIMPLE_TYPES = {
    pl.Int8: "TINYINT",
    pl.Int16: "SMALLINT",
    pl.Int32: "INTEGER",
    pl.Int64: "BIGINT",
    pl.UInt8: "UTINYINT",
    pl.UInt16: "USMALLINT",
    pl.UInt32: "UINTEGER",
    pl.UInt64: "UBIGINT",
    pl.Float32: "FLOAT",
    pl.Float64: "DOUBLE",
    pl.Boolean: "BOOLEAN",
    pl.String: "VARCHAR",
    pl.Binary: "BLOB",
    pl.Date: "DATE",
    pl.Time: "TIME",
}


class SchemaDriftError(ValueError):
    """An output does not fit its published table (a dropped or retyped column)."""


def duckdb_type(dtype: pl.DataType) -> str:
    """The DuckDB column type for a polars dtype."""
    if isinstance(dtype, pl.Decimal):
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMP WITH TIME ZONE" if dtype.time_zone else "TIMESTAMP"
    for simple, name in _SIMPLE_TYPES.items():
        if dtype == simple:
            return name
    raise TypeError(f"no DuckDB type mapping for polars dtype {dtype}")


def _split(table: str) -> tuple[str, str]:
    schema, _, name = table.rpartition(".")
    return schema or "main", name


def existing_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column name -> DuckDB type of ``schema.table``, empty if it does not exist."""
    schema, name = _split(table)
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ? "
        "ORDER BY ordinal_position",
        [schema, name],
    ).fetchall()
    return dict(rows)


def ensure_table(con: duckdb.DuckDBPyConnection, table: str, schema: pl.Schema) -> list[str]:
    """Create ``table`` for ``schema`` or reconcile it; return the columns added.

    Raises :class:`SchemaDriftError` (naming the table and the columns) before
    changing anything when a column is missing from ``schema`` or retyped.
    """
    wanted = {col: duckdb_type(dtype) for col, dtype in schema.items()}
    current = existing_columns(con, table)
    if not current:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(_split(table)[0])}")
        columns = ", ".join(f"{quote_ident(c)} {t}" for c, t in wanted.items())
        con.execute(f"CREATE TABLE {qualified(table)} ({columns})")
        return []
    by_lower = {c.lower(): c for c in wanted}
    missing = [c for c in current if c.lower() not in by_lower]
    if missing:
        raise SchemaDriftError(
            f"table {table}: column(s) {', '.join(missing)} missing from the output; "
            "dropping a published column is not allowed"
        )
    retyped = [
        f"{c} ({t} -> {wanted[by_lower[c.lower()]]})"
        for c, t in current.items()
        if wanted[by_lower[c.lower()]] != t
    ]
    if retyped:
        raise SchemaDriftError(
            f"table {table}: column(s) retyped: {', '.join(retyped)}; "
            "changing a published column's type is not allowed"
        )
    known = {c.lower() for c in current}
    added = [c for c in wanted if c.lower() not in known]
    for col in added:
        con.execute(f"ALTER TABLE {qualified(table)} ADD COLUMN {quote_ident(col)} {wanted[col]}")
    return added

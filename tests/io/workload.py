"""Deterministic frames and row checksums shared by the tests and their child processes."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from platform_assets.storage.warehouse import qualified, quote_ident

MART = "marts.daily_lines"
DAY_COLUMN = "business_date"  # the mart's partition column
MART_KEY = [DAY_COLUMN, "line_id"]
CURRENT = "curated.entities"
CURRENT_KEY = ["entity_id"]
ORDERING = ["updated_at", "seq"]
MONEY = pl.Decimal(18, 2)
EPOCH = dt.datetime(2024, 1, 1)
STATUSES = ["placed", "paid", "shipped", "cancelled", "delivered", "refunded"]


def mart_rows(day: dt.date, version: int, rows: int) -> pl.DataFrame:
    """One day of mart rows; every ``version`` has other values and a different row count."""
    n = rows + max(1, rows // 100) * (version % 3)
    return (
        pl.DataFrame({"line_id": pl.int_range(0, n, eager=True)})
        .with_columns(
            business_date=pl.lit(day, pl.Date),
            customer_id=(pl.col("line_id") * 7919 + version) % 100_003,
            status=pl.lit(pl.Series(STATUSES)).gather((pl.col("line_id") + version) % 6),
            currency=pl.when((pl.col("line_id") + version) % 3 == 0)
            .then(pl.lit("EUR"))
            .otherwise(pl.lit("USD")),
            amount=((pl.col("line_id") * 31 + version * 17) % 1_000_000).cast(MONEY) / 100,
        )
        .with_columns(pl.col("amount").cast(MONEY))
        .select("business_date", "line_id", "customer_id", "status", "currency", "amount")
    )


def entity_rows(version: int, lo: int, hi: int) -> pl.DataFrame:
    """CDC current-state rows for keys ``lo..hi-1``, as of ``version`` (newer = larger).

    A tenth of the keys are tombstones in every version (which tenth depends on it).
    """
    return (
        pl.DataFrame({"entity_id": pl.int_range(lo, hi, eager=True)})
        .with_columns(
            customer_id=(pl.col("entity_id") * 7919 + version) % 100_003,
            status=pl.lit(pl.Series(STATUSES)).gather((pl.col("entity_id") + version) % 6),
            amount=((pl.col("entity_id") * 31 + version * 17) % 1_000_000).cast(MONEY) / 100,
            updated_at=pl.lit(EPOCH) + pl.duration(hours=version),
            seq=pl.lit(version, pl.Int64),
            is_deleted=pl.col("entity_id") % 10 == version % 10,
        )
        .with_columns(pl.col("amount").cast(MONEY))
    )


_OPERATORS = ("=", "<>", "<", ">=")


def _checksum_sql(relation: str, columns: list[str], key: list[str], where: str = "") -> str:
    row = "CAST(ROW({}) AS VARCHAR)".format(", ".join(quote_ident(c) for c in columns))
    order = ", ".join(quote_ident(c) for c in key)
    return (
        f"SELECT count(*), coalesce(md5(string_agg(r, chr(10) ORDER BY {order})), '') "  # noqa: S608
        f"FROM (SELECT *, {row} AS r FROM {relation} {where})"
    )


def table_checksum(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: list[str],
    key: list[str],
    where: tuple[str, str, object] | None = None,
) -> tuple[int, str]:
    """(row count, md5 of the rows as text sorted by ``key``) of ``table``.

    ``where`` optionally filters on one column: ``(column, operator, value)``,
    the value bound as a parameter. The expected states have unique keys, so
    the key order is canonical; duplicated keys change the count and the text.
    """
    if where is None:
        return con.execute(_checksum_sql(qualified(table), columns, key)).fetchone()
    column, operator, value = where
    if operator not in _OPERATORS:
        raise ValueError(f"unsupported operator {operator!r}")
    condition = f"WHERE {quote_ident(column)} {operator} ?"
    return con.execute(_checksum_sql(qualified(table), columns, key, condition), [value]).fetchone()


def frame_checksum(frame: pl.DataFrame, key: list[str]) -> tuple[int, str]:
    """The same checksum as :func:`table_checksum`, computed from an expected frame."""
    con = duckdb.connect()
    try:
        con.register("expected", frame.to_arrow())
        return con.execute(_checksum_sql("expected", frame.columns, key)).fetchone()
    finally:
        con.close()

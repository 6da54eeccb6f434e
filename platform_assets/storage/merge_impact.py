"""Which business days a merge actually changes, computed before the merge runs.

A row changes the table when its key is new, or when it is newer by the merge's
own total order (:func:`~platform_assets.storage.strategies.newer_condition` over the
ordering columns, then every remaining column): exactly the rows the merge updates.
An event older than (or equal to) what is stored changes nothing and names no
day. The result may name a day whose figures end up equal (the downstream skip
logic then skips it); it never misses a changed day.
"""

import datetime as dt

import duckdb
import polars as pl

from platform_assets.storage.strategies import newer_condition
from platform_assets.storage.table_schema import existing_columns
from platform_assets.storage.warehouse import FrameStream, qualified, quote_ident

_INCOMING = "platform_impact_incoming"


def changed_days(
    con: duckdb.DuckDBPyConnection,
    table: str,
    frame: pl.DataFrame,
    key: list[str],
    order_by: list[str],
    day_column: str,
) -> list[dt.date]:
    """Business days (by ``day_column``) of rows the merge of ``frame`` will change."""
    if frame.is_empty():
        return []
    current = existing_columns(con, table)
    if not current:
        days = frame.get_column(day_column).cast(pl.Date).unique().drop_nulls()
        return sorted(days.to_list())
    fixed = {c.lower() for c in [*key, *order_by]}
    rest = [c for c in current if c.lower() not in fixed and c in frame.columns]
    newer = newer_condition([*order_by, *rest], "s", "t", quote_ident)
    on = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}" for k in key)
    new_key = " AND ".join(f"t.{quote_ident(k)} IS NULL" for k in key)
    day = quote_ident(day_column)
    con.register(_INCOMING, FrameStream(frame))
    try:
        rows = con.execute(
            f"WITH changed AS (SELECT s.{day} AS new_day, t.{day} AS old_day "  # noqa: S608
            f"FROM {_INCOMING} AS s LEFT JOIN {qualified(table)} AS t ON {on} "
            f"WHERE ({new_key}) OR ({newer})) "
            "SELECT DISTINCT CAST(new_day AS DATE) FROM changed WHERE new_day IS NOT NULL "
            "UNION SELECT DISTINCT CAST(old_day AS DATE) FROM changed WHERE old_day IS NOT NULL "
            "ORDER BY 1"
        ).fetchall()
    finally:
        con.unregister(_INCOMING)
    return [row[0] for row in rows]


def key_days(
    con: duckdb.DuckDBPyConnection,
    table: str,
    key: list[str],
    keys: pl.DataFrame,
    day_column: str,
) -> list[dt.date]:
    """Business days (by ``day_column``) of the table's current rows of ``keys``."""
    if keys.is_empty() or not existing_columns(con, table):
        return []
    on = " AND ".join(f"t.{quote_ident(k)} = s.{quote_ident(k)}" for k in key)
    day = quote_ident(day_column)
    con.register(_INCOMING, FrameStream(keys.select(key).unique()))
    try:
        rows = con.execute(
            f"SELECT DISTINCT CAST(t.{day} AS DATE) FROM {qualified(table)} AS t "  # noqa: S608
            f"JOIN {_INCOMING} AS s ON {on} WHERE t.{day} IS NOT NULL ORDER BY 1"
        ).fetchall()
    finally:
        con.unregister(_INCOMING)
    return [row[0] for row in rows]

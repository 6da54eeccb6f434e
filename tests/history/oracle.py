"""The oracle: published tables recomputed in plain SQL from the final landing files.

Independent of the platform's code: a fresh in-memory DuckDB reads every landing CSV
as text, keeps the rows whose values all parse, takes the latest event per order by
(updated_at, seq, is_deleted, customer_id, status, amount, currency, created_at) with
NULLs lowest, and aggregates the marts from that current state. The platform's tables
are attached as database ``w`` (:class:`WarehouseFile`: the DuckDB file, read-only;
:class:`DeltaOnS3`: each Delta table's latest snapshot loaded with ``deltalake`` into an
in-memory database) and compared as multisets.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Protocol

import duckdb
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from tests.history.model import START

DIFF_ROWS = 10
ORDER_COLUMNS = (
    "order_id, customer_id, status, amount, currency, created_at, updated_at, seq, is_deleted"
)
MART_COLUMNS = "business_date, status, currency, orders, revenue"
REVENUE_COLUMNS = "business_date, segment, currency, orders, revenue"
CUSTOMER_COLUMNS = "customer_id, segment, country, signup_date, snapshot_date"
# table -> (columns, casts applied to the platform's table so types compare exactly)
TABLES = {
    "curated.orders": (
        ORDER_COLUMNS,
        "order_id::BIGINT, customer_id::BIGINT, status::VARCHAR, amount::DECIMAL(18,2), "
        "currency::VARCHAR, created_at::TIMESTAMP, updated_at::TIMESTAMP, seq::BIGINT, "
        "is_deleted::BOOLEAN",
    ),
    "marts.daily_orders": (
        MART_COLUMNS,
        "business_date::DATE, status::VARCHAR, currency::VARCHAR, orders::BIGINT, "
        "revenue::DECIMAL(18,2)",
    ),
    "marts.daily_revenue_by_segment": (
        REVENUE_COLUMNS,
        "business_date::DATE, segment::VARCHAR, currency::VARCHAR, orders::BIGINT, "
        "revenue::DECIMAL(18,2)",
    ),
    "curated.customers_daily": (
        CUSTOMER_COLUMNS,
        "customer_id::BIGINT, segment::VARCHAR, country::VARCHAR, signup_date::DATE, "
        "snapshot_date::DATE",
    ),
}

EVENTS = """
CREATE TEMP TABLE events AS
WITH raw AS (SELECT * FROM read_csv($files, all_varchar = true, header = true)),
typed AS (
    SELECT op, status, currency,
        seq AS seq_text, order_id AS order_text, customer_id AS customer_text,
        amount AS amount_text, created_at AS created_text, updated_at AS updated_text,
        TRY_CAST(seq AS BIGINT) AS seq, TRY_CAST(order_id AS BIGINT) AS order_id,
        TRY_CAST(customer_id AS BIGINT) AS customer_id,
        TRY_CAST(amount AS DECIMAL(18, 2)) AS amount,
        TRY_CAST(created_at AS TIMESTAMP) AS created_at,
        TRY_CAST(updated_at AS TIMESTAMP) AS updated_at
    FROM raw)
SELECT op, seq, order_id, customer_id, status, amount, currency, created_at, updated_at
FROM typed
WHERE op IN ('I', 'U', 'D') AND order_id IS NOT NULL
    AND (seq_text IS NULL OR seq IS NOT NULL)
    AND (customer_text IS NULL OR customer_id IS NOT NULL)
    AND (amount_text IS NULL OR amount IS NOT NULL)
    AND (created_text IS NULL OR created_at IS NOT NULL)
    AND (updated_text IS NULL OR updated_at IS NOT NULL)
"""
CURRENT = """
CREATE TEMP TABLE expected_orders AS
SELECT order_id, customer_id, status, amount, currency, created_at, updated_at, seq, is_deleted
FROM (
    SELECT *, op = 'D' AS is_deleted, row_number() OVER (
        PARTITION BY order_id ORDER BY updated_at DESC NULLS LAST, seq DESC NULLS LAST,
            (op = 'D') DESC NULLS LAST, customer_id DESC NULLS LAST, status DESC NULLS LAST,
            amount DESC NULLS LAST, currency DESC NULLS LAST, created_at DESC NULLS LAST
    ) AS rn
    FROM events)
WHERE rn = 1
"""
CUSTOMERS = """
CREATE TEMP TABLE expected_customers AS
SELECT DISTINCT TRY_CAST(customer_id AS BIGINT) AS customer_id, segment, country,
    TRY_CAST(signup_date AS DATE) AS signup_date,
    CAST(regexp_extract(filename, 'dt=(\\d{4}-\\d{2}-\\d{2})', 1) AS DATE) AS snapshot_date
FROM read_csv($files, all_varchar = true, header = true, filename = true)
"""
PLACED = """
CREATE TEMP TABLE placed AS
SELECT CAST(created_at AS DATE) AS business_date, customer_id, status, currency, amount
FROM expected_orders
WHERE NOT is_deleted AND CAST(created_at AS DATE) >= $start AND CAST(created_at AS DATE) < $today
"""
MARTS = """
CREATE TEMP TABLE expected_daily_orders AS
SELECT business_date, status, currency, count(*)::BIGINT AS orders,
    CAST(sum(amount) AS DECIMAL(18, 2)) AS revenue
FROM placed GROUP BY ALL;
CREATE TEMP TABLE expected_revenue AS
SELECT p.business_date, coalesce(s.segment, 'unknown') AS segment, p.currency,
    count(*)::BIGINT AS orders, CAST(sum(p.amount) AS DECIMAL(18, 2)) AS revenue
FROM placed p LEFT JOIN expected_customers s
    ON s.customer_id = p.customer_id AND s.snapshot_date = p.business_date
GROUP BY ALL
"""
EXPECTED = {
    "curated.orders": "expected_orders",
    "marts.daily_orders": "expected_daily_orders",
    "marts.daily_revenue_by_segment": "expected_revenue",
    "curated.customers_daily": "expected_customers",
}
EMPTY = {
    "orders": (
        "CREATE TEMP TABLE events AS SELECT NULL::VARCHAR AS op, NULL::BIGINT AS seq, "
        "NULL::BIGINT AS order_id, NULL::BIGINT AS customer_id, NULL::VARCHAR AS status, "
        "NULL::DECIMAL(18,2) AS amount, NULL::VARCHAR AS currency, NULL::TIMESTAMP AS "
        "created_at, NULL::TIMESTAMP AS updated_at WHERE false"
    ),
    "customers": (
        "CREATE TEMP TABLE expected_customers AS SELECT NULL::BIGINT AS customer_id, "
        "NULL::VARCHAR AS segment, NULL::VARCHAR AS country, NULL::DATE AS signup_date, "
        "NULL::DATE AS snapshot_date WHERE false"
    ),
}


class Published(Protocol):
    """Where the published tables are read from."""

    def attach(self, con: duckdb.DuckDBPyConnection) -> bool:
        """Attach them to ``con`` as database ``w``; False if there is nothing to attach."""


class WarehouseFile:
    """The DuckDB warehouse file (``PLATFORM_STORAGE=local``), attached read-only."""

    def __init__(self, path: Path):
        self.path = path

    def attach(self, con: duckdb.DuckDBPyConnection) -> bool:
        if not self.path.exists():
            return False
        con.execute(f"ATTACH '{self.path}' AS w (READ_ONLY)")
        return True


class DeltaOnS3:
    """Delta tables at ``<root>/<schema>/<table>`` (``PLATFORM_STORAGE=s3``): each
    table's latest snapshot read into an in-memory database ``w``."""

    def __init__(self, root: str, storage_options: dict[str, str]):
        self.root, self.options = root.rstrip("/"), storage_options

    def attach(self, con: duckdb.DuckDBPyConnection) -> bool:
        con.execute("ATTACH ':memory:' AS w")
        for table in TABLES:
            schema, name = table.split(".")
            try:
                snapshot = DeltaTable(f"{self.root}/{schema}/{name}", storage_options=self.options)
            except TableNotFoundError:
                continue
            con.register("delta_snapshot", snapshot.to_pyarrow_table())
            con.execute(f"CREATE SCHEMA IF NOT EXISTS w.{schema}")
            con.execute(f"CREATE TABLE w.{table} AS SELECT * FROM delta_snapshot")  # noqa: S608
            con.unregister("delta_snapshot")
        return True


def _landing_files(landing: Path, dataset: str) -> list[str]:
    return sorted(str(p) for p in (landing / dataset).glob("dt=*/*.csv"))


def build_expected(con: duckdb.DuckDBPyConnection, landing: Path, today: dt.date) -> None:
    """Create the expected tables in ``con`` from the landing files under ``landing``."""
    con.execute("SET TimeZone = 'UTC'")
    orders, customers = _landing_files(landing, "orders"), _landing_files(landing, "customers")
    if orders:
        con.execute(EVENTS, {"files": orders})
    else:
        con.execute(EMPTY["orders"])
    con.execute(CURRENT)
    if customers:
        con.execute(CUSTOMERS, {"files": customers})
    else:
        con.execute(EMPTY["customers"])
    con.execute(PLACED, {"start": START, "today": today})
    for statement in MARTS.split(";"):
        con.execute(statement)


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, name = table.split(".")
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'w' "
        "AND schema_name = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    return found[0][0] > 0


def _format(row: tuple) -> str:
    return "(" + ", ".join(str(v) for v in row) + ")"


def compare(published: Published, landing: Path, today: dt.date) -> list[str]:
    """Differences between the published tables and the oracle, one block per table."""
    con = duckdb.connect()
    try:
        build_expected(con, landing, today)
        attached = published.attach(con)
        diffs = []
        for table, (columns, casts) in TABLES.items():
            expected = EXPECTED[table]
            # identifiers below are this module's constants, never input
            if attached and _table_exists(con, table):
                actual = f"(SELECT {casts} FROM w.{table})"  # noqa: S608
            else:
                actual = f"(SELECT {columns} FROM {expected} WHERE false)"  # noqa: S608
            mine = f"SELECT {columns} FROM {expected}"  # noqa: S608
            theirs = f"SELECT * FROM {actual}"  # noqa: S608
            missing = con.execute(f"{mine} EXCEPT ALL {theirs} ORDER BY ALL").fetchall()
            extra = con.execute(f"{theirs} EXCEPT ALL {mine} ORDER BY ALL").fetchall()
            if missing or extra:
                total = len(con.execute(mine).fetchall())
                lines = [
                    f"{table}: {len(missing)} row(s) only in expected, {len(extra)} only in "
                    f"published (expected {total} rows; columns {columns})"
                ]
                lines += [f"    - expected only: {_format(r)}" for r in missing[:DIFF_ROWS]]
                lines += [f"    + published only: {_format(r)}" for r in extra[:DIFF_ROWS]]
                diffs.append("\n".join(lines))
        return diffs
    finally:
        con.close()

"""dlt's merge of the same landing days into DuckDB, beside the floor and the platform.

The days' CSV files are read by DuckDB with the contract's types (the fastest reader at
hand, so dlt gets its best case), ``is_deleted`` is ``op = 'D'``, and ``_version`` is
``updated_at`` then ``seq`` as fixed-width text: dlt's ``dedup_sort`` takes one column,
so the composite total order is folded into one, and the event dlt keeps per order
within a load is deterministic. dlt's ``delete-insert`` merge then replaces the stored
row of every loaded key whether the loaded event is newer or not, so an older
re-delivery wins; comparing its table with the floor's shows whether that happened.
The mart is the floor's SQL over dlt's table.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dlt
import duckdb

from bench import floor

_EVENTS = """
SELECT order_id, customer_id, status, amount, currency, created_at, updated_at, seq,
       op = 'D' AS is_deleted,
       strftime(updated_at, '%Y-%m-%d %H:%M:%S.%f') || lpad(seq::VARCHAR, 20, '0') AS _version
FROM read_csv(?, header = true, columns = {
    'op': 'VARCHAR', 'seq': 'BIGINT', 'order_id': 'BIGINT', 'customer_id': 'BIGINT',
    'status': 'VARCHAR', 'amount': 'DECIMAL(18, 2)', 'currency': 'VARCHAR',
    'created_at': 'TIMESTAMP', 'updated_at': 'TIMESTAMP'})
"""
_MART_DDL = """
CREATE SCHEMA IF NOT EXISTS marts;
CREATE TABLE IF NOT EXISTS marts.daily_orders (
    business_date DATE, status VARCHAR, currency VARCHAR, orders BIGINT, revenue DECIMAL(18, 2)
);
"""
HINTS = {
    "_version": {"dedup_sort": "desc"},
    "created_at": {"timezone": False},
    "updated_at": {"timezone": False},
}


def materialize(database: Path, pipelines_dir: Path, days: dict[dt.date, list[Path]]) -> int:
    """Load the days' events with dlt's merge (one load), then publish each day's mart."""
    files = [str(path) for day in sorted(days) for path in days[day]]
    with duckdb.connect() as reader:
        events = reader.execute(_EVENTS, [files]).to_arrow_table()
    pipeline = dlt.pipeline(
        pipeline_name="bench_orders",
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name="curated",
        pipelines_dir=str(pipelines_dir),
    )
    orders = dlt.resource(
        events,
        name="orders",
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        primary_key="order_id",
        columns=HINTS,
    )
    pipeline.run(orders)
    con = duckdb.connect(str(database))
    try:
        con.execute(_MART_DDL)
        for day in sorted(days):
            floor.publish_mart(con, day)
    finally:
        con.close()
    return events.num_rows

"""Show the run ledger: recent attempts and a per-dataset summary (``make ledger``)."""

import argparse
import sys

import polars as pl

from platform_assets.core.ledger import ledger_db
from platform_assets.core.metadata import DUCKDB, POSTGRES, MetadataConnection
from platform_assets.orchestration.warehouse_resource import WarehouseResource
from platform_assets.settings import load_settings
from platform_assets.storage.metadata_postgres import MetadataDatabaseError, redact_url

_RECENT_ATTEMPTS = {
    DUCKDB: "SELECT CASE WHEN starts_with(run_id, 'plan-') THEN 'planned' ELSE run_id[:8] END "
    "AS run, dataset, partition, attempt, status, forced, rows_in, "
    "rows_written, code_version, (started_at AT TIME ZONE 'UTC')::TIMESTAMP(0) AS started_utc, "
    "round(epoch(completed_at) - epoch(started_at), 2) AS seconds, "
    "coalesce(error, note) AS detail "
    "FROM platform.pipeline_runs ORDER BY started_at DESC, run_id, dataset, partition LIMIT ?",
    POSTGRES: "SELECT CASE WHEN run_id LIKE 'plan-%' THEN 'planned' ELSE left(run_id, 8) END "
    "AS run, dataset, partition, attempt, status, forced, rows_in, "
    "rows_written, code_version, date_trunc('second', started_at AT TIME ZONE 'UTC') "
    "AS started_utc, "
    "round(extract(epoch FROM completed_at - started_at)::NUMERIC, 2)::DOUBLE PRECISION "
    "AS seconds, coalesce(error, note) AS detail "
    "FROM platform.pipeline_runs ORDER BY started_at DESC, run_id, dataset, partition LIMIT ?",
}


def recent_attempts(con: MetadataConnection, limit: int = 20) -> pl.DataFrame:
    """The latest attempts, newest first."""
    return con.frame(_RECENT_ATTEMPTS[con.dialect], [limit])


def published_summary(con: MetadataConnection) -> pl.DataFrame:
    """Per dataset: partitions published, last publication, attempts by status."""
    return con.frame(
        "SELECT dataset, "
        "count(DISTINCT partition) FILTER (WHERE status = 'succeeded') AS published_partitions, "
        "max(partition) FILTER (WHERE status = 'succeeded') AS latest_partition, "
        "count(*) FILTER (WHERE status = 'succeeded') AS succeeded, "
        "count(*) FILTER (WHERE status = 'skipped') AS skipped, "
        "count(*) FILTER (WHERE status = 'failed') AS failed, "
        "count(*) FILTER (WHERE status = 'started') AS unfinished "
        "FROM platform.pipeline_runs GROUP BY dataset ORDER BY dataset",
    )


def main(argv: list[str] | None = None) -> int:
    """Print recent attempts and a per-dataset summary of the ledger."""
    parser = argparse.ArgumentParser(description="Show the run ledger platform.pipeline_runs.")
    parser.add_argument("--limit", type=int, default=20, help="recent attempts to show")
    args = parser.parse_args(argv)
    settings = load_settings()
    if settings.ledger_url is None and not settings.warehouse_path.exists():
        print(f"no warehouse at {settings.warehouse_path} yet: nothing has run")
        return 0
    warehouse = WarehouseResource(
        path=str(settings.warehouse_path),
        lock_timeout_s=settings.warehouse_lock_timeout_s,
        ledger_url=settings.ledger_url,
    )
    where = redact_url(settings.ledger_url) if settings.ledger_url else settings.warehouse_path
    try:
        with ledger_db(warehouse) as con:
            recent, summary = recent_attempts(con, args.limit), published_summary(con)
    except MetadataDatabaseError as exc:
        print(f"cannot read the run ledger: {exc}", file=sys.stderr)
        return 1
    with pl.Config(tbl_rows=args.limit, tbl_cols=-1, tbl_width_chars=200, fmt_str_lengths=80):
        print(f"Run ledger in {where}\n\nRecent attempts")
        print(recent)
        print("\nPer dataset")
        print(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

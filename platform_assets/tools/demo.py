"""Run the orders pipeline headless over a range of days and print a per-partition summary.

Usage: ``python -m platform_assets.tools.demo --start 2024-01-01 --days 7`` (``make demo``).
Each job is planned first (``platform_assets.tools.launch``): when something changed, a
single-run range on the Dagster instance in ``DAGSTER_HOME`` (so it shows in the UI)
recomputes what changed and skips the rest; when nothing changed, no run starts. The
summary is read back from the run ledger.
"""

import argparse
import time

import dagster as dg
import polars as pl

from platform_assets.core.ledger import Ledger
from platform_assets.core.partition_keys import validate_partition_key
from platform_assets.definitions import environment_definitions
from platform_assets.orchestration.planner import catalog_of
from platform_assets.tools.launch import day_keys, describe, launch_job


def run_summary(run_ids: list[str]) -> pl.DataFrame:
    """One row per partition: each dataset's ledger status and rows in -> rows written."""
    rows = Ledger(environment_definitions().resources["warehouse"]).latest_of_runs(run_ids)
    counts = pl.format(
        "{} {}->{}",
        "status",
        pl.col("rows_in").cast(pl.String).fill_null("-"),
        pl.col("rows_written").cast(pl.String).fill_null("-"),
    )
    cell = pl.when(pl.col("status") == "skipped").then(pl.lit("skipped (unchanged)"))
    cell = cell.otherwise(counts)
    wide = rows.with_columns(cell=cell).pivot(on="dataset", index="partition", values="cell")
    shown = [d for d in catalog_of(environment_definitions()).datasets if d in wide.columns]
    return wide.select("partition", *shown).sort("partition")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--force", action="store_true", help="recompute unchanged partitions")
    args = parser.parse_args(argv)
    partitions = day_keys(validate_partition_key(args.start), args.days)
    began = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        launches = [
            launch_job(job, partitions, instance, args.force)
            for job in catalog_of(environment_definitions()).jobs
        ]
    elapsed = time.monotonic() - began
    with pl.Config(tbl_rows=-1, tbl_cols=-1, tbl_width_chars=200, tbl_hide_dataframe_shape=True):
        print(run_summary([run_id for launch in launches for run_id in launch.run_ids]))
    for launch in launches:
        print(describe(launch))
    print(f"total {elapsed:.1f}s (cells: ledger status, rows in -> rows written)")
    return 0 if all(launch.success for launch in launches) else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Run the orders pipeline headless over a range of days and print a per-partition summary.

Usage: ``python -m platform_assets.demo --start 2024-01-01 --days 7`` (``make demo``).
Runs are recorded on the Dagster instance in ``DAGSTER_HOME``, so they show in the UI.
"""

import argparse
import datetime as dt
import time

import dagster as dg

from platform_assets.definitions import defs, orders_daily_job
from platform_assets.partitions import validate_partition_key

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
SUMMARY_FIELDS = {
    ("staging", "orders"): ("events_in", "dagster/row_count"),
    ("curated", "orders"): ("rows_changed",),
    ("marts", "daily_orders"): ("dagster/row_count",),
}


def _metadata_value(value: dg.MetadataValue):
    return getattr(value, "value", value)


def summarize(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    """The figures of one partition's run, keyed by column name."""
    row: dict[str, object] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        for field in SUMMARY_FIELDS.get(tuple(mat.asset_key.path), ()):
            label = f"{mat.asset_key.path[0]}.{field.removeprefix('dagster/')}"
            row[label] = _metadata_value(mat.metadata.get(field))
    return row


def run(start: dt.date, days: int, instance: dg.DagsterInstance) -> list[dict[str, object]]:
    """Materialize each day in turn with the real job; return one summary row per day."""
    job = defs.resolve_job_def(orders_daily_job.name)
    rows = []
    for offset in range(days):
        key = (start + dt.timedelta(days=offset)).isoformat()
        began = time.monotonic()
        result = job.execute_in_process(
            run_config=QUIET, instance=instance, partition_key=key, raise_on_error=False
        )
        rows.append(
            {
                "partition": key,
                "status": "ok" if result.success else "FAILED",
                **summarize(result),
                "seconds": round(time.monotonic() - began, 2),
            }
        )
    return rows


def render(rows: list[dict[str, object]]) -> str:
    """A plain-text table of summary rows."""
    columns = list(dict.fromkeys(c for row in rows for c in row))
    table = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in table)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in table]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2024-01-01")
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args(argv)
    began = time.monotonic()
    with dg.DagsterInstance.get() as instance:
        rows = run(validate_partition_key(args.start), args.days, instance)
    print(render(rows))
    print(f"total {time.monotonic() - began:.1f}s")
    return 0 if all(row["status"] == "ok" for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

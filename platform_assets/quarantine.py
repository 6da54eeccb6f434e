"""Quarantine tables: landing rows that failed parsing, with their reason and source file.

One table per dataset (``quarantine.<dataset>``), published where the other tables
are (the warehouse file, or a Delta table on S3); a partition's rows are replaced
on each recompute, so reruns never duplicate them.
"""

import datetime as dt

import polars as pl

from platform_assets.io.table_store import TableStore
from platform_assets.partitions import validate_partition_key

PARTITION_COLUMN = "landing_date"


def day_windows(partition_keys: list[str]) -> list[tuple[dt.date, dt.date]]:
    """The days as contiguous ``[first, last + 1 day)`` windows, in order."""
    windows: list[tuple[dt.date, dt.date]] = []
    for day in sorted(validate_partition_key(k) for k in partition_keys):
        if windows and windows[-1][1] == day:
            windows[-1] = (windows[-1][0], day + dt.timedelta(days=1))
        else:
            windows.append((day, day + dt.timedelta(days=1)))
    return windows


def replace_quarantine(
    tables: TableStore, table: str, rejects: pl.DataFrame, partition_keys: list[str]
) -> None:
    """Replace the quarantined rows of exactly the given landing days by ``rejects``.

    Days between them that were not recomputed (skipped) keep their rows: each
    contiguous run of days is replaced on its own.
    """
    for start, end in day_windows(partition_keys):
        day = pl.col(PARTITION_COLUMN)
        tables.overwrite_partition(
            table, rejects.filter((day >= start) & (day < end)), PARTITION_COLUMN, (start, end)
        )

"""Quarantine tables: landing rows that failed parsing, with their reason and source file.

One table per dataset (``quarantine.<dataset>``), published where the other tables
are (the warehouse file, or a Delta table on S3); a partition's rows are replaced
on each recompute, so reruns never duplicate them.
"""

import datetime as dt

import polars as pl

from platform_assets.io.table_store import TableStore
from platform_assets.partitions import validate_partition_key


def replace_quarantine(
    tables: TableStore, table: str, rejects: pl.DataFrame, partition_keys: list[str]
) -> None:
    """Replace the quarantined rows of the given landing days by ``rejects``."""
    days = sorted(validate_partition_key(k) for k in partition_keys)
    window = (days[0], days[-1] + dt.timedelta(days=1))
    tables.overwrite_partition(table, rejects, "landing_date", window)

"""Quarantine tables: landing rows that failed parsing, with their reason and source file.

One table per dataset (``quarantine.<dataset>``); a partition's rows are replaced
on each recompute, so reruns never duplicate them.
"""

import datetime as dt

import polars as pl

from platform_assets.io.strategies import overwrite_partition
from platform_assets.partitions import validate_partition_key
from platform_assets.warehouse_resource import WarehouseResource


def replace_quarantine(
    warehouse: WarehouseResource, table: str, rejects: pl.DataFrame, partition_keys: list[str]
) -> None:
    """Replace the quarantined rows of the given landing days by ``rejects``."""
    days = sorted(validate_partition_key(k) for k in partition_keys)
    window = (days[0], days[-1] + dt.timedelta(days=1))
    with warehouse.connect() as con:
        overwrite_partition(con, table, rejects, "landing_date", window)

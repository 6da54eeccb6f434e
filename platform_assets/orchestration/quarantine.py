"""Quarantine tables: landing rows that failed parsing, with their reason and source file.

One table per dataset (``quarantine.<dataset>``), published where the other tables
are (the warehouse file, or a Delta table on S3); a partition's rows are replaced
on each recompute, so reruns never duplicate them.
"""

import polars as pl

from platform_assets.core.partition_keys import validate_partition_key
from platform_assets.storage.table_store import TableStore, overwrite_days


def replace_quarantine(
    tables: TableStore, table: str, rejects: pl.DataFrame, partition_keys: list[str]
) -> None:
    """Replace the quarantined rows of exactly the given landing days by ``rejects``.

    Days between them that were not recomputed (skipped) keep their rows.
    """
    days = [validate_partition_key(key) for key in partition_keys]
    overwrite_days(tables, table, rejects, "landing_date", days)

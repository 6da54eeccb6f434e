"""IO managers that write through the platform's write strategies.

Assets declare how they are stored in their definition metadata, next to the
data (key names start with ``platform/``); see :func:`lake_output` and
:func:`warehouse_output`. Assets hand over a :class:`Publication`: a skipped
one writes nothing; otherwise the write commits and the ledger attempts are
closed as succeeded (or failed, with the error). The managers hold no dataset
logic. Where data goes is the resources' business: the lake is a
:class:`~platform_assets.resources.LakeResource` (local folder or S3 prefix),
published tables a :class:`~platform_assets.resources.TablesResource` (the
DuckDB warehouse file or Delta tables on S3); the ledger stays in the
warehouse resource either way.
"""

import datetime as dt

import dagster as dg
import polars as pl

from platform_assets.idempotency import Publication, fail_attempts
from platform_assets.io.metadata import count_by_day, frame_metadata
from platform_assets.io.strategies import WriteStrategy
from platform_assets.io.table_store import TableStore, overwrite_days
from platform_assets.ledger import SUCCEEDED, Ledger
from platform_assets.partitions import validate_partition_key
from platform_assets.resources import LakeResource, TablesResource, lake_relpath
from platform_assets.warehouse_resource import WarehouseResource

PARTITION_COLUMN = "platform/partition_column"
TABLE = "platform/table"
WRITE_STRATEGY = "platform/write_strategy"
KEY = "platform/key"
ORDER_BY = "platform/order_by"
IMPACT_DAY = "platform/impact_day_column"


def lake_output(partition_column: str) -> dict[str, str]:
    """Definition metadata for an asset stored as one Parquet file per partition."""
    return {PARTITION_COLUMN: partition_column}


def warehouse_output(
    table: str,
    strategy: WriteStrategy,
    partition_column: str | None = None,
    key: list[str] | None = None,
    order_by: list[str] | None = None,
    impact_day_column: str | None = None,
) -> dict[str, str]:
    """Definition metadata for an asset published to a warehouse table.

    ``impact_day_column`` (merge only): record which days, by this column, each
    merge changed, so downstream per-day partitions can be recomputed.
    """
    meta = {TABLE: table, WRITE_STRATEGY: strategy.value}
    if partition_column:
        meta[PARTITION_COLUMN] = partition_column
    if key:
        meta[KEY] = ",".join(key)
    if order_by:
        meta[ORDER_BY] = ",".join(order_by)
    if impact_day_column:
        meta[IMPACT_DAY] = impact_day_column
    return meta


def partition_keys(context: dg.OutputContext | dg.InputContext) -> list[str]:
    """The validated partition keys of an output or input (empty if unpartitioned)."""
    keys = list(context.asset_partition_keys) if context.has_asset_partitions else []
    for key in keys:
        validate_partition_key(key)
    return keys


def partition_window(keys: list[str]) -> tuple[dt.date, dt.date]:
    """[first day, day after the last) of a list of daily keys."""
    dates = sorted(validate_partition_key(k) for k in keys)
    return dates[0], dates[-1] + dt.timedelta(days=1)


def _rows_per_partition(obj: Publication, meta, result) -> dict[str, int]:
    """Rows written per partition: by partition column when there is one, else the total
    of a single-partition write (a merge of a range is not attributable to one day)."""
    column = meta.get(PARTITION_COLUMN)
    if column:
        found = count_by_day(obj.frame, column)
        return {a.partition: found.get(a.partition, 0) for a in obj.attempts}
    if len(obj.attempts) == 1:
        return {obj.attempts[0].partition: result.rows_changed}
    return {}


class LakeIOManager(dg.ConfigurableIOManager):
    """Stores each partition of an asset as ``<asset path>/dt=<key>/part-00000.parquet``.

    Each file is replaced atomically (rename on disk, a single PUT on S3); a
    single-run range is split on the asset's partition column so every
    partition of the range is replaced. The ledger's output checksum of a
    partition is the checksum of the bytes written, deterministic for the same
    input.
    """

    lake: LakeResource
    warehouse: WarehouseResource

    def handle_output(self, context: dg.OutputContext, obj: Publication) -> None:
        """Write each partition of the publication atomically, then close its ledger rows."""
        if obj.skipped:
            return
        if not partition_keys(context):
            raise ValueError(
                f"{context.asset_key.to_user_string()}: lake assets must be partitioned"
            )
        keys = obj.partitions
        column = context.definition_metadata[PARTITION_COLUMN]
        lake, ledger = self.lake.store(), Ledger(self.warehouse)
        rows_written, checksums = {}, {}
        try:
            for key in keys:
                part = obj.frame.filter(pl.col(column) == validate_partition_key(key))
                checksums[key] = lake.write_parquet(lake_relpath(context.asset_key, key), part)
                rows_written[key] = part.height
        except Exception as exc:
            fail_attempts(ledger, obj.attempts, exc)
            raise
        ledger.finish(obj.attempts, SUCCEEDED, obj.rows_in, rows_written, checksums)
        first = lake.uri(lake_relpath(context.asset_key, keys[0]))
        context.add_output_metadata(
            {**frame_metadata(obj.frame, first), "partitions_written": len(keys)}
        )

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        """Read the upstream partitions this step depends on."""
        return self.lake.read(context.asset_key, partition_keys(context))


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Publishes DataFrames to the published tables with the strategy the asset declares.

    ``tables`` says where they are (DuckDB warehouse file or Delta tables); the
    ledger rows are closed in the warehouse either way.
    """

    warehouse: WarehouseResource
    tables: TablesResource

    def handle_output(self, context: dg.OutputContext, obj: Publication) -> None:
        """Overwrite the output's partition window or merge it, atomically."""
        if obj.skipped:
            return
        tables = self.tables.store()
        with tables.session():  # on DuckDB, the write and its ledger rows on one connection
            self._publish(context, obj, tables)

    def _publish(self, context: dg.OutputContext, obj: Publication, tables: TableStore) -> None:
        meta = context.definition_metadata
        table = meta[TABLE]
        strategy = WriteStrategy(meta[WRITE_STRATEGY])
        ledger = Ledger(self.warehouse)
        days: list[str] | None = None
        try:
            if strategy is WriteStrategy.OVERWRITE_PARTITION:
                partitions = [validate_partition_key(key) for key in obj.partitions]
                result = overwrite_days(
                    tables, table, obj.frame, meta[PARTITION_COLUMN], partitions
                )
            else:
                key, order_by = meta[KEY].split(","), meta[ORDER_BY].split(",")
                if IMPACT_DAY in meta:
                    impact = tables.changed_days(table, obj.frame, key, order_by, meta[IMPACT_DAY])
                    days = [day.isoformat() for day in impact]
                result = tables.merge_upsert(table, obj.frame, key, order_by)
            total = tables.count(table)
        except Exception as exc:
            fail_attempts(ledger, obj.attempts, exc)
            raise
        rows_written = _rows_per_partition(obj, meta, result)
        ledger.finish(obj.attempts, SUCCEEDED, obj.rows_in, rows_written, changed_days=days)
        if days is not None:
            context.add_output_metadata(
                {"changed_business_days": ", ".join(days) or "none", "days_changed": len(days)}
            )
        context.add_output_metadata(
            {
                **frame_metadata(obj.frame, table),
                "write_strategy": strategy.value,
                "rows_deleted": result.rows_deleted,
                "rows_changed": result.rows_changed,
                "table_rows_total": total,
                "columns_added": ", ".join(result.columns_added) or "none",
                "empty_partition": obj.frame.height == 0,
            }
        )

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        """Read the upstream table, limited to the partition window when it has one."""
        meta = context.upstream_output.definition_metadata
        keys = partition_keys(context)
        window = partition_window(keys) if keys else None
        return self.tables.store().read(meta[TABLE], meta.get(PARTITION_COLUMN), window)

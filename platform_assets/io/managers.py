"""IO managers that write through the platform's write strategies.

Assets declare how they are stored in their definition metadata, next to the
data (key names start with ``platform/``); see :func:`lake_output` and
:func:`warehouse_output`. Assets hand over a :class:`Publication`: a skipped
one writes nothing; otherwise the write commits and the ledger attempts are
closed as succeeded (or failed, with the error). The managers hold no dataset
logic.
"""

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl

from platform_assets.fingerprint import file_checksum
from platform_assets.idempotency import Publication, fail_attempts
from platform_assets.io.lake import LocalLake
from platform_assets.io.merge_impact import changed_days
from platform_assets.io.metadata import count_by_day, frame_metadata
from platform_assets.io.strategies import (
    WriteResult,
    WriteStrategy,
    merge_upsert,
    overwrite_partition,
)
from platform_assets.ledger import SUCCEEDED, Ledger
from platform_assets.partitions import validate_partition_key
from platform_assets.warehouse import qualified, query_frame, quote_ident
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


def lake_relpath(asset_key: dg.AssetKey, partition_key: str) -> str:
    """Where one partition of an asset lives, relative to the lake root."""
    validate_partition_key(partition_key)
    return "/".join([*asset_key.path, f"dt={partition_key}", "part-00000.parquet"])


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


def _overwrite_each(con, table: str, obj: Publication, column: str) -> WriteResult:
    """Replace each changed partition in its own transaction (each is atomic on its own)."""
    deleted = changed = 0
    added: list[str] = []
    for key in obj.partitions:
        part = obj.frame.filter(pl.col(column) == validate_partition_key(key))
        result = overwrite_partition(con, table, part, column, partition_window([key]))
        deleted, changed = deleted + result.rows_deleted, changed + result.rows_changed
        added += result.columns_added
    return WriteResult(obj.frame.height, deleted, changed, added)


class LakeIOManager(dg.ConfigurableIOManager):
    """Stores each partition of an asset as ``<asset path>/dt=<key>/part-00000.parquet``.

    Writes are atomic (temp file, fsync, rename); a single-run range is split
    on the asset's partition column so every partition of the range is replaced.
    """

    root: str
    warehouse: WarehouseResource

    def _lake(self) -> LocalLake:
        return LocalLake(Path(self.root))

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
        lake, ledger = self._lake(), Ledger(self.warehouse)
        rows_written, checksums = {}, {}
        try:
            for key in keys:
                part = obj.frame.filter(pl.col(column) == validate_partition_key(key))
                relpath = lake_relpath(context.asset_key, key)
                lake.write_parquet(relpath, part)
                rows_written[key] = part.height
                checksums[key] = file_checksum(Path(self.root) / relpath)
        except Exception as exc:
            fail_attempts(ledger, obj.attempts, exc)
            raise
        ledger.finish(obj.attempts, SUCCEEDED, obj.rows_in, rows_written, checksums)
        first = Path(self.root) / lake_relpath(context.asset_key, keys[0])
        context.add_output_metadata(
            {**frame_metadata(obj.frame, str(first)), "partitions_written": len(keys)}
        )

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        """Read the upstream partitions this step depends on."""
        keys = partition_keys(context)
        return self._lake().read_parquet([lake_relpath(context.asset_key, k) for k in keys])


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Publishes DataFrames to DuckDB tables with the strategy the asset declares."""

    warehouse: WarehouseResource

    def handle_output(self, context: dg.OutputContext, obj: Publication) -> None:
        """Overwrite the output's partition window or merge it, in one transaction."""
        if obj.skipped:
            return
        with self.warehouse.session():  # the write and its ledger rows on one connection
            self._publish(context, obj)

    def _publish(self, context: dg.OutputContext, obj: Publication) -> None:
        meta = context.definition_metadata
        table = meta[TABLE]
        strategy = WriteStrategy(meta[WRITE_STRATEGY])
        ledger = Ledger(self.warehouse)
        days: list[str] | None = None
        try:
            with self.warehouse.connect() as con:
                if strategy is WriteStrategy.OVERWRITE_PARTITION:
                    result = _overwrite_each(con, table, obj, meta[PARTITION_COLUMN])
                else:
                    key, order_by = meta[KEY].split(","), meta[ORDER_BY].split(",")
                    if IMPACT_DAY in meta:
                        impact = changed_days(
                            con, table, obj.frame, key, order_by, meta[IMPACT_DAY]
                        )
                        days = [day.isoformat() for day in impact]
                    result = merge_upsert(con, table, obj.frame, key, order_by)
                total = con.execute(f"SELECT count(*) FROM {qualified(table)}").fetchone()[0]  # noqa: S608
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
        table = meta[TABLE]
        column = meta.get(PARTITION_COLUMN)
        keys = partition_keys(context)
        query, params = f"SELECT * FROM {qualified(table)}", []  # noqa: S608
        if column and keys:
            query += f" WHERE {quote_ident(column)} >= ? AND {quote_ident(column)} < ?"
            params = list(partition_window(keys))
        with self.warehouse.connect(read_only=True) as con:
            return query_frame(con, query, params)

"""IO managers that write through the platform's write strategies.

Assets hand over a :class:`~platform_assets.core.publisher.Publication` (rows per
partition; for a published table also its typed
:data:`~platform_assets.core.write_spec.WriteSpec`); the managers write each partition
through
:meth:`~platform_assets.core.publisher.Publisher.commit`, which checks the
precondition, writes and records in one transaction. The managers hold no
dataset logic and decide nothing. Where data goes is the resources' business: the lake is a
:class:`~platform_assets.orchestration.resources.LakeResource` (local folder or S3 prefix),
published tables a :class:`~platform_assets.orchestration.resources.TablesResource` (the
DuckDB warehouse file or Delta tables on S3); the ledger stays in the
warehouse resource either way.
"""

import datetime as dt
from collections.abc import Callable

import dagster as dg
import polars as pl

from platform_assets.core.check_results import record_outcomes
from platform_assets.core.ledger import Ledger
from platform_assets.core.partition_keys import validate_partition_key
from platform_assets.core.publisher import DayWrite, Publication, Publisher
from platform_assets.core.write_spec import MergeUpsert, OverwritePartition
from platform_assets.orchestration.metadata import frame_metadata
from platform_assets.orchestration.resources import LakeResource, TablesResource, artifact_folder
from platform_assets.orchestration.warehouse_resource import WarehouseResource
from platform_assets.storage.lake import artifact_name
from platform_assets.storage.strategies import WriteResult
from platform_assets.storage.table_diff import table_diff
from platform_assets.storage.table_fingerprint import daily_slice_checksums
from platform_assets.storage.table_store import TableStore

PARTITION_COLUMN = "platform/partition_column"


def lake_output(partition_column: str) -> dict[str, str]:
    """Definition metadata for an asset stored as one Parquet file per partition."""
    return {PARTITION_COLUMN: partition_column}


def partition_keys(context: dg.OutputContext | dg.InputContext) -> list[str]:
    """The validated partition keys of an output or input (empty if unpartitioned)."""
    keys = list(context.asset_partition_keys) if context.has_asset_partitions else []
    for key in keys:
        validate_partition_key(key)
    return keys


class LakeIOManager(dg.ConfigurableIOManager):
    """Stores staged partitions as immutable artifacts ``<asset>/dt=<key>/<checksum>.parquet``.

    Per partition: the artifact is written (once; its name is its checksum), then
    in one run-metadata transaction the landing files are confirmed unchanged
    since they were read, the check outcomes are recorded against the artifact
    and the attempt is closed with the artifact as its output checksum.
    """

    lake: LakeResource
    warehouse: WarehouseResource

    def handle_output(self, context: dg.OutputContext, obj: Publication) -> None:
        """Write each partition's artifact and record it with its check outcomes; the rows
        are released after (:meth:`Publication.release_rows`)."""
        try:
            self._write_artifacts(context, obj)
        finally:
            obj.release_rows()

    def _write_artifacts(self, context: dg.OutputContext, obj: Publication) -> None:
        if obj.skipped:
            return
        if not partition_keys(context):
            raise ValueError(
                f"{context.asset_key.to_user_string()}: lake assets must be partitioned"
            )
        lake = self.lake.store()
        dataset = context.asset_key.to_user_string()
        publisher = publisher_of(self.warehouse, obj, dataset)
        written: dict[str, str] = {}
        for key, frame in sorted(obj.frames.items()):
            folder = artifact_folder(context.asset_key, key)

            def write(key=key, frame=frame, folder=folder) -> DayWrite:
                checksum = lake.write_artifact(folder, frame)
                if key in obj.outcomes:
                    attempt = obj.attempts[key]
                    record_outcomes(
                        self.warehouse,
                        dataset,
                        attempt.run_id,
                        {key: obj.outcomes[key]},
                        {key: checksum},
                        attempt.code_version,
                    )
                return DayWrite(rows_written=frame.height, output_checksum=checksum)

            done = publisher.commit(obj, key, self.warehouse.metadata_transaction, write, True)
            if done is not None:
                written[key] = lake.uri(f"{folder}/{artifact_name(done.output_checksum)}")
        frames = [obj.frames[key] for key in sorted(written)]
        if frames:
            context.add_output_metadata(
                {
                    **frame_metadata(pl.concat(frames), next(iter(written.values()))),
                    "partitions_written": len(written),
                    "artifacts": ", ".join(f"{k}: {written[k]}" for k in sorted(written))[:4000],
                }
            )

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        """Not used: publishing assets read the artifacts their ledger rows name."""
        raise NotImplementedError("staged artifacts are read by checksum, not as an input")


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Publishes each partition to the published tables with the strategy the asset declares.

    One partition at a time, in one transaction of the table store: the
    publication's precondition (the artifact is still current), the write (a
    day's overwrite, or a merge with the business days it changes) and, where
    the ledger lives in the same DuckDB file, the ledger record.
    """

    warehouse: WarehouseResource
    tables: TablesResource

    def handle_output(self, context: dg.OutputContext, obj: Publication) -> None:
        """Overwrite or merge each partition of the publication, atomically with its record;
        the rows are released after (:meth:`Publication.release_rows`)."""
        try:
            self._publish(context, obj)
        finally:
            obj.release_rows()

    def _publish(self, context: dg.OutputContext, obj: Publication) -> None:
        if obj.skipped:
            return
        spec = obj.write
        if spec is None:
            raise ValueError(f"{context.asset_key.to_user_string()}: a publication needs its write")
        tables = self.tables.store()
        publisher = publisher_of(self.warehouse, obj, context.asset_key.to_user_string())
        in_transaction = tables.shares_ledger(self.warehouse)
        if obj.rebuild is not None:
            rebuild_table(context, tables, publisher, obj, in_transaction)
            return
        results: dict[str, WriteResult] = {}
        changed: set[str] = set()
        recomputed: dict[str, int] = {}  # keys recomputed per corrected partition
        for key, frame in sorted(obj.frames.items()):

            def write(key=key, frame=frame) -> DayWrite:
                if isinstance(spec, OverwritePartition):
                    result, done = overwrite_day(tables, spec, key, frame)
                else:
                    merge, days, keys, note = merge_day(tables, spec, obj, key, frame)
                    if keys is not None:
                        recomputed[key] = keys
                    if note:
                        context.log.warning(note)
                    if days is not None:  # before the write: a lost record still names them
                        publisher.ledger.record_changed_days(obj.attempts[key], days)
                    result = merge()
                    done = DayWrite(rows_written=result.rows_changed, changed_days=days)
                results[key] = result
                return done

            done = publisher.commit(obj, key, tables.transaction, write, in_transaction)
            if done is not None and done.changed_days is not None:
                changed.update(done.changed_days)
        if isinstance(spec, MergeUpsert):
            if spec.impact_day_column:
                context.add_output_metadata(
                    {
                        "changed_business_days": ", ".join(sorted(changed)) or "none",
                        "days_changed": len(changed),
                    }
                )
            written = {k: v for k, v in recomputed.items() if k in results}
            context.add_output_metadata(
                {
                    "keys_recomputed": sum(written.values()),
                    "partitions_recomputed_by_key": ", ".join(sorted(written)) or "none",
                }
            )
        frames = [obj.frames[key] for key in sorted(results)]
        if frames:
            context.add_output_metadata(
                {
                    **frame_metadata(pl.concat(frames), spec.table),
                    "write_strategy": spec.strategy,
                    "partitions_written": len(results),
                    "rows_deleted": sum(r.rows_deleted for r in results.values()),
                    "rows_changed": sum(r.rows_changed for r in results.values()),
                    "table_rows_total": tables.count(spec.table),
                    "columns_added": ", ".join(
                        sorted({c for r in results.values() for c in r.columns_added})
                    )
                    or "none",
                    "empty_partition": any(f.height == 0 for f in frames),
                }
            )

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        """Not used: marts read the published tables through the table store."""
        raise NotImplementedError("published tables are read through the table store")


def rebuild_table(
    context: dg.OutputContext,
    tables: TableStore,
    publisher: Publisher,
    obj: Publication,
    in_transaction: bool,
) -> None:
    """Replace a current-state table by its rebuild, as one write for all the run's days.

    In one transaction of the table store: the preconditions of the run's days,
    the rebuild (:attr:`Publication.rebuild`), its difference from the table, the
    business days that difference touches (recorded on every day's attempt before
    the write), and the replacement, skipped when nothing differs, so a second
    rebuild writes nothing. The attempts are closed with one note saying what the
    rebuild did.
    """
    spec = obj.write
    table, business_key, day_column = spec.table, list(spec.key), spec.impact_day_column
    found: dict[str, object] = {}

    def write(days: list[str]) -> DayWrite:
        redo = obj.rebuild(days)
        before = tables.read(table) if tables.exists(table) else None
        diff = table_diff(before, redo.rows, business_key, day_column)
        changed = [day.isoformat() for day in diff.days]
        for key in days:  # before the write: a lost record still names them
            publisher.ledger.record_changed_days(obj.attempts[key], changed)
        if diff.changed:
            tables.replace_all(table, redo.rows, business_key)
        found.update(redo=redo, diff=diff)
        note = (
            f"rebuild of {table}: {redo.rows.height} keys recomputed from the artifacts of "
            f"{len(redo.sources)} published day(s), one write for this run's "
            f"{len(days)} day(s); {diff.keys_changed} keys changed ({diff.rows_added} rows "
            f"written, {diff.rows_removed} removed); business days changed: "
            f"{', '.join(changed) or 'none'}"
        )
        return DayWrite(rows_written=diff.rows_added, changed_days=changed, note=note)

    done, superseded = publisher.commit_all(obj, tables.transaction, write, in_transaction)
    for key, why in sorted(superseded.items()):
        context.log.warning(f"{publisher.dataset} {key}: not rebuilt with this run's input: {why}")
    if done is None:
        return
    redo, diff = found["redo"], found["diff"]
    context.log.info(f"{publisher.dataset}: {done.note}")
    context.add_output_metadata(
        {
            **frame_metadata(redo.rows, table),
            "write_strategy": "rebuild",
            "rebuilt": diff.changed,
            "keys_recomputed": redo.rows.height,
            "keys_changed": diff.keys_changed,
            "rows_written": diff.rows_added,
            "rows_removed": diff.rows_removed,
            "partitions_written": len(obj.frames) - len(superseded),
            "source_days": len(redo.sources),
            "table_rows_total": tables.count(table),
            "changed_business_days": ", ".join(done.changed_days) or "none",
            "days_changed": len(done.changed_days),
        }
    )


def overwrite_day(
    tables: TableStore, spec: OverwritePartition, key: str, frame: pl.DataFrame
) -> tuple[WriteResult, DayWrite]:
    """Replace one day's window of ``spec.table`` by ``frame``; the day's checksum as read
    back inside the write's transaction is the output checksum."""
    day = validate_partition_key(key)
    window = (day, day + dt.timedelta(days=1))
    result = tables.overwrite_partition(spec.table, frame, spec.partition_column, window)
    with tables.query([spec.table]) as con:  # inside the write's transaction
        checksum = daily_slice_checksums(con, spec.table, spec.partition_column, [day])[day]
    return result, DayWrite(rows_written=frame.height, output_checksum=checksum)


def merge_day(
    tables: TableStore, spec: MergeUpsert, obj: Publication, key: str, frame: pl.DataFrame
) -> tuple[Callable[[], WriteResult], list[str] | None, int | None, str]:
    """How one partition is merged into a current-state table, and the days it changes.

    A partition published before is a correction: its keys (old and new) are
    recomputed from every current artifact and replaced (every key, when its old
    artifact is lost); a first publication is the newer-wins merge. Returns the
    write (not yet run), the business days it changes, from the old and new rows, so
    they are known before the write, the number of keys a correction recomputes
    (None for a merge) and a note for the run log (empty when there is nothing to say).
    """
    business_key, order_by = list(spec.key), list(spec.ordering)
    table, day_column = spec.table, spec.impact_day_column
    redo = obj.recompute(key) if obj.recompute else None
    if redo is None:
        days = None
        if day_column:
            impact = tables.changed_days(table, frame, business_key, order_by, day_column)
            days = [day.isoformat() for day in impact]
        write = lambda: tables.merge_upsert(table, frame, business_key, order_by)  # noqa: E731
        return write, days, None, ""
    if redo.keys is None:
        before = tables.read(table) if tables.exists(table) else None
        diff = table_diff(before, redo.rows, business_key, day_column)
        days = [day.isoformat() for day in diff.days] if day_column else None

        def replace() -> WriteResult:
            if diff.changed:
                return tables.replace_all(table, redo.rows, business_key)
            return WriteResult(redo.rows.height, 0, 0, [])

        return replace, days, redo.rows.height, redo.note
    days = None
    if day_column:
        old = tables.key_days(table, business_key, redo.keys, day_column)
        new = redo.rows.get_column(day_column).cast(pl.Date).drop_nulls().unique().to_list()
        days = sorted({d.isoformat() for d in [*old, *new]})
    write = lambda: tables.replace_keys(table, redo.rows, business_key, redo.keys)  # noqa: E731
    return write, days, redo.keys.height, redo.note


def publisher_of(warehouse: WarehouseResource, obj: Publication, dataset: str) -> Publisher:
    """The publisher recording ``obj``'s attempts (its run, code version and force flag)."""
    first = next(iter(obj.attempts.values()))
    return Publisher(
        Ledger(warehouse), dataset, first.run_id, first.code_version, first.forced, lambda _: None
    )

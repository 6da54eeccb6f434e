"""Delta Lake tables with the write semantics of the DuckDB write layer.

Each write is one Delta commit, so a reader sees the table before it or after
it, never a mix (rule 2): files are uploaded first and become visible only when
the next log entry is put, which on S3 is a put-if-absent (conditional put).
``overwrite_partition`` and ``merge_upsert`` refuse, evolve the schema and order
rows exactly like their namesakes in :mod:`platform_assets.storage.strategies`.

Concurrency: delta-rs itself retries a commit that lost the race to a commit
touching other data (another partition). A commit that conflicts on the same
data raises ``CommitFailedError``; the store then reruns the whole write on the
new snapshot. Both writes are idempotent replacements (overwrite) or
order-independent (merge), so the rerun gives the result of the two writes in
sequence, never a mix of them.

A new column is added by the write's own commit (``schema_mode``/``merge_schema``), so
a write that fails or is killed leaves neither its rows nor its columns behind.
"""

import datetime as dt
import random
import time
from collections.abc import Callable, Mapping

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from platform_assets.settings import Settings
from platform_assets.storage.delta_location import delta_storage_options, s3_root, table_uri
from platform_assets.storage.delta_schema import conform, spelled_as
from platform_assets.storage.delta_sql import (
    SOURCE,
    TARGET,
    differs,
    key_match,
    newer,
    validate_date,
    window_predicate,
)
from platform_assets.storage.strategies import (
    WriteResult,
    check_merge_input,
    check_replace_input,
    check_window,
    newer_condition,
)
from platform_assets.storage.warehouse import quote_ident

_BACKOFF_S = 0.05
_jitter = random.Random()


_PRESENT = "_platform_present"
_ROW = "_platform_row"


def sql_dataset(snapshot: DeltaTable) -> pads.Dataset:
    """A pyarrow dataset of ``snapshot`` for DuckDB, its text columns read as ``string_view``.

    DuckDB pushes a text literal down into the scan as a ``string_view``, which pyarrow
    compares with no other string type, while the files hold ``string``,
    ``large_string`` or ``string_view`` as each writer left them (a MERGE writes views).
    """
    fields = snapshot.to_pyarrow_dataset().schema
    text = (pa.string(), pa.large_string())
    schema = pa.schema([f.with_type(pa.string_view()) if f.type in text else f for f in fields])
    return snapshot.to_pyarrow_dataset(schema=schema)


def in_window(column: str, start: dt.date, end: dt.date) -> pl.Expr:
    """Filter for ``start <= column < end`` (values bound, for :meth:`DeltaTableStore.read`)."""
    return (pl.col(column) >= start) & (pl.col(column) < end)


class DeltaTableStore:
    """Delta tables at ``<root>/<schema>/<table>`` on S3 or in a local folder."""

    def __init__(
        self, root: str, storage_options: Mapping[str, str] | None = None, max_attempts: int = 5
    ):
        self.root = root
        self._options = dict(storage_options or {})
        self.max_attempts = max_attempts

    @classmethod
    def from_settings(cls, settings: Settings) -> "DeltaTableStore":
        """The store under ``s3://<PLATFORM_S3_BUCKET>/<PLATFORM_S3_PREFIX>``."""
        return cls(s3_root(settings), delta_storage_options(settings))

    def __repr__(self) -> str:
        return f"DeltaTableStore({self.root!r})"

    def uri(self, table: str) -> str:
        """Where ``schema.table`` lives."""
        return table_uri(self.root, table)

    def load(self, table: str, version: int | None = None) -> DeltaTable | None:
        """The table's latest snapshot (or ``version``), None if the table does not exist."""
        try:
            return DeltaTable(self.uri(table), version=version, storage_options=self._options)
        except TableNotFoundError:
            return None

    def dataset(self, table: str, version: int | None = None) -> pads.Dataset | None:
        """A pyarrow dataset of one snapshot (for DuckDB or pyarrow), None if no table."""
        snapshot = self.load(table, version)
        return None if snapshot is None else snapshot.to_pyarrow_dataset()

    def _scan(self, table: str, where: pl.Expr | None, version: int | None) -> pl.LazyFrame:
        dataset = self.dataset(table, version)
        if dataset is None:
            raise TableNotFoundError(f"no Delta table {table} at {self.uri(table)}")
        rows = pl.scan_pyarrow_dataset(dataset)
        return rows if where is None else rows.filter(where)

    def read(
        self, table: str, where: pl.Expr | None = None, version: int | None = None
    ) -> pl.DataFrame:
        """Rows of one snapshot, filtered by ``where`` (e.g. :func:`in_window`)."""
        return self._scan(table, where, version).collect()

    def count(self, table: str, where: pl.Expr | None = None, version: int | None = None) -> int:
        """Number of rows of one snapshot matching ``where`` (reads no row data it can skip)."""
        return self._scan(table, where, version).select(pl.len()).collect().item()

    def history(self, table: str) -> list[dict]:
        """The table's commits, newest first (operation, parameters, metrics)."""
        snapshot = self.load(table)
        return [] if snapshot is None else snapshot.history()

    def overwrite_partition(
        self,
        table: str,
        frame: pl.DataFrame,
        partition_column: str,
        start: dt.date,
        end: dt.date,
    ) -> WriteResult:
        """Replace the rows with ``start <= partition_column < end`` by ``frame``, in one commit.

        An empty ``frame`` deliberately empties the window. Rows outside the
        window (or without a partition value) are refused before anything is
        written. A new table is partitioned by ``partition_column`` if it is a date.
        """
        check_window(table, frame, partition_column, validate_date(start), validate_date(end))

        def attempt() -> WriteResult:
            current = self.load(table)
            if current is None:
                daily = frame.schema[partition_column] == pl.Date
                self._create(table, frame, [partition_column] if daily else None)
                return WriteResult(frame.height, 0, frame.height, [])
            data, added = conform(table, frame, current.schema())
            [column] = spelled_as(data.columns, [partition_column])
            write_deltalake(
                current,
                data.to_arrow(),
                mode="overwrite",
                predicate=window_predicate(column, start, end),
                schema_mode="merge" if added else None,
            )
            # the window as this commit found it: the version it was committed on top of
            replaced = self.count(table, in_window(column, start, end), current.version() - 1)
            return WriteResult(frame.height, replaced, frame.height, added)

        return self._retrying(attempt)

    def merge_upsert(
        self, table: str, frame: pl.DataFrame, key: list[str], order_by: list[str]
    ) -> WriteResult:
        """Merge ``frame`` into ``table`` on ``key``; a row wins only if newer, in one commit.

        "Newer" is the total order of ``strategies.merge_upsert``: (``order_by``...,
        then every other column in table order) compared lexicographically, NULL
        lowest, so replays in any order converge. Refuses no key, NULL keys and
        duplicate keys. A new column is added by the merge's commit; as delta-rs 1.6.6
        schema evolution inside MERGE fills it from the source also on matched rows
        that are not updated, such a merge is given only the rows that win
        (:func:`_winning_rows`).
        """
        check_merge_input(table, frame, key, order_by)

        def attempt() -> WriteResult:
            current, data, added = self._for_merge(table, frame)
            if current is None:
                return WriteResult(frame.height, 0, frame.height, [])
            keys, order = spelled_as(data.columns, key), spelled_as(data.columns, order_by)
            fixed = {c.lower() for c in [*keys, *order]}
            ordering = [*order, *(c for c in data.columns if c.lower() not in fixed)]
            source = _winning_rows(current, data, keys, ordering, added) if added else data
            metrics = (
                current.merge(
                    source.to_arrow(),
                    predicate=key_match(keys),
                    source_alias=SOURCE,
                    target_alias=TARGET,
                    merge_schema=bool(added),
                )
                .when_matched_update_all(predicate=newer(ordering, added))
                .when_not_matched_insert_all()
                .execute()
            )
            changed = metrics["num_target_rows_inserted"] + metrics["num_target_rows_updated"]
            return WriteResult(frame.height, 0, changed, added)

        return self._retrying(attempt)

    def replace_keys(
        self, table: str, frame: pl.DataFrame, key: list[str], keys: pl.DataFrame
    ) -> WriteResult:
        """Replace the rows of ``keys`` by ``frame`` in one commit (absent keys deleted).

        One ``MERGE`` whose source is every replaced key, flagged with whether it has
        a row in ``frame``: matched and flagged -> update, matched and not -> delete,
        not matched and flagged -> insert.
        """
        check_replace_input(table, frame, key, keys)

        def attempt() -> WriteResult:
            current, data, added = self._for_merge(table, frame)
            if current is None:
                return WriteResult(frame.height, 0, frame.height, [])
            names = spelled_as(data.columns, key)
            wanted = keys.select(key).unique().rename(dict(zip(key, names, strict=True)))
            source = wanted.join(
                data.with_columns(pl.lit(True).alias(_PRESENT)), on=names, how="left"
            ).with_columns(pl.col(_PRESENT).fill_null(False))
            present = f"{SOURCE}.{_PRESENT}"
            values = [c for c in data.columns if c not in names]
            metrics = (
                current.merge(
                    source.to_arrow(),
                    predicate=key_match(names),
                    source_alias=SOURCE,
                    target_alias=TARGET,
                    merge_schema=bool(added),  # matched rows left alone hold NULL there
                )
                # only rows that really change: replaying the same state commits nothing
                .when_matched_update_all(
                    predicate=f"{present} AND ({differs(values, added)})", except_cols=[_PRESENT]
                )
                .when_matched_delete(predicate=f"NOT {present}")
                .when_not_matched_insert_all(predicate=present, except_cols=[_PRESENT])
                .execute()
            )
            deleted = metrics["num_target_rows_deleted"]
            changed = metrics["num_target_rows_inserted"] + metrics["num_target_rows_updated"]
            return WriteResult(frame.height, deleted, changed, added)

        return self._retrying(attempt)

    def replace_all(self, table: str, frame: pl.DataFrame, key: list[str]) -> WriteResult:
        """Replace the table's whole contents by ``frame`` in one commit (a rebuild).

        An overwrite commit: a reader sees the old snapshot or the new one. The
        schema is conformed as for the other writes (a new column is added).
        """
        check_replace_input(table, frame, key, frame)

        def attempt() -> WriteResult:
            current = self.load(table)
            if current is None:
                self._create(table, frame, None)
                return WriteResult(frame.height, 0, frame.height, [])
            data, added = conform(table, frame, current.schema())
            write_deltalake(
                current,
                data.to_arrow(),
                mode="overwrite",
                schema_mode="merge" if added else None,
            )
            replaced = self.count(table, None, current.version() - 1)
            return WriteResult(frame.height, replaced, frame.height, added)

        return self._retrying(attempt)

    def _for_merge(
        self, table: str, frame: pl.DataFrame
    ) -> tuple[DeltaTable | None, pl.DataFrame, list[str]]:
        """The table's snapshot, ``frame`` conformed to it and the columns it adds;
        (None, frame, []) after creating a missing table from ``frame``."""
        current = self.load(table)
        if current is None:
            self._create(table, frame, None)
            return None, frame, []
        data, added = conform(table, frame, current.schema())
        return current, data, added

    def _create(self, table: str, frame: pl.DataFrame, partition_by: list[str] | None) -> None:
        """Create the table with ``frame`` as version 0; losing the race to create is a conflict."""
        try:
            write_deltalake(
                self.uri(table),
                frame.to_arrow(),
                mode="error",
                partition_by=partition_by,
                storage_options=self._options,
            )
        except DeltaError as exc:
            if self.load(table) is None:
                raise
            raise CommitFailedError(f"{table} was created concurrently") from exc

    def _retrying(self, attempt: Callable[[], WriteResult]) -> WriteResult:
        """Run ``attempt``; rerun it on a fresh snapshot after a commit conflict."""
        number = 1
        while True:
            try:
                return attempt()
            except CommitFailedError:
                if number >= self.max_attempts:
                    raise
            time.sleep(_jitter.uniform(0, _BACKOFF_S * 2**number))
            number += 1


def _winning_rows(
    current: DeltaTable, data: pl.DataFrame, key: list[str], ordering: list[str], added: list[str]
) -> pl.DataFrame:
    """The rows of ``data`` a merge on ``key`` applies to ``current``: new keys and rows newer
    than the table's by ``ordering`` (the ``added`` columns compared with NULL, which the
    table holds there). Scans the table; only a merge that adds a column needs it."""
    con = duckdb.connect()
    try:
        con.register("platform_source", data.with_row_index(_ROW).to_arrow())
        con.register("platform_target", sql_dataset(current))
        match = " AND ".join(f"{TARGET}.{quote_ident(k)} = {SOURCE}.{quote_ident(k)}" for k in key)
        wins = newer_condition(ordering, SOURCE, TARGET, quote_ident, added)
        rows = con.sql(
            f"SELECT {_ROW} FROM platform_source AS {SOURCE} WHERE NOT EXISTS ("  # noqa: S608
            f"SELECT 1 FROM platform_target AS {TARGET} WHERE {match} AND NOT {wins}) "
            f"ORDER BY {_ROW}"
        ).fetchall()
    finally:
        con.close()
    return data[[row for (row,) in rows]]

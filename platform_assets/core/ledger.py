"""The run ledger ``platform.pipeline_runs``: one row per attempt per (dataset, partition).

An attempt starts as ``started`` and ends as ``succeeded``, ``failed`` or
``superseded`` (its input was no longer the partition's current one when it would
have been written); a partition that is already published with the same input
checksum and code version gets a ``skipped`` row instead. A crash leaves a ``started`` row, which
the next attempt recognises (and closes as ``failed`` once its run is over).

The ledger lives in the run-metadata database (:mod:`platform_assets.storage.metadata_duckdb`):
the DuckDB warehouse file, or with ``PLATFORM_LEDGER_URL`` a PostgreSQL database
shared by every run; the SQL below is written once for both, except the CLI's.
Attempt numbers stay unique under concurrent writers: numbering the attempts of
one (run, dataset) holds a lock for the length of the transaction.

Read it with ``python -m platform_assets.core.ledger`` (or ``make ledger``).
"""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import polars as pl

from platform_assets.core.metadata import POSTGRES, MetadataConnection, MetadataSource

TABLE = "platform.pipeline_runs"
STARTED, SUCCEEDED, SKIPPED, FAILED = "started", "succeeded", "skipped", "failed"
SUPERSEDED = "superseded"  # a newer input was current when the write would have committed
MAX_ERROR_CHARS = 2000

_DDL = """
CREATE SCHEMA IF NOT EXISTS platform;
CREATE TABLE IF NOT EXISTS platform.pipeline_runs (
    run_id VARCHAR NOT NULL,
    dataset VARCHAR NOT NULL,
    partition VARCHAR NOT NULL,
    attempt INTEGER NOT NULL,
    status VARCHAR NOT NULL,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    completed_at TIMESTAMP WITH TIME ZONE,
    input_checksum VARCHAR,
    code_version VARCHAR,
    rows_in BIGINT,
    rows_written BIGINT,
    forced BOOLEAN NOT NULL DEFAULT false,
    error VARCHAR,
    output_checksum VARCHAR,
    note VARCHAR,
    PRIMARY KEY (run_id, dataset, partition, attempt)
);
ALTER TABLE platform.pipeline_runs ADD COLUMN IF NOT EXISTS changed_days VARCHAR;
"""
# Shared by every run on Postgres, the ledger grows without bound: index the lookups by
# (dataset, partition). Not on DuckDB, whose scans are fast and whose indexes slow updates.
_DDL_EXTRA = {
    POSTGRES: "CREATE INDEX IF NOT EXISTS pipeline_runs_by_partition "
    "ON platform.pipeline_runs (dataset, partition, status);"
}


@dataclass(frozen=True)
class Attempt:
    """One attempt of one run on one (dataset, partition)."""

    run_id: str
    dataset: str
    partition: str
    attempt: int
    input_checksum: str
    code_version: str
    forced: bool


@dataclass(frozen=True)
class PublishedVersion:
    """The latest successful publication of a (dataset, partition)."""

    run_id: str
    input_checksum: str
    code_version: str
    output_checksum: str | None
    completed_at: dt.datetime
    rows_written: int | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _attempt_lock(run_id: str, dataset: str) -> str:
    """The lock that serializes numbering the attempts of one run on one dataset."""
    return f"attempt:{run_id}\x1f{dataset}"


def _insert_attempt(
    con: MetadataConnection,
    run_id: str,
    dataset: str,
    partition: str,
    input_checksum: str,
    code_version: str,
    forced: bool,
    status: str = STARTED,
    rows_written: int | None = None,
    output_checksum: str | None = None,
    note: str | None = None,
    error: str | None = None,
) -> Attempt:
    """Insert one attempt row (the next attempt number of this run on the partition).

    Call it inside a transaction holding :func:`_attempt_lock` of (run, dataset).
    """
    number = con.query(
        "SELECT coalesce(max(attempt), 0) + 1 FROM platform.pipeline_runs "
        "WHERE run_id = ? AND dataset = ? AND partition = ?",
        [run_id, dataset, partition],
    )[0][0]
    now = _now()
    con.execute(
        "INSERT INTO platform.pipeline_runs (run_id, dataset, partition, attempt, status, "
        "started_at, completed_at, input_checksum, code_version, forced, rows_written, "
        "output_checksum, note, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            run_id,
            dataset,
            partition,
            number,
            status,
            now,
            None if status == STARTED else now,
            input_checksum,
            code_version,
            forced,
            rows_written,
            output_checksum,
            note,
            error[:MAX_ERROR_CHARS] if error else None,
        ],
    )
    return Attempt(run_id, dataset, partition, number, input_checksum, code_version, forced)


@contextmanager
def ledger_db(warehouse: MetadataSource) -> Iterator[MetadataConnection]:
    """A run-metadata connection on which ``platform.pipeline_runs`` exists."""
    with warehouse.metadata_db() as con:
        con.ensure(TABLE, _DDL + _DDL_EXTRA.get(con.dialect, ""))
        yield con


class LedgerRowMissing(RuntimeError):
    """An attempt this run began is no longer in the ledger when it is closed."""


class Ledger:
    """Reads and writes ``platform.pipeline_runs`` through short-lived connections.

    Every method takes all partitions of a run at once and uses one connection
    and one transaction for them. The ledger lives where the warehouse keeps its
    run metadata: the DuckDB file, or PostgreSQL with ``PLATFORM_LEDGER_URL``.
    """

    def __init__(self, warehouse: MetadataSource):
        self.warehouse = warehouse

    def begin(
        self,
        run_id: str,
        dataset: str,
        checksums: dict[str, str],
        code_version: str,
        forced: bool,
        notes: dict[str, str] | None = None,
    ) -> list[Attempt]:
        """Insert a ``started`` row per partition (``notes``: why each is computed)."""
        notes = notes or {}
        with ledger_db(self.warehouse) as con, con.transaction():
            con.lock([_attempt_lock(run_id, dataset)])
            return [
                _insert_attempt(
                    con,
                    run_id,
                    dataset,
                    key,
                    checksums[key],
                    code_version,
                    forced,
                    note=notes.get(key),
                )
                for key in sorted(checksums)
            ]

    def finish(
        self,
        attempts: list[Attempt],
        status: str,
        rows_in: dict[str, int] | None = None,
        rows_written: dict[str, int] | None = None,
        output_checksums: dict[str, str] | None = None,
        error: str | None = None,
        note: str | None = None,
        changed_days: list[str] | None = None,
    ) -> None:
        """Close attempts as ``succeeded``, ``skipped`` or ``failed``, in one transaction.

        ``changed_days`` lists the business days a merge changed (stored comma-separated).
        An attempt recorded as ``succeeded`` whose row is not in the ledger raises
        :class:`LedgerRowMissing`, and nothing of the transaction is recorded: a publication
        is never left without the row that names it.
        """
        rows_in, rows_written = rows_in or {}, rows_written or {}
        output_checksums = output_checksums or {}
        with ledger_db(self.warehouse) as con, con.transaction():
            for attempt in attempts:
                key = attempt.partition
                found = con.query(
                    "UPDATE platform.pipeline_runs SET status = ?, completed_at = ?, "
                    "rows_in = ?, rows_written = ?, output_checksum = ?, error = ?, "
                    "note = coalesce(?, note), changed_days = coalesce(?, changed_days) "
                    "WHERE run_id = ? AND dataset = ? AND partition = ? AND attempt = ? "
                    "RETURNING attempt",
                    [
                        status,
                        _now(),
                        rows_in.get(key),
                        rows_written.get(key),
                        output_checksums.get(key),
                        error[:MAX_ERROR_CHARS] if error else None,
                        note,
                        ",".join(changed_days) if changed_days is not None else None,
                        attempt.run_id,
                        attempt.dataset,
                        key,
                        attempt.attempt,
                    ],
                )
                if not found and status == "succeeded":
                    raise LedgerRowMissing(
                        f"{attempt.dataset} {key}: the ledger has no row for attempt "
                        f"{attempt.attempt} of run {attempt.run_id}, which this run began; "
                        "its publication is not recorded. Rerun the day"
                    )

    def record_changed_days(self, attempt: Attempt, days: list[str]) -> None:
        """Record, before a merge writes, the business days it will change (its intent)."""
        with ledger_db(self.warehouse) as con:
            con.execute(
                "UPDATE platform.pipeline_runs SET changed_days = ? "
                "WHERE run_id = ? AND dataset = ? AND partition = ? AND attempt = ?",
                [
                    ",".join(days),
                    attempt.run_id,
                    attempt.dataset,
                    attempt.partition,
                    attempt.attempt,
                ],
            )

    def record_skips(
        self, run_id: str, dataset: str, published: dict[str, PublishedVersion]
    ) -> None:
        """Record that a run skipped unchanged partitions, naming who published each.

        One statement for all partitions (each row the next attempt of this run on it).
        """
        keys = sorted(published)
        versions = [published[key] for key in keys]
        now = _now()
        with ledger_db(self.warehouse) as con, con.transaction():
            con.lock([_attempt_lock(run_id, dataset)])
            con.execute(
                "INSERT INTO platform.pipeline_runs (run_id, dataset, partition, attempt, status, "
                "started_at, completed_at, input_checksum, code_version, forced, rows_written, "
                "output_checksum, note) "
                "SELECT ?, ?, s.partition, 1 + coalesce((SELECT max(r.attempt) "
                "FROM platform.pipeline_runs r WHERE r.run_id = ? AND r.dataset = ? "
                "AND r.partition = s.partition), 0), 'skipped', ?, ?, s.input_checksum, "
                "s.code_version, false, 0, s.output_checksum, "
                "'unchanged; current version published by run ' || s.publisher "
                "FROM (SELECT unnest(?::VARCHAR[]) AS partition, "
                "unnest(?::VARCHAR[]) AS input_checksum, "
                "unnest(?::VARCHAR[]) AS code_version, "
                "unnest(?::VARCHAR[]) AS output_checksum, "
                "unnest(?::VARCHAR[]) AS publisher) s",
                [
                    run_id,
                    dataset,
                    run_id,
                    dataset,
                    now,
                    now,
                    keys,
                    [v.input_checksum for v in versions],
                    [v.code_version for v in versions],
                    [v.output_checksum for v in versions],
                    [v.run_id for v in versions],
                ],
            )

    def record_blocked(
        self,
        run_id: str,
        datasets: list[str],
        errors: dict[str, str],
        input_checksums: dict[str, str],
    ) -> None:
        """Record failed publication attempts of ``datasets`` for partitions whose checks failed."""
        with ledger_db(self.warehouse) as con, con.transaction():
            con.lock([_attempt_lock(run_id, dataset) for dataset in datasets])
            for dataset in datasets:
                for key, error in sorted(errors.items()):
                    _insert_attempt(
                        con,
                        run_id,
                        dataset,
                        key,
                        input_checksums.get(key),
                        None,
                        False,
                        status=FAILED,
                        error=error,
                    )

    def published(self, dataset: str, partitions: list[str]) -> dict[str, PublishedVersion | None]:
        """The latest successful publication of each (dataset, partition), if any."""
        with ledger_db(self.warehouse) as con:
            rows = con.query(
                "SELECT DISTINCT ON (partition) partition, run_id, input_checksum, code_version, "
                "output_checksum, completed_at, rows_written FROM platform.pipeline_runs "
                "WHERE dataset = ? AND status = 'succeeded' AND partition IN "
                "(SELECT unnest(?::VARCHAR[])) "
                "ORDER BY partition, completed_at DESC, run_id DESC",
                [dataset, partitions],
            )
        found = {row[0]: PublishedVersion(*row[1:]) for row in rows}
        return {key: found.get(key) for key in partitions}

    def published_history(self, dataset: str, partition: str) -> list[PublishedVersion]:
        """Every successful publication of a (dataset, partition), newest first."""
        with ledger_db(self.warehouse) as con:
            rows = con.query(
                "SELECT run_id, input_checksum, code_version, output_checksum, completed_at, "
                "rows_written FROM platform.pipeline_runs WHERE dataset = ? AND partition = ? "
                "AND status = 'succeeded' ORDER BY completed_at DESC, run_id DESC",
                [dataset, partition],
            )
        return [PublishedVersion(*row) for row in rows]

    def published_inputs(self, partition: str) -> set[str]:
        """The input checksums of every dataset's current publication of ``partition``."""
        with ledger_db(self.warehouse) as con:
            rows = con.query(
                "SELECT DISTINCT ON (dataset) dataset, input_checksum FROM platform.pipeline_runs "
                "WHERE partition = ? AND status = 'succeeded' "
                "ORDER BY dataset, completed_at DESC, run_id DESC",
                [partition],
            )
        return {checksum for _, checksum in rows if checksum}

    def partitions(self, dataset: str) -> list[str]:
        """The partitions of ``dataset`` that were ever published, in order."""
        with ledger_db(self.warehouse) as con:
            rows = con.query(
                "SELECT DISTINCT partition FROM platform.pipeline_runs "
                "WHERE dataset = ? AND status = 'succeeded' ORDER BY partition",
                [dataset],
            )
        return [row[0] for row in rows]

    def record_rollback(
        self, run_id: str, dataset: str, partition: str, version: PublishedVersion, note: str
    ) -> None:
        """Make ``version`` the current publication again (a ``succeeded`` row naming it)."""
        with ledger_db(self.warehouse) as con, con.transaction():
            con.lock([_attempt_lock(run_id, dataset)])
            _insert_attempt(
                con,
                run_id,
                dataset,
                partition,
                version.input_checksum,
                version.code_version,
                False,
                status=SUCCEEDED,
                rows_written=version.rows_written,
                output_checksum=version.output_checksum,
                note=note,
            )

    def changed_days_of_runs(self, run_ids: list[str]) -> set[str]:
        """The business days the given runs' merges changed (or set out to change)."""
        with ledger_db(self.warehouse) as con:
            rows = con.query(
                "SELECT changed_days FROM platform.pipeline_runs WHERE changed_days IS NOT NULL "
                "AND run_id IN (SELECT unnest(?::VARCHAR[]))",
                [run_ids],
            )
        return {day for (days,) in rows for day in days.split(",") if day}

    def run_failures(self, run_id: str) -> list[tuple[str, str, str]]:
        """(dataset, partition, error) of the run's attempts that ended without publishing:
        failed, or superseded (a newer input was current; a rerun publishes it)."""
        with ledger_db(self.warehouse) as con:
            return con.query(
                "SELECT dataset, partition, coalesce(error, '') FROM platform.pipeline_runs "
                "WHERE run_id = ? AND status IN ('failed', 'superseded') "
                "ORDER BY partition, dataset, attempt",
                [run_id],
            )

    def trailing_rows(self, dataset: str, partition: str, count: int) -> list[int]:
        """Rows written by the latest publications of the ``count`` partitions before one."""
        with ledger_db(self.warehouse) as con:
            rows = con.query(
                "SELECT rows_written FROM (SELECT DISTINCT ON (partition) partition, "
                "rows_written FROM platform.pipeline_runs WHERE dataset = ? "
                "AND partition < ? AND status = 'succeeded' AND rows_written IS NOT NULL "
                "ORDER BY partition, completed_at DESC, run_id DESC) latest "
                "ORDER BY partition DESC LIMIT ?",
                [dataset, partition, count],
            )
        return [row[0] for row in rows]

    def unfinished(
        self, dataset: str, partitions: list[str], except_run: str
    ) -> list[tuple[str, str, int]]:
        """(partition, run_id, attempt) of ``started`` rows of other runs."""
        with ledger_db(self.warehouse) as con:
            return con.query(
                "SELECT partition, run_id, attempt FROM platform.pipeline_runs WHERE dataset = ? "
                "AND partition IN (SELECT unnest(?::VARCHAR[])) AND status = 'started' "
                "AND run_id <> ? ORDER BY started_at",
                [dataset, partitions, except_run],
            )

    def abandon(self, dataset: str, partition: str, run_id: str, attempt: int, why: str) -> None:
        """Close a ``started`` row whose run is over without having finished it."""
        with ledger_db(self.warehouse) as con:
            con.execute(
                "UPDATE platform.pipeline_runs SET status = 'failed', completed_at = ?, error = ? "
                "WHERE run_id = ? AND dataset = ? AND partition = ? AND attempt = ? "
                "AND status = 'started'",
                [_now(), why, run_id, dataset, partition, attempt],
            )

    def latest_of_runs(self, run_ids: list[str]) -> pl.DataFrame:
        """The latest attempt of each (dataset, partition) among the given runs' rows."""
        with ledger_db(self.warehouse) as con:
            return con.frame(
                "SELECT DISTINCT ON (dataset, partition) partition, dataset, status, rows_in, "
                "rows_written FROM platform.pipeline_runs "
                "WHERE run_id IN (SELECT unnest(?::VARCHAR[])) "
                "ORDER BY dataset, partition, started_at DESC, attempt DESC",
                [run_ids],
            )

    def changed_days_after(self, dataset: str, after: str) -> list[tuple[str, str, str, str]]:
        """(mark, run_id, partition, changed_days) of finished merges past the cursor ``after``.

        Any finished attempt counts, not only succeeded ones: the days are recorded
        before the write (:meth:`record_changed_days`), so an attempt whose write
        committed but whose record was lost still names them; an attempt whose write
        did not commit names days that did not change, which the mart skips.

        ``mark`` (:func:`_mark`: UTC completion time and run id) orders the rows and is the
        next cursor; ``changed_days`` lists the business days the merge changed,
        comma-separated. The cursor is compared as a value, never as formatted text.
        """
        since, run_id = _parse_mark(after)
        with ledger_db(self.warehouse) as con:
            rows = con.query(
                "SELECT completed_at, run_id, partition, changed_days "
                "FROM platform.pipeline_runs WHERE dataset = ? AND completed_at IS NOT NULL "
                "AND changed_days IS NOT NULL "
                "AND (completed_at > ? OR (completed_at = ? AND run_id > ?)) "
                "ORDER BY completed_at, run_id, partition",
                [dataset, since, since, run_id],
            )
        return [(_mark(done, run), run, partition, days) for done, run, partition, days in rows]


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _mark(completed_at: dt.datetime, run_id: str) -> str:
    """The cursor of changed_days_after: ``<UTC time, microseconds>Z|<run id>``, sortable."""
    return f"{completed_at.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%S.%fZ}|{run_id}"


def rewind(mark: str, by: dt.timedelta) -> str:
    """A cursor ``by`` earlier than ``mark`` (an empty mark stays empty: read everything)."""
    at, _ = _parse_mark(mark)
    return _mark(at - by, "") if at > _EPOCH + by else ""


def _parse_mark(mark: str) -> tuple[dt.datetime, str]:
    """The (UTC completion time, run id) of a cursor; the epoch for an empty or unreadable one.

    An old cursor (local time of the database session, no offset) goes back a day, more
    than any UTC offset: re-reading rows is harmless (requests are deduplicated by run key
    and unchanged days are not requested), skipping them is not.
    """
    stamp, _, run_id = mark.partition("|")
    try:
        at = dt.datetime.fromisoformat(stamp)
    except ValueError:
        return _EPOCH, ""
    if at.tzinfo is None:
        return at.replace(tzinfo=dt.UTC) - dt.timedelta(days=1), ""
    return at.astimezone(dt.UTC), run_id

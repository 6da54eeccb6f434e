"""The one owner of a (dataset, partition)'s state: decide, gate, begin, commit, record.

Every change of a partition's state goes through a :class:`Publisher`:

1. **decide** (:meth:`Publisher.plan`): a partition already published with the
   same input checksum and code version is skipped (a ``skipped`` ledger row
   naming its publisher) unless the run is forced; the others get a ``started``
   attempt. Days that cannot be computed (their input could not be read, their
   upstream is not published) get a ``failed`` row at once.
2. **gate** (:meth:`Publisher.block`): partitions whose staged artifact failed a
   blocking check are closed as ``failed`` and dropped from the write; the other
   days of the run go on (a bad day blocks that day only).
3. **compute** happens in the caller (an asset body), per partition.
4. **write and record** (:meth:`Publisher.commit`), one partition at a time: in
   one transaction the precondition is checked (the artifact is still the
   partition's current one; the landing files are still the ones parsed), the
   data is written and, where the ledger lives in the same store (the DuckDB
   file), the attempt is closed as ``succeeded``. Elsewhere (Postgres ledger,
   Delta tables) the record follows the committed write: a crash between the
   two leaves a ``started`` row and the next run recomputes and rewrites the
   same data (every write is idempotent), never a wrong skip. A failed
   precondition records the attempt as ``superseded`` and writes nothing.

Nothing here imports Dagster; the asset factories and IO managers are thin
adapters around it.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import polars as pl

from platform_assets.core.checks import CheckOutcome
from platform_assets.core.ledger import (
    FAILED,
    SUCCEEDED,
    SUPERSEDED,
    Attempt,
    Ledger,
    PublishedVersion,
)
from platform_assets.core.write_spec import WriteSpec

Precondition = Callable[[str], str | None]


@dataclass(frozen=True)
class Recompute:
    """The recomputed rows of the keys a changed partition touches (old and new).

    ``rows`` replace exactly the rows of ``keys``; a key without a row is deleted.
    ``keys`` is None when the partition's old artifact is lost, so the keys it
    contributed are unknown: ``rows`` are then the whole table recomputed from every
    current artifact, and replace it (``note`` says why).
    """

    rows: pl.DataFrame
    keys: pl.DataFrame | None
    note: str = ""


@dataclass(frozen=True)
class Rebuild:
    """The whole current state of a table recomputed from every day's current artifact.

    ``rows`` replace the table's contents; ``sources`` name the artifact each
    published day contributed (the run's new artifact for the days it publishes).
    """

    rows: pl.DataFrame
    sources: dict[str, str]


class UpstreamNotPublished(RuntimeError):
    """A downstream partition was requested before its upstream partition was published."""


def is_unchanged(published: PublishedVersion | None, checksum: str, version: str) -> bool:
    """Whether ``published`` is the version for this input checksum and code version."""
    return (
        published is not None
        and published.input_checksum == checksum
        and published.code_version == version
    )


def error_text(exc: BaseException) -> str:
    """An exception as one ledger error text (its type and message)."""
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


@dataclass(frozen=True)
class DayWrite:
    """What writing one partition did, for its ledger record."""

    rows_written: int | None = None
    output_checksum: str | None = None
    changed_days: list[str] | None = None
    note: str | None = None


@dataclass
class Publication:
    """What an asset hands its IO manager: per partition, the rows to write (nothing: a skip).

    ``precondition(partition)`` is checked in the write's transaction; a text is
    the reason the partition's input is no longer current (it is then recorded
    as superseded and not written). ``outcomes`` are the check outcomes of
    staged partitions, recorded with the artifact they evaluated. ``recompute``
    (current-state tables): called in the write's transaction, the keyed
    recompute of a partition that replaces an earlier version of itself (None
    for a first publication, which the newer-wins merge handles). ``rebuild``
    (current-state tables, run tag ``platform/rebuild=true``): called in the one
    write's transaction with the run's partitions that are still current, the
    whole table recomputed from every published day's current artifact. ``write``
    (published tables): how the rows replace what is published.
    """

    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    attempts: dict[str, Attempt] = field(default_factory=dict)
    rows_in: dict[str, int] = field(default_factory=dict)
    precondition: Precondition | None = None
    outcomes: dict[str, list[CheckOutcome]] = field(default_factory=dict)
    recompute: Callable[[str], Recompute | None] | None = None
    rebuild: Callable[[list[str]], Rebuild] | None = None
    write: WriteSpec | None = None

    @property
    def skipped(self) -> bool:
        """Whether nothing is to be written."""
        return not self.frames

    def release_rows(self) -> None:
        """Keep only the frames' schemas once the rows are written: a Dagster run in one
        process keeps every step's output until it ends, and a day of rows is most of a
        step's memory. The recompute callables go too: they hold the staged days they were
        built from, and the write that called them is over."""
        self.frames = {key: frame.clear() for key, frame in self.frames.items()}
        self.recompute = self.rebuild = None


@dataclass
class DayPlan:
    """One dataset's decision over a run's partitions."""

    checksums: dict[str, str]
    todo: list[str]
    unchanged: dict[str, PublishedVersion]
    published: dict[str, PublishedVersion | None]
    attempts: dict[str, Attempt] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    reason: str = ""


class Publisher:
    """Decides and records the state of one dataset's partitions for one run.

    ``run_is_over(run_id)`` answers whether another run that left a ``started``
    row has ended (crashed, killed), so its attempt can be closed as abandoned.
    """

    def __init__(
        self,
        ledger: Ledger,
        dataset: str,
        run_id: str,
        code_version: str,
        forced: bool,
        run_is_over: Callable[[str], str | None],
        force_reason: str = "forced (platform/force=true)",
    ):
        self.ledger = ledger
        self.dataset = dataset
        self.run_id = run_id
        self.code_version = code_version
        self.forced = forced
        self.run_is_over = run_is_over
        self.force_reason = force_reason

    def close_abandoned(self, partitions: list[str]) -> list[str]:
        """Close ``started`` rows of runs that are over; returns what was closed."""
        closed = []
        for partition, run_id, attempt in self.ledger.unfinished(
            self.dataset, partitions, self.run_id
        ):
            ended = self.run_is_over(run_id)
            if ended is None:
                continue
            why = f"abandoned: run {run_id} ended ({ended}) without finishing this attempt"
            self.ledger.abandon(self.dataset, partition, run_id, attempt, why)
            closed.append(f"{self.dataset} {partition}: {why}; this run recomputes it")
        return closed

    def plan(
        self,
        checksums: dict[str, str],
        failed: dict[str, str] | None = None,
        extra_reason: str | None = None,
        present: Callable[[str, PublishedVersion], bool] | None = None,
    ) -> DayPlan:
        """Skip the unchanged partitions, begin attempts for the others.

        ``checksums``: the input checksum of each partition that can be computed;
        ``failed``: partitions that cannot (reason), recorded as failed attempts.
        ``present(partition, published)``: whether the published output still
        exists (a staged artifact collected or deleted is recomputed).
        """
        failed = dict(failed or {})
        keys = sorted(checksums)
        published = self.ledger.published(self.dataset, keys)
        todo, unchanged = [], {}
        for key in keys:
            current = published[key]
            same = is_unchanged(current, checksums[key], self.code_version)
            if same and not self.forced and (present is None or present(key, current)):
                unchanged[key] = current
            else:
                todo.append(key)
        if unchanged:
            self.ledger.record_skips(self.run_id, self.dataset, unchanged)
        plan = DayPlan(checksums, todo, unchanged, published)
        if todo:
            reasons = {key: self.day_reason(published[key], checksums[key]) for key in todo}
            if extra_reason:
                reasons = {key: f"{extra_reason}; {why}" for key, why in reasons.items()}
            plan.reason = "; ".join(f"{key}: {reasons[key]}" for key in todo)
            if self.forced:  # the same reason for every day
                plan.reason = reasons[todo[0]]
            begun = self.ledger.begin(
                self.run_id,
                self.dataset,
                {k: checksums[k] for k in todo},
                self.code_version,
                self.forced,
                reasons,
            )
            plan.attempts = {attempt.partition: attempt for attempt in begun}
        if failed:
            self.ledger.record_blocked(self.run_id, [self.dataset], failed, {})
            plan.failed = failed
        return plan

    def day_reason(self, published: PublishedVersion | None, checksum: str) -> str:
        """Why one partition is computed: forced, never published, code or input changed."""
        if self.forced:
            return self.force_reason
        if published is None:
            return "never published"
        if published.code_version != self.code_version:
            return f"code version {published.code_version} -> {self.code_version}"
        if published.input_checksum != checksum:
            return "input changed"
        return "published output missing"

    def block(self, plan: DayPlan, problems: dict[str, str]) -> None:
        """Close the attempts of ``problems``' partitions as failed and drop them from the plan."""
        if not problems:
            return
        for key, why in sorted(problems.items()):
            self.ledger.finish([plan.attempts.pop(key)], FAILED, error=why)
            plan.todo.remove(key)
            plan.failed[key] = why

    def flag(self, plan: DayPlan, problems: dict[str, str]) -> None:
        """Record as failed the unchanged days whose published artifact fails the current
        blocking checks (a check added or changed since it was published): their rows stay
        published (nothing is retracted), but the run does not end green while they are
        there; new input that passes replaces them."""
        if not problems:
            return
        self.ledger.record_blocked(
            self.run_id, [self.dataset], problems, {k: plan.checksums[k] for k in problems}
        )
        plan.failed |= problems

    def fail(self, attempts: list[Attempt], exc: BaseException) -> None:
        """Close attempts as failed with the exception's text."""
        self.ledger.finish(attempts, FAILED, error=error_text(exc))

    def commit(
        self,
        publication: Publication,
        partition: str,
        transaction: Callable[[], AbstractContextManager[object]],
        write: Callable[[], DayWrite],
        ledger_in_transaction: bool,
    ) -> DayWrite | None:
        """Write one partition and record it (module docstring, step 4).

        Returns what was written, or None when the precondition failed (superseded).
        """
        attempt = publication.attempts[partition]
        rows_in = publication.rows_in
        done: DayWrite | None = None
        superseded: str | None = None
        try:
            with transaction():
                check = publication.precondition
                superseded = check(partition) if check else None
                if superseded is None:
                    done = write()
                    if ledger_in_transaction:
                        self._succeeded(attempt, rows_in, done)
        except Exception as exc:
            self.fail([attempt], exc)
            raise
        if superseded is not None:
            self.ledger.finish([attempt], SUPERSEDED, error=f"superseded: {superseded}")
            return None
        if not ledger_in_transaction:
            self._succeeded(attempt, rows_in, done)
        return done

    def commit_all(
        self,
        publication: Publication,
        transaction: Callable[[], AbstractContextManager[object]],
        write: Callable[[list[str]], DayWrite],
        ledger_in_transaction: bool,
    ) -> tuple[DayWrite | None, dict[str, str]]:
        """Write all of a publication's partitions as one write (a rebuild) and record them.

        In one transaction the precondition of every partition is checked; the
        partitions still current are handed to ``write`` (nothing is written when
        none is) and, where the ledger shares the store, closed as ``succeeded``
        with the write's record. Returns the write and the superseded partitions
        with their reason (recorded as ``superseded``).
        """
        keys = sorted(publication.frames)
        attempts = [publication.attempts[key] for key in keys]
        done: DayWrite | None = None
        superseded: dict[str, str] = {}
        try:
            with transaction():
                check = publication.precondition
                for key in keys:
                    why = check(key) if check else None
                    if why is not None:
                        superseded[key] = why
                current = [key for key in keys if key not in superseded]
                if current:
                    done = write(current)
                    if ledger_in_transaction:
                        for key in current:
                            self._succeeded(publication.attempts[key], publication.rows_in, done)
        except Exception as exc:
            self.fail(attempts, exc)
            raise
        for key, why in sorted(superseded.items()):
            attempt = publication.attempts[key]
            self.ledger.finish([attempt], SUPERSEDED, error=f"superseded: {why}")
        if done is not None and not ledger_in_transaction:
            for key in keys:
                if key not in superseded:
                    self._succeeded(publication.attempts[key], publication.rows_in, done)
        return done, superseded

    def _succeeded(self, attempt: Attempt, rows_in: dict[str, int], done: DayWrite) -> None:
        key = attempt.partition
        self.ledger.finish(
            [attempt],
            SUCCEEDED,
            rows_in={key: rows_in[key]} if key in rows_in else None,
            rows_written={key: done.rows_written} if done.rows_written is not None else None,
            output_checksums={key: done.output_checksum} if done.output_checksum else None,
            changed_days=done.changed_days,
            note=done.note,
        )


def upstream_artifacts(
    ledger: Ledger, upstream: str, partitions: list[str]
) -> tuple[dict[str, str], dict[str, str]]:
    """The current artifact (published output checksum) of each upstream partition, and why
    the others have none."""
    found, missing = {}, {}
    for key, published in ledger.published(upstream, partitions).items():
        if published is None or not published.output_checksum:
            missing[key] = f"{upstream} {key} is not published yet; materialize it first"
        else:
            found[key] = published.output_checksum
    return found, missing

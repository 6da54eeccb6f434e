"""Child process of the history test: one run of a job range, with seeded faults injected.

Usage: ``python -m tests.history.child '<json spec>'`` with the platform's settings
(``PLATFORM_DATA_DIR``, and with ``PLATFORM_STORAGE=s3`` the bucket, ``AWS_*`` and
``PLATFORM_LEDGER_URL``) and ``DAGSTER_HOME`` in the environment. The spec names the
job, the first and last day, ``force``, a ``token`` (tagged on the run so the parent can
find it after a kill) and the faults: ``kill_at`` (SIGKILL self at the n-th boundary
event, or at the n-th event of one seam kind with ``kill_on``, see :data:`KILL_KINDS`; a
boundary event is entering or leaving a seam; ``pause_on``/``pause_at``/``status_fd``
pause there, or at the first later event where no lock is held (a warehouse connection
or a ledger transaction is open), after writing ``P`` to that pipe, until a line arrives
on stdin), ``ledger_fail_at`` (the n-th ledger call raises the store's own error once)
and ``rewrite`` (a landing file changed around its first read: rewritten in place on
local storage, the object replaced between listing and read on S3).
It prints one JSON line: success and event counts.

Faults wrap functions at the seams listed in ``SEAMS`` (no platform code is edited),
each for the stores it applies to. When the platform is refactored and a seam moves,
adjust that table; a seam that is not found stops the child with exit code 3 and a
message naming it, never silently. The same installer serves in-process runs of the
parent (without kills).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

SEAM_MISSING_EXIT = 3
TOKEN_TAG = "history/token"
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # errors: in reports
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


LOCAL, S3 = "local", "s3"
BOTH = (LOCAL, S3)


@dataclass(frozen=True)
class Seam:
    """A function wrapped for fault injection: ``module`` + dotted ``attr``, its role, the
    stores it applies to and its ``kind`` (the name ``kill_on``/``pause_on`` use; default:
    the attribute's last part). A context manager that ``holds`` a lock while open is never
    paused inside (a peer would wait on it)."""

    role: str  # boundary (kill/pause points), ledger (store failures), landing_read
    module: str
    attr: str
    stores: tuple[str, ...] = BOTH
    context_manager: bool = False
    holds: bool = False
    kind: str = ""

    @property
    def name(self) -> str:
        """The seam's kind: ``kind``, or the attribute's last part."""
        return self.kind or self.attr.rsplit(".", 1)[-1]


# The one table to adjust when the platform's internals move.
SEAMS = (
    # the DuckDB file: the warehouse (quarantine tables only with s3), its file lock
    Seam(
        "boundary", "platform_assets.storage.warehouse", "connect", context_manager=True, holds=True
    ),
    Seam("boundary", "os", "replace", stores=(LOCAL,)),  # a staged file renamed into the lake
    Seam("boundary", "polars", "DataFrame.write_parquet"),  # staging output (both lakes)
    # S3: the lake PUT, the Delta commits (overwrite/create, merge), ledger transactions
    Seam("boundary", "platform_assets.storage.lake_s3", "S3Lake.write_artifact", stores=(S3,)),
    Seam("boundary", "deltalake", "write_deltalake", stores=(S3,)),
    Seam("boundary", "deltalake.table", "TableMerger.execute", stores=(S3,), kind="merge"),
    Seam(
        "boundary",
        "platform_assets.storage.metadata_postgres",
        "PostgresMetadata.transaction",
        stores=(S3,),
        context_manager=True,
        holds=True,  # advisory locks and row locks until it ends
    ),
    Seam(
        "ledger",
        "platform_assets.storage.metadata_duckdb",
        "DuckDBMetadata.execute",
        stores=(LOCAL,),
    ),
    Seam(
        "ledger", "platform_assets.storage.metadata_duckdb", "DuckDBMetadata.query", stores=(LOCAL,)
    ),
    Seam("ledger", "platform_assets.storage.metadata_postgres", "PostgresMetadata.execute", (S3,)),
    Seam("ledger", "platform_assets.storage.metadata_postgres", "PostgresMetadata.query", (S3,)),
    Seam(
        "landing_read",
        "platform_assets.storage.landing_local",
        "LandingFile.read_bytes",
        stores=(LOCAL,),
    ),
    Seam("landing_read", "platform_assets.storage.landing_s3", "S3LandingFile.read_bytes", (S3,)),
)
# Per store: the seam kinds a kill may be counted on -> (how many of their events a small
# run has, about, so that some kill points miss; the kind's weight). ``None`` counts every
# boundary event (enter/leave of a context manager, before/after a call).
KILL_KINDS = {
    LOCAL: {None: (60, 40), "connect": (40, 20), "replace": (4, 25), "write_parquet": (4, 15)},
    S3: {
        None: (60, 40),
        "transaction": (30, 15),
        "write_artifact": (4, 15),
        "write_deltalake": (10, 15),
        "merge": (4, 15),
    },
}
# Pause points of the concurrent step: after the landing files were read (the first
# staging output), and once the staged artifact is in the lake (renamed, or PUT).
PAUSE_AFTER_READ = {LOCAL: ("write_parquet", 1), S3: ("write_parquet", 1)}
PAUSE_AFTER_STAGED = {LOCAL: ("replace", 2), S3: ("write_artifact", 2)}
# How many ledger calls a small run makes (about): the range of ``ledger_fail_at``.
LEDGER_CALLS = {LOCAL: 80, S3: 80}


class SeamMissing(RuntimeError):
    """A seam of ``SEAMS`` does not exist in the code under test."""


class InjectedKill(RuntimeError):
    """Raised instead of SIGKILL when faults run in-process (should never be configured)."""


@dataclass
class Faults:
    """What to inject, and the counters (only calls on the main thread count)."""

    store: str = LOCAL
    kill_at: int | None = None
    kill_on: str | None = None  # count only this seam kind's events; None: all
    pause_on: str | None = None  # pause at the pause_at-th event of this seam, or at the
    pause_at: int | None = None  # first event after it where no warehouse connection is open
    status_fd: int | None = None  # ... after writing b"P" here; resume on a line on stdin
    ledger_fail_at: int | None = None
    rewrite_path: str | None = None  # a local path, or with s3 the object's key
    rewrite_full: bytes | None = None
    rewrite_mode: str = "pre"  # pre: truncated before the run; during: cut at the first read
    rewrite_cut: int = 0
    rewrite_put: Callable[[bytes], None] | None = None  # s3: replaces the object
    in_process: bool = False
    boundary_events: int = 0
    kind_events: dict[str, int] = field(default_factory=dict)
    ledger_calls: int = 0
    ledger_failed: bool = False
    rewritten: bool = False
    read_refused: str | None = None  # s3: the read after the replacement raised this
    held: int = 0  # warehouse connections and ledger transactions open now (locks held)
    pause_armed: bool = False
    paused: bool = False
    restore: list[tuple[object, str, object]] = field(default_factory=list)

    def boundary(self, kind: str, what: str) -> None:
        """Count one boundary event; SIGKILL the process at the chosen one."""
        if threading.current_thread() is not threading.main_thread():
            return
        self.boundary_events += 1
        self.kind_events[kind] = self.kind_events.get(kind, 0) + 1
        if kind == self.pause_on and self.kind_events[kind] == self.pause_at:
            self.pause_armed = True
        if self.pause_armed and not self.paused and self.held == 0:
            self.paused = True  # never while holding a lock: a peer would wait on it
            os.write(self.status_fd, b"P")
            sys.stdin.readline()
        count = self.kind_events[kind] if self.kill_on else self.boundary_events
        if self.kill_at is not None and (self.kill_on in (None, kind)) and count == self.kill_at:
            if self.in_process:
                raise InjectedKill(f"kill point {what} reached in-process")
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    def ledger(self, what: str, call: Callable[[], object], connection: object) -> object:
        """Count one ledger call and make it (``call``); fail once at the chosen one.

        Local: the DuckDB call raises ``IOException`` instead of running. S3: the server
        drops the connection (psycopg2's ``OperationalError``, the connection closed):
        before the statement ran when ``ledger_fail_at`` is odd, after it ran when even
        (the client cannot tell whether an autocommit statement or a COMMIT applied).
        """
        if threading.current_thread() is not threading.main_thread():
            return call()
        self.ledger_calls += 1
        if self.ledger_failed or self.ledger_calls != self.ledger_fail_at:
            return call()
        self.ledger_failed = True
        detail = f"(injected ledger failure: {what}, call {self.ledger_calls})"
        if self.store != S3:
            import duckdb

            raise duckdb.IOException(f"injected ledger failure {detail}")
        import psycopg2

        if self.ledger_calls % 2 == 0:
            call()
        connection.con.close()
        raise psycopg2.OperationalError(
            "server closed the connection unexpectedly\n\tThis probably means the server "
            f"terminated abnormally before or while processing the request. {detail}"
        )

    def rewrite(self, data: bytes) -> None:
        """Change the landing file under test: write the path, or replace the S3 object."""
        if self.rewrite_put is not None:
            self.rewrite_put(data)
        else:
            Path(self.rewrite_path).write_bytes(data)


def _resolve(seam: Seam) -> tuple[object, str, object]:
    """(owner, name, original) of a seam, or :class:`SeamMissing`."""
    try:
        owner = importlib.import_module(seam.module)
        *path, name = seam.attr.split(".")
        for part in path:
            owner = getattr(owner, part)
        return owner, name, getattr(owner, name)
    except (ImportError, AttributeError) as exc:
        raise SeamMissing(
            f"seam {seam.module}.{seam.attr} ({seam.role}) not found: {exc}; "
            "update SEAMS in tests/history/child.py"
        ) from exc


def _importers(original: object) -> list[tuple[object, str]]:
    """Modules of the platform that imported ``original`` by name (``from x import f``)."""
    found = []
    for name, module in list(sys.modules.items()):
        if not name.startswith("platform_assets") or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if value is original:
                found.append((module, attr))
    return found


def _wrap(seam: Seam, original: Callable, faults: Faults) -> Callable:
    label = f"{seam.module}.{seam.attr}"
    kind, holds = seam.name, int(seam.holds)
    if seam.role == "boundary" and seam.context_manager:

        @contextlib.contextmanager
        def wrapped_cm(*args, **kwargs) -> Iterator[object]:
            faults.boundary(kind, f"enter {label}")
            try:
                with original(*args, **kwargs) as value:
                    faults.held += holds
                    try:
                        yield value
                    finally:
                        faults.held -= holds
            finally:
                faults.boundary(kind, f"leave {label}")

        return functools.wraps(original)(wrapped_cm)

    if seam.role == "boundary":

        def wrapped_call(*args, **kwargs):
            faults.boundary(kind, f"call {label}")
            result = original(*args, **kwargs)
            faults.boundary(kind, f"return {label}")
            return result

        return functools.wraps(original)(wrapped_call)

    if seam.role == "ledger":

        def wrapped_ledger(self, *args, **kwargs):
            return faults.ledger(label, lambda: original(self, *args, **kwargs), self)

        return functools.wraps(original)(wrapped_ledger)

    def wrapped_read(entry, *args, **kwargs):
        target = faults.rewrite_path
        mine = target is not None and not faults.rewritten and str(entry.path) == target
        if not mine:
            return original(entry, *args, **kwargs)
        faults.rewritten = True
        if faults.store == S3:  # atomic objects: replaced between the listing and this read
            cut = faults.rewrite_full[: faults.rewrite_cut]
            faults.rewrite(faults.rewrite_full if faults.rewrite_mode == "pre" else cut)
            try:
                return original(entry, *args, **kwargs)
            except Exception as exc:
                faults.read_refused = type(exc).__name__
                raise
            finally:
                faults.rewrite(faults.rewrite_full)  # the last delivery: the whole file
        if faults.rewrite_mode == "during":
            faults.rewrite(faults.rewrite_full[: faults.rewrite_cut])
        data = original(entry, *args, **kwargs)
        faults.rewrite(faults.rewrite_full)  # the copy finishes
        return data

    return functools.wraps(original)(wrapped_read)


def install(faults: Faults) -> Faults:
    """Wrap every seam the faults need (imports the platform first); undo with ``uninstall``."""
    importlib.import_module("platform_assets.definitions")
    roles = {"boundary"} if faults.kill_at or faults.pause_at else set()
    if faults.ledger_fail_at:
        roles.add("ledger")
    if faults.rewrite_path:
        roles.add("landing_read")
    if not faults.in_process:
        roles |= {"boundary", "ledger"}  # counted in every child (reported back)
    for seam in SEAMS:
        if seam.role not in roles or faults.store not in seam.stores:
            continue
        owner, name, original = _resolve(seam)
        wrapped = _wrap(seam, original, faults)
        targets = [(owner, name)]
        if not isinstance(owner, type):
            targets += [t for t in _importers(original) if t != (owner, name)]
        for target, attr in targets:
            faults.restore.append((target, attr, getattr(target, attr)))
            setattr(target, attr, wrapped)
    return faults


def uninstall(faults: Faults) -> None:
    """Put every wrapped function back."""
    for target, attr, original in reversed(faults.restore):
        setattr(target, attr, original)
    faults.restore.clear()


def run_tags(spec: dict) -> dict[str, str]:
    """The run's tags: the range (or nothing for one day), force, and the child's token."""
    tags = {TOKEN_TAG: spec["token"]}
    if spec["first"] != spec["last"]:
        tags |= {RANGE_START: spec["first"], RANGE_END: spec["last"]}
    if spec.get("force"):
        tags["platform/force"] = "true"
    return tags


def object_put(bucket: str, key: str, endpoint: str | None) -> Callable[[bytes], None]:
    """A function that replaces one S3 object."""
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint)
    return lambda data: client.put_object(Bucket=bucket, Key=key, Body=data)


def main(argv: list[str]) -> int:
    """Run one job range with the spec's faults; print a JSON summary line."""
    spec = json.loads(argv[0])
    rewrite = spec.get("rewrite") or {}
    from platform_assets.settings import load_settings

    settings = load_settings()
    faults = Faults(
        store=settings.storage,
        kill_at=spec.get("kill_at"),
        kill_on=spec.get("kill_on"),
        pause_on=spec.get("pause_on"),
        pause_at=spec.get("pause_at"),
        status_fd=spec.get("status_fd"),
        ledger_fail_at=spec.get("ledger_fail_at"),
        rewrite_path=rewrite.get("path"),
        rewrite_full=Path(rewrite["full"]).read_bytes() if rewrite else None,
        rewrite_mode=rewrite.get("mode", "pre"),
        rewrite_cut=rewrite.get("cut", 0),
        rewrite_put=(
            object_put(rewrite["bucket"], rewrite["path"], settings.s3_endpoint_url)
            if "bucket" in rewrite
            else None
        ),
    )
    try:
        install(faults)
    except SeamMissing as exc:
        print(f"SEAM MISSING: {exc}", file=sys.stderr)
        return SEAM_MISSING_EXIT
    import dagster as dg

    from platform_assets.definitions import build_definitions

    defs = build_definitions(settings)
    job = defs.resolve_job_def(spec["job"])
    partition = spec["first"] if spec["first"] == spec["last"] else None
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            run_config=QUIET,
            instance=instance,
            partition_key=partition,
            tags=run_tags(spec),
            raise_on_error=False,
        )
    print(
        json.dumps(
            {
                "success": result.success,
                "boundary_events": faults.boundary_events,
                "kinds": faults.kind_events,
                "ledger_calls": faults.ledger_calls,
                "ledger_failed": faults.ledger_failed,
                "rewritten": faults.rewritten,
                "read_refused": faults.read_refused,
            }
        ),
        flush=True,
    )
    return 0 if result.success else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

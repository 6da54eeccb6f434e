"""Child process of the history test: one run of a job range, with seeded faults injected.

Usage: ``python -m tests.history.child '<json spec>'`` with ``PLATFORM_DATA_DIR`` and
``DAGSTER_HOME`` in the environment. The spec names the job, the first and last day,
``force``, a ``token`` (tagged on the run so the parent can find it after a kill) and
the faults: ``kill_at`` (SIGKILL self at the n-th boundary event, or at the n-th event
of one seam with ``kill_on``: ``connect``, ``replace``, ``write_parquet``; a boundary
event is entering or leaving a seam; ``pause_on``/``pause_at``/``status_fd`` pause there,
or at the first later event where no warehouse connection is open, after writing ``P``
to that pipe, until a line arrives on stdin), ``ledger_fail_at``
(the n-th ledger call raises once) and ``rewrite`` (a landing file rewritten in place
around its first read). It prints one JSON line: success and event counts.

Faults wrap functions at the seams listed in ``SEAMS`` (no platform code is edited).
When the platform is refactored and a seam moves, adjust that table; a seam that is
not found stops the child with exit code 3 and a message naming it, never silently.
The same installer serves in-process runs of the parent (without kills).
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


@dataclass(frozen=True)
class Seam:
    """A function wrapped for fault injection: ``module`` + dotted ``attr``, and its role."""

    role: str  # boundary (kill/pause points), ledger (store failures), landing_read
    module: str
    attr: str
    context_manager: bool = False


# The one table to adjust when the platform's internals move.
SEAMS = (
    Seam("boundary", "platform_assets.storage.warehouse", "connect", context_manager=True),
    Seam("boundary", "os", "replace"),
    Seam("boundary", "polars", "DataFrame.write_parquet"),
    Seam("ledger", "platform_assets.storage.metadata_duckdb", "DuckDBMetadata.execute"),
    Seam("ledger", "platform_assets.storage.metadata_duckdb", "DuckDBMetadata.query"),
    Seam("landing_read", "platform_assets.storage.landing_local", "LandingFile.read_bytes"),
)


class SeamMissing(RuntimeError):
    """A seam of ``SEAMS`` does not exist in the code under test."""


class InjectedKill(RuntimeError):
    """Raised instead of SIGKILL when faults run in-process (should never be configured)."""


@dataclass
class Faults:
    """What to inject, and the counters (only calls on the main thread count)."""

    kill_at: int | None = None
    kill_on: str | None = None  # count only this seam's events (its attr name); None: all
    pause_on: str | None = None  # pause at the pause_at-th event of this seam, or at the
    pause_at: int | None = None  # first event after it where no warehouse connection is open
    status_fd: int | None = None  # ... after writing b"P" here; resume on a line on stdin
    ledger_fail_at: int | None = None
    rewrite_path: str | None = None
    rewrite_full: bytes | None = None
    rewrite_mode: str = "pre"  # pre: truncated before the run; during: cut at the first read
    rewrite_cut: int = 0
    in_process: bool = False
    boundary_events: int = 0
    kind_events: dict[str, int] = field(default_factory=dict)
    ledger_calls: int = 0
    ledger_failed: bool = False
    rewritten: bool = False
    open_connections: int = 0  # warehouse connections open now (the file lock is held)
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
        if self.pause_armed and not self.paused and self.open_connections == 0:
            self.paused = True  # never while holding the warehouse lock: a peer would wait
            os.write(self.status_fd, b"P")
            sys.stdin.readline()
        count = self.kind_events[kind] if self.kill_on else self.boundary_events
        if self.kill_at is not None and (self.kill_on in (None, kind)) and count == self.kill_at:
            if self.in_process:
                raise InjectedKill(f"kill point {what} reached in-process")
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    def ledger(self, what: str) -> None:
        """Count one ledger call; raise once at the chosen one."""
        if threading.current_thread() is not threading.main_thread():
            return
        self.ledger_calls += 1
        if not self.ledger_failed and self.ledger_calls == self.ledger_fail_at:
            import duckdb

            self.ledger_failed = True
            raise duckdb.IOException(f"injected ledger failure ({what}, call {self.ledger_calls})")


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
    kind = seam.attr.rsplit(".", 1)[-1]
    if seam.role == "boundary" and seam.context_manager:

        @contextlib.contextmanager
        def wrapped_cm(*args, **kwargs) -> Iterator[object]:
            faults.boundary(kind, f"enter {label}")
            try:
                with original(*args, **kwargs) as value:
                    faults.open_connections += 1
                    try:
                        yield value
                    finally:
                        faults.open_connections -= 1
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

        def wrapped_ledger(*args, **kwargs):
            faults.ledger(label)
            return original(*args, **kwargs)

        return functools.wraps(original)(wrapped_ledger)

    def wrapped_read(entry, *args, **kwargs):
        target = faults.rewrite_path
        mine = target is not None and not faults.rewritten and str(entry.path) == target
        if mine and faults.rewrite_mode == "during":
            Path(target).write_bytes(faults.rewrite_full[: faults.rewrite_cut])
        data = original(entry, *args, **kwargs)
        if mine:
            faults.rewritten = True
            Path(target).write_bytes(faults.rewrite_full)  # the copy finishes
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
        if seam.role not in roles:
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


def main(argv: list[str]) -> int:
    """Run one job range with the spec's faults; print a JSON summary line."""
    spec = json.loads(argv[0])
    rewrite = spec.get("rewrite") or {}
    faults = Faults(
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
    )
    try:
        install(faults)
    except SeamMissing as exc:
        print(f"SEAM MISSING: {exc}", file=sys.stderr)
        return SEAM_MISSING_EXIT
    import dagster as dg

    from platform_assets.definitions import build_definitions
    from platform_assets.settings import load_settings

    defs = build_definitions(load_settings())
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
            }
        ),
        flush=True,
    )
    return 0 if result.success else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""The runner: executes a planned history against the real platform, then settles and judges.

One sequence owns a scratch folder: the sample pool, the data root (landing files,
lake, ``warehouse.duckdb``) and a persistent SQLite Dagster instance (``home``) that
child processes share. With the S3 store (:class:`Store`) the landing objects, the lake
and the published Delta tables are in the sequence's own bucket (moto server) and the
ledger in its own Postgres database; the data root keeps the quarantine file only.
Runs execute in-process where possible; kills, concurrent runs and some ledger faults
use children (:mod:`tests.history.child`). After every step the harness does what the
daemon's run monitoring does (runs whose process is gone are marked failed and their
pool slots freed) and checks the invariants.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import dagster as dg

from platform_assets.definitions import build_definitions
from platform_assets.settings import load_settings
from platform_assets.tools.launch import launch_job
from tests.history import invariants, oracle
from tests.history.child import (
    LOCAL,
    PAUSE_AFTER_READ,
    PAUSE_AFTER_STAGED,
    QUIET,
    RANGE_END,
    RANGE_START,
    S3,
    SEAM_MISSING_EXIT,
    TOKEN_TAG,
    Faults,
    install,
    object_put,
    uninstall,
)
from tests.history.landing import LocalArea, S3Area
from tests.history.model import CUSTOMERS, ORDERS, PUBLISH, Pool, Step, plan, render
from tests.s3 import AWS_ENV

REPO = Path(__file__).resolve().parents[2]
LANDING_SENSORS = ("orders_landing_sensor", "customers_landing_sensor")
LATE_SENSOR = "orders_late_changes_sensor"
SETTLE_ROUNDS = 10
CHILD_TIMEOUT_S = 240
PAUSED_PEER_TIMEOUT_S = 30  # a run racing a paused one may wait on it: then resume the first
ACTIVE = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
INSTANCE_YAML = """\
storage:
  sqlite:
    base_dir: {home}
concurrency:
  pools:
    default_limit: 1
    granularity: op
telemetry:
  enabled: false
"""


@dataclass(frozen=True)
class Store:
    """Where a sequence's data lives: ``local`` (files and the DuckDB warehouse), or ``s3``:
    landing, lake and Delta tables in ``bucket`` on ``endpoint`` (a moto server), the
    ledger in the Postgres database ``ledger_url``. In-process runs read the ``AWS_*``
    credentials of :data:`tests.s3.AWS_ENV` from the environment (the test sets them)."""

    name: str = LOCAL
    endpoint: str | None = None
    bucket: str | None = None
    ledger_url: str | None = None
    prefix: str = "history"

    def environment(self) -> dict[str, str]:
        """The platform settings and AWS variables of this store."""
        if self.name == LOCAL:
            return {}
        return {
            **AWS_ENV,
            "AWS_ENDPOINT_URL": self.endpoint or "",
            "PLATFORM_STORAGE": "s3",
            "PLATFORM_S3_BUCKET": self.bucket or "",
            "PLATFORM_S3_PREFIX": self.prefix,
            "PLATFORM_LEDGER_URL": self.ledger_url or "",
        }


class HarnessError(RuntimeError):
    """The harness itself cannot go on (a seam is missing): not a finding about the platform."""


def short(text: object, limit: int = 130) -> str:
    """``text`` on one line, at most ``limit`` characters."""
    line = " ".join(s.strip() for s in str(text).splitlines() if s.strip())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def error_text(error) -> str:
    """A step error as ``Class: message``, looking through Dagster's step-error wrapper."""
    if error is None:
        return "?"
    while error.cause is not None and error.cls_name == "DagsterExecutionStepExecutionError":
        error = error.cause
    message = error.message.split(": ", 1)[-1] if ": " in error.message else error.message
    return short(f"{error.cls_name}: {message}")


def describe_result(result: dg.ExecuteInProcessResult) -> str:
    """``ok``, or ``FAILED`` with the first failed step and its error."""
    if result.success:
        return "ok"
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            return f"FAILED {event.step_key}: {error_text(event.step_failure_data.error)}"
    return "FAILED"


def day_range(first: str, last: str) -> list[str]:
    """Every day from ``first`` to ``last``."""
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def cut_point(full: bytes, fraction: float) -> int:
    """A byte offset inside ``full``, after the header when there are rows, never at a line end."""
    start = full.find(b"\n") + 1
    if start <= 0 or start >= len(full) - 1:
        return max(1, len(full) // 2)
    cut = start + int(fraction * (len(full) - start))
    cut = min(max(cut, start + 1), len(full) - 1)
    while full[cut - 1 : cut] == b"\n" and cut < len(full) - 1:
        cut += 1
    return cut


@dataclass
class Child:
    """A child process running one job range."""

    token: str
    spec: dict
    proc: subprocess.Popen
    out: Path
    err: Path
    status: int  # read end of the pipe a paused child writes b"P" to

    def close(self) -> None:
        """Close the pipes to the child."""
        for closer in (lambda: os.close(self.status), self.proc.stdin.close):
            with contextlib.suppress(OSError):
                closer()


@dataclass
class Outcome:
    """What happened in a sequence: step lines, invariant breaks, problems, differences."""

    seed: int
    corrections: bool = False
    store: str = LOCAL
    lines: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        """Whether the platform broke its promise in this sequence."""
        return bool(self.violations or self.problems or self.diffs)

    def report(self) -> str:
        """A short report: symptoms first, then the steps, then how to replay."""
        verdict = "FAILED" if self.failed else "passed"
        head = f"history seed {self.seed} on {self.store}: {verdict} in {self.seconds:.0f}s"
        parts = [head]
        if self.violations:
            parts.append("published rows that fail blocking checks:")
            parts += [f"  {v}" for v in self.violations[:6]]
        if self.problems:
            parts.append("problems:")
            parts += [f"  {p}" for p in self.problems[:6]]
        if self.diffs:
            parts.append("final tables differ from the oracle (plain SQL over final landing):")
            parts += ["  " + d.replace("\n", "\n  ") for d in self.diffs]
        parts.append("steps:")
        parts += [f"  {line}" for line in self.lines]
        replay = f"make chaos SEED={self.seed} N=1" + (" CORRECTIONS=1" if self.corrections else "")
        replay += f" STORE={self.store}" if self.store != LOCAL else ""
        parts.append(f"replay: {replay}")
        return "\n".join(parts)


class World:
    """One sequence's platform: data root, Dagster instance, sensor cursors, children."""

    def __init__(self, root: Path, seed: int, outcome: Outcome, store: Store):
        self.root, self.seed, self.outcome, self.store = root, seed, outcome, store
        self.data, self.home, self.logs = root / "data", root / "home", root / "children"
        for folder in (self.data, self.home, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        (self.home / "dagster.yaml").write_text(INSTANCE_YAML.format(home=self.home))
        self.settings = load_settings(self.environment())
        self.defs = build_definitions(self.settings)
        if store.name == S3:
            client = boto3.client("s3", endpoint_url=store.endpoint)
            self.landing = S3Area(client, store.bucket, f"{store.prefix}/landing")
            options = {
                "aws_endpoint_url": store.endpoint or "",
                "aws_allow_http": "true",
                "aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
                "aws_region": AWS_ENV["AWS_DEFAULT_REGION"],
            }
            tables = f"s3://{store.bucket}/{store.prefix}/tables"
            self.published: oracle.Published = oracle.DeltaOnS3(tables, options)
        else:
            self.landing = LocalArea(self.settings.landing_dir)
            self.published = oracle.WarehouseFile(self.settings.warehouse_path)
        self.instance = dg.DagsterInstance.from_config(str(self.home))
        self.cursors: dict[str, str | None] = {}
        self.run_keys: dict[str, set[str]] = {}
        self.children = 0
        self.delivered: set[str] = set()
        self.customer_days: set[str] = set()
        self.label = "setup"
        self.seen_violations: set[str] = set()

    def environment(self) -> dict[str, str]:
        """Platform settings of this sequence. The landing quiet period (wall-clock mtimes)
        is off so that sensor ticks do not depend on timing; files still change under
        running reads through the rewrite action. The sensors' ranges of consecutive days
        are cut at 3 days (the window is about a week), so cuts happen too."""
        return {
            "PLATFORM_DATA_DIR": str(self.data),
            "PLATFORM_SENSOR_INTERVAL_S": "30",
            "PLATFORM_LANDING_QUIET_S": "0",
            "PLATFORM_MAX_PARTITIONS_PER_RUN": "3",
            **self.store.environment(),
        }

    # -- landing -------------------------------------------------------------------------

    def write(self, day: str, name: str, data: bytes, dataset: str = "orders") -> None:
        """Deliver ``data`` as one file (atomically: renamed into place, or one PUT)."""
        self.landing.write(dataset, day, name, data)
        (self.delivered if dataset == "orders" else self.customer_days).add(day)

    # -- runs ----------------------------------------------------------------------------

    def run_job(self, job: str, first: str, last: str, force=False, tags=None, selection=None):
        """One in-process run of a job (or of ``selection``) over ``first``..``last``."""
        job_def = self.defs.resolve_job_def(job)
        if selection:
            job_def = job_def.get_subset(asset_selection=set(selection))
        all_tags = dict(tags or {})
        partition = first if first == last else None
        if partition is None:
            all_tags |= {RANGE_START: first, RANGE_END: last}
        if force:
            all_tags["platform/force"] = "true"
        try:
            result = job_def.execute_in_process(
                run_config=QUIET,
                instance=self.instance,
                partition_key=partition,
                tags=all_tags,
                raise_on_error=False,
            )
        except Exception as exc:  # a run may fail any way it likes; the harness goes on
            return f"RAISED {type(exc).__name__}: {short(exc)}"
        return describe_result(result)

    def launch(self, job: str, days: list[str], force: bool = False) -> str:
        """A planned launch, as ``python -m platform_assets.launch`` does it."""
        try:
            launched = launch_job(job, days, self.instance, force=force, definitions=self.defs)
        except Exception as exc:
            return f"RAISED {type(exc).__name__}: {short(exc)}"
        if not launched.runs:
            return "planned: no run needed"
        return f"{len(launched.runs)} run(s): " + "; ".join(
            describe_result(r) for r in launched.runs
        )

    def reap(self, token: str | None = None) -> int:
        """Run monitoring: mark runs whose process is gone failed and free their pool slots."""
        filters = dg.RunsFilter(statuses=ACTIVE, tags={TOKEN_TAG: token} if token else {})
        runs = self.instance.get_runs(filters=filters)
        for run in runs:
            self.instance.report_run_failed(run, message="history: the run's process died")
            self.instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        return len(runs)

    # -- sensors -------------------------------------------------------------------------

    def tick(self, name: str) -> tuple[int, list[str]]:
        """Evaluate one sensor with its kept cursor, drop known run keys, run the rest."""
        sensor = self.defs.resolve_sensor_def(name)
        resources = {key: self.defs.resources[key] for key in sensor.required_resource_keys}
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursors.get(name),
            definitions=self.defs,
            resources=resources,
        )
        try:
            with context:  # resources with a lifecycle (the S3 client) need its scope
                data = sensor.evaluate_tick(context)
        except Exception as exc:
            problem = f"{self.label}: sensor {name} raised {type(exc).__name__}: {short(exc)}"
            self.outcome.problems.append(problem)
            return 0, [f"{name} RAISED"]
        self.cursors[name] = data.cursor
        launched = self.run_keys.setdefault(name, set())
        requests = []
        for request in data.run_requests or []:
            if request.run_key is not None and request.run_key in launched:
                continue
            if request.run_key is not None:
                launched.add(request.run_key)
            requests.append(request)
        results = [self.execute_request(name, sensor, r) for r in requests]
        return len(requests), results

    def execute_request(self, name: str, sensor, request: dg.RunRequest) -> str:
        """Run one request in-process with its tags, as the daemon would launch it."""
        tags = {"dagster/sensor_name": name, **(request.tags or {})}
        if request.run_key:
            tags["dagster/run_key"] = request.run_key
        days = request.partition_key_range
        first, last = (days.start, days.end) if days else (request.partition_key,) * 2
        if request.asset_selection:
            selection = list(request.asset_selection)
            result = self.run_job(ORDERS, first, last, tags=tags, selection=selection)
            what = "+".join(key.path[-1] for key in selection)
        else:
            result = self.run_job(sensor.job_name, first, last, tags=tags)
            what = sensor.job_name.removesuffix("_daily_job")
        span = first if first == last else f"{first}..{last}"
        return f"{what} {span}: {result}"

    def ticks(self, names: tuple[str, ...]) -> str:
        """Tick each sensor once (executing requests); a one-line summary."""
        parts = []
        for name in names:
            count, results = self.tick(name)
            label = name.removesuffix("_sensor")
            parts.append(f"{label}: " + ("; ".join(results) if count else "nothing"))
        return " | ".join(parts)

    # -- children ------------------------------------------------------------------------

    def spawn(self, spec: dict) -> Child:
        """Start a child process running one job range with the spec's faults."""
        self.children += 1
        token = f"seed{self.seed}-child{self.children}"
        status_r, status_w = os.pipe()
        spec = {**spec, "token": token, "status_fd": status_w}
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PLATFORM_", "AWS_"))}
        env |= self.environment() | {"DAGSTER_HOME": str(self.home)}
        out, err = self.logs / f"{token}.out", self.logs / f"{token}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.history.child", json.dumps(spec)],
                cwd=REPO,
                env=env,
                stdin=subprocess.PIPE,
                stdout=stdout,
                stderr=stderr,
                pass_fds=(status_w,),
            )
        os.close(status_w)
        return Child(token, spec, proc, out, err, status_r)

    def wait_paused(self, child: Child) -> bool:
        """Wait until the child pauses (True), or ends or takes too long (False)."""
        pidfd = os.pidfd_open(child.proc.pid)
        try:
            ready, _, _ = select.select([child.status, pidfd], [], [], PAUSED_PEER_TIMEOUT_S)
            return child.status in ready and os.read(child.status, 1) == b"P"
        finally:
            os.close(pidfd)

    def exited(self, child: Child, timeout: float) -> bool:
        """Whether the child ends within ``timeout`` seconds."""
        pidfd = os.pidfd_open(child.proc.pid)
        try:
            return bool(select.select([pidfd], [], [], timeout)[0])
        finally:
            os.close(pidfd)

    def resume(self, child: Child) -> None:
        """Let a paused child go on."""
        try:
            child.proc.stdin.write(b"go\n")
            child.proc.stdin.flush()
        except BrokenPipeError:
            pass

    def wait(self, children: list[Child]) -> list[str]:
        """Wait for every child; reap a dead child's runs at once (a waiting sibling needs
        its pool slot), as run monitoring would. A child past the timeout is killed."""
        fds = {os.pidfd_open(c.proc.pid): c for c in children}
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        hung = set()
        try:
            while fds:
                ready, _, _ = select.select(list(fds), [], [], max(0, deadline - time.monotonic()))
                if not ready:
                    for child in fds.values():
                        hung.add(child.token)
                        child.proc.kill()
                    continue
                for fd in ready:
                    child = fds.pop(fd)
                    os.close(fd)
                    child.proc.wait()
                    self.reap(child.token)
        finally:
            for fd in fds:
                os.close(fd)
            for child in children:
                child.close()
        return [self.child_result(c, c.token in hung) for c in children]

    def child_result(self, child: Child, hung: bool) -> str:
        """A short account of how a child ended."""
        code = child.proc.returncode
        if code == SEAM_MISSING_EXIT:
            raise HarnessError(short(child.err.read_text(errors="replace"), 400))
        lines = child.out.read_text(errors="replace").splitlines()
        summary = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
        if hung:
            self.outcome.problems.append(
                f"{self.label}: child {child.token} hung for {CHILD_TIMEOUT_S}s (killed)"
            )
            return "HUNG"
        if code == -9:
            on = child.spec.get("kill_on") or "boundary"
            return f"killed at {on} event {child.spec.get('kill_at')}"
        extra = " [read partial]" if summary.get("rewritten") else ""
        if summary.get("read_refused"):
            extra = f" [read refused: {summary['read_refused']}]"
        if child.spec.get("kill_at"):
            kinds = summary.get("kinds") or {}
            count = kinds.get(child.spec.get("kill_on"), summary.get("boundary_events"))
            extra = f" (not killed: {count} events)"
        if summary.get("ledger_failed"):
            extra += " (ledger failure injected)"
        if code == 0:
            return "ok" + extra
        if code == 1:
            return "run FAILED" + extra + self.first_failure(child)
        return f"exit {code}{extra}: {short(child.err.read_text(errors='replace')[-400:])}"

    def first_failure(self, child: Child) -> str:
        """The first step failure of a child's run, from the instance."""
        runs = self.instance.get_runs(filters=dg.RunsFilter(tags={TOKEN_TAG: child.token}))
        for run in runs:
            records = self.instance.get_records_for_run(
                run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE
            ).records
            for record in records:
                event = record.event_log_entry.dagster_event
                if event and event.step_failure_data:
                    return f": {event.step_key}: {error_text(event.step_failure_data.error)}"
        return ""

    def in_child(self, spec: dict) -> str:
        """Run one child to its end."""
        return self.wait([self.spawn(spec)])[0]

    # -- invariants ----------------------------------------------------------------------

    def check(self) -> None:
        """After a step: reap dead runs, then no published row may fail a blocking check."""
        reaped = self.reap()
        if reaped:
            self.outcome.lines.append(f"      ({reaped} run(s) left unfinished, marked failed)")
        for violation in invariants.violations(self.published):
            key = violation.split(", e.g.")[0]
            if key not in self.seen_violations:
                self.seen_violations.add(key)
                self.outcome.violations.append(f"after {self.label}: {violation}")


class Executor:
    """Executes steps on a world (one method per step kind)."""

    def __init__(self, world: World, pool: Pool):
        self.w, self.pool = world, pool

    def __call__(self, step: Step) -> str:
        return getattr(self, step.kind)(**step.args)

    def deliver(self, day, files):
        for name in files:
            self.w.write(day, name, self.pool.bytes(day, name))
        return "delivered"

    def redeliver(self, src, file, day, **copy):
        self.w.write(day, copy["as"], self.pool.bytes(src, file))
        return "delivered"

    def bad_file(self, day, file, rows):
        self.w.write(day, file, render(rows).encode())
        return "delivered"

    def fix_bad(self, day, file, how, rows, final):
        if how == "remove":
            self.w.landing.delete("orders", day, file)
        else:
            self.w.write(day, file, render(rows).encode())
        return "done"

    def run(self, job, first, last, force, how):
        if how == "inproc":
            return self.w.run_job(job, first, last, force)
        if how == "publish":  # only the publishing assets: the gate must still hold
            keys = [dg.AssetKey.from_user_string(k) for k in PUBLISH]
            return self.w.run_job(ORDERS, first, last, force, selection=keys)
        if how == "launch":
            return self.w.launch(job, day_range(first, last), force)
        return self.w.in_child({"job": job, "first": first, "last": last, "force": force})

    def tick(self, sensors):
        names = {
            "landing": LANDING_SENSORS,
            "late": (LATE_SENSOR,),
            "both": (*LANDING_SENSORS, LATE_SENSOR),
        }[sensors]
        return self.w.ticks(names)

    def kill(self, job, first, last, force, on, at, then):
        """A child killed at a seeded point, then (maybe) the operator's or sensor's retry."""
        spec = {"job": job, "first": first, "last": last, "force": force}
        result = self.w.in_child(spec | {"kill_on": on, "kill_at": at})
        if then == "rerun":
            result += f"; rerun: {self.w.run_job(job, first, last)}"
        elif then in ("publish", "publish_forced"):
            keys = [dg.AssetKey.from_user_string(k) for k in PUBLISH]
            forced = then == "publish_forced"
            done = self.w.run_job(ORDERS, first, last, forced, selection=keys)
            result += f"; {'forced ' if forced else ''}publish only: {done}"
        elif then == "tick":
            result += f"; {self.w.ticks((LANDING_SENSORS[0], LATE_SENSOR))}"
        return result

    def ledger_fault(self, job, first, last, at, how):
        if how == "child":
            return self.w.in_child({"job": job, "first": first, "last": last, "ledger_fail_at": at})
        faults = install(Faults(store=self.w.store.name, ledger_fail_at=at, in_process=True))
        try:
            result = self.w.run_job(job, first, last)
        finally:
            uninstall(faults)
        if faults.ledger_failed:
            return result + " (ledger failure injected)"
        return result + f" (no fault: {faults.ledger_calls} ledger calls)"

    def rewrite_read(self, day, file, new, mode, cut, also, rows, force, how):
        """A file changed around a run's first read of it. Local: rewritten in place (the
        run reads part of it). S3 (objects are atomic): the object is replaced between the
        run's listing and its read (``pre``: the listed object was partial, the whole one
        replaces it; ``during``: the listed one was whole, a partial one replaces it, then
        the whole one again); the run must refuse the read (the day fails naming the
        object) or read the listed bytes, never record a checksum of bytes it did not parse.
        """
        landing = self.w.landing
        current = landing.read("orders", day, file)
        full = self.pool.bytes(day, file) if new or current is None else current
        offset = cut_point(full, cut)
        if also:
            self.w.write(day, also, render(rows).encode())
        self.w.write(day, file, full[:offset] if mode == "pre" else full)
        saved = self.w.root / "rewrite.full"
        saved.write_bytes(full)
        where = landing.locator("orders", day, file)
        rewrite = where | {"full": str(saved), "mode": mode, "cut": offset}
        if how == "child":
            spec = {"job": ORDERS, "first": day, "last": day, "force": force, "rewrite": rewrite}
            result = self.w.in_child(spec)
            touched = "[read partial]" in result or "[read refused" in result
        else:
            store = self.w.store
            faults = Faults(
                store=store.name,
                rewrite_path=where["path"],
                rewrite_full=full,
                rewrite_mode=mode,
                rewrite_cut=offset,
                rewrite_put=(
                    object_put(where["bucket"], where["path"], store.endpoint)
                    if "bucket" in where
                    else None
                ),
                in_process=True,
            )
            install(faults)
            try:
                if how == "sensor":
                    result = self.w.ticks(("orders_landing_sensor",))
                else:
                    result = self.w.run_job(ORDERS, day, day, force)
            finally:
                uninstall(faults)
            touched = faults.rewritten
            if faults.read_refused:
                result += f" [read refused: {faults.read_refused}]"
        if landing.read("orders", day, file) != full:  # nobody read it: the copy finishes anyway
            landing.write("orders", day, file, full)
            touched = False
        if not touched:
            return result + " (not read)"
        if self.w.store.name == S3:
            return result + f" (replaced before its read: {offset}/{len(full)} bytes)"
        return result + f" (read {offset}/{len(full)} bytes)"

    def concurrent(self, day, order, force_a, force_b, change):
        """Two children on one day, the landing change (if any) between their starts.

        ``race``: both start back to back. ``interleave``: A pauses after reading its
        landing files (at its first Parquet write, or the first point after it where it
        holds no warehouse connection), B runs to its end, A resumes. ``nested``: A pauses
        there too; B runs until its staged file is renamed into the lake (its second
        ``os.replace`` event, same rule), A runs to its end, then B resumes. A run
        that never reaches its pause point simply ends; a peer that does not end within
        ``PAUSED_PEER_TIMEOUT_S`` lets the paused one go on (noted in the result).
        """
        spec, store = {"job": ORDERS, "first": day, "last": day}, self.w.store.name
        after_read, after_staged = PAUSE_AFTER_READ[store], PAUSE_AFTER_STAGED[store]
        pause_a = {"pause_on": after_read[0], "pause_at": after_read[1]} if order != "race" else {}
        pause_b = {}
        if order == "nested":
            pause_b = {"pause_on": after_staged[0], "pause_at": after_staged[1]}
        first = self.w.spawn(spec | {"force": force_a} | pause_a)
        a_paused = bool(pause_a) and self.w.wait_paused(first)
        if change and "deliver" in change:
            self.w.write(day, change["deliver"], self.pool.bytes(day, change["deliver"]))
        elif change:
            self.w.write(day, change["late"], render(change["rows"]).encode())
        second = self.w.spawn(spec | {"force": force_b} | pause_b)
        b_paused, notes = bool(pause_b) and self.w.wait_paused(second), []
        if a_paused:
            if not b_paused and not self.w.exited(second, PAUSED_PEER_TIMEOUT_S):
                notes.append("B did not end: A resumed early")
            self.w.resume(first)
        if b_paused:
            if not self.w.exited(first, PAUSED_PEER_TIMEOUT_S):
                notes.append("A did not end: B resumed early")
            self.w.resume(second)
        a, b = self.w.wait([first, second])
        paused = ", ".join(n for n, p in (("A", a_paused), ("B", b_paused)) if p)
        how = f"paused {paused}" if paused else "no pause"
        note = f" ({'; '.join(notes)})" if notes else ""
        return f"{how}: A: {a} | B: {b}{note}"

    def drop_rows(self, day, file, rng):
        import random

        content = self.w.landing.read("orders", day, file)
        if content is None:
            return "no-op (file gone)"
        header, *rows = content.decode().splitlines()
        if len(rows) < 2:
            return "no-op (fewer than 2 rows)"
        chooser = random.Random(rng)
        drop = set(chooser.sample(range(len(rows)), chooser.randint(1, max(1, len(rows) // 3))))
        kept = [r for i, r in enumerate(rows) if i not in drop]
        self.w.write(day, file, ("\n".join([header, *kept]) + "\n").encode())
        return f"dropped {len(drop)} of {len(rows)} rows"

    def change_value(self, day, file, field, rng):
        import random

        from tests.history.invariants import ALLOWED_STATUSES

        content = self.w.landing.read("orders", day, file)
        if content is None:
            return "no-op (file gone)"
        header, *rows = content.decode().splitlines()
        if not rows:
            return "no-op (no rows)"
        chooser = random.Random(rng)
        index = chooser.randrange(len(rows))
        fields = rows[index].split(",")
        if field == "amount":
            fields[5] = f"{chooser.randint(100, 90_000) / 100:.2f}"
        else:
            fields[4] = chooser.choice([s for s in ALLOWED_STATUSES if s != fields[4]])
        rows[index] = ",".join(fields)
        self.w.write(day, file, ("\n".join([header, *rows]) + "\n").encode())
        value = fields[5 if field == "amount" else 4]
        return f"order {fields[2]} seq {fields[1]}: {field} -> {value}"

    def withdraw(self, day):
        self.w.landing.withdraw("orders", day)
        return "withdrawn"

    def redeliver_day(self, day, files):
        for name in files:
            self.w.write(day, name, self.pool.bytes(day, name))
        return "delivered"


def settle(world: World) -> None:
    """Sensor rounds until none requests a run, a catch-up launch, one more round."""
    names = (*LANDING_SENSORS, LATE_SENSOR)
    for round_ in range(1, SETTLE_ROUNDS + 1):
        world.label = f"settle round {round_}"
        requested, results = 0, []
        for name in names:
            count, done = world.tick(name)
            requested += count
            results += done
        failed = sum("FAILED" in r or "RAISED" in r for r in results)
        failures = f", {failed} failed" if failed else ""
        world.outcome.lines.append(f"S{round_}. settle round: {requested} run(s){failures}")
        world.check()
        if requested == 0:
            break
    else:
        world.outcome.problems.append(
            f"did not settle: sensors still requested runs after {SETTLE_ROUNDS} rounds"
        )
    world.label = "catch-up launch"
    for job, delivered in ((CUSTOMERS, world.customer_days), (ORDERS, world.delivered)):
        if delivered:
            days = day_range(oracle.START.isoformat(), max(delivered))
            result = world.launch(job, days)
            world.outcome.lines.append(f"L.  launch {job} {days[0]}..{days[-1]}: {result}")
            if "FAILED" in result or "RAISED" in result:
                world.outcome.problems.append(
                    f"stuck: the catch-up launch of {job} failed on good final landing: {result}"
                )
    world.check()
    world.label = "last sensor round"
    summary = world.ticks(names)
    world.outcome.lines.append(f"R.  sensor round: {summary}")
    world.check()


def run_sequence(
    seed: int,
    root: Path,
    corrections: bool = False,
    steps: list[Step] | None = None,
    store: Store | None = None,
) -> Outcome:
    """Plan and execute one seeded history, settle it, compare with the oracle.

    ``steps`` replaces the seed's random steps (a hand-written history, e.g. a regression
    test of one failure); the pool still comes from the seed. ``store``: local by default.
    """
    began = time.monotonic()
    store = store or Store()
    outcome = Outcome(seed, corrections, store.name)
    pool = Pool(root / "pool", seed)
    planned, closing = plan(seed, pool, corrections, store.name)
    if steps is not None:
        planned, closing = steps, []
    world = World(root, seed, outcome, store)
    try:
        execute = Executor(world, pool)
        for day in pool.days:  # every customer snapshot first, unchanged through the history
            folder = pool.folder("customers", day)
            for path in sorted(folder.glob("*.csv")):
                world.write(day, path.name, path.read_bytes(), dataset="customers")
        outcome.lines.append(
            f" 0. pool: {pool.spec.days} days x {pool.spec.orders_per_day} orders, customers "
            "delivered"
        )
        for index, step in enumerate([*planned, *closing], start=1):
            world.label = f"step {index} ({step.kind})"
            result = execute(step)
            outcome.lines.append(f"{index:2d}. {step.describe()} -> {result}")
            world.check()
        settle(world)
        world.label = "final"
        today = dt.datetime.now(dt.UTC).date()  # the partitions' end, as the platform's
        outcome.diffs = oracle.compare(world.published, world.landing.final(root), today)
    finally:
        world.instance.dispose()
        outcome.seconds = time.monotonic() - began
    return outcome

"""Benchmark harness: throughput, skip cost, checksum speed and memory (issue 9).

``python -m bench.run [--sizes 10k,100k,1M,5M] [--repeats 5] [--backfill-days 30]``
(``make bench``) writes ``bench/RESULTS.md``; ``--only correction`` runs only the
correction benchmark (:mod:`bench.correction`, issue 16) and replaces only its section.
Every materialization runs in a fresh
process, so its peak RSS (reported by the child) is its own; each figure is the median of
``--repeats`` runs and is shown next to its baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from bench.correction import bench_correction
from bench.data import copy_state, new_state, orders_for, prepare_landing
from bench.dev_server import bench_fresh_dev, bench_ui_backfill
from bench.floor import day_files
from bench.report import revision, update_correction, write_results
from bench.startup import bench_imports
from platform_assets.core.fingerprint import fingerprint_files
from platform_assets.storage.landing_local import LandingFile
from platform_assets.tools.sample import SampleSpec

REPO = Path(__file__).resolve().parents[1]
DAGSTER_YAML = REPO / "dagster.yaml"
SYSTEMS = ("floor", "dlt", "stock", "platform")
BASE_DAY, DAY = dt.date(2024, 3, 1), dt.date(2024, 3, 2)
BACKFILL_START = dt.date(2024, 4, 1)
DATASETS = 3
PHASES = (
    ("first", False, "succeeded"),
    ("unchanged", False, "skipped"),
    ("forced", True, "succeeded"),
)
_DATABASES = {
    "floor": "floor.duckdb",
    "dlt": "dlt.duckdb",
    "stock": "stock.duckdb",
    "platform": "warehouse.duckdb",
}
_CURATED_HASH = (
    "SELECT count(*), bit_xor(hash(order_id::BIGINT, customer_id::BIGINT, status::VARCHAR, "
    "amount::DECIMAL(18, 2), currency::VARCHAR, created_at::TIMESTAMP, updated_at::TIMESTAMP, "
    "seq::BIGINT, is_deleted::BOOLEAN)) FROM curated.orders"
)
_MART_HASH = (
    "SELECT count(*), bit_xor(hash(business_date::DATE, status::VARCHAR, currency::VARCHAR, "
    "orders::BIGINT, revenue::DECIMAL(18, 2))) FROM marts.daily_orders WHERE business_date = ?"
)


@dataclass
class Sample:
    """One child process: its wall time, the timings it reported and its peak RSS."""

    wall_s: float
    setup_s: float
    run_s: float
    run_cpu_s: float
    rss_mb: float
    load_1m: float
    cpu_pressure: float
    ok: bool
    run_ids: list[str]
    error: str | None
    reported: dict | None = None


class Progress:
    """Prints progress lines with the time since the start."""

    def __init__(self):
        self.began = time.monotonic()

    def __call__(self, message: str) -> None:
        """Print one progress line."""
        elapsed = int(time.monotonic() - self.began)
        print(f"[{elapsed // 60:3d}:{elapsed % 60:02d}] {message}", flush=True)


def parse_size(text: str) -> int:
    """``10k`` -> 10_000, ``1M`` -> 1_000_000, ``2.5M`` -> 2_500_000."""
    text = text.strip()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    number = text[:-1] if scale > 1 else text
    return int(float(number) * scale)


def size_label(events: int) -> str:
    """The short label of an events-per-day size."""
    if events % 1_000_000 == 0:
        return f"{events // 1_000_000}M"
    if events % 1_000 == 0:
        return f"{events // 1_000}k"
    return str(events)


def run_child(
    system: str,
    state: Path,
    first: dt.date,
    last: dt.date,
    logs: Path,
    force: bool = False,
    rebuild: bool = False,
) -> Sample:
    """Run one measurement in a fresh process; its peak RSS is what the child reports
    (``wait4``'s maximum only if it reported none: that one starts at this process's peak)."""
    data_dir = state / "data"
    env = {
        **os.environ,
        "PLATFORM_DATA_DIR": str(data_dir),
        "DAGSTER_HOME": str(state / "dagster_home"),
        "DAGSTER_DISABLE_TELEMETRY": "yes",
        "RUNTIME__DLTHUB_TELEMETRY": "false",  # dlt's
    }
    logs.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        result_path = Path(handle.name)
    command = [sys.executable, "-m", "bench.child", system, "--data-dir", str(data_dir)]
    command += ["--first", first.isoformat(), "--last", last.isoformat()]
    command += ["--result", str(result_path), *(["--force"] if force else [])]
    command += ["--rebuild"] if rebuild else []
    suffix = ("-force" if force else "") + ("-rebuild" if rebuild else "")
    log_path = logs / f"{system}-{first}-{last}{suffix}.log"
    load, pressure = os.getloadavg()[0], cpu_pressure()
    began = time.perf_counter()
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=log)
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:  # interrupted: do not leave the measurement running
            process.kill()
            process.wait()
            raise
    wall = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    try:
        reported = json.loads(result_path.read_text() or "{}")
    finally:
        result_path.unlink(missing_ok=True)
    return Sample(
        wall_s=wall,
        setup_s=reported.get("setup_s", 0.0),
        run_s=reported.get("run_s", wall),
        run_cpu_s=reported.get("run_cpu_s", 0.0),
        rss_mb=reported.get("peak_rss_mb") or usage.ru_maxrss / 1024,
        load_1m=load,
        cpu_pressure=pressure,
        ok=process.returncode == 0 and reported.get("ok", False),
        run_ids=reported.get("run_ids", []),
        error=reported.get("error") or (None if reported else f"see {log_path}"),
        reported=reported,
    )


def cpu_pressure() -> float:
    """Share of the last 10 s in which some task waited for a CPU (Linux PSI), in percent."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return float("nan")
    return float(line.split()[1].removeprefix("avg10="))


def fsync_ms(folder: Path, count: int = 20) -> float:
    """Median latency of a 4 KiB write + fsync in ``folder`` (what each SQLite commit pays)."""
    folder.mkdir(parents=True, exist_ok=True)
    times = []
    with tempfile.NamedTemporaryFile(dir=folder) as handle:
        for _ in range(count):
            handle.write(b"x" * 4096)
            handle.flush()
            began = time.perf_counter()
            os.fsync(handle.fileno())
            times.append(time.perf_counter() - began)
    return statistics.median(times) * 1000


def ledger_statuses(state: Path, run_ids: list[str]) -> dict[str, int]:
    """Ledger rows of one launch (its plan and runs) by status."""
    con = duckdb.connect(str(state / "data" / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "SELECT status, count(*) FROM platform.pipeline_runs "
            "WHERE run_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY ALL",
            [run_ids],
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def require(sample: Sample, what: str, state: Path | None = None, expect: str = "", rows=0):
    """Fail loudly if a run failed, or (platform) if its ledger rows are not all ``expect``,
    at least ``rows`` of them (a run's mart steps may recompute earlier mart days too)."""
    if not sample.ok:
        raise RuntimeError(f"{what} failed: {sample.error}")
    if state is not None and expect:
        found = ledger_statuses(state, sample.run_ids)
        if set(found) != {expect} or found[expect] < rows:
            raise RuntimeError(
                f"{what}: expected at least {rows} ledger row(s), all {expect}; found {found}"
            )
    return sample


def output_digest(state: Path, system: str, day: dt.date) -> tuple:
    """Row counts and order-independent hashes of ``curated.orders`` and one mart day."""
    con = duckdb.connect(str(state / "data" / _DATABASES[system]), read_only=True)
    try:
        curated = con.execute(_CURATED_HASH).fetchone()
        mart = con.execute(_MART_HASH, [day]).fetchone()
    finally:
        con.close()
    return (*curated, *mart)


def median_of(samples: list[Sample]) -> dict[str, float]:
    """Median of each timing over the samples, and the highest peak RSS."""
    fields = ("wall_s", "setup_s", "run_s", "run_cpu_s")
    medians = {f: statistics.median(getattr(s, f) for s in samples) for f in fields}
    return {**medians, "rss_mb": max(s.rss_mb for s in samples)}


def median_profile(samples: list[Sample]) -> dict | None:
    """Median of each part of the platform runs' profiles (:func:`bench.child._profile`)."""
    profiles = [s.reported["profile"] for s in samples if s.reported and s.reported.get("profile")]
    if not profiles:
        return None

    def median(*path: str) -> float:
        values = []
        for profile in profiles:
            for key in path:
                profile = profile[key]
            values.append(profile)
        return statistics.median(values)

    steps = [step for step in profiles[0]["steps"] if all(step in p["steps"] for p in profiles)]
    parts = ("wall_s", "event_s")
    return {
        "events": median("events"),
        "event_s": median("event_s"),
        "outside": {part: median("outside", part) for part in parts},
        "steps": {step: {part: median("steps", step, part) for part in parts} for step in steps},
    }


def bench_fingerprint(files: list[Path], repeats: int) -> dict[str, float]:
    """Median seconds of ``fingerprint_files`` and of ``cat files > /dev/null``, page cache warm."""
    landing = [LandingFile(p.name, p, p.stat().st_size) for p in files]

    def cat() -> float:
        began = time.perf_counter()
        subprocess.run(["cat", *map(str, files)], stdout=subprocess.DEVNULL, check=True)
        return time.perf_counter() - began

    def fingerprint() -> float:
        began = time.perf_counter()
        fingerprint_files(landing)
        return time.perf_counter() - began

    cat(), fingerprint()  # warm-up: both then read from the page cache
    cats, prints = [], []
    for _ in range(max(repeats, 5)):
        cats.append(cat())
        prints.append(fingerprint())
    return {
        "bytes": sum(f.size for f in landing),
        "cat_s": statistics.median(cats),
        "fingerprint_s": statistics.median(prints),
    }


def bench_size(events: int, args, work: Path, log: Progress) -> dict:
    """Per-partition figures at one size: floor, stock and platform full runs, platform skip."""
    label = size_label(events)
    root = work / "sizes" / label
    spec = SampleSpec(BASE_DAY, 2, orders_for(events), args.seed)
    log(f"{label}: input")
    landing = prepare_landing(root / "input", spec, log)
    logs = root / "logs"
    base = {}
    for system in SYSTEMS:
        log(f"{label}: {system}: base state (day {BASE_DAY} published)")
        base[system] = new_state(root / system / "base", root / "input", DAGSTER_YAML)
        run = run_child(system, base[system], BASE_DAY, BASE_DAY, logs)
        checked = base[system] if system == "platform" else None
        require(run, f"{label} {system} base day", checked, "succeeded", DATASETS)
    full: dict[str, list[Sample]] = {system: [] for system in SYSTEMS}
    skips: list[Sample] = []
    noops: list[Sample] = []
    noop_state = new_state(root / "noop", root / "input", DAGSTER_YAML)
    digests: dict[str, tuple] = {}
    for repeat in range(1, args.repeats + 1):
        for system in SYSTEMS:
            state = copy_state(base[system], root / system / "run")
            platform = system == "platform"
            sample = run_child(system, state, DAY, DAY, logs)
            require(sample, f"{label} {system}", state if platform else None, "succeeded", DATASETS)
            full[system].append(sample)
            message = f"{label}: {system} {repeat}/{args.repeats}: {sample.run_s:.2f}s"
            message += f" (process {sample.wall_s:.2f}s, peak {sample.rss_mb:.0f} MB)"
            if platform:
                skip = run_child(system, state, DAY, DAY, logs)
                require(skip, f"{label} {system} rerun", state, "skipped", DATASETS)
                skips.append(skip)
                message += f"; unchanged rerun {skip.run_s:.2f}s"
            log(message)
            if repeat == 1:
                digests[system] = output_digest(state, system, DAY)
        noops.append(require(run_child("noop", noop_state, DAY, DAY, logs), f"{label} no-op job"))
        log(f"{label}: no-op job of the same shape {repeat}/{args.repeats}: {noops[-1].run_s:.2f}s")
    correct = {system: digests[system] == digests["floor"] for system in SYSTEMS}
    agree = all(correct[system] for system in ("stock", "platform"))
    if not all(correct.values()):
        wrong = ", ".join(s for s, ok in correct.items() if not ok)
        log(f"{label}: outputs of {wrong} differ from the floor's: {digests}")
    log(f"{label}: fingerprint vs cat")
    return {
        "label": label,
        "events": landing["events"][DAY.isoformat()],
        "orders_per_day": spec.orders_per_day,
        "full": {system: median_of(samples) for system, samples in full.items()},
        "skip": median_of(skips),
        "profile": median_profile(full["platform"]),
        "noop": median_of(noops),
        "fingerprint": bench_fingerprint(day_files(root / "input", DAY), args.repeats),
        "outputs_agree": agree,
        "correct": correct,
        "samples": {
            **{system: [asdict(s) for s in samples] for system, samples in full.items()},
            "platform_skip": [asdict(s) for s in skips],
            "noop": [asdict(s) for s in noops],
        },
    }


def bench_backfill(args, work: Path, log: Progress) -> dict:
    """A single-run range backfill on a real (SQLite) instance: first, unchanged, forced."""
    root = work / "backfill"
    days = args.backfill_days
    spec = SampleSpec(BACKFILL_START, days, orders_for(args.backfill_events), args.seed)
    log(f"backfill: input, {days} days x {size_label(args.backfill_events)} events")
    landing = prepare_landing(root / "input", spec, log)
    first, last = BACKFILL_START, BACKFILL_START + dt.timedelta(days=days - 1)
    logs, rows = root / "logs", DATASETS * days
    phases: dict[str, list[Sample]] = {
        "first": [],
        "unchanged": [],
        "forced": [],
        "floor": [],
        "noop": [],
    }
    for repeat in range(1, args.backfill_repeats + 1):
        state = new_state(root / "platform", root / "input", DAGSTER_YAML)
        runs = {}
        for phase, force, expect in PHASES:
            sample = run_child("platform", state, first, last, logs, force=force)
            runs[phase] = require(sample, f"backfill {phase} run", state, expect, rows)
        floor_state = new_state(root / "floor", root / "input", DAGSTER_YAML)
        sample = run_child("floor", floor_state, first, last, logs)
        runs["floor"] = require(sample, "backfill floor")
        noop_state = new_state(root / "noop", root / "input", DAGSTER_YAML)
        sample = run_child("noop", noop_state, first, last, logs)
        runs["noop"] = require(sample, "backfill no-op job")
        for phase, sample in runs.items():
            phases[phase].append(sample)
        log(
            f"backfill {repeat}/{args.backfill_repeats}: "
            + ", ".join(f"{phase} {s.run_s:.1f}s" for phase, s in runs.items())
        )
    return {
        "days": days,
        "events_per_day": statistics.median(landing["events"].values()),
        "events_total": sum(landing["events"].values()),
        "phases": {phase: median_of(samples) for phase, samples in phases.items()},
        "samples": {phase: [asdict(s) for s in samples] for phase, samples in phases.items()},
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The harness's command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k,1M,5M", help="events per day, comma-separated")
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--backfill-days", type=int, default=30, help="0 skips the backfill")
    parser.add_argument("--backfill-events", type=parse_size, default=100_000)
    parser.add_argument("--backfill-repeats", type=int, default=3)
    parser.add_argument(
        "--correction-days", type=int, default=30, help="published days; 0 skips the correction"
    )
    parser.add_argument("--correction-events", type=parse_size, default=50_000)
    parser.add_argument("--correction-repeats", type=int, default=3)
    parser.add_argument(
        "--only", choices=["correction"], help="run one section; update only it in RESULTS.md"
    )
    parser.add_argument(
        "--no-dev-server",
        action="store_true",
        help="skip the dagster dev timings (UI backfill, fresh make dev; about 3 minutes)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--work-dir", type=Path, default=REPO / "bench" / "output")
    parser.add_argument("--results", type=Path, default=REPO / "bench" / "RESULTS.md")
    args = parser.parse_args(argv)
    args.sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    if not args.sizes:
        parser.error("--sizes needs at least one size")
    if args.repeats < 1 or args.backfill_repeats < 1 or args.correction_repeats < 1:
        parser.error("--repeats, --backfill-repeats and --correction-repeats must be at least 1")
    if args.only == "correction" and args.correction_days < 2:
        parser.error("--only correction needs --correction-days of at least 2")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark, print progress and write the results file."""
    args = parse_args(argv)
    log = Progress()
    work = args.work_dir.resolve()
    started = dt.datetime.now(dt.UTC)
    if args.only == "correction":
        correction = bench_correction(args, work, log)
        correction |= {"argv": sys.argv[1:] if argv is None else argv}
        (work / "correction.json").write_text(json.dumps(correction, indent=1, default=str))
        update_correction(correction, args.results)
        log(f"updated the correction section of {args.results} ({work / 'correction.json'})")
        return 0
    measured_code = revision()  # before anything is written
    fsync_before = fsync_ms(work)
    sizes, failed = [], []
    for events in args.sizes:
        try:
            sizes.append(bench_size(events, args, work, log))
        except RuntimeError as exc:  # a size that fails is recorded, the others still run
            log(f"{size_label(events)}: FAILED: {exc}")
            failed.append({"label": size_label(events), "error": str(exc)})
    log("imports: definitions against dagster")
    imports = bench_imports(work / "imports", args.repeats)
    log(", ".join(f"{name} {seconds:.2f}s" for name, seconds in imports.items()))
    dev = None
    if not args.no_dev_server:
        dev = {"ui_backfill": bench_ui_backfill(work, log), "fresh": bench_fresh_dev(work, log)}
    backfill = bench_backfill(args, work, log) if args.backfill_days > 0 else None
    correction = bench_correction(args, work, log) if args.correction_days > 1 else None
    results = {
        "started": started.isoformat(timespec="seconds"),
        "revision": measured_code,
        "minutes": round((time.monotonic() - log.began) / 60, 1),
        "argv": sys.argv[1:] if argv is None else argv,
        "repeats": args.repeats,
        "seed": args.seed,
        "fsync_ms": [fsync_before, fsync_ms(work)],
        "backfill_repeats": args.backfill_repeats,
        "sizes": sizes,
        "failed": failed,
        "backfill": backfill,
        "correction": correction,
        "imports": imports,
        "dev": dev,
    }
    (work / "results.json").write_text(json.dumps(results, indent=1, default=str))
    write_results(results, args.results)
    log(f"wrote {args.results} (raw samples: {work / 'results.json'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

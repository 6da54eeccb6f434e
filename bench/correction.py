"""Benchmark: a correction of one day among 30 published days (issue 16).

Thirty landing days are published (not measured). Then one day in the middle is
re-delivered corrected: a share of its rows removed and amounts changed in others.
Measured on copies of the published state, each in a fresh process, as
``platform_assets.tools.launch`` runs them:

- *incremental correction*: a launch of the corrected day (restage, keyed recompute of
  the keys its old and new artifacts contain, the mart days it changed);
- *rebuild*: ``launch --rebuild`` of the corrected day (restage, ``curated.orders``
  recomputed from all 30 days' staged artifacts and replaced, the mart days it changed);
- *forced relaunch*: ``launch --force`` of all 30 days (restage every day, then a keyed
  recompute per day, every mart day); the slowest path, measured in the first repeat only;
- *replay from empty*: the 30 corrected days launched on an empty warehouse.

All four must end with the same ``curated.orders`` and ``marts.daily_orders`` (row
count and order-independent hash), which is checked.
"""

from __future__ import annotations

import datetime as dt
import shutil
import statistics
from dataclasses import asdict
from pathlib import Path

import duckdb
import polars as pl

from bench.data import copy_state, new_state, orders_for, prepare_landing
from platform_assets.tools.sample import SampleSpec

START = dt.date(2024, 6, 1)
REMOVED_EVERY, CHANGED_EVERY = 10, 7  # every 10th row of the day removed, every 7th changed
PHASES = {
    "incremental": "incremental correction: launch of the corrected day",
    "rebuild": "`launch --rebuild` of the corrected day",
    "forced": "forced relaunch of the 30 days (`launch --force`)",
    "replay": "replay of the 30 corrected days on an empty warehouse",
}
_DIGEST = (
    "SELECT (SELECT count(*) FROM curated.orders), (SELECT bit_xor(hash(order_id, customer_id, "
    "status, amount, currency, created_at, updated_at, seq, is_deleted)) FROM curated.orders), "
    "(SELECT count(*) FROM marts.daily_orders), (SELECT bit_xor(hash(business_date, status, "
    "currency, orders, revenue)) FROM marts.daily_orders)"
)


def correct_day(source: Path, target: Path, day: dt.date) -> dict[str, int]:
    """A copy of ``source``'s landing area (files copied) with ``day`` re-delivered
    corrected: every 10th row of its files removed, every 7th row's amount raised by 1.00."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source / "landing", target / "landing")  # copies: hard links are refused
    folder = target / "landing" / "orders" / f"dt={day.isoformat()}"
    removed = changed = 0
    for path in sorted(folder.glob("*.csv")):
        rows = pl.read_csv(path, infer_schema=False).with_row_index("line")
        keep = rows.filter(pl.col("line") % REMOVED_EVERY != 0)
        bump = (pl.col("line") % CHANGED_EVERY == 0) & pl.col("amount").is_not_null()
        raised = (pl.col("amount").cast(pl.Decimal(18, 2)) + 1).cast(pl.String)
        keep = keep.with_columns(amount=pl.when(bump).then(raised).otherwise(pl.col("amount")))
        removed += rows.height - keep.height
        changed += keep.filter(bump).height
        path.unlink()  # a hard link: the original input keeps its bytes
        keep.drop("line").write_csv(path)
    return {"rows_removed": removed, "rows_changed": changed}


def point_landing(state: Path, landing_root: Path) -> None:
    """Make a state's landing area the one under ``landing_root``."""
    link = state / "data" / "landing"
    link.unlink()
    link.symlink_to((landing_root / "landing").resolve())


def digest(state: Path) -> tuple:
    """Row counts and order-independent hashes of curated.orders and marts.daily_orders."""
    con = duckdb.connect(str(state / "data" / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(_DIGEST).fetchone()
    finally:
        con.close()


def bench_correction(args, work: Path, log) -> dict:
    """The correction section's figures (see the module docstring)."""
    from bench.report import revision
    from bench.run import DAGSTER_YAML, median_of, require, run_child

    measured_code = revision()
    root = work / "correction"
    days = args.correction_days
    spec = SampleSpec(START, days, orders_for(args.correction_events), args.seed)
    log(f"correction: input, {days} days x {args.correction_events:,} events")
    landing = prepare_landing(root / "input", spec, log)
    first, last = START, START + dt.timedelta(days=days - 1)
    day = START + dt.timedelta(days=days // 2)
    corrected = correct_day(root / "input", root / "corrected", day)
    logs = root / "logs"
    log(f"correction: publishing {days} days (not measured)")
    base = new_state(root / "base", root / "input", DAGSTER_YAML)
    require(run_child("platform", base, first, last, logs), "correction: first publication")
    samples: dict[str, list] = {phase: [] for phase in PHASES}
    digests: dict[str, tuple] = {}
    for repeat in range(1, args.correction_repeats + 1):
        measured = [p for p in PHASES if repeat == 1 or p != "forced"]  # forced: the slowest
        for phase in measured:
            if phase == "replay":
                state = new_state(root / phase, root / "corrected", DAGSTER_YAML)
            else:
                state = copy_state(base, root / phase)
                point_landing(state, root / "corrected")
            window = (day, day) if phase in ("incremental", "rebuild") else (first, last)
            sample = run_child(
                "platform",
                state,
                *window,
                logs,
                force=phase == "forced",
                rebuild=phase == "rebuild",
            )
            samples[phase].append(require(sample, f"correction {phase}"))
            digests[phase] = digest(state)
        log(
            f"correction {repeat}/{args.correction_repeats}: "
            + ", ".join(f"{phase} {samples[phase][-1].run_s:.1f}s" for phase in measured)
        )
    agree = len(set(digests.values())) == 1
    if not agree:
        log(f"correction: WARNING: the paths' tables differ: {digests}")
    curated = {
        phase: (found[-1].reported or {}).get("curated", {}) for phase, found in samples.items()
    }
    return {
        "measured": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "revision": measured_code,
        "days": days,
        "day": day.isoformat(),
        "events_per_day": statistics.median(landing["events"].values()),
        "events_corrected_day": landing["events"][day.isoformat()],
        "correction": corrected,
        "repeats": args.correction_repeats,
        "keys_total": digests["replay"][0],
        "phases": {phase: median_of(found) for phase, found in samples.items()},
        "runs": {
            phase: (found[-1].reported or {}).get("runs_launched", 0)
            for phase, found in samples.items()
        },
        "curated": curated,
        "outputs_agree": agree,
        "samples": {phase: [asdict(s) for s in found] for phase, found in samples.items()},
    }

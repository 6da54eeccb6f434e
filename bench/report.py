"""Render ``bench/RESULTS.md`` from one harness run: machine, targets, tables, notes."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

NOTES = Path(__file__).with_name("NOTES.md")
CORRECTION_START, CORRECTION_END = "<!-- correction:start -->", "<!-- correction:end -->"
PACKAGES = ("dagster", "dagster-duckdb", "duckdb", "polars", "pyarrow", "xxhash", "dlt")
MB = 1024 * 1024


def _proc_field(path: str, key: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _at_start(results: dict, field: str) -> list[float]:
    """One figure recorded at the start of every measured process."""
    groups = [size["samples"] for size in results["sizes"]]
    groups += [results["backfill"]["samples"]] if results["backfill"] else []
    return [s[field] for group in groups for samples in group.values() for s in samples]


def machine(results: dict) -> list[str]:
    """Lines describing this machine, its load during the run and the package versions."""
    memory_kb = _proc_field("/proc/meminfo", "MemTotal").split()[0]
    memory = f"{int(memory_kb) / MB:.1f} GB" if memory_kb.isdigit() else "unknown"
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in PACKAGES)
    loads = _at_start(results, "load_1m") or [float("nan")]
    pressure = _at_start(results, "cpu_pressure") or [float("nan")]
    fsync = results["fsync_ms"]
    busy = max(pressure) > 10 or max(loads) > (os.cpu_count() or 1)
    return [
        f"- CPU: {_proc_field('/proc/cpuinfo', 'model name')}, {os.cpu_count()} cores; "
        f"RAM {memory}; {platform.platform()}",
        f"- Python {platform.python_version()}; {versions}",
        f"- Load while measuring: 1-minute load average {min(loads):.1f} to {max(loads):.1f} "
        f"on {os.cpu_count()} cores; CPU pressure (PSI `some avg10`, share of time a task "
        f"waited for a CPU) {min(pressure):.0f}% to {max(pressure):.0f}%; fsync of 4 KiB in "
        f"the work directory {fsync[0]:.1f} ms (start) and {fsync[1]:.1f} ms (end)."
        + (
            " Other work shared the machine, so single runs are noisy: read the medians, "
            "and the CPU-seconds table, which a busy machine distorts less."
            if busy
            else ""
        ),
    ]


def revision() -> str:
    """The measured commit, and whether the work tree had local changes."""
    repo = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
        return done.stdout

    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    changed = sorted(line[3:] for line in git("status", "--porcelain").splitlines())
    if not changed:
        return commit
    more = f" and {len(changed) - 8} more" if len(changed) > 8 else ""
    return f"{commit} with local changes in {', '.join(changed[:8])}{more}"


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "n/a"


def _status(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _by_label(results: dict, label: str) -> dict | None:
    return next((s for s in results["sizes"] if s["label"] == label), None)


def _missing(results: dict, label: str, what: str) -> str:
    """The targets row of a size that failed or was not run."""
    failed = next((f for f in results.get("failed", []) if f["label"] == label), None)
    if failed:
        return f"| {what} | **failed**: {failed['error'][:300]} | **missed** |"
    return f"| {what} | not measured (size {label} not in --sizes) | - |"


def targets(results: dict) -> list[str]:
    """The issue's targets, what was measured and whether each is met."""
    rows = ["| target | measured | status |", "| --- | --- | --- |"]
    one_m, five_m, backfill = (
        _by_label(results, "1M"),
        _by_label(results, "5M"),
        results["backfill"],
    )
    if one_m:
        platform_s, floor_s = one_m["full"]["platform"]["run_s"], one_m["full"]["floor"]["run_s"]
        cpu = one_m["full"]["platform"]["run_cpu_s"] / one_m["full"]["floor"]["run_cpu_s"]
        rows.append(
            f"| full materialization at 1M events/day within 1.5x of the raw-DuckDB floor "
            f"| {_ratio(platform_s, floor_s)} ({platform_s:.2f} s vs {floor_s:.2f} s; "
            f"CPU {cpu:.2f}x) | {_status(platform_s <= 1.5 * floor_s)} |"
        )
        skip_s, noop_s = one_m["skip"]["run_s"], one_m["noop"]["run_s"]
        skip_cpu = one_m["skip"]["run_cpu_s"] / one_m["full"]["platform"]["run_cpu_s"]
        rows.append(
            f"| unchanged 1M partition skipped for at most 2% of materializing it "
            f"| {skip_s / platform_s:.1%} ({skip_s:.2f} s vs {platform_s:.2f} s; CPU "
            f"{skip_cpu:.1%}; a Dagster run of the same shape doing nothing: {noop_s:.2f} s "
            f"= {noop_s / platform_s:.1%}) | {_status(skip_s <= 0.02 * platform_s)} |"
        )
    else:
        rows.append(_missing(results, "1M", "1M targets"))
    if results["sizes"]:
        largest = max(results["sizes"], key=lambda s: s["events"])
        fp = largest["fingerprint"]
        rows.append(
            f"| fingerprinting at least half the speed of reading the files "
            f"| {fp['cat_s'] / fp['fingerprint_s']:.2f}x of `cat` at {largest['label']} "
            f"({_speed(fp, 'fingerprint_s')} vs {_speed(fp, 'cat_s')} MB/s) "
            f"| {_status(fp['fingerprint_s'] <= 2 * fp['cat_s'])} |"
        )
    if five_m:
        rss = five_m["full"]["platform"]["rss_mb"]
        rows.append(
            f"| 5M events/day with peak memory under 2 GB | {rss:,.0f} MB peak RSS "
            f"| {_status(rss < 2048)} |"
        )
    else:
        rows.append(_missing(results, "5M", "5M events/day with peak memory under 2 GB"))
    if backfill:
        first, unchanged = backfill["phases"]["first"], backfill["phases"]["unchanged"]
        noop = backfill["phases"]["noop"]
        rows.append(
            f"| unchanged {backfill['days']}-day backfill rerun at most 15% of the first run "
            f"| {unchanged['run_s'] / first['run_s']:.1%} "
            f"({unchanged['run_s']:.1f} s vs {first['run_s']:.1f} s; CPU "
            f"{unchanged['run_cpu_s'] / first['run_cpu_s']:.1%}; a Dagster run of the same "
            f"shape doing nothing: {noop['run_s'] / first['run_s']:.1%}) "
            f"| {_status(unchanged['run_s'] <= 0.15 * first['run_s'])} |"
        )
    else:
        rows.append("| backfill rerun | not measured (--backfill-days 0) | - |")
    if results.get("correction"):
        rows.append(correction_target(results["correction"]))
    return rows


def _row(target: str, measured: str, ok: bool | None) -> str:
    return f"| {target} | {measured} | {'-' if ok is None else _status(ok)} |"


def speed_targets(results: dict) -> list[str]:
    """Issue 18's targets: against the floor and dlt in the same run, imports, dagster dev."""
    rows = ["| target | measured | status |", "| --- | --- | --- |"]
    one_m, five_m = _by_label(results, "1M"), _by_label(results, "5M")
    if one_m:
        full = one_m["full"]
        platform, floor, dlt = full["platform"], full["floor"], full["dlt"]
        correct = one_m.get("correct", {})
        if not correct.get("platform"):
            rows.append(_row("1M: the platform's output equal to the floor's", "**no**", False))
        rows.append(
            _row(
                "1M events/day, whole `launch` process incl. the mart catch-up: at most 2.5x "
                "the floor and below dlt",
                f"{_ratio(platform['wall_s'], floor['wall_s'])} ({platform['wall_s']:.2f} s vs "
                f"floor {floor['wall_s']:.2f} s); dlt {dlt['wall_s']:.2f} s "
                f"({_ratio(dlt['wall_s'], floor['wall_s'])}, output "
                f"{'equal to' if correct.get('dlt') else '**not** equal to'} the floor's)",
                correct.get("platform", False)
                and platform["wall_s"] <= 2.5 * floor["wall_s"]
                and platform["wall_s"] < dlt["wall_s"],
            )
        )
        rows.append(
            _row(
                "1M in-job at most 1.5x the floor",
                f"{_ratio(platform['run_s'], floor['run_s'])} ({platform['run_s']:.2f} s vs "
                f"{floor['run_s']:.2f} s)",
                correct.get("platform", False) and platform["run_s"] <= 1.5 * floor["run_s"],
            )
        )
        rows.append(
            _row(
                "1M peak RSS at most 1.5x the floor",
                f"{_ratio(platform['rss_mb'], floor['rss_mb'])} ({platform['rss_mb']:,.0f} MB "
                f"vs {floor['rss_mb']:,.0f} MB)",
                platform["rss_mb"] <= 1.5 * floor["rss_mb"],
            )
        )
        skip = one_m["skip"]
        rows.append(
            _row(
                "unchanged 1M partition at most 2% of a full run in-job",
                f"{skip['run_s'] / platform['run_s']:.1%} ({skip['run_s']:.2f} s vs "
                f"{platform['run_s']:.2f} s)",
                skip["run_s"] <= 0.02 * platform["run_s"],
            )
        )
        imports = results.get("imports")
        if imports:
            rows.append(
                _row(
                    'the whole unchanged `launch` (1M) at most 1.5x `python -c "import dagster"`',
                    f"{_ratio(skip['wall_s'], imports['dagster_s'])} ({skip['wall_s']:.2f} s vs "
                    f"{imports['dagster_s']:.2f} s)",
                    skip["wall_s"] <= 1.5 * imports["dagster_s"],
                )
            )
    else:
        rows.append(_missing(results, "1M", "1M targets"))
    if five_m:
        platform, floor = five_m["full"]["platform"], five_m["full"]["floor"]
        if not (five_m.get("correct") or {}).get("platform"):
            rows.append(_row("5M: the platform's output equal to the floor's", "**no**", False))
        rows.append(
            _row(
                "5M events/day in-job at most 1.3x the floor",
                f"{_ratio(platform['run_s'], floor['run_s'])} ({platform['run_s']:.2f} s vs "
                f"{floor['run_s']:.2f} s)",
                (five_m.get("correct") or {}).get("platform", False)
                and platform["run_s"] <= 1.3 * floor["run_s"],
            )
        )
        rows.append(
            _row(
                "5M events/day peak RSS under 2 GB",
                f"{platform['rss_mb']:,.0f} MB",
                platform["rss_mb"] < 2048,
            )
        )
    else:
        rows.append(_missing(results, "5M", "5M targets"))
    imports = results.get("imports")
    if imports:
        rows.append(
            _row(
                "importing the definitions (local) at most 1.3x `import dagster`",
                f"{_ratio(imports['definitions_s'], imports['dagster_s'])} "
                f"({imports['definitions_s']:.2f} s vs {imports['dagster_s']:.2f} s; building "
                f"the code location too: {imports['code_location_s']:.2f} s; a bare "
                f"interpreter {imports['python_s']:.2f} s)",
                imports["definitions_s"] <= 1.3 * imports["dagster_s"],
            )
        )
    dev = results.get("dev")
    if dev:
        ui = dev["ui_backfill"]
        for phase, limit in (("first", 30), ("unchanged", 15)):
            m = ui[phase]
            rows.append(
                _row(
                    f"UI backfill of 3 sample days under `dagster dev`, {phase}: under {limit} s",
                    f"{m['runs_s']:.1f} s until its {m['runs']} run(s) finished; the backfill "
                    f"reported complete at {m['complete_s']:.1f} s",
                    m["runs_s"] < limit,
                )
            )
        fresh = dev["fresh"]
        rows.append(
            _row(
                "a fresh `make dev`: the sample week published and the run queue empty within "
                "60 s of the UI coming up",
                f"{fresh['settled_s']:.1f} s ({fresh['runs']} runs; nothing more was requested "
                f"in the {fresh['held_s']} s after; the UI came up {fresh['ui_up_s']:.1f} s "
                "after the start)",
                fresh["settled_s"] <= 60,
            )
        )
    else:
        rows.append("| `dagster dev` targets | not measured (--no-dev-server) | - |")
    return rows


def correction_target(correction: dict) -> str:
    """The issue-16 target: a correction of one day well under a replay of every day."""
    phases = correction["phases"]
    one, replay = phases["incremental"]["run_s"], phases["replay"]["run_s"]
    return (
        f"| correction of one day among {correction['days']} published days well under a "
        f"full replay (issue 16) | {one / replay:.1%} of replaying the {correction['days']} "
        f"days on an empty warehouse ({one:.1f} s vs {replay:.1f} s); "
        f"{one / phases['forced']['run_s']:.1%} of a forced relaunch "
        f"| {_status(one <= 0.25 * replay)} |"
    )


def correction_section(correction: dict) -> list[str]:
    """The correction benchmark (bench/correction.py) between its markers."""
    phases, curated = correction["phases"], correction["curated"]
    replay, forced = phases["replay"]["run_s"], phases["forced"]["run_s"]
    names = {
        "incremental": "incremental correction: launch of the corrected day (keyed recompute)",
        "rebuild": f"`launch --rebuild` of the corrected day (whole table from "
        f"{correction['days']} artifacts)",
        "forced": f"forced relaunch of the {correction['days']} days (`launch --force`; "
        "measured once)",
        "replay": f"replay of the {correction['days']} corrected days on an empty warehouse",
    }
    rows = [
        "| path | in the job | of the replay | of the forced relaunch | whole process "
        "| CPU in the job | keys recomputed | business days changed | runs | peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for phase, name in names.items():
        m, c = phases[phase], curated.get(phase, {})
        keys = f"{c.get('keys_recomputed', 0):,}" if phase != "replay" else "(all, merged)"
        rows.append(
            f"| {name} | {m['run_s']:.1f} s | {m['run_s'] / replay:.1%} "
            f"| {m['run_s'] / forced:.1%} | {m['wall_s']:.1f} s | {m['run_cpu_s']:.1f} s "
            f"| {keys} | {c.get('days_changed', 0)} | {correction['runs'].get(phase, 0)} "
            f"| {m['rss_mb']:,.0f} MB |"
        )
    fix = correction["correction"]
    argv = " ".join(correction.get("argv") or []) or "(as part of the full run)"
    return [
        CORRECTION_START,
        f"## Correction of one day among {correction['days']} published days (issue 16, "
        f"median of {correction['repeats']})",
        "",
        f"Measured on {correction['measured']} by `python -m bench.run` {argv}, on commit "
        f"{correction.get('revision') or revision()}; this section can be rerun alone "
        '(`make bench BENCH_ARGS="--only correction"`, about 3 minutes here), so its date may '
        f"differ from the rest of the file. {correction['days']} days at "
        f"{correction['events_per_day']:,.0f} events/day are published first (not measured); "
        f"then day {correction['day']} ({correction['events_corrected_day']:,} events) is "
        f"re-delivered corrected: {fix['rows_removed']:,} rows removed and "
        f"{fix['rows_changed']:,} amounts changed. Each path runs in a fresh process on a "
        "copy of the published state (the replay on an empty warehouse), launched as "
        "`python -m platform_assets.launch` launches it, incl. the mart days a change "
        "reached (recomputed in the same run). *Keys recomputed*: from curated/orders' "
        "materialization metadata (the keyed recomputes' keys, old and new; a rebuild "
        "recomputes every key); "
        f"the table has {correction['keys_total']:,} keys. {_correction_load(correction)} "
        "All four paths end with the same "
        "`curated.orders` and `marts.daily_orders` (row count and order-independent hash): "
        f"{'yes' if correction['outputs_agree'] else '**NO**'}.",
        "",
        *rows,
        "",
        "| target | measured | status |",
        "| --- | --- | --- |",
        correction_target(correction),
        CORRECTION_END,
    ]


def _correction_load(correction: dict) -> str:
    """The machine's load while the correction paths were measured."""
    samples = [s for found in correction["samples"].values() for s in found]
    loads = [s["load_1m"] for s in samples]
    pressure = [s["cpu_pressure"] for s in samples]
    return (
        f"Load while measuring: 1-minute load average {min(loads):.1f} to {max(loads):.1f} on "
        f"{os.cpu_count()} cores, CPU pressure {min(pressure):.0f}% to {max(pressure):.0f}%"
        + (
            " (other work shared the machine: single runs are noisy, the CPU seconds less so)."
            if max(loads) > (os.cpu_count() or 1)
            else "."
        )
    )


def update_correction(correction: dict, path: Path) -> None:
    """Replace the correction section of an existing RESULTS.md (or add it before Method)."""
    section = "\n".join(correction_section(correction))
    text = path.read_text() if path.exists() else ""
    if CORRECTION_START in text and CORRECTION_END in text:
        head, rest = text.split(CORRECTION_START, 1)
        tail = rest.split(CORRECTION_END, 1)[1]
        text = head + section + tail
    elif "## Method" in text:
        head, tail = text.split("## Method", 1)
        text = head + section + "\n\n## Method" + tail
    else:
        text = text + "\n" + section + "\n"
    path.write_text(text)


def _speed(fp: dict, key: str) -> str:
    return f"{fp['bytes'] / MB / fp[key]:,.0f}"


def _correct(size: dict) -> str:
    """Which systems' outputs equal the floor's (the plain-SQL reference)."""
    correct = size.get("correct") or {}
    wrong = [system for system, ok in correct.items() if not ok]
    return "all" if not wrong else "all but " + ", ".join(f"**{w}**" for w in wrong)


def materialization(results: dict) -> list[str]:
    """Per-partition wall times: floor, dlt, stock, platform, unchanged rerun, no-op job."""
    rows = [
        "| events/day | input CSV | floor | dlt merge | stock path | platform | platform process "
        "| unchanged rerun (of full) | no-op job | equal to the floor |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for size in results["sizes"]:
        full, skip = size["full"], size["skip"]
        floor_s, platform_s = full["floor"]["run_s"], full["platform"]["run_s"]
        rows.append(
            f"| {size['events']:,} | {size['fingerprint']['bytes'] / MB:,.0f} MB "
            f"| {floor_s:.2f} s "
            + "".join(
                f"| {full[s]['run_s']:.2f} s ({_ratio(full[s]['run_s'], floor_s)}) "
                for s in ("dlt", "stock", "platform")
            )
            + f"| {full['platform']['wall_s']:.2f} s "
            f"| {skip['run_s']:.2f} s ({skip['run_s'] / platform_s:.1%}) "
            f"| {size['noop']['run_s']:.2f} s | {_correct(size)} |"
        )
    return rows


def cpu_and_memory(results: dict) -> list[str]:
    """Per-partition CPU seconds (less sensitive to a busy machine), whole-process wall
    times and peak RSS."""
    systems = ("dlt", "stock", "platform")
    rows = [
        "| events/day | CPU floor | CPU dlt | CPU stock path | CPU platform "
        "| CPU unchanged rerun | process floor | process dlt | process platform "
        "| peak RSS floor | peak RSS dlt | peak RSS stock path | peak RSS platform |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |",
    ]
    for size in results["sizes"]:
        full = size["full"]
        floor_cpu, floor_wall = full["floor"]["run_cpu_s"], full["floor"]["wall_s"]
        rows.append(
            f"| {size['events']:,} | {floor_cpu:.2f} s "
            + "".join(
                f"| {full[s]['run_cpu_s']:.2f} s ({_ratio(full[s]['run_cpu_s'], floor_cpu)}) "
                for s in systems
            )
            + f"| {size['skip']['run_cpu_s']:.2f} s | {floor_wall:.2f} s "
            + "".join(
                f"| {full[s]['wall_s']:.2f} s ({_ratio(full[s]['wall_s'], floor_wall)}) "
                for s in ("dlt", "platform")
            )
            + "".join(f"| {full[s]['rss_mb']:,.0f} MB " for s in ("floor", *systems))
            + "|"
        )
    return rows


def _step_label(step_key: str) -> str:
    """``curated__orders`` -> ``curated/orders``."""
    return step_key.replace("__", "/")


def profiles(results: dict) -> list[str]:
    """Where the platform's in-job time goes per size: outside the steps, each step, and
    Dagster's event writes within each (medians of the full runs)."""
    sized = [size for size in results["sizes"] if size.get("profile")]
    if not sized:
        return ["(no profile: the platform's runs reported none)"]
    steps = list(sized[-1]["profile"]["steps"])
    rows = [
        "| events/day | in-job | outside the steps | "
        + " | ".join(_step_label(step) for step in steps)
        + " | Dagster's event writes | no-op job |",
        "| ---: " * (len(steps) + 5) + "|",
    ]
    for size in sized:
        profile, run_s = size["profile"], size["full"]["platform"]["run_s"]

        def cell(part: dict | None) -> str:
            if part is None:
                return "-"
            return f"{part['wall_s']:.2f} s ({part['event_s']:.2f} s events)"

        rows.append(
            f"| {size['events']:,} | {run_s:.2f} s | {cell(profile['outside'])} | "
            + " | ".join(cell(profile["steps"].get(step)) for step in steps)
            + f" | {profile['events']:.0f} events, {profile['event_s']:.2f} s "
            f"({profile['event_s'] / run_s:.0%} of in-job) | {size['noop']['run_s']:.2f} s |"
        )
    return rows


def fingerprints(results: dict) -> list[str]:
    """Fingerprint throughput against ``cat`` per size."""
    rows = [
        "| events/day | files | `cat > /dev/null` | `fingerprint_files` | ratio |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for size in results["sizes"]:
        fp = size["fingerprint"]
        rows.append(
            f"| {size['events']:,} | {fp['bytes'] / MB:,.1f} MB | {_speed(fp, 'cat_s')} MB/s "
            f"| {_speed(fp, 'fingerprint_s')} MB/s | {fp['cat_s'] / fp['fingerprint_s']:.2f}x |"
        )
    return rows


def backfill_table(backfill: dict) -> list[str]:
    """The backfill's phases with their ratio to the first run."""
    first = backfill["phases"]["first"]["run_s"]
    rows = [
        "| run | in the job | whole process | of the first run | CPU in the job | peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    names = {
        "first": "first run (nothing published)",
        "unchanged": "unchanged rerun (every partition skipped)",
        "forced": "forced rerun (`platform/force=true`)",
        "floor": "floor: raw DuckDB, same days in one dedupe + MERGE",
        "noop": "no-op job of the same shape over the same range (Dagster alone)",
    }
    for phase, name in names.items():
        m = backfill["phases"][phase]
        rows.append(
            f"| {name} | {m['run_s']:.1f} s | {m['wall_s']:.1f} s | {m['run_s'] / first:.1%} "
            f"| {m['run_cpu_s']:.1f} s | {m['rss_mb']:,.0f} MB |"
        )
    return rows


def render(results: dict) -> str:
    """The whole RESULTS.md text."""
    argv = " ".join(results["argv"]) or "(defaults)"
    lines = [
        "# Benchmark results (issues 9, 16 and 18)",
        "",
        f"Written by `python -m bench.run` {argv} on {results['started']} in "
        f"{results['minutes']} minutes, on commit {results.get('revision') or revision()}. "
        "Reproduce with `make bench` "
        "(defaults: 10k, 100k, 1M and 5M events/day, 5 repeats, the 30-day backfill 3 times, "
        "the correction of one day among 30; about 20 minutes here, inputs cached in "
        "`bench/output/` after the first run), or "
        'quickly with `make bench BENCH_ARGS="--sizes 10k,100k --repeats 3 --backfill-days 5"`.',
        "Each figure is a median; every ratio is to a baseline measured in the same run.",
        "",
        "## Machine",
        "",
        *machine(results),
        "",
        "## Targets (issue 18) and where we stand",
        "",
        "Against the raw-DuckDB floor and dlt measured in the same run (per-partition "
        "tables below). *Whole process*: the child's wall time from interpreter start to exit "
        "(imports, definitions, the Dagster instance, the planned launch with the mart days "
        "its merge reached); *in-job*: from the launch's start to its end, without opening the "
        "instance.",
        "",
        *speed_targets(results),
        "",
        "## Targets (issue 9) and where we stand",
        "",
        *targets(results),
        "",
        f"## Per-partition materialization (median of {results['repeats']} runs)",
        "",
        "staging/orders + curated/orders + marts/daily_orders for one landing day, on top of a "
        "warehouse where the previous day is already published. Times are inside the child "
        "process, from the start of the job to its end (imports, definitions and instance "
        "excluded); *platform process* is the whole child (interpreter start, imports, job). "
        "Ratios are to the floor measured in the same run; the unchanged rerun is a second "
        "launch of the same partition (planned, so no Dagster run starts), as a share of the "
        "platform's full run; the *no-op job* "
        "(`bench/noop.py`) has the platform's shape (3 assets, 8 check results, the "
        "`warehouse` pool) and does nothing: what Dagster alone costs per run. Peak RSS is "
        "the whole child process (its own high-water mark, `VmHWM`, read by the child as it "
        "finishes: `wait4`'s `ru_maxrss` starts at the peak of the process that spawned the "
        "child, here the harness), the highest over the repeats.",
        "",
        *materialization(results),
        *[f"\n**{f['label']} failed:** {f['error']}" for f in results.get("failed", [])],
        "",
        "CPU seconds of the same runs (all threads of the child, during the job) and peak "
        "RSS of the whole child process:",
        "",
        *cpu_and_memory(results),
        "",
        "Where the platform's in-job time goes (medians of the same full runs, each column on "
        "its own): the time outside the steps (planning against the ledger, building the "
        "definitions, creating the run with its planned events, ending it), each step's wall "
        "time from its start and end events, and within each the time Dagster spent storing "
        "events (`DagsterInstance.handle_new_event`, timed by the bench's child: one SQLite "
        "write or more per event, in `DAGSTER_HOME`). What is left of a step is the asset's "
        "own work (reading, checks, writes, ledger).",
        "",
        *profiles(results),
        "",
        "## Fingerprint throughput",
        "",
        "`fingerprint_files` (xxh3-128 over names, sizes and bytes) over the measured day's "
        "landing files, against `cat files > /dev/null` in a subprocess; after one warm-up "
        "of each, so both read from the page cache (neither touches the disk). Median of "
        f"{max(results['repeats'], 5)}.",
        "",
        *fingerprints(results),
        "",
    ]
    backfill = results["backfill"]
    if backfill:
        lines += [
            f"## {backfill['days']}-day backfill at {backfill['events_per_day']:,.0f} events/day "
            f"(median of {results['backfill_repeats']})",
            "",
            f"{backfill['events_total']:,} events. Each run is launched as `make demo` "
            "launches it (`platform_assets.tools.launch.launch_job`: planned first, then one "
            "`execute_in_process` of `orders_daily_job` over the days that need work, as a "
            "single-run range; none when nothing changed), in a fresh process, on a real "
            "instance: a temporary `DAGSTER_HOME` with the repo's `dagster.yaml` (SQLite "
            "storage, the `warehouse` pool, run monitoring). Not `dagster dev`: daemon ticks "
            "and run launch are not included. First run on an empty warehouse; then the same "
            "range unchanged; then forced (`platform/force=true`).",
            "",
            *backfill_table(backfill),
            "",
        ]
    if results.get("correction"):
        lines += [*correction_section(results["correction"]), ""]
    lines += [
        "## Method",
        "",
        f"- Inputs: `platform_assets.tools.sample.generate`, seed {results['seed']}, "
        "`--orders-per-day` = events / 1.6; the "
        "previous day is published first, the measured day is the second.",
        "- floor (`bench/floor.py`): one DuckDB connection; `read_csv` of the day's files, "
        "`ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY updated_at DESC, seq DESC) = 1`, "
        "`MERGE INTO curated.orders` (newer by `(updated_at, seq)` wins), the day's mart rows "
        "replaced. No staging file, checksums, ledger, checks or quarantine.",
        "- stock path (`bench/stock.py`): the same three assets on `DuckDBIOManager` with "
        "dagster-duckdb-polars' type handler. `dagster-duckdb-polars` 0.29.27 is not "
        "installed: it cannot load inputs with duckdb 2.x (`load_input` calls the removed "
        "`.arrow()`), so the harness carries its handler with that call renamed "
        "(`to_arrow_table()`), otherwise unchanged: DELETE the partition, then "
        "`INSERT ... SELECT *` by position, in autocommit. The stock IO manager cannot merge, "
        "so `curated/orders` runs the floor's MERGE itself through `DuckDBResource`.",
        "- platform: `platform_assets.tools.launch.launch_job('orders_daily_job', ...)` limited to "
        "the three orders assets (with their checks): the planner compares input checksums "
        "with the ledger, then one `execute_in_process` runs the days that need work, on a "
        "temporary `DAGSTER_HOME` with the repo's `dagster.yaml`; the full run and the "
        "unchanged rerun are checked against the ledger (3 rows `succeeded`, then 3 rows "
        "`skipped`, the latter under the plan's id, no run); the full run may add rows for the "
        "earlier mart days its merge reached, which its mart step recomputes (a day's late "
        "updates reach earlier business days).",
        "- dlt (`bench/dlt_merge.py`, the `bench` extra: dlt 1.31 with its DuckDB "
        "destination): the day's CSV files read by DuckDB with the contract's types (dlt's "
        "best case), loaded with `write_disposition=merge`, strategy `delete-insert`, "
        "`primary_key=order_id` and a `dedup_sort` column that folds `(updated_at, seq)` into "
        "one fixed-width text, so its dedupe is deterministic; then the floor's mart SQL. "
        "`delete-insert` replaces the stored row of every loaded key whether the loaded event "
        "is newer or not, so an older re-delivery wins: *equal to the floor* says whether "
        "that changed the result on this input.",
        "- *equal to the floor*: `curated.orders` and the measured mart day compared by row "
        "count and an order-independent hash with the floor's (plain SQL: the latest event "
        "per order by `(updated_at, seq)`, a newer event wins the MERGE).",
        "- imports (`bench/startup.py`): a fresh `python -c` per figure, interleaved, after "
        "one warm-up; local settings.",
        "- `dagster dev` (`bench/dev_server.py`): a real `dagster dev` with the repo's "
        "`dagster.yaml` and the sensors' default interval, driven through its GraphQL API "
        "(`tests/dagster_dev.py`), polled every 0.5 s.",
        "- Every run is a fresh `python -m bench.child` process; the state before each full "
        "run is restored from a copy, so every repeat does the same work.",
        "",
    ]
    if NOTES.exists():
        lines += [NOTES.read_text().strip(), ""]
    return "\n".join(lines)


def write_results(results: dict, path: Path) -> None:
    """Write RESULTS.md."""
    path.write_text(render(results))

"""Crash injection: writer processes SIGKILLed at seeded random moments leave old or new state.

A child process overwrites one big partition (or merges one big CDC batch) through
``warehouse.connect``; the parent kills it at a seeded random point of the write
(before, during or after the transaction), then opens the file and checks that
the target holds exactly the old or exactly the new rows (count and checksum of
the sorted rows), that every other row is untouched, and that the next child
(a rerun on the crashed file) completes.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from platform_assets.storage.strategies import overwrite_partition
from platform_assets.storage.warehouse import connect
from tests.io.workload import (
    CURRENT,
    CURRENT_KEY,
    MART,
    MART_KEY,
    frame_checksum,
    mart_rows,
    table_checksum,
)
from tests.io.writer_child import CRASH_DAY, MERGE_SPLIT, crash_frame, crash_write

REPO = Path(__file__).resolve().parents[2]
ROWS = 200_000
KILLS = 30
# kills aimed at each stretch of the write: (marker the delay counts from, how many)
PLAN = {"before": ("go", 8), "during": ("writing", 14), "after": ("committed", 8)}
PHASE_GROUP = {
    "ready": "before",  # "go" sent: the child builds its frame
    "connecting": "before",
    "connected": "before",
    "writing": "during",  # inside overwrite_partition / merge_upsert (the transaction)
    "committed": "after",  # the write returned; closing the connection (checkpoint)
    "closed": "after",  # connection closed; the interpreter is exiting
    "exited": "completed",  # the child finished before its kill point
}

Checksum = tuple[int, str]


class Scenario:
    """One strategy's warehouse: initial state, the versions it moves through, its checks.

    Overwrite cycles through three versions of one day (each write replaces the
    previous one). Merge applies one newer batch to the base state; once it has
    landed, the pristine base file is restored for the next attempt.
    """

    def __init__(self, strategy: str, db: Path):
        self.strategy = strategy
        self.db = db
        self.pristine = db.with_name("pristine.duckdb")
        self.columns = crash_frame(strategy, 0, 10).columns
        self.split = int(ROWS * MERGE_SPLIT)
        if strategy == "overwrite":
            self.table, self.key = MART, MART_KEY
            self.target = ("business_date", "=", CRASH_DAY)
            self.other = ("business_date", "<>", CRASH_DAY)
        else:
            self.table, self.key = CURRENT, CURRENT_KEY
            self.target = ("entity_id", ">=", self.split)
            self.other = ("entity_id", "<", self.split)
        self._expected: dict[int, Checksum] = {}

    def frame(self, version: int) -> pl.DataFrame:
        return crash_frame(self.strategy, version, ROWS)

    def setup(self) -> None:
        """Version 0 of the target plus rows the writes must never touch."""
        with connect(self.db) as con:
            if self.strategy == "overwrite":
                for day in (CRASH_DAY - dt.timedelta(days=1), CRASH_DAY + dt.timedelta(days=1)):
                    frame, window = mart_rows(day, 0, 5_000), (day, day + dt.timedelta(days=1))
                    overwrite_partition(con, MART, frame, "business_date", window)
            crash_write(con, self.strategy, self.frame(0))
        shutil.copyfile(self.db, self.pristine)
        self.untouched = self.observe()[1]

    def next_version(self, current: int) -> int:
        return current + 1 if self.strategy == "overwrite" else 1

    def landed(self, current: int) -> int:
        """The new version is in place; return the version the next attempt starts from."""
        if self.strategy == "overwrite":
            return current + 1
        Path(f"{self.db}.wal").unlink(missing_ok=True)
        shutil.copyfile(self.pristine, self.db)
        return 0

    def expected(self, version: int) -> Checksum:
        """Checksum of the target after ``version`` was written, from the frames alone."""
        slot = version % 3 if self.strategy == "overwrite" else version
        if slot not in self._expected:
            frame = self.frame(slot)
            if self.strategy == "merge" and slot == 0:
                frame = frame.filter(pl.col("entity_id") >= self.split)
            self._expected[slot] = frame_checksum(frame, self.key)
        return self._expected[slot]

    def observe(self) -> tuple[Checksum, Checksum]:
        """(target checksum, checksum of every other row), through a read-only connection."""
        with connect(self.db, timeout_s=5, read_only=True) as con:
            return tuple(
                table_checksum(con, self.table, self.columns, self.key, where)
                for where in (self.target, self.other)
            )


def spawn(strategy: str, db: Path) -> subprocess.Popen:
    """A writer child; it imports, prints ``ready`` and waits for ``go <version>``."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.io.writer_child", "crash", strategy, str(db), str(ROWS)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_ready(proc: subprocess.Popen, timeout_s: float = 60) -> None:
    """Block until the child printed ``ready`` (bounded)."""
    readable, _, _ = select.select([proc.stdout], [], [], timeout_s)
    line = proc.stdout.readline().decode() if readable else ""
    if not line.startswith("ready"):
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"writer child did not start: {line!r} {err.decode()[-2000:]}")


def run_attempt(proc: subprocess.Popen, version: int, anchor: str, delay: float | None):
    """Send ``go``; SIGKILL the child ``delay`` seconds after it printed ``anchor``.

    ``anchor`` is ``go`` (count from sending it) or a marker name; ``delay=None``
    lets the child finish. Returns (killed, phase it died in, marker times in
    seconds after ``go``, with ``exited`` when it finished by itself).
    """
    fd = proc.stdout.fileno()
    go = time.monotonic()
    proc.stdin.write(f"go {version}\n".encode())
    proc.stdin.flush()
    seen = b""
    if anchor != "go":  # wait (bounded) until the child reports the anchor phase
        deadline = go + 30
        while f"{anchor} ".encode() not in seen:
            readable, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            assert readable, f"no {anchor!r} marker within 30s: {seen!r}"
            chunk = os.read(fd, 4096)
            if not chunk:
                break  # the child exited before reaching the anchor
            seen += chunk
    anchored = time.monotonic()
    try:
        # the kill point, not a synchronisation
        proc.wait(timeout=60 if delay is None else max(0.0, anchored + delay - time.monotonic()))
    except subprocess.TimeoutExpired:
        if delay is None:
            raise
        proc.send_signal(signal.SIGKILL)  # a no-op if the child has just exited by itself
    out, err = proc.communicate(timeout=30)
    exited = time.monotonic() - go
    killed = proc.returncode == -signal.SIGKILL
    markers = {}
    for line in (seen + out).decode().splitlines():
        name, at = line.split()
        markers[name] = float(at) - go
    if not killed:
        assert proc.returncode == 0, err.decode()[-3000:]
        assert "closed" in markers, out.decode()
        return False, "exited", {**markers, "exited": exited}
    return True, (max(markers, key=markers.get) if markers else "ready"), markers


def update_lengths(length: dict[str, float], markers: dict[str, float]) -> None:
    """Track how long each stretch takes (moving average over the attempts that show it)."""
    seen = {
        "before": ("writing",),
        "during": ("writing", "committed"),
        "after": ("committed", "exited"),
    }
    for name, needed in seen.items():
        if all(m in markers for m in needed):
            start = 0.0 if name == "before" else markers[needed[0]]
            observed = markers[needed[-1]] - start
            length[name] = observed if name not in length else (length[name] + observed) / 2


@pytest.mark.parametrize(("strategy", "seed"), [("overwrite", 20240102), ("merge", 20240103)])
def test_sigkill_anywhere_leaves_old_or_new_state(tmp_path, strategy, seed):
    scenario = Scenario(strategy, tmp_path / "warehouse.duckdb")
    scenario.setup()
    rng = random.Random(seed)
    outcomes: collections.Counter[tuple[str, str]] = collections.Counter()  # (phase, old/new)
    kills = reruns = landed = 0
    spare = [spawn(strategy, scenario.db)]  # the next child starts while this one runs

    def next_child() -> subprocess.Popen:
        proc = spare.pop()
        spare.append(spawn(strategy, scenario.db))
        wait_ready(proc)
        return proc

    try:
        # calibration: one uninterrupted write times the stretches the kills are spread over
        first = scenario.next_version(0)
        _, _, timing = run_attempt(next_child(), first, "go", None)
        assert scenario.observe() == (scenario.expected(first), scenario.untouched)
        current = scenario.landed(0)
        length: dict[str, float] = {}
        update_lengths(length, timing)
        kill_points = []  # seeded, stratified within each stretch (as a share of its length)
        for name, (anchor, n) in PLAN.items():
            kill_points += [(name, anchor, (i + rng.random()) / n) for i in range(n)]
        rng.shuffle(kill_points)
        crashed_file = False  # the file as a killed writer left it (not restored since)
        for attempt in range(3 * KILLS):
            if kills >= KILLS:
                break
            if attempt < len(kill_points):
                name, anchor, share = kill_points[attempt]
            else:  # some children finished before their kill point: aim again
                name = rng.choice(list(PLAN))
                anchor, share = PLAN[name][0], rng.random()
            delay = share * length[name]
            version = scenario.next_version(current)
            killed, phase, markers = run_attempt(next_child(), version, anchor, delay)
            update_lengths(length, markers)  # follow the machine's current speed
            kills += killed
            target, other = scenario.observe()
            old, new = scenario.expected(current), scenario.expected(version)
            assert other == scenario.untouched, f"rows outside the target changed ({phase})"
            assert target in (old, new), f"neither old nor new after a kill in {phase}: {target}"
            if PHASE_GROUP[phase] == "before":
                assert target == old, f"the target changed before the write began ({phase})"
            if PHASE_GROUP[phase] in ("after", "completed"):
                assert target == new, f"a committed write was lost ({phase})"
            outcomes[phase, "new" if target == new else "old"] += 1
            if crashed_file and "committed" in markers:
                reruns += 1  # the write after a kill ran on the crashed file and committed
            crashed_file = killed
            if target == new:
                landed += 1
                current = scenario.landed(current)
                crashed_file = crashed_file and strategy == "overwrite"  # merge restores
        # a final rerun in this process completes and lands exactly
        version = scenario.next_version(current)
        with connect(scenario.db, timeout_s=5) as con:
            crash_write(con, strategy, scenario.frame(version))
        assert scenario.observe() == (scenario.expected(version), scenario.untouched)
    finally:
        for proc in spare:
            proc.kill()
            proc.communicate()

    groups: collections.Counter[str] = collections.Counter()
    for (phase, _), n in outcomes.items():
        groups[PHASE_GROUP[phase]] += n
    by_phase = ", ".join(
        f"{phase}: {outcomes[phase, 'old']} old/{outcomes[phase, 'new']} new"
        for phase in PHASE_GROUP
        if outcomes[phase, "old"] or outcomes[phase, "new"]
    )
    print(
        f"\n[crash {strategy}] rows={ROWS} kills={kills} stretch ms: "
        f"before {length['before'] * 1e3:.0f}, during {length['during'] * 1e3:.0f}, "
        f"after {length['after'] * 1e3:.0f}; "
        f"groups={dict(groups)} phases=({by_phase}) new version landed={landed} "
        f"reruns committed on a crashed file={reruns}"
    )
    assert kills >= KILLS
    assert groups["before"] >= 1 and groups["during"] >= 5 and groups["after"] >= 1, groups
    assert landed >= 2 and reruns >= 1  # writes kept landing between the kills

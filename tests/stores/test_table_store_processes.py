"""The TableStore contract under real processes: writers killed mid-write, writers at once.

Writers are child processes (``tests/stores/writer_child.py``) on the test's store, driven
through their pipes: each opens the store and builds its frame, prints ``ready``, starts on
a line from the parent and reports ``writing`` and ``committed``. The parent checks the
store only through the protocol.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from platform_assets.storage.table_store import TableStore
from tests.io.workload import CURRENT, CURRENT_KEY, DAY_COLUMN, MART, MART_KEY, mart_rows
from tests.stores.writer_child import child_frame, write

REPO = Path(__file__).resolve().parents[2]
D1, D2, D3, D4 = (dt.date(2024, 1, day) for day in range(1, 5))


class Child:
    """A writer child process on the store at ``location``, driven by its pipes."""

    def __init__(self, location, strategy: str, day: dt.date, version: int, rows: int):
        args = [location.kind, location.path, strategy, day.isoformat(), str(version), str(rows)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.stores.writer_child", *args],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.markers: dict[str, float] = {}
        self._pending = b""

    def wait_for(self, name: str, timeout_s: float = 60) -> float:
        """Block (bounded) until the child printed marker ``name``; return its time."""
        deadline = time.monotonic() + timeout_s
        fd = self.proc.stdout.fileno()
        while name not in self.markers:
            if b"\n" in self._pending:
                line, self._pending = self._pending.split(b"\n", 1)
                marker, at = line.decode().split()
                self.markers[marker] = float(at)
                continue
            readable, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 4096) if readable else b""
            if not chunk:
                self.proc.kill()
                _, err = self.proc.communicate()
                pytest.fail(f"child gave no {name!r} marker: {err.decode()[-3000:]}")
            self._pending += chunk
        return self.markers[name]

    def go(self) -> None:
        self.proc.stdin.write(b"go\n")
        self.proc.stdin.flush()

    def kill_after(self, delay_s: float) -> None:
        """SIGKILL ``delay_s`` seconds from now (waiting on the process is the timer)."""
        try:
            self.proc.wait(timeout=delay_s)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
        out, _ = self.proc.communicate(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL
        for line in (self._pending + out).decode().splitlines():  # markers it printed meanwhile
            marker, at = line.split()
            self.markers[marker] = float(at)

    def finish(self) -> None:
        """Let a committed child exit; it must succeed."""
        _, err = self.proc.communicate(input=b"", timeout=60)
        assert self.proc.returncode == 0, err.decode()[-3000:]


# --- crash: SIGKILL at seeded points of a write ---------------------------------------

CRASH_ROWS = 100_000
_KILLS = random.Random(20240102)
# (marker the delay counts from, share of a write's duration): "writing"+0 kills as the
# write begins, "committed"+0 right after it returned; the rest are seeded and stratified
# over the write and a little beyond
KILL_PLAN = [("writing", 0.0), ("committed", 0.0)] + [
    ("writing", (i + _KILLS.random()) / 10 * 1.2) for i in range(10)
]


class Crash:
    """One strategy's target (the rows every write replaces) and the rows it never touches.

    Overwrite: day D2 of the mart between two small neighbours, written in turn by each
    version. Merge: a base batch, then newer batches over its upper half and as many new
    keys (the lower half is untouched); once one has landed, the table is reset to the base
    (one ``replace_all``), so that every merge updates rows and inserts rows.
    """

    def __init__(self, store: TableStore, strategy: str):
        self.store, self.strategy = store, strategy
        if strategy == "overwrite":
            self.table, self.key = MART, MART_KEY
            self.in_target = pl.col(DAY_COLUMN) == D2
        else:
            self.table, self.key = CURRENT, CURRENT_KEY
            self.in_target = pl.col("entity_id") >= CRASH_ROWS
            self.base = child_frame("merge", D1, 0, CRASH_ROWS)

    def setup(self) -> pl.DataFrame:
        """Write version 0 and return the rows no later write may touch."""
        if self.strategy == "overwrite":
            rows = pl.concat([mart_rows(D1, 0, 2_000), self.frame(0), mart_rows(D3, 0, 2_000)])
            self.store.overwrite_partition(MART, rows, DAY_COLUMN, (D1, D4))
        else:
            write(self.store, "merge", self.base, D1)
        return self.observe()[1]

    def frame(self, version: int) -> pl.DataFrame:
        return child_frame(self.strategy, D2, version, CRASH_ROWS)

    def expected(self, version: int) -> pl.DataFrame:
        """The target after ``version`` was written."""
        if self.strategy == "merge" and version == 0:
            return self.base.filter(self.in_target)
        return self.frame(version).sort(self.key)

    def landed(self, version: int) -> int:
        """``version`` is in the table; return the version the next write starts from."""
        if self.strategy == "overwrite":
            return version
        self.store.replace_all(CURRENT, self.base, CURRENT_KEY)
        return 0

    def observe(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(the target's rows, every other row), sorted."""
        rows = self.store.read(self.table).sort(self.key)
        return rows.filter(self.in_target), rows.filter(~self.in_target)


@pytest.mark.parametrize("strategy", ["overwrite", "merge"])
def test_sigkill_anywhere_in_a_write_leaves_the_old_or_the_new_version(store, location, strategy):
    crash = Crash(store, strategy)
    untouched = crash.setup()
    calibration = Child(location, strategy, D2, 1, CRASH_ROWS)
    calibration.wait_for("ready")
    calibration.go()
    duration = calibration.wait_for("committed") - calibration.wait_for("writing")
    calibration.finish()
    current, outcomes = crash.landed(1), []
    child = Child(location, strategy, D2, 2, CRASH_ROWS)
    for version, (anchor, share) in enumerate(KILL_PLAN, start=2):
        child.wait_for("ready")  # idle before the write starts: nothing competes with it
        child.go()
        child.wait_for(anchor)
        child.kill_after(share * duration)
        if "committed" in child.markers:  # follow the machine's current speed
            duration = (duration + child.markers["committed"] - child.markers["writing"]) / 2
        if version <= len(KILL_PLAN):  # the next child starts while this one is checked
            child = Child(location, strategy, D2, version + 1, CRASH_ROWS)

        target, other = crash.observe()  # readable after every kill
        landed = target.equals(crash.expected(version))
        assert landed or target.equals(crash.expected(current)), f"a mix at {anchor}+{share}"
        assert other.equals(untouched), f"rows outside the target changed at {anchor}+{share}"
        if anchor == "committed":
            assert landed, "a committed write was lost"
        if anchor == "writing" and share == 0.0:
            assert not landed, "killed as it began, yet the write landed"
        current = crash.landed(version) if landed else current
        outcomes.append(f"{anchor}+{share:.2f}:{'new' if landed else 'old'}")
    print(f"\n[crash {location.kind} {strategy}] write {duration * 1e3:.0f} ms; {outcomes}")
    assert {outcome[-3:] for outcome in outcomes} == {"old", "new"}, outcomes
    write(store, strategy, crash.frame(99), D2)  # the store takes the next write
    target, other = crash.observe()
    assert target.equals(crash.expected(99)) and other.equals(untouched)


# --- concurrency: writers released together -------------------------------------------


def run_together(children: list[Child]) -> bool:
    """Release ready children at once and let them finish; whether their writes overlapped."""
    for child in children:
        child.wait_for("ready")
    for child in children:
        child.go()
    spans = [(child.wait_for("writing"), child.wait_for("committed")) for child in children]
    for child in children:
        child.finish()
    return max(begin for begin, _ in spans) < min(end for _, end in spans)


ROWS = 50_000


@pytest.mark.parametrize("strategy", ["overwrite", "merge"])
def test_two_writers_of_the_same_partition_leave_one_whole_version(store, location, strategy):
    write(store, strategy, child_frame(strategy, D2, 0, ROWS), D2)
    table, key = (MART, MART_KEY) if strategy == "overwrite" else (CURRENT, CURRENT_KEY)
    overlapped = False
    for round_ in range(3):  # until the two writes ran at the same time once
        versions = (2 * round_ + 1, 2 * round_ + 2)
        overlapped = run_together([Child(location, strategy, D2, v, ROWS) for v in versions])
        got = store.read(table).sort(key)
        if strategy == "overwrite":  # the write that ran last, whole
            assert any(got.equals(child_frame(strategy, D2, v, ROWS)) for v in versions)
        else:  # the newer batch, whichever ran last
            assert got.equals(child_frame(strategy, D2, versions[1], ROWS))
        if overlapped:
            break
    assert overlapped, "the two writes never ran at the same time"


def test_two_writers_of_other_partitions_both_land(store, location):
    overlapped = False
    # first on a table that does not exist yet (both create it), then on the existing one
    for days in [(D1, D2), (D3, D4)]:
        children = [Child(location, "overwrite", day, 0, ROWS) for day in days]
        overlapped = run_together(children) or overlapped
        for day in days:
            got = store.read(MART, DAY_COLUMN, (day, day + dt.timedelta(days=1))).sort(MART_KEY)
            assert got.equals(mart_rows(day, 0, ROWS)), day
    assert store.count(MART) == 4 * ROWS
    assert overlapped, "the writes never ran at the same time"

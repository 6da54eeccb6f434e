"""DuckDB-only: writer processes queue on the warehouse file's lock, and give up in bounds.

A DuckDB file has one writer process at a time, so, unlike Delta's optimistic commits,
concurrent writers wait for the lock (``warehouse.connect`` retries with jittered
backoff) and run one after the other. That the writes of concurrent processes land whole
on every store is the contract suite's (``tests/stores/test_table_store_processes.py``).

Children are started with the ``spawn`` method, build their frames, report ``ready`` and
then wait for one shared ``go`` event, so they hit the file lock together.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import time

import duckdb

from platform_assets.storage.warehouse import connect
from tests.io.workload import MART, MART_KEY, frame_checksum, mart_rows, table_checksum
from tests.io.writer_child import materialize

FIRST_DAY = dt.date(2024, 1, 1)
ROWS = 50_000


def _run_together(db, jobs: list[tuple[str, int]], rows: int) -> tuple[list[tuple], float]:
    """Run one ``materialize`` child per (day, version) at once; return reports."""
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=materialize, args=(str(db), day, version, rows, go, results))
        for day, version in jobs
    ]
    for proc in procs:
        proc.start()
    try:
        ready = [results.get(timeout=120) for _ in procs]
        assert all(r[0] == "ready" for r in ready), ready
        started = time.monotonic()
        go.set()
        done = [results.get(timeout=120) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
    errors = [d for d in done if d[0] != "done"]
    assert not errors, errors
    assert [proc.exitcode for proc in procs] == [0] * len(procs)
    return done, started


def test_eight_writers_queue_on_the_file_lock_and_all_land(tmp_path):
    db = tmp_path / "warehouse.duckdb"  # does not exist yet: the first writer creates it
    days = [(FIRST_DAY + dt.timedelta(days=i)).isoformat() for i in range(8)]
    done, started = _run_together(db, [(day, i) for i, day in enumerate(days)], ROWS)

    waits = [d[3] for d in done]
    wall = max(d[6] for d in done) - started
    # one writer at a time: the [connected, committed] spans of the processes never overlap
    spans = sorted((d[4], d[5]) for d in done)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False))
    columns = mart_rows(FIRST_DAY, 0, 1).columns
    with connect(db, read_only=True) as con:
        for i, day in enumerate(map(dt.date.fromisoformat, days)):
            got = table_checksum(con, MART, columns, MART_KEY, ("business_date", "=", day))
            assert got == frame_checksum(mart_rows(day, i, ROWS), MART_KEY)
        total = con.execute("SELECT count(*) FROM marts.daily_lines").fetchone()[0]
    assert total == sum(mart_rows(FIRST_DAY, i, ROWS).height for i in range(8))
    held = sum(end - start for start, end in spans)
    print(
        f"\n[concurrency] 8 writers x {ROWS} rows: wall {wall:.2f}s after go, "
        f"max lock wait {max(waits):.2f}s, mean {sum(waits) / len(waits):.2f}s, "
        f"writing {held:.2f}s in all ({held / wall:.0%} of the wall time)"
    )
    assert max(waits) > 0  # they really queued on the lock


def test_a_writer_gives_up_with_a_clear_error_after_the_bounded_wait(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    holder = duckdb.connect(str(db))  # this process holds the file lock meanwhile
    try:
        ctx = multiprocessing.get_context("spawn")
        go, results = ctx.Event(), ctx.Queue()
        go.set()
        day = FIRST_DAY.isoformat()
        child = ctx.Process(target=materialize, args=(str(db), day, 0, 10, go, results, 0.5))
        child.start()
        assert results.get(timeout=60)[0] == "ready"
        report = results.get(timeout=60)
        child.join(timeout=60)
    finally:
        holder.close()
    assert report[0] == "error"
    assert report[3].startswith(f"WarehouseLockTimeout: warehouse {db} stayed locked")
    assert "for 0.5s" in report[3] and "Conflicting lock" in report[3]
    assert child.exitcode != 0

"""DeltaTableStore: the DuckDB write layer's semantics on Delta tables (S3 on moto, and local).

Semantics are checked against the DuckDB path itself (``strategies`` on a real
DuckDB file); crash safety and concurrency with real child processes publishing
to the moto S3 server (SIGKILL at marked points of a publish; two publishers
released together by a line on their stdin).
"""

import datetime as dt
import json
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
from deltalake import write_deltalake
from deltalake.exceptions import CommitFailedError
from polars.testing import assert_frame_equal

from platform_assets.settings import load_settings
from platform_assets.storage.delta_duckdb import delta_daily_checksums, delta_views
from platform_assets.storage.delta_sql import window_predicate
from platform_assets.storage.delta_store import DeltaTableStore, in_window
from platform_assets.storage.strategies import (
    PartitionWindowError,
    merge_upsert,
    overwrite_partition,
    replace_all,
    replace_keys,
)
from platform_assets.storage.table_fingerprint import daily_slice_checksums
from platform_assets.storage.table_schema import SchemaDriftError
from platform_assets.storage.warehouse import connect
from tests.aws.delta_writer_child import DAY_COLUMN, child_frame
from tests.io.workload import (
    CURRENT,
    CURRENT_KEY,
    EPOCH,
    MART,
    MONEY,
    ORDERING,
    STATUSES,
    mart_rows,
)

REPO = Path(__file__).resolve().parents[2]
REPLAY = "curated.entities_replay"
ONE_COMMIT = "marts.daily_lines_one_commit"
PREFIX = "env/prod"
D1, D2, D3 = dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)
ONE_DAY = dt.timedelta(days=1)


def day_window(day: dt.date) -> tuple[dt.date, dt.date]:
    return day, day + ONE_DAY


def sort_mart(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("business_date", "line_id")


def sort_current(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(CURRENT_KEY)


def s3_settings_env(bucket: str, endpoint: str) -> dict[str, str]:
    return {
        "PLATFORM_STORAGE": "s3",
        "PLATFORM_S3_BUCKET": bucket,
        "PLATFORM_S3_PREFIX": PREFIX,
        "AWS_ENDPOINT_URL": endpoint,
    }


@pytest.fixture
def s3_store(aws_env, bucket, monkeypatch) -> DeltaTableStore:
    """A store in a fresh bucket; the environment also configures child processes for it."""
    env = s3_settings_env(bucket, aws_env)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return DeltaTableStore.from_settings(load_settings(env))


@pytest.fixture(params=["s3", "local"])
def store(request, tmp_path) -> DeltaTableStore:
    """The same tests on S3 (moto) and on a local folder."""
    if request.param == "local":
        return DeltaTableStore(str(tmp_path / "delta"))
    return request.getfixturevalue("s3_store")


def seed_mart(store: DeltaTableStore, days=(D1, D2, D3), rows: int = 300) -> pl.DataFrame:
    for day in days:
        store.overwrite_partition(MART, mart_rows(day, 0, rows), DAY_COLUMN, *day_window(day))
    return sort_mart(store.read(MART))


# --- rule 2: partition overwrite ---------------------------------------------------------


def test_overwrite_replaces_exactly_the_window(store):
    before = seed_mart(store)
    new = mart_rows(D2, 1, 300)
    result = store.overwrite_partition(MART, new, DAY_COLUMN, *day_window(D2))
    after = sort_mart(store.read(MART))
    assert (result.rows_in, result.rows_deleted, result.rows_changed) == (new.height, 300, 303)
    assert_frame_equal(after.filter(pl.col(DAY_COLUMN) == D2), sort_mart(new))
    assert_frame_equal(
        after.filter(pl.col(DAY_COLUMN) != D2), before.filter(pl.col(DAY_COLUMN) != D2)
    )
    # a two-day window holding rows of its first day only: the second day is emptied
    first_day = mart_rows(D1, 2, 50)
    store.overwrite_partition(MART, first_day, DAY_COLUMN, D1, D3)
    days = store.read(MART).group_by(DAY_COLUMN).len().sort(DAY_COLUMN).rows()
    assert days == [(D1, first_day.height), (D3, 300)]
    assert store.history(MART)[0]["operationParameters"]["mode"] == "Overwrite"


def test_empty_frame_empties_the_window(store):
    before = seed_mart(store)
    version = store.load(MART).version()
    result = store.overwrite_partition(MART, mart_rows(D2, 1, 10).clear(), DAY_COLUMN, D2, D3)
    assert (result.rows_in, result.rows_deleted) == (0, 300)
    assert store.load(MART).version() == version + 1
    assert store.read(MART, in_window(DAY_COLUMN, D2, D3)).is_empty()
    assert_frame_equal(sort_mart(store.read(MART)), before.filter(pl.col(DAY_COLUMN) != D2))


@pytest.mark.parametrize(
    "bad_row", [{DAY_COLUMN: D3}, {DAY_COLUMN: None}], ids=["next-day", "null-day"]
)
def test_rows_outside_the_window_are_refused_and_nothing_changes(store, bad_row):
    before = seed_mart(store)
    version = store.load(MART).version()
    frame = mart_rows(D2, 1, 300)
    frame = pl.concat(
        [frame, frame.head(1).with_columns(pl.lit(bad_row[DAY_COLUMN], pl.Date).alias(DAY_COLUMN))]
    )
    with pytest.raises(PartitionWindowError, match=r"1 row\(s\) fall outside partition 2024-01-02"):
        store.overwrite_partition(MART, frame, DAY_COLUMN, *day_window(D2))
    with pytest.raises(TypeError, match="datetime.date"):
        store.overwrite_partition(MART, frame.head(0), DAY_COLUMN, EPOCH, EPOCH + ONE_DAY)
    assert store.load(MART).version() == version
    assert_frame_equal(sort_mart(store.read(MART)), before)


# --- rule 3: merge/upsert, against the DuckDB path -------------------------------------


def cdc_batches(seed: int, batches: int = 6, keys: int = 120, rows: int = 80) -> list[pl.DataFrame]:
    """CDC batches with many exact ties on (updated_at, seq) and some NULL updated_at."""
    rng = random.Random(seed)
    frames = []
    for _ in range(batches):
        ids = rng.sample(range(keys), rows)
        frames.append(
            pl.DataFrame(
                {
                    "entity_id": ids,
                    "customer_id": [rng.randrange(3) for _ in ids],
                    "status": [rng.choice(STATUSES[:3]) for _ in ids],
                    "amount": [f"{rng.randrange(3)}.50" for _ in ids],
                    "updated_at": [
                        None if rng.random() < 0.1 else EPOCH + dt.timedelta(hours=rng.randrange(2))
                        for _ in ids
                    ],
                    "seq": [rng.randrange(2) for _ in ids],
                    "is_deleted": [rng.random() < 0.2 for _ in ids],
                },
                schema_overrides={"entity_id": pl.Int64, "customer_id": pl.Int64},
            ).with_columns(pl.col("amount").cast(MONEY))
        )
    return frames


def duckdb_merged(db: Path, batches: list[pl.DataFrame]) -> tuple[pl.DataFrame, list[int]]:
    """The DuckDB write layer's merge of ``batches`` in order: (final state, rows changed)."""
    with connect(db) as con:
        changed = [
            merge_upsert(con, CURRENT, b, CURRENT_KEY, ORDERING).rows_changed for b in batches
        ]
        return sort_current(con.sql(f"SELECT * FROM {CURRENT}").pl()), changed  # noqa: S608


def delta_merged(
    store: DeltaTableStore, batches: list[pl.DataFrame], table: str = CURRENT
) -> tuple[pl.DataFrame, list[int]]:
    """The Delta store's merge of ``batches`` in order: (final state, rows changed)."""
    changed = [store.merge_upsert(table, b, CURRENT_KEY, ORDERING).rows_changed for b in batches]
    return sort_current(store.read(table)), changed


def test_merge_equals_the_duckdb_path_in_any_replay_order(store, tmp_path):
    batches = cdc_batches(seed=7)
    tied = pl.concat(batches).group_by(*CURRENT_KEY, *ORDERING).len().filter(pl.col("len") > 1)
    assert tied.height > 20  # the workload really has updated_at/seq ties to break
    expected, expected_changed = duckdb_merged(tmp_path / "forward.duckdb", batches)
    forward, changed = delta_merged(store, batches)
    assert_frame_equal(forward, expected)
    assert changed == expected_changed
    reverse, _ = delta_merged(store, batches[::-1], table=REPLAY)
    assert_frame_equal(reverse, expected)
    assert_frame_equal(duckdb_merged(tmp_path / "reverse.duckdb", batches[::-1])[0], expected)


def test_replacing_keys_equals_the_duckdb_path(store, tmp_path):
    """The keyed recompute of a correction: present keys updated or inserted, absent deleted."""
    base = cdc_batches(seed=11, batches=1)[0]
    keys = base.select(CURRENT_KEY).head(30)
    replacement = base.head(20).with_columns(
        pl.col("status").replace_strict(STATUSES[:3], STATUSES[3:6], default="other")
    )
    extra = base.head(1).with_columns(pl.lit(10_000, dtype=pl.Int64).alias("entity_id"))
    keys = pl.concat([keys, extra.select(CURRENT_KEY)])
    rows = pl.concat([replacement, extra])
    with connect(tmp_path / "keys.duckdb") as con:
        merge_upsert(con, CURRENT, base, CURRENT_KEY, ORDERING)
        replace_keys(con, CURRENT, rows, CURRENT_KEY, keys)
        expected = sort_current(con.sql(f"SELECT * FROM {CURRENT}").pl())  # noqa: S608
    store.merge_upsert(CURRENT, base, CURRENT_KEY, ORDERING)
    result = store.replace_keys(CURRENT, rows, CURRENT_KEY, keys)
    assert_frame_equal(sort_current(store.read(CURRENT)), expected)
    assert expected.height == base.height - 10 + 1  # 10 keys deleted, one inserted
    assert result.rows_deleted == 10
    with pytest.raises(ValueError, match="outside the keys replaced"):
        store.replace_keys(CURRENT, rows, CURRENT_KEY, keys.head(3))


def test_replacing_the_whole_table_equals_the_duckdb_path(store, tmp_path):
    """A rebuild: the table's contents replaced in one commit, old keys gone."""
    base = cdc_batches(seed=11, batches=1)[0]
    rebuilt = base.tail(base.height - 10).with_columns(
        pl.col("status").replace_strict(STATUSES[:3], STATUSES[3:6], default="other")
    )
    with connect(tmp_path / "all.duckdb") as con:
        merge_upsert(con, CURRENT, base, CURRENT_KEY, ORDERING)
        replace_all(con, CURRENT, rebuilt, CURRENT_KEY)
        expected = sort_current(con.sql(f"SELECT * FROM {CURRENT}").pl())  # noqa: S608
    assert_frame_equal(expected, sort_current(rebuilt))
    store.merge_upsert(CURRENT, base, CURRENT_KEY, ORDERING)
    version = store.load(CURRENT).version()
    result = store.replace_all(CURRENT, rebuilt, CURRENT_KEY)
    assert_frame_equal(sort_current(store.read(CURRENT)), expected)
    assert store.load(CURRENT).version() == version + 1  # one commit
    assert (result.rows_deleted, result.rows_changed) == (base.height, rebuilt.height)
    with pytest.raises(ValueError, match="duplicate keys"):
        store.replace_all(CURRENT, pl.concat([rebuilt, rebuilt.head(1)]), CURRENT_KEY)


@pytest.mark.parametrize(
    ("rows", "message"),
    [([1, 2, 1], "duplicate keys on"), ([1, None], r"1 row\(s\) with a NULL key")],
    ids=["duplicate", "null"],
)
def test_merge_refuses_duplicate_and_null_keys(store, rows, message):
    store.merge_upsert(CURRENT, cdc_batches(seed=1, batches=1)[0], CURRENT_KEY, ORDERING)
    before, version = sort_current(store.read(CURRENT)), store.load(CURRENT).version()
    batch = cdc_batches(seed=2, batches=1, rows=len(rows))[0]
    batch = batch.with_columns(entity_id=pl.Series(rows, dtype=pl.Int64))
    with pytest.raises(ValueError, match=message):
        store.merge_upsert(CURRENT, batch, CURRENT_KEY, ORDERING)
    assert store.load(CURRENT).version() == version
    assert_frame_equal(sort_current(store.read(CURRENT)), before)


# --- schema drift ----------------------------------------------------------------------


def test_added_column_is_added_like_the_duckdb_path(store, tmp_path):
    seed_mart(store, days=(D1,))
    wider = mart_rows(D2, 0, 100).with_columns(channel=pl.lit("web"))
    assert store.overwrite_partition(MART, wider, DAY_COLUMN, D2, D3).columns_added == ["channel"]
    mart = store.read(MART)
    assert mart.columns[-1] == "channel"
    assert mart.group_by(DAY_COLUMN).agg(pl.col("channel").null_count()).sort(
        DAY_COLUMN
    ).rows() == [
        (D1, 300),
        (D2, 0),
    ]
    first, second = cdc_batches(seed=3, batches=2)
    second = second.with_columns(channel=pl.when(pl.col("seq") == 0).then(pl.lit("app")))
    expected, expected_changed = duckdb_merged(tmp_path / "w.duckdb", [first, second])
    merged, changed = delta_merged(store, [first, second])
    assert_frame_equal(merged, expected)
    assert changed == expected_changed


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop("amount"), r"column\(s\) amount missing from the output"),
        (
            lambda f: f.with_columns(pl.col("customer_id").cast(pl.Int32)),
            r"retyped: customer_id \(long -> integer\)",
        ),
    ],
    ids=["dropped", "retyped"],
)
def test_dropped_or_retyped_column_raises_schema_drift(store, change, message):
    before = seed_mart(store, days=(D1,))
    version = store.load(MART).version()
    with pytest.raises(SchemaDriftError, match=message):
        store.overwrite_partition(MART, change(mart_rows(D2, 0, 10)), DAY_COLUMN, D2, D3)
    store.merge_upsert(CURRENT, cdc_batches(seed=4, batches=1)[0], CURRENT_KEY, ORDERING)
    batch = change(cdc_batches(seed=5, batches=1)[0])
    with pytest.raises(SchemaDriftError, match=message):
        store.merge_upsert(CURRENT, batch, CURRENT_KEY, ORDERING)
    assert store.load(MART).version() == version
    assert_frame_equal(sort_mart(store.read(MART)), before)


# --- reading: DuckDB SQL and per-day checksums -----------------------------------------


def test_duckdb_sql_and_checksums_over_a_delta_table(store, tmp_path):
    rows = pl.concat([mart_rows(D1, 0, 400), mart_rows(D2, 1, 400)])
    store.overwrite_partition(ONE_COMMIT, rows, DAY_COLUMN, D1, D3)
    store.overwrite_partition(MART, mart_rows(D2, 2, 999), DAY_COLUMN, D2, D3)  # replaced next
    for day in (D2, D1):
        part = rows.filter(pl.col(DAY_COLUMN) == day)
        for half in (part.head(150), part):  # each day written twice: more commits and files
            store.overwrite_partition(MART, half, DAY_COLUMN, *day_window(day))
    assert len(store.history(MART)) == 5 and len(store.history(ONE_COMMIT)) == 1

    days = [D1, D2, D3]
    checksums = delta_daily_checksums(store, MART, DAY_COLUMN, days)
    assert checksums == delta_daily_checksums(store, ONE_COMMIT, DAY_COLUMN, days)
    assert checksums[D3] == "empty" and checksums[D1].startswith("rows:400:")
    mart_sql = f"SELECT {DAY_COLUMN}, sum(amount), count(*) FROM {MART} GROUP BY ALL ORDER BY 1"  # noqa: S608
    with connect(tmp_path / "warehouse.duckdb") as con:
        overwrite_partition(con, MART, rows, DAY_COLUMN, (D1, D3))
        assert daily_slice_checksums(con, MART, DAY_COLUMN, days) == checksums
        expected = con.sql(mart_sql).fetchall()
    with delta_views(store, [MART, ONE_COMMIT]) as con:
        assert con.sql(mart_sql).fetchall() == expected
    edited = rows.filter(pl.col(DAY_COLUMN) == D1).with_columns(pl.col("status").shift(1))
    store.overwrite_partition(MART, edited, DAY_COLUMN, D1, D2)
    changed = delta_daily_checksums(store, MART, DAY_COLUMN, days)
    assert changed[D1] != checksums[D1] and changed[D2] == checksums[D2]
    assert_frame_equal(
        sort_mart(store.read(MART, in_window(DAY_COLUMN, D2, D3))),
        sort_mart(rows.filter(pl.col(DAY_COLUMN) == D2)),
    )


# --- crash safety and concurrency: child processes on S3 -------------------------------


class Child:
    """A publishing child process (tests/aws/delta_writer_child.py), driven by its pipes."""

    def __init__(self, strategy: str, day: dt.date, version: int, rows: int):
        args = [strategy, day.isoformat(), str(version), str(rows)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.aws.delta_writer_child", *args],
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
        self.proc.communicate(timeout=30)

    def finish(self) -> None:
        """Let a committed child exit; it must succeed."""
        _, err = self.proc.communicate(input=b"", timeout=60)
        assert self.proc.returncode == 0, err.decode()[-3000:]


def committed_data_files(s3, bucket: str, table: str) -> set[str]:
    """Every data file some commit of the table added (any version, from the raw log)."""
    prefix = f"{PREFIX}/{table.replace('.', '/')}/_delta_log/"
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    added = set()
    for item in (i for i in listing if i["Key"].endswith(".json")):
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
        added |= {json.loads(a)["add"]["path"] for a in body.splitlines() if '"add"' in a}
    return added


def uploaded_data_files(s3, bucket: str, table: str) -> set[str]:
    prefix = f"{PREFIX}/{table.replace('.', '/')}/"
    paginator = s3.get_paginator("list_objects_v2")
    keys = (
        o["Key"]
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
        for o in page.get("Contents", [])
    )
    return {k[len(prefix) :] for k in keys if k.endswith(".parquet")}


CRASH_ROWS = 1_500_000
_KILL_RNG = random.Random(20240102)
# (marker the delay counts from, share of a publish's duration): "writing"+0 kills as the
# publish begins, "committed"+0 right after its commit; the rest are seeded and stratified
# over the publish and a little beyond (the upload, the commit, the wait after it)
KILL_PLAN = [("writing", 0.0), ("committed", 0.0)] + [
    ("writing", (i + _KILL_RNG.random()) / 8 * 1.2) for i in range(8)
]


def test_sigkill_during_a_publish_leaves_the_old_or_the_new_version(s3_store, s3, bucket):
    neighbours = [mart_rows(day, 0, 2_000) for day in (D1, D3)]
    for frame in neighbours:
        s3_store.overwrite_partition(MART, frame, DAY_COLUMN, *day_window(frame[DAY_COLUMN][0]))
    s3_store.overwrite_partition(
        MART, child_frame("overwrite", D2, 0, CRASH_ROWS), DAY_COLUMN, D2, D3
    )
    untouched = sort_mart(pl.concat(neighbours))

    calibration = Child("overwrite", D2, 1, CRASH_ROWS)
    calibration.wait_for("ready")
    calibration.go()
    duration = calibration.wait_for("committed") - calibration.wait_for("writing")
    calibration.finish()
    current = 1
    outcomes = []
    for version, (anchor, share) in enumerate(KILL_PLAN, start=2):
        before = s3_store.load(MART).version()
        child = Child("overwrite", D2, version, CRASH_ROWS)
        child.wait_for("ready")
        child.go()
        child.wait_for(anchor)
        child.kill_after(share * duration)
        assert child.proc.returncode == -signal.SIGKILL

        table = s3_store.load(MART)  # readable after every kill
        day = sort_mart(s3_store.read(MART, in_window(DAY_COLUMN, D2, D3)))
        old = sort_mart(child_frame("overwrite", D2, current, CRASH_ROWS))
        new = sort_mart(child_frame("overwrite", D2, version, CRASH_ROWS))
        landed = day.equals(new)
        assert landed or day.equals(old), f"neither old nor new after a kill at {anchor}+{share}"
        assert table.version() == before + landed  # one commit, or none at all
        assert_frame_equal(sort_mart(s3_store.read(MART, pl.col(DAY_COLUMN) != D2)), untouched)
        if anchor == "committed":
            assert landed, "a committed publish was lost"
        if share == 0.0 and anchor == "writing":
            assert not landed, "killed as it began, yet the publish landed"
        current = version if landed else current
        outcomes.append((anchor, round(share, 2), "new" if landed else "old"))
    assert {outcome for *_, outcome in outcomes} == {"old", "new"}, outcomes
    # no commit refers to a file a killed writer left unfinished (uncommitted files may remain)
    assert committed_data_files(s3, bucket, MART) <= uploaded_data_files(s3, bucket, MART)


def start_together(children: list[Child]) -> bool:
    """Release ready children at once, let them finish; whether their publishes overlapped."""
    for child in children:
        child.wait_for("ready")
    for child in children:
        child.go()
    spans = [(child.wait_for("writing"), child.wait_for("committed")) for child in children]
    for child in children:
        child.finish()
    return max(begin for begin, _ in spans) < min(end for _, end in spans)


def test_delta_rs_rebases_a_stale_commit_unless_it_touches_the_same_partition(s3_store):
    """The commit protocol the store relies on, made deterministic with two stale snapshots."""
    s3_store.overwrite_partition(MART, mart_rows(D1, 0, 10), DAY_COLUMN, D1, D2)
    first, second = s3_store.load(MART), s3_store.load(MART)
    write_deltalake(
        first,
        mart_rows(D2, 0, 10),
        mode="overwrite",
        predicate=window_predicate(DAY_COLUMN, D2, D3),
    )
    write_deltalake(
        second,
        mart_rows(D3, 0, 10),
        mode="overwrite",
        predicate=window_predicate(DAY_COLUMN, D3, D3 + ONE_DAY),
    )
    assert s3_store.load(MART).version() == 2  # the stale commit was rebased onto version 1
    assert s3_store.read(MART).group_by(DAY_COLUMN).len().height == 3
    stale = s3_store.load(MART, version=1)
    with pytest.raises(CommitFailedError, match="concurrent"):
        write_deltalake(
            stale,
            mart_rows(D3, 1, 10),
            mode="overwrite",
            predicate=window_predicate(DAY_COLUMN, D3, D3 + ONE_DAY),
        )
    assert s3_store.load(MART).version() == 2


def test_concurrent_publishes_of_different_partitions_both_commit(s3_store):
    s3_store.overwrite_partition(MART, mart_rows(D1, 0, 100), DAY_COLUMN, D1, D2)
    overlaps = 0
    for round_ in range(3):
        days = [D2 + dt.timedelta(days=2 * round_), D3 + dt.timedelta(days=2 * round_)]
        version = s3_store.load(MART).version()
        overlaps += start_together([Child("overwrite", day, round_, 20_000) for day in days])
        assert s3_store.load(MART).version() == version + 2
        predicates = {h["operationParameters"]["predicate"] for h in s3_store.history(MART)[:2]}
        assert predicates == {
            f"business_date >= '{d}'::date AND business_date < '{d + ONE_DAY}'::date" for d in days
        }
        for day in days:
            got = s3_store.read(MART, in_window(DAY_COLUMN, *day_window(day)))
            assert_frame_equal(
                sort_mart(got), sort_mart(child_frame("overwrite", day, round_, 20_000))
            )
    assert overlaps > 0  # the publishes really ran at the same time


def test_concurrent_publishes_of_the_same_partition_leave_one_of_them(s3_store):
    s3_store.overwrite_partition(MART, mart_rows(D2, 0, 100), DAY_COLUMN, D2, D3)
    overlaps = 0
    for round_ in range(3):
        version = s3_store.load(MART).version()
        versions = (2 * round_ + 1, 2 * round_ + 2)
        overlaps += start_together([Child("overwrite", D2, v, 20_000) for v in versions])
        assert s3_store.load(MART).version() == version + 2  # the loser reran after the winner
        day = sort_mart(s3_store.read(MART))
        candidates = [sort_mart(child_frame("overwrite", D2, v, 20_000)) for v in versions]
        assert day.equals(candidates[0]) or day.equals(candidates[1])
        assert s3_store.history(MART)[0]["operationMetrics"]["num_added_rows"] == day.height
    assert overlaps > 0


def test_concurrent_merges_converge_to_the_serial_result(s3_store, tmp_path):
    base = child_frame("merge", D1, 0, 4_000)
    s3_store.merge_upsert(CURRENT, base, CURRENT_KEY, ORDERING)
    assert start_together([Child("merge", day, v, 4_000) for day, v in ((D2, 1), (D3, 2))])
    batches = [base, child_frame("merge", D2, 1, 4_000), child_frame("merge", D3, 2, 4_000)]
    expected, _ = duckdb_merged(tmp_path / "serial.duckdb", batches)
    assert_frame_equal(sort_current(s3_store.read(CURRENT)), expected)
    assert s3_store.load(CURRENT).version() == 2


def test_concurrent_first_publishes_create_the_table_once(s3_store):
    start_together([Child("overwrite", day, 0, 20_000) for day in (D1, D2)])
    assert s3_store.load(MART).version() == 1  # one creation, then the loser's rerun
    for day in (D1, D2):
        got = s3_store.read(MART, in_window(DAY_COLUMN, *day_window(day)))
        assert_frame_equal(sort_mart(got), sort_mart(child_frame("overwrite", day, 0, 20_000)))

"""The TableStore contract, the same on every store (a DuckDB file, Delta tables on S3).

Each test runs once per store (``conftest.store``) and touches it only through the
protocol's methods; the one exception injects a failure (:func:`forbid_nulls`). What a
table must hold is computed from the frames alone, in polars (``tests/stores/writes.py``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from platform_assets.storage.strategies import PartitionWindowError, WriteResult
from platform_assets.storage.table_fingerprint import daily_slice_checksums
from platform_assets.storage.table_schema import SchemaDriftError
from platform_assets.storage.table_store import TableStore, overwrite_days
from tests.io.workload import (
    CURRENT,
    CURRENT_KEY,
    DAY_COLUMN,
    EPOCH,
    MART,
    MART_KEY,
    MONEY,
    ORDERING,
    STATUSES,
    entity_rows,
    mart_rows,
)
from tests.stores.backends import WRITE_FAILURES, forbid_nulls
from tests.stores.writes import (
    D1,
    D2,
    D3,
    D4,
    D5,
    D6,
    ROWS,
    WRITES,
    days,
    entity_ids,
    mart,
    merge,
    merged,
    publish,
    stacked,
    with_a_null,
)


def assert_table(store: TableStore, table: str, expected: pl.DataFrame, key: list[str]) -> None:
    """``table`` holds exactly ``expected``: its columns in that order, its rows in any."""
    got = store.read(table)
    assert got.columns == expected.columns
    assert_frame_equal(got.sort(key), expected.sort(key))


def changed_rows(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """Rows of ``after`` that ``before`` does not hold (NULLs compared as values)."""
    before = stacked(after.head(0), before).select(after.columns)
    return after.join(before, on=after.columns, how="anti", nulls_equal=True)


# --- overwrite_partition ----------------------------------------------------------------


def test_overwrite_replaces_exactly_its_day_and_a_rerun_changes_nothing(store):
    publish(store, {D1: 0, D2: 0, D3: 0})
    new = mart_rows(D2, 1, ROWS)
    first = store.overwrite_partition(MART, new, DAY_COLUMN, days(D2))
    assert_table(store, MART, mart({D1: 0, D2: 1, D3: 0}), MART_KEY)
    again = store.overwrite_partition(MART, new, DAY_COLUMN, days(D2))
    assert_table(store, MART, mart({D1: 0, D2: 1, D3: 0}), MART_KEY)
    assert first == WriteResult(new.height, ROWS, new.height, [])
    assert again == WriteResult(new.height, new.height, new.height, [])


def test_overwrite_of_a_range_replaces_every_day_in_it(store):
    publish(store, {D1: 0, D2: 0, D3: 0, D4: 0, D5: 0})
    # a backfill of D2..D4 in one write: D3 has no rows any more
    result = store.overwrite_partition(MART, mart({D2: 2, D4: 2}), DAY_COLUMN, days(D2, D4))
    assert result.rows_deleted == 3 * ROWS
    assert_table(store, MART, mart({D1: 0, D2: 2, D4: 2, D5: 0}), MART_KEY)


def test_an_empty_frame_empties_the_window(store):
    publish(store, {D1: 0, D2: 0, D3: 0})
    result = store.overwrite_partition(MART, mart_rows(D2, 1, ROWS).clear(), DAY_COLUMN, days(D2))
    assert (result.rows_in, result.rows_deleted, result.rows_changed) == (0, ROWS, 0)
    assert_table(store, MART, mart({D1: 0, D3: 0}), MART_KEY)


class CountingWrites:
    """``store`` with its day overwrites counted (everything else passes through)."""

    def __init__(self, store: TableStore):
        self.store, self.windows = store, []

    def __getattr__(self, name):
        return getattr(self.store, name)

    def overwrite_partition(self, table, frame, column, window):
        self.windows.append(window)
        return self.store.overwrite_partition(table, frame, column, window)


def test_overwriting_days_writes_only_days_with_rows_before_or_after(store):
    counted = CountingWrites(store)
    overwrite_days(counted, MART, mart({D1: 0}).clear(), DAY_COLUMN, [D1])
    assert counted.windows == [days(D1)]  # a missing table is created, even empty
    publish(store, {D2: 0, D4: 0})
    counted.windows.clear()
    # D2 loses its rows, D3 gains rows, D4 is rewritten, D5 stays empty: no write for D5
    overwrite_days(counted, MART, mart({D3: 1, D4: 1}), DAY_COLUMN, [D2, D3, D4, D5])
    assert counted.windows == [days(D2), days(D3), days(D4)]
    assert_table(store, MART, mart({D3: 1, D4: 1}), MART_KEY)


# a stray row's day, the window written, how the error names the window
STRAYS = [
    (D1, days(D2), "partition 2024-01-02"),  # the day before
    (D3, days(D2), "partition 2024-01-02"),  # the day after
    (None, days(D2), "partition 2024-01-02"),  # no day at all
    (D4, days(D2, D3), r"partitions 2024-01-02\.\.2024-01-03"),  # the day after a range
]


def test_rows_outside_the_window_are_refused_and_nothing_changes(store):
    before = publish(store, {D1: 0, D2: 0, D3: 0})
    frame = mart_rows(D2, 1, ROWS)
    for stray, window, named in STRAYS:
        bad = pl.concat(
            [frame, frame.head(1).with_columns(pl.lit(stray, pl.Date).alias(DAY_COLUMN))]
        )
        with pytest.raises(PartitionWindowError, match=rf"marts\.daily_lines: 1 row\(s\).*{named}"):
            store.overwrite_partition(MART, bad, DAY_COLUMN, window)
    assert_table(store, MART, before, MART_KEY)


def test_an_empty_window_or_a_missing_partition_column_is_refused(store):
    frame = mart_rows(D2, 1, 10)
    with pytest.raises(ValueError, match=r"marts\.daily_lines: empty partition window"):
        store.overwrite_partition(MART, frame, DAY_COLUMN, (D2, D2))
    with pytest.raises(ValueError, match="partition column.*day_key.*missing"):
        store.overwrite_partition(MART, frame, "day_key", days(D2))
    assert not store.exists(MART)  # nothing was created


def test_overwrite_lands_columns_by_name(store):
    publish(store, {D1: 0, D2: 0})
    # status and currency are both text: a positional write would swap them silently
    new = mart_rows(D2, 1, ROWS)
    store.overwrite_partition(MART, new.select(reversed(new.columns)), DAY_COLUMN, days(D2))
    assert_table(store, MART, mart({D1: 0, D2: 1}), MART_KEY)  # in the table's column order


# --- merge_upsert ----------------------------------------------------------------------


def event(entity_id: int | None, hour: int | None, seq: int | None, status: str, deleted=False):
    """One CDC row of ``curated.entities``; ``hour`` after the epoch, None for no timestamp."""
    return {
        "entity_id": entity_id,
        "customer_id": 7,
        "status": status,
        "amount": "12.50",
        "updated_at": None if hour is None else EPOCH + dt.timedelta(hours=hour),
        "seq": seq,
        "is_deleted": deleted,
    }


def events(rows: list[dict]) -> pl.DataFrame:
    schema = {**entity_rows(0, 0, 1).schema, "amount": pl.String}
    return pl.DataFrame(rows, schema=schema).with_columns(pl.col("amount").cast(MONEY))


# (stored (hour, seq, status), incoming (hour, seq, status), whether the incoming row wins)
NEWER = [
    ((10, 5, "paid"), (10, 4, "shipped"), False),  # same time, lower sequence
    ((10, 5, "paid"), (9, 9, "shipped"), False),  # older, whatever the sequence
    ((10, 5, "paid"), (10, 5, "paid"), False),  # the same event again
    ((10, 5, "paid"), (None, 9, "shipped"), False),  # no timestamp sorts lowest
    ((10, 5, "paid"), (10, 6, "placed"), True),  # same time, higher sequence
    ((10, 5, "paid"), (11, 0, "placed"), True),  # newer
    ((10, 5, "paid"), (10, 5, "shipped"), True),  # a full tie: the larger remaining columns win
    ((10, 5, "paid"), (10, 5, "cancelled"), False),  # ... and the smaller ones lose
    ((None, 5, "paid"), (1, 0, "placed"), True),  # a stored NULL timestamp is the oldest
    ((10, None, "paid"), (10, 0, "placed"), True),  # a NULL sequence too
]


def test_a_row_wins_only_if_newer_by_the_ordering_then_the_other_columns(store):
    merge(store, events([event(i, *stored) for i, (stored, _, _) in enumerate(NEWER)]))
    incoming = [event(i, *new) for i, (_, new, _) in enumerate(NEWER)]
    result = merge(store, events([*incoming, event(99, 1, 1, "placed")]))  # and one new key
    expected = [event(i, *(new if wins else stored)) for i, (stored, new, wins) in enumerate(NEWER)]
    assert_table(store, CURRENT, events([*expected, event(99, 1, 1, "placed")]), CURRENT_KEY)
    assert result.rows_changed == sum(wins for *_, wins in NEWER) + 1


def test_tombstones_win_over_older_updates(store):
    merge(store, events([event(1, 10, 1, "placed"), event(2, 10, 1, "placed")]))
    deleted = merge(store, events([event(1, 12, 3, "paid", deleted=True)]))
    late = merge(store, events([event(1, 11, 2, "shipped"), event(2, 11, 2, "shipped")]))
    expected = events([event(1, 12, 3, "paid", deleted=True), event(2, 11, 2, "shipped")])
    assert_table(store, CURRENT, expected, CURRENT_KEY)  # the tombstone stays as a row
    assert (deleted.rows_changed, late.rows_changed) == (1, 1)  # only entity 2 took the update


def cdc_batches(seed: int = 11, n: int = 3, keys: int = 60) -> list[pl.DataFrame]:
    """Overlapping CDC batches with every hard case: ties only ``seq`` or the payload
    breaks, tombstones, missing timestamps; each batch has unique keys."""
    rng = random.Random(seed)
    batches = []
    for _ in range(n):
        rows = []
        for key in sorted(rng.sample(range(keys), 40)):
            hour = rng.choice([None, 1, 2, 2, 3])
            row = event(key, hour, rng.randrange(2), rng.choice(STATUSES), rng.random() < 0.25)
            rows.append({**row, "amount": f"{rng.randrange(3)}.00"})
        batches.append(events(rows))
    return batches


def test_replays_in_every_order_converge(store):
    batches = cdc_batches()
    ties = pl.concat(batches).group_by(*CURRENT_KEY, *ORDERING).len().filter(pl.col("len") > 1)
    assert ties.height > 0  # full (updated_at, seq) ties with different payloads
    expected = merged(*batches)
    assert expected["is_deleted"].any() and not expected["is_deleted"].all()
    for number, order in enumerate(itertools.permutations(batches)):
        table = f"curated.replay_{number}"
        changed = [merge(store, batch, table).rows_changed for batch in order]
        assert_table(store, table, expected, CURRENT_KEY)
        steps = [merged(*order[: i + 1]) for i in range(len(order))]
        assert changed == [
            changed_rows(before, after).height
            for before, after in zip([order[0].clear(), *steps], steps, strict=False)
        ], f"order {number}: rows changed"
    replay = [merge(store, batch, table).rows_changed for batch in batches]
    assert replay == [0] * len(batches)  # replaying everything again changes nothing
    assert_table(store, table, expected, CURRENT_KEY)


def test_a_merge_without_its_key_or_ordering_is_refused(store):
    for key, order_by, message in [
        ([], ORDERING, r"curated\.entities: merge_upsert needs a business key"),
        (CURRENT_KEY, [], "needs ordering columns"),
        (["order_id"], ORDERING, "key column.*order_id.*missing"),
        (CURRENT_KEY, ["version"], "ordering column.*version.*missing"),
    ]:
        with pytest.raises(ValueError, match=message):
            store.merge_upsert(CURRENT, events([event(1, 1, 1, "paid")]), key, order_by)
    assert not store.exists(CURRENT)  # nothing was created


def test_a_merge_with_null_or_duplicate_keys_is_refused_and_nothing_changes(store):
    merge(store, events([event(1, 0, 0, "placed"), event(3, 0, 0, "placed")]))
    before = store.read(CURRENT)
    for keys, message in [
        ([1, 2, 1], "duplicate keys"),
        ([1, None], r"1 row\(s\) with a NULL key"),
    ]:
        with pytest.raises(ValueError, match=message):
            merge(store, events([event(k, 1, i, "paid") for i, k in enumerate(keys)]))
    assert_table(store, CURRENT, before, CURRENT_KEY)


def test_merge_lands_columns_by_name(store):
    merge(store, entity_rows(0, 0, 100))
    batch = entity_rows(1, 50, 150)  # 50 updates and 50 new keys
    # customer_id and seq are both BIGINT: a positional write would swap them silently
    result = merge(store, batch.select(reversed(batch.columns)))
    assert_table(store, CURRENT, merged(entity_rows(0, 0, 100), batch), CURRENT_KEY)
    assert result.rows_changed == 100


# --- replace_keys and replace_all ------------------------------------------------------


def test_replace_keys_replaces_present_keys_and_deletes_absent_ones(store):
    base = entity_rows(1, 0, 40)
    merge(store, base)
    keys = entity_ids(*range(20), 100, 101)
    # older rows than the stored ones: a recompute replaces whatever the ordering says
    rows = pl.concat([entity_rows(0, 0, 10), entity_rows(2, 100, 101)])
    result = store.replace_keys(CURRENT, rows, CURRENT_KEY, keys)
    kept = base.filter(~pl.col("entity_id").is_in(keys["entity_id"].implode()))
    assert_table(store, CURRENT, pl.concat([kept, rows]), CURRENT_KEY)  # 10..19 deleted
    assert (result.rows_in, result.rows_deleted, result.rows_changed) == (11, 10, 11)
    again = store.replace_keys(CURRENT, rows, CURRENT_KEY, keys)
    assert (again.rows_in, again.rows_deleted, again.rows_changed) == (11, 0, 0)
    assert_table(store, CURRENT, pl.concat([kept, rows]), CURRENT_KEY)


NULL_KEY = entity_rows(2, 0, 2).with_columns(entity_id=pl.lit(None, pl.Int64))
DUPLICATE_KEY = pl.concat([entity_rows(2, 0, 2), entity_rows(3, 1, 2)])


def test_replace_keys_refuses_bad_rows_and_nothing_changes(store):
    merge(store, entity_rows(1, 0, 40))
    before = store.read(CURRENT)
    for rows, message in [
        (entity_rows(2, 18, 22), r"2 replacement row\(s\) outside the keys replaced"),
        (NULL_KEY, "NULL key"),
        (DUPLICATE_KEY, "duplicate keys"),
    ]:
        with pytest.raises(ValueError, match=message):
            store.replace_keys(CURRENT, rows, CURRENT_KEY, entity_ids(*range(20)))
    assert_table(store, CURRENT, before, CURRENT_KEY)


def test_replace_all_replaces_the_whole_table(store):
    merge(store, entity_rows(1, 0, 40))
    rebuilt = entity_rows(0, 10, 50)  # older rows too: a rebuild is not a merge
    result = store.replace_all(CURRENT, rebuilt, CURRENT_KEY)
    assert_table(store, CURRENT, rebuilt, CURRENT_KEY)
    assert result == WriteResult(rebuilt.height, 40, rebuilt.height, [])


def test_replace_all_refuses_bad_keys_and_nothing_changes(store):
    merge(store, entity_rows(1, 0, 40))
    before = store.read(CURRENT)
    for rows, message in [(NULL_KEY, "NULL key"), (DUPLICATE_KEY, "duplicate keys")]:
        with pytest.raises(ValueError, match=message):
            store.replace_all(CURRENT, rows, CURRENT_KEY)
    assert_table(store, CURRENT, before, CURRENT_KEY)


# --- key_days and changed_days ---------------------------------------------------------

DATED = "curated.dated_entities"


def dated(rows: list[tuple[int, dt.date, int, str]]) -> pl.DataFrame:
    """Rows (entity_id, day, hour, status) of a current-state table with a business day."""
    return pl.DataFrame(
        [(i, day, EPOCH + dt.timedelta(hours=hour), 0, s) for i, day, hour, s in rows],
        schema={
            "entity_id": pl.Int64,
            "day": pl.Date,
            "updated_at": pl.Datetime("us"),
            "seq": pl.Int64,
            "status": pl.String,
        },
        orient="row",
    )


BASE = dated([(i, day, 10, "paid") for i, day in enumerate([D1, D2, D3, D4, D5], start=1)])


def days_of(*frames: pl.DataFrame) -> list[dt.date]:
    return sorted(pl.concat(frames)["day"].unique())


def test_changed_days_are_the_days_the_merge_then_changes(store):
    # before the table exists: every day of the frame
    assert store.changed_days(DATED, BASE, CURRENT_KEY, ORDERING, "day") == [D1, D2, D3, D4, D5]
    store.merge_upsert(DATED, BASE, CURRENT_KEY, ORDERING)
    batch = dated(
        [
            (1, D1, 11, "shipped"),  # newer, same day
            (2, D6, 11, "paid"),  # newer, moved from D2 to D6: both days
            (3, D6, 9, "paid"),  # older: would move, changes nothing
            (4, D4, 10, "paid"),  # the same event again: nothing
            (7, D3, 10, "placed"),  # a new key
        ]
    )
    predicted = store.changed_days(DATED, batch, CURRENT_KEY, ORDERING, "day")
    before = store.read(DATED)
    store.merge_upsert(DATED, batch, CURRENT_KEY, ORDERING)
    after = store.read(DATED)
    # the days of the rows the merge replaced and of the rows it wrote
    assert predicted == days_of(changed_rows(after, before), changed_rows(before, after))
    assert predicted == [D1, D2, D3, D6]
    assert store.changed_days(DATED, batch, CURRENT_KEY, ORDERING, "day") == []  # a replay
    assert store.changed_days(DATED, batch.clear(), CURRENT_KEY, ORDERING, "day") == []


def test_key_days_are_the_days_a_key_replacement_then_changes(store):
    keys = entity_ids(2, 4, 8)
    assert store.key_days(DATED, CURRENT_KEY, keys, "day") == []  # no table yet
    store.merge_upsert(DATED, BASE, CURRENT_KEY, ORDERING)
    predicted = store.key_days(DATED, CURRENT_KEY, keys, "day")
    before = store.read(DATED)
    # key 2 moves to D6, key 4 is withdrawn, key 8 has no row before or after
    store.replace_keys(DATED, dated([(2, D6, 12, "paid")]), CURRENT_KEY, keys)
    assert predicted == days_of(changed_rows(store.read(DATED), before))  # the rows it replaced
    assert predicted == [D2, D4]
    assert store.key_days(DATED, CURRENT_KEY, keys.clear(), "day") == []


# --- schema drift and failed writes, for each of the four writes -----------------------


each_write = pytest.mark.parametrize("write", WRITES, ids=[w.name for w in WRITES])


@each_write
def test_an_added_column_is_added_nullable(store, write):
    write.seed(store)
    before = store.read(write.table)
    frame = write.frame().with_columns(channel=pl.lit("web"))
    assert write.run(store, frame).columns_added == ["channel"]
    expected = write.expected(before, frame)  # rows written before the column hold NULL
    got = store.read(write.table)
    # the new column comes last (where Delta puts a partition column is its own affair)
    assert got.columns[-1] == "channel" and sorted(got.columns) == sorted(expected.columns)
    assert_frame_equal(got.select(expected.columns).sort(write.key), expected.sort(write.key))
    assert write.run(store, frame).columns_added == []  # the second time it is just there


def test_a_merge_adding_a_column_adds_it_only_to_the_rows_it_wins(store):
    merge(store, entity_rows(1, 0, ROWS))
    before = store.read(CURRENT)
    older, newer = entity_rows(0, 0, ROWS // 2), entity_rows(2, ROWS // 4, ROWS + ROWS // 4)
    frame = pl.concat([older.filter(pl.col("entity_id") < ROWS // 4), newer])
    result = merge(store, frame.with_columns(channel=pl.lit("web")))
    assert result.columns_added == ["channel"]
    assert result.rows_changed == newer.height  # the older replays change nothing
    expected = merged(before, frame.with_columns(channel=pl.lit("web")))
    assert expected.filter(pl.col("channel").is_null()).height == ROWS // 4
    assert_table(store, CURRENT, expected, CURRENT_KEY)


def test_a_merge_may_add_a_column_to_its_ordering(store):
    merge(store, entity_rows(1, 0, ROWS))
    before = store.read(CURRENT)
    # the same rows again, with a new last tie-breaker: it wins over NULL
    frame = entity_rows(1, 0, ROWS // 2).with_columns(revision=pl.lit(1, pl.Int64))
    result = store.merge_upsert(CURRENT, frame, CURRENT_KEY, [*ORDERING, "revision"])
    assert (result.columns_added, result.rows_changed) == (["revision"], ROWS // 2)
    assert_table(store, CURRENT, merged(before, frame), CURRENT_KEY)


@each_write
def test_a_dropped_or_retyped_column_fails_naming_it_and_nothing_changes(store, write):
    write.seed(store)
    before = store.read(write.table)
    named = rf"table {re.escape(write.table)}: column\(s\)"
    frame = write.frame().with_columns(channel=pl.lit(""))  # and a column to add
    retyped = [pl.col("customer_id").cast(pl.Int32), pl.col("amount").cast(pl.Float64)]
    with pytest.raises(SchemaDriftError, match=rf"{named} retyped: customer_id .*amount"):
        write.run(store, frame.with_columns(retyped))
    with pytest.raises(SchemaDriftError, match=rf"{named} status missing from the output"):
        write.run(store, frame.drop("status"))
    assert_table(store, write.table, before, write.key)  # no column added either


@each_write
def test_column_names_match_case_insensitively(store, write):
    write.seed(store)
    before = store.read(write.table)
    frame = write.frame()
    assert write.run(store, frame.rename({"status": "Status"})).columns_added == []
    assert_table(store, write.table, write.expected(before, frame), write.key)


@each_write
def test_a_write_failing_inside_the_store_leaves_the_table_as_it_was(store, write):
    write.seed(store)
    forbid_nulls(store, write.table, "status")
    before = store.read(write.table)
    frame = write.frame()
    with pytest.raises(WRITE_FAILURES):  # the failed write would also have added a column
        write.run(store, with_a_null(frame, "status").with_columns(channel=pl.lit("web")))
    assert_table(store, write.table, before, write.key)  # its rows and its columns
    write.run(store, frame)  # the store takes the next write
    assert_table(store, write.table, write.expected(before, frame), write.key)


# --- reading ---------------------------------------------------------------------------


def test_sql_filters_on_text_read_every_file_whatever_wrote_it(store):
    merge(store, entity_rows(0, 0, ROWS))  # files from the create, then from a MERGE
    merge(store, entity_rows(1, ROWS // 2, ROWS + ROWS // 2))
    publish(store, {D1: 0, D2: 1})  # and from an overwrite
    for table in (CURRENT, MART):
        rows = store.read(table)
        for status in sorted(set(rows["status"])):
            sql = f"SELECT count(*) FROM {table} WHERE status = '{status}'"  # noqa: S608
            with store.query([table]) as con:
                [(got,)] = con.sql(sql).fetchall()
            assert got == rows.filter(pl.col("status") == status).height > 0


def test_reads_counts_and_sql_see_the_current_rows_whatever_the_history(store):
    rows = mart({D1: 0, D2: 1})
    one_commit = "marts.daily_lines_at_once"
    store.overwrite_partition(one_commit, rows, DAY_COLUMN, days(D1, D2))
    store.overwrite_partition(MART, mart_rows(D2, 2, 3 * ROWS), DAY_COLUMN, days(D2))
    for day in (D2, D1):  # day by day, each written twice
        part = rows.filter(pl.col(DAY_COLUMN) == day)
        for version in (part.head(ROWS // 3), part):
            store.overwrite_partition(MART, version, DAY_COLUMN, days(day))
    assert store.exists(MART) and not store.exists("marts.nothing")
    assert store.count(MART) == rows.height
    d2 = rows.filter(pl.col(DAY_COLUMN) == D2)
    assert_frame_equal(store.read(MART, DAY_COLUMN, days(D2)).sort(MART_KEY), d2)

    sql = f"SELECT {DAY_COLUMN}, sum(amount), count(*) FROM {MART} GROUP BY ALL ORDER BY 1"  # noqa: S608
    expected_con = duckdb.connect()
    expected_con.register("expected_rows", rows.to_arrow())
    expected_con.execute("CREATE SCHEMA marts")
    expected_con.execute(f"CREATE TABLE {MART} AS SELECT * FROM expected_rows")  # noqa: S608
    expected = daily_slice_checksums(expected_con, MART, DAY_COLUMN, [D1, D2, D3])
    with store.query([MART, one_commit]) as con:
        assert con.sql(sql).fetchall() == expected_con.sql(sql).fetchall()
        assert daily_slice_checksums(con, MART, DAY_COLUMN, [D1, D2, D3]) == expected
        at_once = daily_slice_checksums(con, one_commit, DAY_COLUMN, [D1, D2, D3])
    assert at_once == expected and expected[D3] == "empty"

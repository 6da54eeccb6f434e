"""merge_upsert: refuses bad input, applies only newer rows, keeps tombstones, converges."""

from __future__ import annotations

import datetime as dt
import itertools
import random

import polars as pl
import pytest

from platform_assets.storage.strategies import merge_upsert
from platform_assets.storage.warehouse import connect
from tests.io.workload import CURRENT, CURRENT_KEY, EPOCH, MONEY, ORDERING, STATUSES, entity_rows

T = EPOCH


def _row(entity_id: int, hour: int | None, seq: int, status: str = "paid", deleted: bool = False):
    return {
        "entity_id": entity_id,
        "customer_id": 7,
        "status": status,
        "amount": "12.50",
        "updated_at": None if hour is None else T + dt.timedelta(hours=hour),
        "seq": seq,
        "is_deleted": deleted,
    }


def _frame(rows: list[dict]) -> pl.DataFrame:
    schema = entity_rows(0, 0, 1).schema
    return pl.DataFrame(rows, schema={**schema, "amount": pl.String}).with_columns(
        pl.col("amount").cast(MONEY)
    )


def _merge(db, frame: pl.DataFrame):
    with connect(db) as con:
        return merge_upsert(con, CURRENT, frame, CURRENT_KEY, ORDERING)


def _state(db) -> pl.DataFrame:
    with connect(db, read_only=True) as con:
        return con.sql("SELECT * FROM curated.entities ORDER BY entity_id").pl()


def test_refuses_without_key_or_ordering(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    frame = _frame([_row(1, 1, 1)])
    with connect(db) as con:
        with pytest.raises(
            ValueError, match=r"curated\.entities: merge_upsert needs a business key"
        ):
            merge_upsert(con, CURRENT, frame, [], ORDERING)
        with pytest.raises(ValueError, match="needs ordering columns"):
            merge_upsert(con, CURRENT, frame, CURRENT_KEY, [])
        with pytest.raises(ValueError, match="key column.*order_id.*missing"):
            merge_upsert(con, CURRENT, frame, ["order_id"], ORDERING)
        tables = con.execute("SELECT count(*) FROM duckdb_tables()").fetchone()[0]
    assert tables == 0  # nothing was created


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([_row(1, 1, 1), _row(2, 1, 1), _row(1, 2, 2)], "duplicate keys"),
        ([_row(1, 1, 1), {**_row(2, 1, 1), "entity_id": None}], "NULL key"),
    ],
    ids=["duplicate", "null"],
)
def test_refuses_duplicate_and_null_keys(tmp_path, rows, message):
    db = tmp_path / "warehouse.duckdb"
    _merge(db, _frame([_row(1, 0, 0), _row(3, 0, 0)]))
    before = _state(db)
    with pytest.raises(ValueError, match=message):
        _merge(db, _frame(rows))
    assert _state(db).equals(before)


@pytest.mark.parametrize(
    ("hour", "seq", "status", "applied"),
    [
        (10, 4, "shipped", False),  # same time, lower sequence
        (9, 9, "shipped", False),  # older, whatever the sequence
        (10, 5, "paid", False),  # the same event again
        (None, 9, "shipped", False),  # no timestamp sorts lowest
        (10, 6, "shipped", True),  # same time, higher sequence
        (11, 0, "shipped", True),  # newer
        (10, 5, "shipped", True),  # a full tie on (updated_at, seq): the larger row wins
    ],
)
def test_applies_a_row_only_if_newer(tmp_path, hour, seq, status, applied):
    db = tmp_path / "warehouse.duckdb"
    _merge(db, _frame([_row(1, 10, 5, "paid"), _row(2, 10, 5, "paid")]))
    result = _merge(db, _frame([_row(1, hour, seq, status)]))
    state = _state(db)
    assert result.rows_changed == int(applied)
    expected = _row(1, hour, seq, status) if applied else _row(1, 10, 5, "paid")
    assert state.row(0, named=True) == _frame([expected]).row(0, named=True)
    assert state.row(1, named=True) == _frame([_row(2, 10, 5, "paid")]).row(0, named=True)


def test_tombstones_win_over_older_updates(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    _merge(db, _frame([_row(1, 10, 1, "placed"), _row(2, 10, 1, "placed")]))
    deleted = _merge(db, _frame([_row(1, 12, 3, "paid", deleted=True)]))
    late = _merge(db, _frame([_row(1, 11, 2, "shipped"), _row(2, 11, 2, "shipped")]))
    state = _state(db)
    assert (deleted.rows_changed, late.rows_changed) == (1, 1)  # only entity 2 took the update
    assert state.height == 2  # the tombstone stays as a row
    assert state.filter(pl.col("entity_id") == 1).row(0, named=True) == _frame(
        [_row(1, 12, 3, "paid", deleted=True)]
    ).row(0, named=True)
    assert state.filter(pl.col("entity_id") == 2)["status"].to_list() == ["shipped"]


def _batches(seed: int = 11, n: int = 4, keys: int = 60) -> list[pl.DataFrame]:
    """Overlapping CDC batches with every hard case: ties only ``seq`` or the payload
    breaks, tombstones, missing timestamps; each batch has unique keys."""
    rng = random.Random(seed)
    batches = []
    for _ in range(n):
        rows = []
        for key in sorted(rng.sample(range(keys), 40)):
            hour = rng.choice([None, 1, 2, 2, 3])
            row = _row(key, hour, rng.randrange(2), rng.choice(STATUSES), rng.random() < 0.25)
            rows.append({**row, "amount": f"{rng.randrange(3)}.00"})
        batches.append(_frame(rows))
    return batches


def _latest(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """The expected state, computed without DuckDB: the greatest row per key by
    (updated_at, seq, remaining columns in table order), NULL lowest."""
    rest = [c for c in frames[0].columns if c not in [*CURRENT_KEY, *ORDERING]]
    order = [*CURRENT_KEY, *ORDERING, *rest]
    return (
        pl.concat(frames)
        .sort(order, nulls_last=False)
        .unique(subset=CURRENT_KEY, keep="last", maintain_order=True)
        .sort(CURRENT_KEY)
    )


def test_replays_in_every_order_converge(tmp_path):
    batches = _batches()
    # the batches really contain full (updated_at, seq) ties with different payloads
    events = pl.concat(batches)
    ties = events.group_by([*CURRENT_KEY, *ORDERING]).agg(pl.len()).filter(pl.col("len") > 1)
    assert ties.height > 0
    expected = _latest(batches)
    for number, order in enumerate(itertools.permutations(range(len(batches)))):
        db = tmp_path / f"replay-{number}.duckdb"
        with connect(db) as con:
            for index in order:
                merge_upsert(con, CURRENT, batches[index], CURRENT_KEY, ORDERING)
            if number % 6 == 0:  # replaying everything again changes nothing
                replay = [merge_upsert(con, CURRENT, b, CURRENT_KEY, ORDERING) for b in batches]
                assert [r.rows_changed for r in replay] == [0] * len(batches)
        assert _state(db).equals(expected), f"order {order} diverged"
    assert expected["is_deleted"].any() and not expected["is_deleted"].all()


def test_columns_in_another_order_land_by_name(tmp_path):
    db = tmp_path / "warehouse.duckdb"
    _merge(db, entity_rows(0, 0, 100))
    batch = entity_rows(1, 50, 150)  # 50 updates and 50 new keys
    # customer_id and seq are both BIGINT: a positional write would swap them silently
    reordered = batch.select(list(reversed(batch.columns)))
    result = _merge(db, reordered)
    state = _state(db)
    assert result.rows_changed == 100
    assert state.columns == batch.columns  # the table keeps its own column order
    assert state.equals(pl.concat([entity_rows(0, 0, 50), batch]))

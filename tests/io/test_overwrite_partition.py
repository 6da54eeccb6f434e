"""overwrite_partition: window checks, deliberate empty partitions, ranges, insert by name."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from platform_assets.storage.strategies import PartitionWindowError, overwrite_partition
from platform_assets.storage.warehouse import connect
from tests.io.workload import MART, MART_KEY, frame_checksum, mart_rows, table_checksum

DAYS = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(6)]
ROWS = 1_000
COLUMNS = mart_rows(DAYS[0], 0, 1).columns


def _one_day(day: dt.date) -> tuple[dt.date, dt.date]:
    return day, day + dt.timedelta(days=1)


@pytest.fixture
def warehouse(tmp_path):
    """A mart with version 0 of six days."""
    db = tmp_path / "warehouse.duckdb"
    with connect(db) as con:
        for day in DAYS:
            overwrite_partition(con, MART, mart_rows(day, 0, ROWS), "business_date", _one_day(day))
    return db


def _days(con) -> dict[dt.date, tuple[int, str]]:
    return {
        day: table_checksum(con, MART, COLUMNS, MART_KEY, ("business_date", "=", day))
        for day in DAYS
    }


def _expected(version_by_day: dict[dt.date, int | None]) -> dict[dt.date, tuple[int, str]]:
    return {
        day: (0, "") if version is None else frame_checksum(mart_rows(day, version, ROWS), MART_KEY)
        for day, version in version_by_day.items()
    }


def test_overwrite_replaces_only_its_day_and_is_idempotent(warehouse):
    with connect(warehouse) as con:
        first = overwrite_partition(
            con, MART, mart_rows(DAYS[2], 1, ROWS), "business_date", _one_day(DAYS[2])
        )
        again = overwrite_partition(
            con, MART, mart_rows(DAYS[2], 1, ROWS), "business_date", _one_day(DAYS[2])
        )
        state = _days(con)
    assert (first.rows_deleted, first.rows_in) == (ROWS, ROWS + ROWS // 100)
    assert (again.rows_deleted, again.rows_in) == (ROWS + ROWS // 100, ROWS + ROWS // 100)
    assert state == _expected({d: 1 if d == DAYS[2] else 0 for d in DAYS})


@pytest.mark.parametrize(
    "stray",
    [dt.date(2024, 1, 2), dt.date(2024, 1, 4), None],
    ids=["day-before", "day-after", "null"],
)
def test_rows_outside_the_window_are_rejected_naming_the_partition(warehouse, stray):
    frame = mart_rows(DAYS[2], 1, ROWS)
    frame = pl.concat([frame, frame.head(1).with_columns(business_date=pl.lit(stray, pl.Date))])
    with connect(warehouse) as con:
        before = _days(con)
        with pytest.raises(PartitionWindowError, match=r"marts\.daily_lines.*partition 2024-01-03"):
            overwrite_partition(con, MART, frame, "business_date", _one_day(DAYS[2]))
        assert _days(con) == before


def test_empty_frame_deliberately_empties_the_partition(warehouse):
    empty = mart_rows(DAYS[3], 0, ROWS).clear()
    with connect(warehouse) as con:
        result = overwrite_partition(con, MART, empty, "business_date", _one_day(DAYS[3]))
        state = _days(con)
    assert (result.rows_in, result.rows_deleted, result.rows_changed) == (0, ROWS, 0)
    assert state == _expected({d: None if d == DAYS[3] else 0 for d in DAYS})


def test_multi_day_window_replaces_exactly_the_range(warehouse):
    # a single-run backfill of 2024-01-02..2024-01-04: two days have rows, one has none now
    frame = pl.concat([mart_rows(DAYS[1], 2, ROWS), mart_rows(DAYS[3], 2, ROWS)])
    with connect(warehouse) as con:
        result = overwrite_partition(con, MART, frame, "business_date", (DAYS[1], DAYS[4]))
        state = _days(con)
    assert result.rows_deleted == 3 * ROWS
    assert state == _expected(
        {DAYS[0]: 0, DAYS[1]: 2, DAYS[2]: None, DAYS[3]: 2, DAYS[4]: 0, DAYS[5]: 0}
    )
    with pytest.raises(PartitionWindowError, match=r"partitions 2024-01-02\.\.2024-01-04"):
        with connect(warehouse) as con:
            overwrite_partition(
                con, MART, mart_rows(DAYS[4], 0, 5), "business_date", (DAYS[1], DAYS[4])
            )


def test_columns_in_another_order_land_by_name(warehouse):
    # status and currency are both text: a positional insert would swap them silently
    frame = mart_rows(DAYS[2], 1, ROWS)
    reordered = frame.select(list(reversed(frame.columns)))
    with connect(warehouse) as con:
        overwrite_partition(con, MART, reordered, "business_date", _one_day(DAYS[2]))
        stored = con.sql(
            "SELECT * FROM marts.daily_lines WHERE business_date = ? ORDER BY line_id",
            params=[DAYS[2]],
        ).pl()
        state = _days(con)
    assert stored.columns == COLUMNS  # the table keeps its own column order
    assert stored.equals(frame.sort("line_id"))
    assert state == _expected({d: 1 if d == DAYS[2] else 0 for d in DAYS})


def test_window_and_partition_column_are_validated(warehouse):
    frame = mart_rows(DAYS[2], 1, 10)
    with connect(warehouse) as con:
        with pytest.raises(ValueError, match="empty partition window"):
            overwrite_partition(con, MART, frame, "business_date", (DAYS[2], DAYS[2]))
        with pytest.raises(ValueError, match="partition column.*day_key.*missing"):
            overwrite_partition(con, MART, frame, "day_key", _one_day(DAYS[2]))
        assert _days(con) == _expected({d: 0 for d in DAYS})

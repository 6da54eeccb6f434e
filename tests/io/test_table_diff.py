"""table_diff: what replacing a table by its rebuild changes (rows, keys, business days)."""

import datetime as dt

import polars as pl

from platform_assets.storage.table_diff import table_diff

D1, D2, D3 = dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 3)


def rows(*items) -> pl.DataFrame:
    return pl.DataFrame(
        [{"id": i, "value": v, "day": d} for i, v, d in items],
        schema={"id": pl.Int64, "value": pl.String, "day": pl.Date},
    )


def test_equal_contents_in_another_order_change_nothing():
    table = rows((1, "a", D1), (2, None, D2))
    diff = table_diff(table.reverse(), table, ["id"], "day")
    assert (diff.changed, diff.keys_changed, diff.days) == (False, 0, [])


def test_changed_gone_new_and_duplicated_keys_name_their_old_and_new_days():
    table = rows((1, "a", D1), (2, "b", D1), (3, "c", D2), (3, "c", D2), (4, "d", D3))
    rebuilt = rows((1, "a", D1), (2, "b", D2), (3, "c", D2), (5, "e", D3))
    diff = table_diff(table, rebuilt, ["id"], "day")
    # 2 moved from D1 to D2, 3 held twice, 4 gone, 5 new
    assert diff.keys_changed == 4
    assert (diff.rows_added, diff.rows_removed) == (3, 4)
    assert diff.days == [D1, D2, D3]


def test_a_missing_table_or_a_row_with_a_null_key_is_a_change():
    rebuilt = rows((1, "a", D1))
    assert table_diff(None, rebuilt, ["id"], "day").days == [D1]
    tampered = pl.concat([rebuilt, rows((None, "x", D2))])
    diff = table_diff(tampered, rebuilt, ["id"], "day")
    assert (diff.changed, diff.rows_removed, diff.days) == (True, 1, [D2])

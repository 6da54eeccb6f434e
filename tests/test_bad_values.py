"""Odd values in real landing files, end to end (issue 17): each is parsed exactly or
quarantined with a reason naming the file, line and column; money is never rounded;
the other days stay published as they were; the run log summarises the rejects.

Each test publishes a good day 1, then lands day 2 with the odd file and launches both.
"""

import datetime as dt
import io
from decimal import Decimal

import dagster as dg
import polars as pl

from platform_assets.core.landing_parser import MAX_RAW_CHARS, MAX_REASON_CHARS
from platform_assets.core.landing_values import TIMESTAMP_FORM
from platform_assets.tools.launch import launch_job
from tests.test_check_history import _env, _read
from tests.test_late_changes import HEADER, event, land

DAYS = ["2024-01-01", "2024-01-02"]
DAY1 = [event("I", 1, 1, "placed", "10.00", "2024-01-01 08:00:00", "2024-01-01 08:00:00")]
ORDERS = "SELECT order_id, amount, created_at, updated_at FROM curated.orders ORDER BY 1"
QUARANTINE = "SELECT source_file, line, reason FROM quarantine.orders ORDER BY line"


def filler(count: int, first_order: int = 1000) -> list[str]:
    """Good day-2 rows that keep a few rejects under the 5% reject-rate threshold."""
    return [
        event(
            "I",
            100 + i,
            first_order + i,
            "placed",
            "5.00",
            "2024-01-02 08:00:00",
            "2024-01-02 08:00:00",
        )
        for i in range(count)
    ]


def odd(order: int, amount="5.00", created="2024-01-02 08:00:00", updated=None) -> str:
    """A day-2 insert with the given raw amount and timestamps (written as they are)."""
    return f"I,{order},{order},7,placed,{amount},USD,{created},{updated or created}"


def run_both(tmp_path, day2_text: str | None = None, name: str = "cdc-00002.csv"):
    """Publish day 1, land day 2 (``day2_text`` as the whole file), launch both days;
    returns (settings, the launch result, the run's log messages)."""
    settings, defs = _env(tmp_path, "odd")
    land(settings, DAYS[0], DAY1)
    with dg.instance_for_test() as instance:
        assert launch_job("orders_daily_job", DAYS[:1], instance, definitions=defs).success
        if day2_text is not None:
            folder = settings.landing_dir / "orders" / f"dt={DAYS[1]}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(day2_text)
        result = launch_job("orders_daily_job", DAYS, instance, definitions=defs)
        messages = [
            record.user_message
            for run in result.runs
            for record in instance.all_logs(run.run_id)
            if record.user_message
        ]
    return settings, result, messages


def day1_unchanged(settings) -> bool:
    day1 = _read(settings, ORDERS).filter(pl.col("order_id") == 1)
    return day1.rows() == [
        (1, Decimal("10.00"), dt.datetime(2024, 1, 1, 8), dt.datetime(2024, 1, 1, 8))
    ]


def csv(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


def test_amounts_with_more_decimals_than_the_contract_are_quarantined_never_rounded(tmp_path):
    rows = [
        odd(2, "12.345"),
        odd(3, "0.005"),
        odd(4, "99.999"),
        odd(5, "12345678901234567.00"),
        odd(6, "12.3400"),  # trailing zeros: exact, taken as 12.34
        odd(7, "-0.001"),  # would round to 0.00 and pass amount_non_negative
    ]
    settings, result, messages = run_both(tmp_path, csv(*rows, *filler(150)))
    assert result.success
    never = "; amounts are never rounded"
    assert _read(settings, QUARANTINE).rows() == [
        (
            "cdc-00002.csv",
            2,
            "amount: '12.345' has more than 2 decimal places (decimal(18,2))" + never,
        ),
        (
            "cdc-00002.csv",
            3,
            "amount: '0.005' has more than 2 decimal places (decimal(18,2))" + never,
        ),
        (
            "cdc-00002.csv",
            4,
            "amount: '99.999' has more than 2 decimal places (decimal(18,2))" + never,
        ),
        ("cdc-00002.csv", 5, "amount: '12345678901234567.00' does not fit decimal(18,2)"),
        (
            "cdc-00002.csv",
            7,
            "amount: '-0.001' has more than 2 decimal places (decimal(18,2))" + never,
        ),
    ]
    published = dict(_read(settings, "SELECT order_id, amount FROM curated.orders").rows())
    assert published[6] == Decimal("12.34")
    assert not {2, 3, 4, 5, 7} & set(published)
    assert day1_unchanged(settings)
    summary = next(m for m in messages if "row(s) quarantined" in m)
    assert "4 x amount: '...' has more than 2 decimal places" in summary
    assert "cdc-00002.csv line 2: amount: '12.345'" in summary


def test_short_and_long_rows_are_malformed_and_blank_lines_are_not_rows(tmp_path):
    rows = [
        *filler(60),
        "I,2,2,7,placed,5.00,USD,2024-01-02 08:00:00",  # 8 fields
        "I,3,3,7,placed,5.00,USD,2024-01-02 08:00:00,2024-01-02 08:00:00,extra",  # 10
        "",
        "   ",
        *filler(40, first_order=2000),
    ]
    text = csv(*rows) + "\n" * 30  # thirty trailing blank lines
    settings, result, _ = run_both(tmp_path, text)
    assert result.success, "blank lines must not count as rejected rows"
    assert _read(settings, QUARANTINE).rows() == [
        ("cdc-00002.csv", 62, "malformed CSV: expected 9 fields, got 8"),
        ("cdc-00002.csv", 63, "malformed CSV: expected 9 fields, got 10"),
    ]
    assert _read(settings, "SELECT count(*) FROM curated.orders").item() == 101
    assert day1_unchanged(settings)


def test_a_short_row_alone_is_malformed_not_staged_with_nulls(tmp_path):
    """Without a long line polars reads the file in one go and pads short rows with
    nulls; the field count still finds them (and the blank lines are not rows)."""
    text = csv(*filler(60), "", "I,2,2,7,placed,5.00,USD") + "\r\n" * 30
    settings, result, _ = run_both(tmp_path, text)
    assert result.success
    assert _read(settings, QUARANTINE).rows() == [
        ("cdc-00002.csv", 63, "malformed CSV: expected 9 fields, got 7")
    ]
    assert _read(settings, "SELECT count(*) FROM curated.orders WHERE order_id = 2").item() == 0


def test_iso_8601_timestamps_are_taken_in_utc_and_other_forms_quarantined(tmp_path):
    rows = [
        odd(2, created="2024-01-02T23:52:06.483969"),
        odd(3, created="2024-01-02T10:00:00Z"),
        odd(4, created="2024-01-02T10:00:00.5+02:00"),
        odd(5, created="2024-01-02 10:00:00-0130"),
        odd(6, created="2024-01-02 10:00:00.1234560"),
        odd(7, created="2024-01-02 10:00", updated="2024-01-02 10:00:00"),
        odd(8, created="2024-01-02 10:00:00.1234567"),  # 7 digits: would be truncated
    ]
    settings, result, _ = run_both(tmp_path, csv(*rows, *filler(100)))
    assert result.success
    created = dict(_read(settings, "SELECT order_id, created_at FROM curated.orders").rows())
    assert created[2] == dt.datetime(2024, 1, 2, 23, 52, 6, 483969)
    assert created[3] == dt.datetime(2024, 1, 2, 10)
    assert created[4] == dt.datetime(2024, 1, 2, 8, 0, 0, 500000)
    assert created[5] == dt.datetime(2024, 1, 2, 11, 30)
    assert created[6] == dt.datetime(2024, 1, 2, 10, 0, 0, 123456)
    assert _read(settings, QUARANTINE).rows() == [
        ("cdc-00002.csv", 7, f"created_at: cannot parse '2024-01-02 10:00' as {TIMESTAMP_FORM}"),
        (
            "cdc-00002.csv",
            8,
            f"created_at: cannot parse '2024-01-02 10:00:00.1234567' as {TIMESTAMP_FORM}; "
            f"updated_at: cannot parse '2024-01-02 10:00:00.1234567' as {TIMESTAMP_FORM}",
        ),
    ]
    assert day1_unchanged(settings)


def test_an_impossible_business_date_blocks_its_day_and_reaches_no_table(tmp_path):
    rows = [odd(2, created="0001-01-01 00:00:00", updated="2024-01-02 08:00:00"), *filler(10)]
    settings, result, messages = run_both(tmp_path, csv(*rows))
    assert not result.success
    assert _read(settings, "SELECT count(*) FROM curated.orders WHERE order_id <> 1").item() == 0
    assert day1_unchanged(settings)
    blocked = [m for m in messages if "business_dates_plausible" in m]
    assert blocked and "2024-01-02" in blocked[0], messages
    verdicts = [
        e.passed
        for run in result.runs
        for e in run.get_asset_check_evaluations()
        if e.asset_check_key.name == "business_dates_plausible"
    ]
    assert False in verdicts


def test_a_ten_megabyte_line_is_stored_and_logged_capped(tmp_path):
    huge = "x" * (10 * 1024 * 1024)
    bad = [odd(2, amount=huge), *[odd(3 + i, amount="abc") for i in range(4)]]
    settings, result, messages = run_both(tmp_path, csv(*bad, *filler(200)))
    assert result.success
    quarantine = _read(settings, "SELECT reason, raw FROM quarantine.orders ORDER BY 1")
    assert quarantine.height == 5
    assert quarantine["reason"].str.len_chars().max() <= MAX_REASON_CHARS
    assert quarantine["raw"].str.len_chars().max() <= MAX_RAW_CHARS
    assert sum(len(m) for m in messages) < 100_000, "the run log holds the whole line"
    summaries = [m for m in messages if "row(s) quarantined" in m]
    assert len(summaries) == 1 and "5 row(s) quarantined" in summaries[0]
    assert "5 x amount: cannot parse '...' as decimal(18,2)" in summaries[0]


def parquet_bytes(rows: int = 40, **columns) -> bytes:
    """A day-2 Parquet delivery of ``rows`` good inserts, with some columns replaced."""
    at = dt.datetime(2024, 1, 2, 8, tzinfo=dt.UTC)
    frame = pl.DataFrame(
        {
            "op": ["I"] * rows,
            "seq": range(2, rows + 2),
            "order_id": range(2, rows + 2),
            "customer_id": [7] * rows,
            "status": ["placed"] * rows,
            "amount": [Decimal("10.50")] * rows,
            "currency": ["USD"] * rows,
            "created_at": [at] * rows,
            "updated_at": [at] * rows,
        }
    ).with_columns(**columns)
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def run_parquet(tmp_path, data: bytes):
    settings, defs = _env(tmp_path, "parquet")
    land(settings, DAYS[0], DAY1)
    folder = settings.landing_dir / "orders" / f"dt={DAYS[1]}"
    folder.mkdir(parents=True)
    (folder / "cdc-00002.parquet").write_bytes(data)
    with dg.instance_for_test() as instance:
        result = launch_job("orders_daily_job", DAYS, instance, definitions=defs)
    return settings, result


def test_parquet_timestamps_with_a_time_zone_are_taken_in_utc(tmp_path):
    berlin = pl.lit(dt.datetime(2024, 1, 2, 9)).dt.replace_time_zone("Europe/Berlin")
    settings, result = run_parquet(tmp_path, parquet_bytes(created_at=berlin))
    assert result.success
    rows = _read(settings, "SELECT created_at, updated_at FROM curated.orders WHERE order_id > 1")
    assert rows.unique().rows() == [(dt.datetime(2024, 1, 2, 8), dt.datetime(2024, 1, 2, 8))]
    assert rows.height == 40


def test_parquet_decimals_of_another_scale_are_exact_or_quarantined(tmp_path):
    amounts = pl.when(pl.col("order_id") == 2).then(Decimal("10.505")).otherwise(Decimal("10.500"))
    data = parquet_bytes(amount=amounts.cast(pl.Decimal(18, 3)))
    settings, result = run_parquet(tmp_path, data)
    assert result.success
    assert _read(settings, QUARANTINE).rows() == [
        (
            "cdc-00002.parquet",
            1,
            "amount: '10.505' has more than 2 decimal places (decimal(18,2)); "
            "amounts are never rounded",
        )
    ]
    published = dict(_read(settings, "SELECT order_id, amount FROM curated.orders").rows())
    assert 2 not in published and published[3] == Decimal("10.50") and len(published) == 40


def test_parquet_text_columns_are_typed_like_csv_text(tmp_path):
    data = parquet_bytes(
        amount=pl.lit("10.50"), created_at=pl.lit("2024-01-02T08:00:00Z"), seq=pl.lit("12")
    )
    settings, result = run_parquet(tmp_path, data)
    assert result.success
    rows = _read(settings, "SELECT amount, created_at, seq FROM curated.orders WHERE order_id > 1")
    assert rows.unique().rows() == [(Decimal("10.50"), dt.datetime(2024, 1, 2, 8), 12)]


def test_a_parquet_float_amount_rejects_the_file(tmp_path):
    settings, result = run_parquet(tmp_path, parquet_bytes(amount=pl.lit(10.5)))
    assert not result.success  # every row of the day quarantined: reject_rate blocks it
    reasons = _read(settings, QUARANTINE)["reason"].unique().to_list()
    assert reasons == [
        "amount: Parquet type Float64 is a binary float, which cannot hold decimal(18,2) "
        "amounts exactly; deliver a decimal or text column"
    ]
    assert day1_unchanged(settings)

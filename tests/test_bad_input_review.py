"""The adversarial review of issue 17 ("bad input, second round"), as regression tests:
each test was one confirmed break of the promise on 7779df9 (README, "Bad input: every
class and its reason"): every odd file is parsed exactly or quarantined with a reason
naming the file, row and column; never rounded; never fatal to other days; the sensor
keeps running; every stored or logged reason is capped. Docstrings say what broke.
"""

import datetime as dt
import io
import os
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_assets.core.landing_parser import parse_csv, parse_parquet, reject_summary
from platform_assets.core.landing_values import TIMESTAMP_FORM
from platform_assets.datasets.orders.schema import LANDING_CONTRACT
from platform_assets.storage.landing_local import LandingFile, LocalLanding
from platform_assets.tools.launch import launch_job
from tests.automation.test_landing_sensor import tick
from tests.conftest import requested_days
from tests.test_bad_files import day_folder, orders
from tests.test_bad_values import QUARANTINE, csv, day1_unchanged, filler, odd, run_both
from tests.test_check_history import _env, _read
from tests.test_late_changes import HEADER
from tests.unreadable import unreadable

DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]
BAD_DAY = DAYS[1]
RUNS = "SELECT dataset, partition, status, error FROM platform.pipeline_runs ORDER BY ALL"
GOOD = "I,{n},{n},7,placed,5.00,USD,2024-01-02 08:00:00,2024-01-02 08:00:00"


# --- helpers -------------------------------------------------------------------------


def three_days(tmp_path, bad_name: str, bad_bytes: bytes, publish_day1_first: bool = False):
    """Land 60 good orders on each of three days plus one odd file on the middle day,
    launch the three days together (as a UI backfill or ``launch --days 3`` does);
    returns (settings, launch succeeded or the exception it raised)."""
    settings, defs = _env(tmp_path, "r17")
    for n, day in enumerate(DAYS):
        day_folder(settings, day).mkdir(parents=True)
        (day_folder(settings, day) / "cdc-00001.csv").write_text(orders(day, 1000 * (n + 1)))
    with dg.instance_for_test() as instance:
        if publish_day1_first:
            assert launch_job("orders_daily_job", DAYS[:1], instance, definitions=defs).success
        (day_folder(settings, BAD_DAY) / bad_name).write_bytes(bad_bytes)
        try:
            outcome = launch_job("orders_daily_job", DAYS, instance, definitions=defs).success
        except BaseException as exc:  # noqa: BLE001 - a polars panic is a BaseException
            outcome = exc
    return settings, outcome


def published_days(settings) -> list[str]:
    """The landing days whose orders are in curated.orders (the good files' order ids)."""
    try:
        ids = _read(settings, "SELECT order_id FROM curated.orders").get_column("order_id")
    except duckdb.CatalogException:  # nothing was ever published
        return []
    return sorted({DAYS[order // 1000 - 1] for order in ids.to_list() if order >= 1000})


def ledger(settings) -> list[tuple]:
    return _read(settings, RUNS).rows()


def parquet_bytes(**override) -> bytes:
    """One valid order as Parquet (text columns), with some columns replaced or added."""
    columns = {
        "op": ["I"],
        "seq": [1],
        "order_id": [1],
        "customer_id": [7],
        "status": ["placed"],
        "amount": ["5.00"],
        "currency": ["USD"],
        "created_at": ["2024-01-02 08:00:00"],
        "updated_at": ["2024-01-02 08:00:00"],
    }
    table = pa.table({**columns, **override})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def parse_text(text: str, name: str = "cdc.csv"):
    data = text.encode()
    return parse_csv(LandingFile(name, Path(name), len(data)), LANDING_CONTRACT, data)


def parse_pq(data: bytes, name: str = "cdc.parquet"):
    return parse_parquet(LandingFile(name, Path(name), len(data)), LANDING_CONTRACT, data)


def good_rows(parsed) -> list[tuple]:
    return parsed.rows.select("order_id", "amount", "created_at").cast(pl.String).rows()


# --- (c) one odd value or file is fatal to every day of the run ------------------------


def test_a_year_0000_timestamp_is_quarantined_and_every_day_published(tmp_path):
    """WAS (c), high. ``created_at`` of ``0000-01-02 08:00:00`` is parsed (polars
    accepts year 0), fails ``business_dates_plausible`` as it should, and then the
    check's failing-row sample converts the row to Python (``markdown_preview`` ->
    ``iter_rows``), which raises ``ValueError: year 0 is out of range``. The staging step
    loops over every day of the run inside one ``try``: all three days are recorded
    ``failed`` with that internal message and none is published, although only one row
    of one file of the middle day is odd (same for negative years and year 10000, e.g.
    ``9999-12-31 23:59:59-01:00``). The README promises this class blocks its own day
    only. Now a value outside years 0001-9999 (what Python, and so every check sample,
    can represent) is not a timestamp: the row is quarantined naming the column, and the
    day is published without it (one row in 61 is under the reject threshold)."""
    bad = csv("I,1,1,7,placed,5.00,USD,0000-01-02 08:00:00,2024-01-02 08:00:00")
    settings, outcome = three_days(tmp_path, "odd.csv", bad.encode())
    assert outcome is True and published_days(settings) == DAYS
    assert _read(settings, QUARANTINE).rows() == [
        ("odd.csv", 2, f"created_at: cannot parse '0000-01-02 08:00:00' as {TIMESTAMP_FORM}")
    ]


def test_a_year_0000_signup_date_is_quarantined_and_every_day_published(tmp_path):
    """WAS (c), high. The customers variant of the test above: ``signup_date`` of
    ``0000-01-01`` in one snapshot row of the middle day is meant to fail
    ``signup_date_plausible`` (README); instead the check's sample raises ``ValueError:
    year 0 is out of range`` and all three days of the run are ``failed``, none
    published. Expected: days 1 and 3 published, day 2 blocked by the check. Now:
    the date is quarantined (years 0001-9999 only) and the three days are published."""
    settings, defs = _env(tmp_path, "r17")
    for day in DAYS:
        folder = settings.landing_dir / "customers" / f"dt={day}"
        folder.mkdir(parents=True)
        rows = [f"{i},consumer,US,2023-12-01" for i in range(1, 201)]
        if day == BAD_DAY:
            rows[0] = "1,consumer,US,0000-01-01"
        header = "customer_id,segment,country,signup_date"
        (folder / "snapshot.csv").write_text("\n".join([header, *rows]) + "\n")
    with dg.instance_for_test() as instance:
        assert launch_job("customers_daily_job", DAYS, instance, definitions=defs).success
    assert [row for row in ledger(settings) if row[2] == "failed"] == []
    reasons = _read(settings, "SELECT landing_date::VARCHAR, reason FROM quarantine.customers")
    assert reasons.rows() == [
        (BAD_DAY, "signup_date: cannot parse '0000-01-01' as date (YYYY-MM-DD)")
    ]


def test_a_delete_with_a_year_0000_created_at_leaves_later_days_published(tmp_path):
    """WAS (c), high. Deletes are exempt from the ``created_at`` rules (README: a DMS
    delete may carry only its key), so a delete whose ``created_at`` is
    ``0000-01-02 08:00:00`` passes every check and is staged. Publishing it then computes
    the business days the merge changes (``merge_impact.changed_days``): DuckDB returns the
    year-0 date as a *string*, and ``day.isoformat()`` raises ``AttributeError: 'str' object
    has no attribute 'isoformat'``. The middle day fails with that internal message, the
    third day's ``curated/orders`` attempt is left ``started`` (the next launch marks it
    ``abandoned``) and is not published; every rerun over the window fails the same way,
    day 3 publishes only when launched alone. (When the delete lands among the first rows
    of the artifact, the staging step's metadata preview crashes instead, ``ValueError:
    year 0 is out of range``, after staging was recorded ``succeeded``.) Expected: days 1
    and 3 published; the delete applied or quarantined naming ``created_at``; no
    ``started`` row left behind."""
    bad = csv("D,1,1000,,,,,0000-01-02 08:00:00,2024-01-02 08:00:00")
    settings, outcome = three_days(tmp_path, "odd.csv", bad.encode())
    rows = ledger(settings)
    assert [row for row in rows if row[2] == "started"] == [], rows
    assert outcome is True and published_days(settings) == DAYS
    assert _read(settings, QUARANTINE)["reason"].str.starts_with("created_at: ").all()


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        pytest.param("tags", pa.array([[1, 2]]), id="list"),
        pytest.param("blob", pa.array([b"\xff\x00"], pa.binary()), id="binary-not-utf8"),
        pytest.param("elapsed", pa.array([1], pa.duration("s")), id="duration"),
        pytest.param("_line", pa.array(["x"]), id="named-_line"),
    ],
)
def test_an_extra_parquet_column_of_an_odd_type_or_name_is_ignored(name, extra):
    """WAS (c), high. The README: "an extra column: ignored, a warning in the run log".
    ``parse_parquet`` checks only the *contract's* columns for unfit types, then casts
    every column of the file, extras included, to text: a List, a non-UTF-8 Binary or a
    Duration extra column raises ``InvalidOperationError``/``ComputeError`` out of the
    parser, and an extra column named ``_line`` (the parser's own row-number column)
    raises ``DuplicateError`` in ``with_row_index`` (see the next test for what that does
    to a run). Expected: the row is taken and the extra column named in a warning."""
    parsed = parse_pq(parquet_bytes(**{name: extra}))
    assert good_rows(parsed) == [("1", "5.00", "2024-01-02 08:00:00.000000")]
    assert any(name in warning for warning in parsed.warnings)


def test_a_parquet_duration_column_for_a_timestamp_is_refused():
    """WAS (c)+(f), medium. Item 8: a Parquet column of a physical type that cannot
    hold the contract's values is refused with a reason (``_unfit_parquet_columns``:
    nested, binary, float money). A Duration column for ``created_at`` is not in that
    list, and its cast to text raises ``InvalidOperationError: casting from Duration('ms')
    to String not supported`` out of the parser (fatal to the run's other days, as above).
    Expected: every row of the file quarantined naming ``created_at`` and its type."""
    parsed = parse_pq(parquet_bytes(created_at=pa.array([1], pa.duration("s"))))
    assert parsed.rows.height == 0
    assert "created_at" in parsed.rejects.item(0, "reason")


def test_an_extra_list_column_in_one_parquet_file_fails_no_day(tmp_path):
    """WAS (c), high. End to end: one Parquet file on the middle day with an extra
    ``tags`` list column (common in real exports) fails the staging step; all three days
    are recorded ``failed`` with ``polars.exceptions.InvalidOperationError: cannot cast
    List type`` and nothing is published. Expected: the column ignored with a warning,
    every day published."""
    settings, outcome = three_days(
        tmp_path, "odd.parquet", parquet_bytes(tags=pa.array([[1, 2]]), order_id=[5])
    )
    assert published_days(settings) == DAYS
    assert outcome is True


def test_a_parquet_timestamp_with_a_fixed_offset_zone_is_taken_in_utc(tmp_path):
    """WAS (c)+(g), high. A Parquet timestamp column whose time zone is a fixed offset
    (``timestamp[us, tz=+05:30]``, what pandas/pyarrow write for ``pytz.FixedOffset`` or
    ``datetime.timezone(timedelta(hours=5, minutes=30))``) makes ``pl.read_parquet`` panic
    (``pyo3_runtime.PanicException: unable to parse time zone: '+05:30'``). A
    PanicException is a ``BaseException``: ``parse_parquet``'s ``except PolarsError,
    OSError`` does not catch it, and neither does the staging step's ``except
    Exception``, so the attempts are never closed: every day of the run is left
    ``started`` in ``platform.pipeline_runs`` with no error (the next launch sweeps them
    as "abandoned: run ... ended (FAILURE)", so the cause never reaches the ledger), and
    nothing is published. The same offset in CSV (``+05:30``) is converted to UTC.
    Expected: converted to UTC (or the file quarantined with a reason), the other days
    published, no ``started`` rows."""
    stamp = pa.array([dt.datetime(2024, 1, 2, 8)], pa.timestamp("us", tz="+05:30"))
    settings, _ = three_days(tmp_path, "odd.parquet", parquet_bytes(created_at=stamp, order_id=[5]))
    rows = ledger(settings)
    assert [row for row in rows if row[2] == "started"] == [], rows
    assert published_days(settings) == DAYS


def test_a_day_folder_that_cannot_be_listed_blocks_only_its_day(
    tmp_path,
):
    """WAS (c), high. Item 5 says an entry that cannot be read is one quarantine row,
    "the rest of the day and every other day unaffected; the sensor keeps running". A day
    *folder* that cannot be listed (mode 000, e.g. a delivery still owned by the uploading
    account) raises ``PermissionError`` out of ``LocalLanding.files`` (``os.scandir``):
    ``launch`` over the window raises before running any day, and the landing sensor's
    tick (``files_by_day``) raises too, so no day of the dataset is ever requested until
    an operator fixes the folder. Expected: the folder is a refused entry of its day (like
    a day folder that is a link), the other days run and are requested."""
    settings, defs = _env(tmp_path, "r17")
    for n, day in enumerate(DAYS):
        day_folder(settings, day).mkdir(parents=True)
        (day_folder(settings, day) / "cdc-00001.csv").write_text(orders(day, 1000 * (n + 1)))
    delivered = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).timestamp()
    for path in settings.landing_dir.rglob("*"):
        os.utime(path, (delivered, delivered))
    with unreadable(day_folder(settings, BAD_DAY)):
        days = LocalLanding(settings.landing_dir).files_by_day("orders")
        assert set(days) == set(DAYS)
        result = tick(defs, None)
        assert set(requested_days(result.run_requests)) >= {DAYS[0], DAYS[2]}
        with dg.instance_for_test() as instance:
            launch_job("orders_daily_job", DAYS, instance, definitions=defs)
    assert DAYS[0] in published_days(settings)


# --- (a) a published value differs from the file -----------------------------------


def test_unpadded_fields_and_seven_digit_fractions_are_quarantined_not_truncated(
    tmp_path,
):
    """WAS (a), medium. The README: a fraction of more than 6 digits is taken only if
    the rest are zeros, "truncating would change the value". The fast path guards this
    with the text's byte length (at most 26 = ``YYYY-MM-DD HH:MM:SS.ffffff``), but chrono
    also accepts unpadded fields, so ``2024-01-02 8:00:00.1234567`` (26 bytes) reaches the
    fast path and its 7th digit is silently dropped: ``08:00:00.123456`` is published.
    ``2024-1-2 8:0:0.123456789`` loses three digits the same way. (These forms are not
    among the documented ones at all: the ISO path refuses ``2024-01-02 8:00:00``.)
    Expected: quarantined naming ``created_at``."""
    rows = [
        odd(2, created="2024-01-02 8:00:00.1234567", updated="2024-01-02 09:00:00"),
        odd(3, created="2024-1-2 8:0:0.123456789", updated="2024-01-02 09:00:00"),
    ]
    settings, _, _ = run_both(tmp_path, csv(*rows, *filler(60)))
    published = _read(settings, "SELECT order_id FROM curated.orders WHERE order_id < 10")
    assert published.get_column("order_id").to_list() == [1], "truncated values published"
    reasons = _read(settings, QUARANTINE).get_column("reason").to_list()
    assert len(reasons) == 2 and all(r.startswith("created_at: ") for r in reasons)


def test_second_60_is_quarantined(tmp_path):
    """WAS (a), medium. ``2024-01-02 12:00:60`` is no valid time (a leap second can only
    be 23:59:60 UTC at the end of June or December), yet it is taken and published as
    ``12:01:00``; ``23:59:60`` becomes 00:00:00 of the *next day*, so a leap-second stamp
    on the landing day's last second moves the event to another business day and, as
    ``updated_at``, blocks its whole day via ``timestamps_consistent`` (whose sample shows
    a value the file does not contain). Expected: quarantined naming the column."""
    row = odd(2, created="2024-01-02 12:00:60", updated="2024-01-02 12:30:00")
    settings, _, _ = run_both(tmp_path, csv(row, *filler(60)))
    published = _read(settings, "SELECT created_at FROM curated.orders WHERE order_id = 2")
    assert published.height == 0, f"published as {published.item()}"
    reasons = _read(settings, QUARANTINE).get_column("reason").to_list()
    assert reasons and reasons[0].startswith("created_at: ")


# --- (h) the fast and the slow path disagree on the same logical content -----------


def test_a_bom_file_keeps_its_rows_when_one_other_line_is_long():
    """WAS (h), high. A CSV with a UTF-8 BOM is read by polars with the BOM dropped.
    Add one line with an extra field anywhere: polars refuses the file, the line-by-line
    slow path decodes the header with ``utf-8`` (not ``utf-8-sig``), so the first column
    is named ``\\ufeffop`` and EVERY row of the file is quarantined as ``missing
    column(s) op`` (then ``reject_rate`` blocks the day). The same happens with one
    invalid UTF-8 byte anywhere. Expected: only the long line quarantined."""
    good = [GOOD.format(n=n) for n in (1, 2, 3)]
    long_line = GOOD.format(n=9) + ",extra"
    parsed = parse_text("\ufeff" + "\n".join([HEADER, *good, long_line]) + "\n")
    assert [order for order, _, _ in good_rows(parsed)] == ["1", "2", "3"]
    assert parsed.rejects.select("line", "reason").rows() == [
        (5, "malformed CSV: expected 9 fields, got 10")
    ]


def test_a_duplicated_column_refuses_the_file_on_both_paths():
    """WAS (h)+(a), medium. A header naming ``amount`` twice: the fast path (polars)
    takes the FIRST ``amount`` and reports the second as an extra column
    ``amount_duplicated_0`` (a name the file does not contain); add one unrelated long
    line and the slow path builds a dict from the header, so the LAST ``amount`` silently
    wins, with no warning. The same file publishes 5.00 or 7.77 depending on an unrelated
    line. Expected: an ambiguous header is refused (file quarantined naming the duplicated
    column), or at least both paths take the same column."""
    header = HEADER + ",amount"
    good = [GOOD.format(n=n) + ",7.77" for n in (1, 2)]
    fast = parse_text("\n".join([header, *good]) + "\n")
    slow = parse_text("\n".join([header, *good, GOOD.format(n=9) + ",1.00,x"]) + "\n")
    assert good_rows(fast) == good_rows(slow) == []
    for parsed in (fast, slow):
        reasons = set(parsed.rejects["reason"])
        assert reasons == {"column(s) amount named twice in the header: the file is ambiguous"}


# --- (f) a reason that names nothing -------------------------------------------------


def test_an_empty_op_is_quarantined_naming_the_column():
    """WAS (f), medium. A row whose ``op`` field is empty (``,2,2,7,placed,...``) is
    quarantined on the fast path with ``reason`` = '' (polars reads the empty field as
    null; ``~is_in`` of null is null, so ``_reasons`` gives no text, while ``_failing``'s
    ``fill_null(True)`` refuses the row). The slow path (one long line elsewhere) says
    ``unknown op code ''`` for the same row; Parquet (empty string) says the same.
    Expected: a reason naming the column on every path."""
    parsed = parse_text(
        csv(GOOD.format(n=1), ",2,2,7,placed,5.00,USD,2024-01-02 08:00:00,2024-01-02 08:00:00")
    )
    assert parsed.rejects.height == 1
    assert "op" in parsed.rejects.item(0, "reason")


# --- (e) unbounded logs ----------------------------------------------------------------


def test_the_reject_summary_is_bounded(tmp_path):
    """WAS (e), medium. The run log's summary groups reasons by kind with the quoted
    value masked by ``re.sub(r"'[^']*'", ...)``; a value that itself contains a quote
    (``'000001xxx...``) defeats the mask, so every row becomes its own kind and the
    "one warning per day with the counts per kind and the first five rows" grows by
    ~100 bytes per bad row: 2,000 such rows give a ~200 KB warning event, 100,000 give
    ~10 MB, the size class issue 17 set out to remove. Expected: a bounded summary."""
    rows = [
        f"'{n:06d}{'x' * 70},{n},{n},7,placed,5.00,USD,2024-01-02 08:00:00,2024-01-02 08:00:00"
        for n in range(1, 2001)
    ]
    parsed = parse_text(csv(*rows))
    assert parsed.rejects.height == 2000
    summary = reject_summary(parsed.rejects)
    assert len(summary) < 10_000, f"{len(summary)} characters in one log event"


def test_an_extra_column_name_is_logged_capped(tmp_path):
    """WAS (e), medium. Reasons are capped at 500 characters and raw values at 1000, but
    the extra-column warning (``extra column(s) ignored: ...``) joins the names uncapped
    and the staging step logs it as a run-log warning: a header with one 1 MB extra column
    name (or 100,000 extra columns) writes a 1 MB event per run. Expected: capped like
    every other reason."""
    header = HEADER + "," + "e" * 1_000_000
    rows = [GOOD.format(n=n) + ",1" for n in range(1000, 1060)]
    settings, result, messages = run_both(tmp_path, "\n".join([header, *rows]) + "\n")
    assert result.success
    assert day1_unchanged(settings)
    longest = max(len(m) for m in messages)
    assert longest < 10_000, f"a run-log message of {longest} characters"


def test_a_hard_link_to_a_file_outside_the_landing_area_is_refused(tmp_path):
    """WAS (d), found by the review: a hard link in a day folder to a file outside the
    landing area is a regular file, so it was read (its lines reached quarantine.raw). A
    file with more than one name is refused (one quarantine row, never read)."""
    secret = tmp_path / "secret.csv"
    secret.write_text(csv(GOOD.format(n=1)))
    settings, defs = _env(tmp_path, "r17")
    day_folder(settings, BAD_DAY).mkdir(parents=True)
    (day_folder(settings, BAD_DAY) / "cdc-00001.csv").write_text(orders(BAD_DAY, 2000))
    os.link(secret, day_folder(settings, BAD_DAY) / "linked.csv")
    with dg.instance_for_test() as instance:
        assert launch_job("orders_daily_job", [BAD_DAY], instance, definitions=defs).success
    quarantine = _read(settings, "SELECT source_file, line, reason, raw FROM quarantine.orders")
    assert quarantine.rows() == [
        (
            "linked.csv",
            0,
            "hard link (the file has 2 names, one may be outside the landing area); deliver "
            "a file of its own",
            "",
        )
    ]

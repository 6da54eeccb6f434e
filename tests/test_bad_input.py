"""Each class of bad landing input, from a real file on disk: a clear reason, file and line."""

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from platform_assets.core.landing_parser import LandingContract, parse_landing_file
from platform_assets.core.landing_values import TIMESTAMP_FORM, unit_limit
from platform_assets.core.partition_keys import InvalidPartitionKey, validate_partition_key
from platform_assets.datasets.orders.schema import LANDING_CONTRACT
from platform_assets.storage.landing_local import LandingFile, LocalLanding
from platform_assets.tools.launch import run_range
from tests.conftest import read_table

HEADER = "op,seq,order_id,customer_id,status,amount,currency,created_at,updated_at"
GOOD = [
    "I,1,101,7,placed,10.00,USD,2024-01-01 08:00:00.000000,2024-01-01 08:00:00.000000",
    "I,2,102,8,placed,12.50,EUR,2024-01-01 09:00:00.000000,2024-01-01 09:00:00.000000",
    "U,3,101,7,paid,10.00,USD,2024-01-01 08:00:00.000000,2024-01-01 10:00:00.000000",
]


def write(tmp_path, name: str, content: bytes | str) -> LandingFile:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return LandingFile(name, path, path.stat().st_size)


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def reasons(parsed) -> list[tuple[str, int, str]]:
    return parsed.rejects.select("source_file", "line", "reason").rows()


def test_good_file_has_no_rejects(tmp_path):
    parsed = parse_landing_file(write(tmp_path, "good.csv", csv_text(*GOOD)), LANDING_CONTRACT)
    assert parsed.rows.height == 3 and parsed.rejects.height == 0


def test_malformed_csv_line(tmp_path):
    bad = "I,4,103,9,placed,1.00,USD,2024-01-01 08:00:00,2024-01-01 08:00:00,EXTRA"
    parsed = parse_landing_file(
        write(tmp_path, "m.csv", csv_text(GOOD[0], bad, GOOD[1])), LANDING_CONTRACT
    )
    assert reasons(parsed) == [("m.csv", 3, "malformed CSV: expected 9 fields, got 10")]
    assert parsed.rows["order_id"].to_list() == [101, 102]
    assert parsed.rejects["raw"][0] == bad


def test_wrong_types(tmp_path):
    bad = "I,4,103,nine,placed,ten,USD,2024-01-01 08:00:00,2024-01-01 08:00:00"
    parsed = parse_landing_file(write(tmp_path, "t.csv", csv_text(GOOD[0], bad)), LANDING_CONTRACT)
    assert reasons(parsed) == [
        (
            "t.csv",
            3,
            "customer_id: cannot parse 'nine' as integer; "
            "amount: cannot parse 'ten' as decimal(18,2)",
        )
    ]


def test_missing_column_rejects_whole_file(tmp_path):
    header = HEADER.replace(",amount", "")
    rows = [",".join(r.split(",")[:5] + r.split(",")[6:]) for r in GOOD]
    parsed = parse_landing_file(
        write(tmp_path, "c.csv", csv_text(*rows, header=header)), LANDING_CONTRACT
    )
    assert parsed.rows.height == 0
    assert parsed.rejects.height == 4
    assert parsed.rejects["reason"][0].startswith("missing column(s) amount (file has op, seq")


def test_renamed_column_rejects_whole_file(tmp_path):
    header = HEADER.replace("currency", "ccy")
    parsed = parse_landing_file(
        write(tmp_path, "r.csv", csv_text(*GOOD, header=header)), LANDING_CONTRACT
    )
    assert parsed.rows.height == 0
    assert parsed.rejects["reason"][0].startswith("missing column(s) currency")


def test_extra_column_is_ignored_and_reported(tmp_path):
    rows = [r + ",x" for r in GOOD]
    parsed = parse_landing_file(
        write(tmp_path, "e.csv", csv_text(*rows, header=HEADER + ",note")), LANDING_CONTRACT
    )
    assert parsed.rows.height == 3 and parsed.rejects.height == 0
    assert parsed.warnings == ["e.csv: extra column(s) ignored: note"]
    assert "note" not in parsed.rows.columns


def test_empty_file(tmp_path):
    parsed = parse_landing_file(write(tmp_path, "empty.csv", b""), LANDING_CONTRACT)
    assert reasons(parsed) == [("empty.csv", 1, "empty file (no header, no rows)")]


def test_unknown_op_code(tmp_path):
    bad = GOOD[1].replace("I,", "X,", 1)
    parsed = parse_landing_file(write(tmp_path, "o.csv", csv_text(GOOD[0], bad)), LANDING_CONTRACT)
    assert reasons(parsed) == [("o.csv", 3, "unknown op code 'X'")]


def test_null_business_key(tmp_path):
    bad = GOOD[1].replace(",102,", ",,")
    parsed = parse_landing_file(write(tmp_path, "k.csv", csv_text(GOOD[0], bad)), LANDING_CONTRACT)
    assert reasons(parsed) == [("k.csv", 3, "null business key order_id")]


def test_unparseable_timestamp(tmp_path):
    bad = GOOD[1].replace("2024-01-01 09:00:00.000000", "01/01/2024 9am")
    parsed = parse_landing_file(write(tmp_path, "ts.csv", csv_text(GOOD[0], bad)), LANDING_CONTRACT)
    assert reasons(parsed) == [
        (
            "ts.csv",
            3,
            f"created_at: cannot parse '01/01/2024 9am' as {TIMESTAMP_FORM}; "
            f"updated_at: cannot parse '01/01/2024 9am' as {TIMESTAMP_FORM}",
        )
    ]


TIMESTAMP_FORMS = [
    "2024-01-01 08:00:00.123456",  # the fast shapes ...
    "2024-01-01 08:00:00",
    "2024-02-29 23:59:59.999999",
    "9999-12-31 23:59:59.999999",
    "0001-01-01 00:00:00",
    "2024-01-01 08:00:00.5",  # ... and forms left to the ISO path
    "2024-01-01 08:00:00.12345",
    "2024-01-01T08:00:00.123456",
    "2024-01-01 08:00:00.1234560",
    " 2024-01-01 08:00:00.123456 ",
    "2023-02-29 00:00:00.000000",  # refused: no such day, hour, second, field or year
    "2024-01-01 24:00:00.000000",
    "2024-01-01 23:59:60.000000",
    "2024-01-01 23:59:60",
    "2024-1-01 08:00:00.1234567",
    "0000-01-01 00:00:00.000000",
    "2024-01-01  08:00:00.12345",
]


def iso_value(text: str) -> dt.datetime | None:
    """The oracle: Python's ISO parser on the stripped text, with at most 6 significant
    fractional digits and every field zero-padded (what the contract accepts)."""
    text = text.strip()
    date, _, clock = text.partition(" ") if " " in text else text.partition("T")
    whole, _, fraction = clock.partition(".")
    if len(date) != 10 or len(whole) != 8 or len(fraction.rstrip("0")) > 6:
        return None
    try:
        return dt.datetime.fromisoformat(f"{date} {whole}.{fraction[:6].ljust(6, '0')}")
    except ValueError:
        return None


def test_timestamps_match_an_independent_iso_parser_on_every_path(tmp_path):
    rows = [
        GOOD[0].replace("2024-01-01 08:00:00.000000", form).replace(",101,", f",{900 + n},")
        for n, form in enumerate(TIMESTAMP_FORMS)
    ]
    parsed = parse_landing_file(write(tmp_path, "forms.csv", csv_text(*rows)), LANDING_CONTRACT)
    taken = dict(parsed.rows.select("order_id", "created_at").rows())
    refused = set(parsed.rejects["line"].to_list())
    for n, form in enumerate(TIMESTAMP_FORMS):
        expected = iso_value(form)
        assert taken.get(900 + n) == expected, form
        assert (n + 2 in refused) == (expected is None), form


def test_timestamps_of_every_form_are_the_same_instants_in_nanoseconds(tmp_path):
    """A contract in nanoseconds takes every form as the microsecond contract does (the ISO
    path's values are converted to the column's unit, not copied as raw numbers)."""
    schema = {**LANDING_CONTRACT.schema, "created_at": pl.Datetime("ns")}
    nanos = LandingContract(pl.Schema(schema), LANDING_CONTRACT.not_null)
    held = [form for form in TIMESTAMP_FORMS if not form.strip().startswith(("9999", "0001"))]
    rows = [  # the forms nanoseconds can hold (years 1678-2261)
        GOOD[0].replace("2024-01-01 08:00:00.000000", form).replace(",101,", f",{900 + n},")
        for n, form in enumerate(held)
    ]
    file = write(tmp_path, "forms.csv", csv_text(*rows))
    micro = parse_landing_file(file, LANDING_CONTRACT).rows.select("order_id", "created_at")
    nano = parse_landing_file(file, nanos).rows.select("order_id", "created_at")
    assert nano.rows() == micro.rows() and nano.height == micro.height > 0
    beyond = GOOD[0].replace("2024-01-01 08:00:00.000000", "2262-04-11T23:00:00-05:00")
    parsed = parse_landing_file(write(tmp_path, "beyond.csv", csv_text(beyond)), nanos)
    assert parsed.rows.height == 0
    assert parsed.rejects["reason"][0] == (
        "created_at: '2262-04-11T23:00:00-05:00' is out of the contract's unit "
        "(nanosecond timestamps hold 1677-09-21 to 2262-04-11 only)"
    )


@pytest.mark.parametrize(
    ("unit", "text", "taken"),
    [
        ("ns", "2300-01-01 00:00:00", None),  # parsed straight into ns it wrapped to 1715
        ("ns", "2300-01-01T00:00:00Z", None),
        ("ns", "1600-01-01 00:00:00.000000", None),
        ("ns", "9999-12-31 23:59:59.999999", None),
        ("ns", "0001-01-01 00:00:00", None),
        ("ns", "1677-09-21 00:00:00", None),
        ("ns", "1678-01-01T00:00:00+01:00", dt.datetime(1677, 12, 31, 23, 0)),
        ("ns", "2262-04-11 23:00:00", dt.datetime(2262, 4, 11, 23, 0)),
        ("ns", "2261-12-31 23:59:59.999999", dt.datetime(2261, 12, 31, 23, 59, 59, 999999)),
        ("ns", "1678-01-01 00:00:00.000001", dt.datetime(1678, 1, 1, 0, 0, 0, 1)),
        ("ms", "2024-01-01 08:00:00.123456", None),  # it was cut to .123
        ("ms", "2024-01-01T08:00:00.1234Z", None),
        ("ms", "2024-01-01 08:00:00.123000", dt.datetime(2024, 1, 1, 8, 0, 0, 123000)),
        ("ms", "2024-01-01T09:00:00.123+01:00", dt.datetime(2024, 1, 1, 8, 0, 0, 123000)),
        ("ms", "9999-12-31 23:59:59", dt.datetime(9999, 12, 31, 23, 59, 59)),
    ],
)
def test_a_timestamp_the_contracts_unit_cannot_hold_is_refused(tmp_path, unit, text, taken):
    """Nanoseconds hold 1677-09-21 to 2262-04-11, milliseconds no finer digits: beyond, a value is
    refused with that reason, never wrapped to another instant or cut."""
    schema = {**LANDING_CONTRACT.schema, "created_at": pl.Datetime(unit)}
    contract = LandingContract(pl.Schema(schema), LANDING_CONTRACT.not_null)
    row = GOOD[0].replace("2024-01-01 08:00:00.000000", text)
    parsed = parse_landing_file(write(tmp_path, "unit.csv", csv_text(row)), contract)
    if taken is None:
        assert parsed.rows.height == 0
        assert parsed.rejects["reason"].to_list() == [
            f"created_at: '{text}' is out of the contract's unit ({unit_limit(pl.Datetime(unit))})"
        ]
    else:
        assert parsed.rows["created_at"].dtype == pl.Datetime(unit)
        assert parsed.rows["created_at"].to_list() == [taken]


def test_invalid_utf8(tmp_path):
    content = csv_text(GOOD[0], GOOD[1]).encode().replace(b"placed", b"pl\xffced", 1)
    parsed = parse_landing_file(write(tmp_path, "u.csv", content), LANDING_CONTRACT)
    assert reasons(parsed) == [("u.csv", 2, "invalid UTF-8 at byte 13 of the line")]
    assert parsed.rows["order_id"].to_list() == [102]


def test_unreadable_parquet(tmp_path):
    parsed = parse_landing_file(write(tmp_path, "p.parquet", b"not parquet"), LANDING_CONTRACT)
    assert parsed.rejects["reason"][0].startswith("unreadable Parquet")


@pytest.mark.parametrize(
    "key", ["../x", "2024-01-01/../../etc", "2024-1-1", "yesterday", "2024-02-30", ""]
)
def test_partition_keys_that_are_not_dates_are_refused(tmp_path, key):
    with pytest.raises(InvalidPartitionKey):
        validate_partition_key(key)
    with pytest.raises(InvalidPartitionKey):
        LocalLanding(tmp_path).files("orders", key)


def test_landing_folders_that_are_not_dates_are_ignored(tmp_path):
    for name in ["dt=2024-01-01", "dt=..", "dt=2024-13-01", "tmp"]:
        (tmp_path / "orders" / name).mkdir(parents=True)
    assert LocalLanding(tmp_path).partition_keys("orders") == ["2024-01-01"]


def test_bad_rows_are_quarantined_and_good_rows_publish(settings, materialize_partition):
    folder = settings.landing_dir / "orders" / "dt=2024-01-01"
    folder.mkdir(parents=True)
    good = [
        f"I,{i},{1000 + i},7,placed,5.00,USD,2024-01-01 08:00:00.000000,2024-01-01 08:00:00.000000"
        for i in range(60)
    ]
    (folder / "cdc-1.csv").write_text(csv_text(*good))
    (folder / "cdc-2.csv").write_text(csv_text(GOOD[0].replace("I,", "Z,", 1), GOOD[1]))
    result = materialize_partition("2024-01-01")
    quarantine = read_table(settings, "SELECT * FROM quarantine.orders")
    assert quarantine.select("landing_date", "source_file", "line", "reason").rows() == [
        (dt.date(2024, 1, 1), "cdc-2.csv", 2, "unknown op code 'Z'")
    ]
    assert read_table(settings, "SELECT count(*) AS n FROM curated.orders")["n"][0] == 61
    checks = {e.asset_check_key.name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["reject_rate"] is True
    materialize_partition("2024-01-01", tags={"platform/force": "true"})
    assert read_table(settings, "SELECT count(*) AS n FROM quarantine.orders")["n"][0] == 1


def test_recomputing_some_days_keeps_the_quarantine_of_skipped_days_between(settings, defs):
    days = ["2024-01-01", "2024-01-02", "2024-01-03"]
    for n, day in enumerate(days):
        good = [
            f"I,{n}{i:03},{1000 + i},7,placed,5.00,USD,{day} 08:00:00.000000,{day} 08:00:00.000000"
            for i in range(60)
        ]
        folder = settings.landing_dir / "orders" / f"dt={day}"
        folder.mkdir(parents=True)
        (folder / "cdc-1.csv").write_text(csv_text(*good, good[0].replace("I,", "Z,", 1)))
    instance = dg.DagsterInstance.ephemeral()
    assert run_range("orders_daily_job", days[0], days[-1], instance, definitions=defs).success
    for day in (days[0], days[-1]):  # the outer days change, the middle one is skipped
        with (settings.landing_dir / "orders" / f"dt={day}" / "cdc-1.csv").open("a") as handle:
            handle.write(f"I,9{day[-1]}000,1,7,placed,5.00,USD,{day} 09:00:00,{day} 09:00:00\n")
    assert run_range("orders_daily_job", days[0], days[-1], instance, definitions=defs).success
    kept = read_table(settings, "SELECT landing_date, reason FROM quarantine.orders ORDER BY ALL")
    assert kept.rows() == [(dt.date.fromisoformat(d), "unknown op code 'Z'") for d in days]

"""Parse landing files against a contract; bad rows become rejects with a reason.

Fast path: polars reads the whole file as text and every column is typed exactly
(:mod:`platform_assets.core.landing_values`); a value that does not type is a reject
naming its column. A cheap count of separators proves every line has the header's
number of fields; when it does not (short lines, blank lines, quoted separators), the
lines are counted one by one: a blank line is ignored (it is not a row), a line with
another number of fields is a malformed reject naming the expected and found counts.
If polars cannot read the file at all (a long line, invalid UTF-8), a slow path reads it
line by line to name exactly which lines are bad. Whole-file problems (empty file,
missing columns, unreadable Parquet, a Parquet column of a type that cannot hold the
contract's values exactly) reject every row of the file with one reason. Line numbers
count the header as line 1 (Parquet: row numbers from 1); quoted fields with embedded
newlines are not supported (DMS does not write them).

Every reason is capped at :data:`MAX_REASON_CHARS` characters (a quoted value at
:data:`~platform_assets.core.landing_values.MAX_VALUE_CHARS`) and every raw line at
:data:`MAX_RAW_CHARS`, so a 10 MB line stores and logs about a kilobyte.

Landing schema drift policy: an extra column is ignored and reported; a
missing (or renamed) column rejects the file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from platform_assets.core.landing import LandingEntry as LandingFile

if TYPE_CHECKING:
    import pyarrow as pa
from platform_assets.core.landing_values import (
    blank,
    iso_timestamps,
    parse_value,
    problem,
    quoted,
    raw_of,
    type_name,
)

LINE = "\x1fline"  # the row's line number while parsing (a name no header uses)
BOM = b"\xef\xbb\xbf"
MAX_SUMMARY_KINDS = 10
FIELD_COUNT = "malformed CSV: expected {} fields, got {}"  # both paths give this reason
REJECT_SCHEMA = pl.Schema(
    {"source_file": pl.String, "line": pl.Int64, "reason": pl.String, "raw": pl.String}
)
MAX_RAW_CHARS = 1000
MAX_REASON_CHARS = 500
SUMMARY_EXAMPLES = 5


@dataclass(frozen=True)
class LandingContract:
    """What a landing file must contain: typed columns, non-null keys, allowed codes."""

    schema: pl.Schema
    not_null: tuple[str, ...]
    allowed_values: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass
class ParsedFile:
    """The typed good rows of one file (or a whole day), its rejects and its warnings."""

    rows: pl.DataFrame
    rejects: pl.DataFrame
    warnings: list[str]

    @property
    def total(self) -> int:
        """Rows read, good and rejected."""
        return self.rows.height + self.rejects.height


def _rejects(name: str, lines: list[int], reasons: list[str], raws: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source_file": [name] * len(lines),
            "line": lines,
            "reason": [r[:MAX_REASON_CHARS] for r in reasons],
            "raw": [r[:MAX_RAW_CHARS] for r in raws],
        },
        schema=REJECT_SCHEMA,
    )


def _whole_file(name: str, contract: LandingContract, reason: str, lines: int) -> ParsedFile:
    """Reject every line of a file (at least one) with the same reason."""
    count = max(lines, 1)
    return ParsedFile(
        rows=_empty_rows(contract),
        rejects=_rejects(name, list(range(1, count + 1)), [reason] * count, [""] * count),
        warnings=[f"{name}: {reason[:MAX_REASON_CHARS]}"],
    )


def _empty_rows(contract: LandingContract) -> pl.DataFrame:
    return pl.DataFrame(schema={**contract.schema, LINE: pl.Int64})


def validate_text_rows(
    name: str, text: pl.DataFrame, contract: LandingContract, warnings: list[str]
) -> ParsedFile:
    """Type text columns (plus ``_line``) by the contract; split good rows from rejects.

    Values are typed in one pass; reasons are worked out only for the rows that fail.
    """
    header = [c for c in text.columns if c != LINE]
    missing = [c for c in contract.schema if c not in header]
    if missing:
        reason = f"missing column(s) {', '.join(missing)} (file has {', '.join(header)})"
        return _whole_file(name, contract, reason, text.height + 1)
    extra = [c for c in header if c not in contract.schema]
    if extra:
        named = f"{name}: extra column(s) ignored: {', '.join(extra)}"
        warnings.append(named[:MAX_REASON_CHARS])
    typed = text.select(
        LINE,
        *[parse_value(c, t).alias(c) for c, t in contract.schema.items()],
        *[pl.col(c).alias(raw_of(c)) for c in contract.schema],
    )
    typed = iso_timestamps(typed, contract.schema)
    # cheap first: a row without a null typed value or a bad code is good; only the
    # others (few, or rows with legitimately blank fields) are looked at closely
    keep = typed.select(~_suspect(contract)).to_series()
    suspects = typed.filter(~keep)
    if suspects.height:
        refused = suspects.select(_failing(contract)).to_series()
        keep = keep.scatter((~keep).arg_true(), ~refused)
        suspects = suspects.filter(refused)
    good = typed.select(*contract.schema, LINE).filter(keep)
    rejects = suspects.select(
        source_file=pl.lit(name),
        line=pl.col(LINE).cast(pl.Int64),
        reason=_reasons(contract).str.slice(0, MAX_REASON_CHARS),
        raw=pl.concat_str(
            [pl.col(raw_of(c)).fill_null("") for c in header if c in contract.schema],
            separator=",",
        ).str.slice(0, MAX_RAW_CHARS),
    )
    return ParsedFile(good, rejects, warnings)


def _suspect(contract: LandingContract) -> pl.Expr:
    """Rows that may fail: a null typed value, a null or blank key, a bad code."""
    nulls = [pl.col(c).is_null() for c, t in contract.schema.items() if t != pl.String]
    nulls += [blank(pl.col(c)) for c in contract.not_null if contract.schema[c] == pl.String]
    codes = [~pl.col(c).is_in(sorted(v)) for c, v in contract.allowed_values.items()]
    return pl.any_horizontal([*nulls, *codes]).fill_null(True)


def _failing(contract: LandingContract) -> pl.Expr:
    """Rows refused: a blank key, a bad code, or text that did not give a value."""
    failing = [blank(pl.col(raw_of(c))) for c in contract.not_null]
    failing += [~pl.col(c).is_in(sorted(v)) for c, v in contract.allowed_values.items()]
    failing += [
        pl.col(c).is_null() & ~blank(pl.col(raw_of(c)))
        for c, t in contract.schema.items()
        if t != pl.String
    ]
    return pl.any_horizontal(failing).fill_null(True)


def _reasons(contract: LandingContract) -> pl.Expr:
    """Every reason a row is refused, joined by ``; ``."""
    reasons = [
        pl.when(blank(pl.col(raw_of(c)))).then(pl.lit(f"null business key {c}"))
        for c in contract.not_null
    ]
    reasons += [
        pl.when((~pl.col(c).is_in(sorted(allowed))).fill_null(True)).then(
            pl.concat_str([pl.lit(f"unknown {c} code "), quoted(pl.col(raw_of(c)).fill_null(""))])
        )
        for c, allowed in contract.allowed_values.items()
    ]
    reasons += [problem(c, t) for c, t in contract.schema.items() if t != pl.String]
    return pl.concat_str(reasons, separator="; ", ignore_nulls=True)


def _slow_csv(file: LandingFile, contract: LandingContract, data: bytes) -> ParsedFile:
    """Line-by-line reading that names each line polars could not read."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    try:
        header = next(csv.reader([lines[0].decode("utf-8").rstrip("\r")]))
    except (UnicodeDecodeError, StopIteration, IndexError):
        return _whole_file(file.name, contract, "header line is not valid UTF-8 CSV", len(lines))
    good_lines, good_values = [], []
    bad_lines, bad_reasons, bad_raws = [], [], []
    for number, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue  # a blank line is not a row
        try:
            text = raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as exc:
            bad_lines.append(number)
            bad_reasons.append(f"invalid UTF-8 at byte {exc.start + 1} of the line")
            bad_raws.append(raw.decode("utf-8", errors="replace"))
            continue
        try:
            values = next(csv.reader([text], strict=True))
        except (csv.Error, StopIteration) as exc:
            bad_lines.append(number)
            bad_reasons.append(f"malformed CSV: {exc}")
            bad_raws.append(text)
            continue
        if len(values) != len(header):
            bad_lines.append(number)
            bad_reasons.append(FIELD_COUNT.format(len(header), len(values)))
            bad_raws.append(text)
            continue
        good_lines.append(number)
        good_values.append(values)
    columns = list(zip(*good_values, strict=True)) if good_values else [[] for _ in header]
    text = pl.DataFrame(
        {name: list(col) for name, col in zip(header, columns, strict=True)},
        schema={name: pl.String for name in header},
    ).with_columns(pl.Series(LINE, good_lines, dtype=pl.Int64))
    parsed = validate_text_rows(file.name, text, contract, [])
    parsed.rejects = pl.concat(
        [_rejects(file.name, bad_lines, bad_reasons, bad_raws), parsed.rejects]
    ).sort("line")
    return parsed


def parse_csv(file: LandingFile, contract: LandingContract, data: bytes) -> ParsedFile:
    """Parse one CSV landing file from its bytes (a UTF-8 byte order mark is skipped)."""
    data = data.removeprefix(BOM)
    if not data:
        return _whole_file(file.name, contract, "empty file (no header, no rows)", 1)
    twice = _duplicated_columns(data)
    if twice:
        reason = f"column(s) {', '.join(twice)} named twice in the header: the file is ambiguous"
        return _whole_file(file.name, contract, reason, data.count(b"\n"))
    if not _is_utf8(data):
        return _slow_csv(file, contract, data)
    try:
        text = pl.read_csv(
            io.BytesIO(data), infer_schema=False, row_index_name=LINE, row_index_offset=2
        )
    except pl.exceptions.PolarsError:
        return _slow_csv(file, contract, data)
    text = text.with_columns(pl.col(LINE).cast(pl.Int64))
    fields = len(text.columns) - 1
    if b'"' in data or data.count(b",") != (fields - 1) * (text.height + 1):
        # some line is blank, short or has quoted separators: count each line's fields
        checked = _check_field_counts(file.name, text, data, fields)
        if checked is None:
            return _slow_csv(file, contract, data)
        text, malformed = checked
        parsed = validate_text_rows(file.name, text, contract, [])
        parsed.rejects = pl.concat([malformed, parsed.rejects]).sort("line")
        return parsed
    return validate_text_rows(file.name, text, contract, [])


def _duplicated_columns(data: bytes) -> list[str]:
    """Header names that appear more than once (none when the header does not decode)."""
    end = data.find(b"\n")  # not split: that would copy the whole file
    try:
        names = next(csv.reader([data[: end if end >= 0 else None].decode("utf-8").rstrip("\r")]))
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return []
    return sorted({n for n in names if names.count(n) > 1})


def _check_field_counts(
    name: str, text: pl.DataFrame, data: bytes, fields: int
) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """Drop blank lines and split off lines with another number of fields than the
    header (as rejects); None when the lines do not align with polars' rows."""
    lines = pl.Series([data.decode("utf-8")]).str.split("\n").explode()
    if data.endswith(b"\n"):
        lines = lines.head(-1)
    lines = lines.slice(1).str.strip_suffix("\r")  # the header is not a row
    if lines.len() != text.height:
        return None
    found = lines.str.replace_all(r'"[^"]*"', "").str.count_matches(",", literal=True) + 1
    shape = pl.DataFrame({"_text": lines, "_found": found, "_blank": lines.str.strip_chars() == ""})
    text = pl.concat([text, shape], how="horizontal").filter(~pl.col("_blank"))
    wrong = pl.col("_found") != fields
    malformed = text.filter(wrong).select(
        source_file=pl.lit(name),
        line=LINE,
        reason=pl.format(FIELD_COUNT, pl.lit(fields), "_found"),
        raw=pl.col("_text").str.slice(0, MAX_RAW_CHARS),
    )
    return text.filter(~wrong).drop("_text", "_found", "_blank"), malformed


def _is_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def parse_parquet(file: LandingFile, contract: LandingContract, data: bytes) -> ParsedFile:
    """Parse one Parquet landing file from its bytes: the contract's columns are rendered
    as text and typed like CSV text (extra columns ignored with a warning); timestamps
    with a time zone (named or a fixed offset) are taken in UTC; a contract column whose
    Parquet type cannot hold its values exactly rejects the file."""
    import pyarrow as pa  # here: only Parquet deliveries pay for importing pyarrow
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except (pa.ArrowException, OSError) as exc:
        return _whole_file(file.name, contract, f"unreadable Parquet: {exc}", 1)
    names = table.column_names
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        reason = f"column(s) {', '.join(twice)} named twice: the file is ambiguous"
        return _whole_file(file.name, contract, reason, table.num_rows)
    warnings = []
    extra = [n for n in names if n not in contract.schema]
    if extra:
        named = f"{file.name}: extra column(s) ignored: {', '.join(extra)}"
        warnings.append(named[:MAX_REASON_CHARS])
    table = _utc_timestamps(table.select([n for n in names if n in contract.schema]))
    try:
        frame = pl.from_arrow(table)
    except (pl.exceptions.PolarsError, pa.ArrowException) as exc:
        return _whole_file(file.name, contract, f"unreadable Parquet: {exc}", table.num_rows)
    unfit = _unfit_parquet_columns(frame.schema, contract)
    if unfit:
        return _whole_file(file.name, contract, "; ".join(unfit), frame.height)
    text = frame.select(pl.col(c).cast(pl.String) for c in frame.columns)
    text = text.with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64))
    return validate_text_rows(file.name, text, contract, warnings)


def _utc_timestamps(table: pa.Table) -> pa.Table:
    """Timestamp columns with a time zone as plain UTC timestamps (Parquet stores the
    UTC instant; only the annotation goes)."""
    import pyarrow as pa

    fields = [
        pa.field(f.name, pa.timestamp(f.type.unit))
        if pa.types.is_timestamp(f.type) and f.type.tz
        else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def _fits(dtype: pl.DataType, expected: pl.DataType) -> bool:
    """Whether a Parquet column of ``dtype`` can carry ``expected`` values exactly as text."""
    if dtype in (pl.String, pl.Null):
        return True
    if isinstance(expected, pl.Datetime) or expected == pl.Date:
        return isinstance(dtype, pl.Datetime) or dtype == pl.Date
    if isinstance(expected, pl.Decimal):
        return isinstance(dtype, pl.Decimal) or dtype.is_integer()
    if expected.is_integer():
        return dtype.is_integer()
    return dtype.is_integer() or isinstance(dtype, pl.Categorical | pl.Enum) or dtype == pl.Boolean


def _unfit_parquet_columns(schema: pl.Schema, contract: LandingContract) -> list[str]:
    """Why contract columns of a Parquet file cannot be read exactly (none: an empty list)."""
    unfit = []
    for column, dtype in schema.items():
        expected = contract.schema[column]
        if isinstance(expected, pl.Decimal) and dtype.is_float():
            unfit.append(
                f"{column}: Parquet type {dtype} is a binary float, which cannot hold "
                f"decimal({expected.precision},{expected.scale}) amounts exactly; deliver "
                "a decimal or text column"
            )
        elif not _fits(dtype, expected):
            unfit.append(f"{column}: Parquet type {dtype} cannot hold {type_name(expected)} values")
    return unfit


def parse_landing_file(
    file: LandingFile, contract: LandingContract, data: bytes | None = None
) -> ParsedFile:
    """Parse a landing file by its suffix, from ``data`` (its bytes as read) if given.

    A refused entry (``file.problem``: a link, an undecodable name, unreadable) is one
    reject on line 0 (the file as a whole, nothing read) with the problem as its reason.
    """
    if file.problem:
        rejects = _rejects(file.name, [0], [file.problem], [""])
        return ParsedFile(_empty_rows(contract), rejects, [])
    data = file.read_bytes() if data is None else data
    if file.path.suffix == ".parquet":
        return parse_parquet(file, contract, data)
    return parse_csv(file, contract, data)


def parse_day(
    contents: list[tuple[LandingFile, bytes]], contract: LandingContract, day: dt.date
) -> ParsedFile:
    """Parse a day's files (each with the bytes read once) in name order; rejects carry
    ``landing_date``."""
    parsed = [parse_landing_file(f, contract, data) for f, data in contents]
    rows = pl.concat([p.rows for p in parsed], rechunk=False) if parsed else _empty_rows(contract)
    rejects = (
        pl.concat([p.rejects for p in parsed]) if parsed else pl.DataFrame(schema=REJECT_SCHEMA)
    )
    rejects = rejects.select(pl.lit(day, dtype=pl.Date).alias("landing_date"), pl.all())
    return ParsedFile(rows.drop(LINE), rejects, [w for p in parsed for w in p.warnings])


def reject_summary(rejects: pl.DataFrame, examples: int = SUMMARY_EXAMPLES) -> str:
    """A run log's account of rejects: the count per kind of reason (quoted values left
    out), then the first few rows as "file line N: reason"; empty when there are none."""
    if rejects.height == 0:
        return ""
    kinds = Counter(
        _kind(reason) for reason in rejects.get_column("reason").to_list()
    ).most_common()
    lines = [f"{rejects.height} row(s) quarantined:"]
    lines += [f"  {count} x {kind[:MAX_REASON_CHARS]}" for kind, count in kinds[:MAX_SUMMARY_KINDS]]
    if len(kinds) > MAX_SUMMARY_KINDS:
        rest = sum(count for _, count in kinds[MAX_SUMMARY_KINDS:])
        lines.append(f"  {rest} x other reasons ({len(kinds) - MAX_SUMMARY_KINDS} kinds)")
    lines.append("first rows:")
    lines += [
        f"  {row['source_file']} line {row['line']}: {row['reason']}"
        for row in rejects.head(examples).iter_rows(named=True)
    ]
    return "\n".join(lines)


def _kind(reason: str) -> str:
    return re.sub(r"'[^']*'", "'...'", reason)

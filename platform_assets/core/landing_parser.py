"""Parse landing files against a contract; bad rows become rejects with a reason.

Fast path: polars reads the whole file as text and every column is cast with
``strict=False``; a value that does not cast is a reject naming its column.
If polars cannot read the file at all (ragged lines, invalid UTF-8), a slow
path reads it line by line to name exactly which lines are bad. Whole-file
problems (empty file, missing columns, unreadable Parquet) reject every row of
the file with one reason. Line numbers count the header as line 1; quoted
fields with embedded newlines are not supported (DMS does not write them).

Landing schema drift policy: an extra column is ignored and reported; a
missing (or renamed) column rejects the file.
"""

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

import polars as pl

from platform_assets.core.landing import LandingEntry as LandingFile

LINE = "_line"
REJECT_SCHEMA = pl.Schema(
    {"source_file": pl.String, "line": pl.Int64, "reason": pl.String, "raw": pl.String}
)
MAX_RAW_CHARS = 1000


@dataclass(frozen=True)
class LandingContract:
    """What a landing file must contain: typed columns, non-null keys, allowed codes."""

    schema: pl.Schema
    not_null: tuple[str, ...]
    allowed_values: dict[str, frozenset[str]] = field(default_factory=dict)
    timestamp_format: str = "%Y-%m-%d %H:%M:%S%.f"


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
            "reason": reasons,
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
        warnings=[f"{name}: {reason}"],
    )


def _empty_rows(contract: LandingContract) -> pl.DataFrame:
    return pl.DataFrame(schema={**contract.schema, LINE: pl.Int64})


def _cast_expr(column: str, dtype: pl.DataType, contract: LandingContract) -> pl.Expr:
    raw = pl.col(column)
    if dtype == pl.String:
        return raw
    if isinstance(dtype, pl.Datetime):
        # cache=False: landing timestamps are nearly all distinct, so the cache of unique
        # values only costs time (about 12% of this cast, the parser's largest step)
        return raw.str.strip_chars().str.to_datetime(
            contract.timestamp_format, time_unit=dtype.time_unit, strict=False, cache=False
        )
    if dtype == pl.Date:
        return raw.str.strip_chars().str.to_date("%Y-%m-%d", strict=False)
    return raw.str.strip_chars().cast(dtype, strict=False)


def _type_name(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return "timestamp"
    if dtype == pl.Date:
        return "date (YYYY-MM-DD)"
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision},{dtype.scale})"
    return "integer" if dtype.is_integer() else str(dtype).lower()


def validate_text_rows(
    name: str, text: pl.DataFrame, contract: LandingContract, warnings: list[str]
) -> ParsedFile:
    """Cast text columns (plus ``_line``) to the contract; split good rows from rejects."""
    header = [c for c in text.columns if c != LINE]
    missing = [c for c in contract.schema if c not in header]
    if missing:
        reason = f"missing column(s) {', '.join(missing)} (file has {', '.join(header)})"
        return _whole_file(name, contract, reason, text.height + 1)
    extra = [c for c in header if c not in contract.schema]
    if extra:
        warnings.append(f"{name}: extra column(s) ignored: {', '.join(extra)}")
    typed = text.select(
        LINE,
        *[_cast_expr(c, t, contract).alias(c) for c, t in contract.schema.items()],
        *[pl.col(c).alias(f"_raw_{c}") for c in contract.schema],
    )
    problems = []
    for column in contract.not_null:
        blank = pl.col(f"_raw_{column}").is_null() | (
            pl.col(f"_raw_{column}").str.strip_chars() == ""
        )
        problems.append(pl.when(blank).then(pl.lit(f"null business key {column}")))
    for column, allowed in contract.allowed_values.items():
        bad = ~pl.col(column).is_in(sorted(allowed))
        message = pl.format(f"unknown {column} code '{{}}'", pl.col(f"_raw_{column}"))
        problems.append(pl.when(bad).then(message))
    for column, dtype in contract.schema.items():
        raw = pl.col(f"_raw_{column}")
        unparsed = pl.col(column).is_null() & raw.is_not_null() & (raw.str.strip_chars() != "")
        message = pl.format(f"{column}: cannot parse '{{}}' as {_type_name(dtype)}", raw)
        problems.append(pl.when(unparsed).then(message))
    checked = typed.with_columns(_reason=pl.concat_str(problems, separator="; ", ignore_nulls=True))
    bad_rows = checked.filter(pl.col("_reason").is_not_null() & (pl.col("_reason") != ""))
    good = checked.filter(pl.col("_reason").is_null() | (pl.col("_reason") == ""))
    raw_line = pl.concat_str(
        [pl.col(f"_raw_{c}").fill_null("") for c in header if c in contract.schema], separator=","
    )
    rejects = bad_rows.select(
        source_file=pl.lit(name),
        line=pl.col(LINE).cast(pl.Int64),
        reason="_reason",
        raw=raw_line.str.slice(0, MAX_RAW_CHARS),
    )
    return ParsedFile(good.select(*contract.schema, LINE), rejects, warnings)


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
            bad_reasons.append(f"malformed CSV: expected {len(header)} fields, got {len(values)}")
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
    """Parse one CSV landing file from its bytes."""
    if not data:
        return _whole_file(file.name, contract, "empty file (no header, no rows)", 1)
    if not _is_utf8(data):
        return _slow_csv(file, contract, data)
    try:
        text = pl.read_csv(
            io.BytesIO(data), infer_schema=False, row_index_name=LINE, row_index_offset=2
        )
    except pl.exceptions.PolarsError:
        return _slow_csv(file, contract, data)
    return validate_text_rows(
        file.name, text.with_columns(pl.col(LINE).cast(pl.Int64)), contract, []
    )


def _is_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def parse_parquet(file: LandingFile, contract: LandingContract, data: bytes) -> ParsedFile:
    """Parse one Parquet landing file from its bytes (values cast the same way as CSV text)."""
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except (pl.exceptions.PolarsError, OSError) as exc:
        return _whole_file(file.name, contract, f"unreadable Parquet: {exc}", 1)
    text = frame.select(pl.all().cast(pl.String)).with_row_index(LINE, offset=1)
    return validate_text_rows(
        file.name, text.with_columns(pl.col(LINE).cast(pl.Int64)), contract, []
    )


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
    rows = pl.concat([p.rows for p in parsed]) if parsed else _empty_rows(contract)
    rejects = (
        pl.concat([p.rejects for p in parsed]) if parsed else pl.DataFrame(schema=REJECT_SCHEMA)
    )
    rejects = rejects.select(pl.lit(day, dtype=pl.Date).alias("landing_date"), pl.all())
    return ParsedFile(rows.drop(LINE), rejects, [w for p in parsed for w in p.warnings])


def quarantine_lines(rejects: pl.DataFrame, limit: int = 10) -> list[str]:
    """Readable "file line N: reason" lines for the first rejects, and a count of the rest."""
    lines = [
        f"{row['source_file']} line {row['line']}: {row['reason']}"
        for row in rejects.head(limit).iter_rows(named=True)
    ]
    if rejects.height > limit:
        lines.append(f"... and {rejects.height - limit} more row(s) in quarantine")
    return lines

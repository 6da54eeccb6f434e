"""Typed landing values from text, exactly or not at all, and why a value is refused.

- Decimals (money) are taken only when the text has at most the contract's scale of
  significant decimals and fits its precision: ``12.345`` for ``decimal(18,2)`` is
  refused, never rounded (trailing zeros such as ``12.3400`` are exact and taken).
- Timestamps are ISO 8601: ``YYYY-MM-DD`` then a space or ``T``, ``HH:MM:SS`` (hours
  00-23, minutes and seconds 00-59; no leap second), an optional fraction of up to 6
  digits (more only if the rest are zeros) and an optional ``Z`` or ``+HH:MM`` /
  ``+HHMM`` / ``+HH`` offset; a value with an offset is normalised to UTC. The common
  forms (space, no offset, 6 or no fractional digits) take the fast path. Dates are
  ``YYYY-MM-DD``. Every field is zero-padded, and a value must lie in years 0001-9999
  (after the UTC conversion). A contract in nanoseconds or milliseconds takes a timestamp
  only where its unit holds it exactly (nanoseconds: 1677-09-21 to 2262-04-11;
  milliseconds: no finer digits); otherwise the row is refused, never wrapped or cut.
- Other types are cast from their stripped text.

Reasons quote the offending value capped at :data:`MAX_VALUE_CHARS` characters.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

MAX_VALUE_CHARS = 80
FAST_TIMESTAMP = "%Y-%m-%d %H:%M:%S%.f"
_CLOCK = r"(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
_YEAR = r"(?:000[1-9]|00[1-9]\d|0[1-9]\d\d|[1-9]\d{3})"  # 0001-9999
# The fast path: the two common shapes, each read by polars' fixed-width parser (about 4x
# faster than a fraction of any length). That parser accepts a leading space and second 60,
# so only these exact shapes go there; every other form is left to iso_timestamps.
_MICROS = rf"^{_YEAR}-\d{{2}}-\d{{2}} {_CLOCK}\.\d{{6}}$", "%Y-%m-%d %H:%M:%S.%6f"
_SECONDS = rf"^{_YEAR}-\d{{2}}-\d{{2}} {_CLOCK}$", "%Y-%m-%d %H:%M:%S"
_ISO = (
    rf"^(\d{{4}}-\d{{2}}-\d{{2}})[T ]({_CLOCK})(?:\.(\d{{1,6}})0*)?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)
_DATE = rf"^{_YEAR}-\d{{2}}-\d{{2}}$"
EARLIEST = dt.datetime(1, 1, 1)
LATEST = dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
TIMESTAMP_FORM = (
    "ISO 8601 timestamp (YYYY-MM-DD HH:MM:SS[.ffffff], T allowed, Z or +HH:MM optional)"
)


def raw_of(column: str) -> str:
    """The name of the text a typed column was parsed from."""
    return f"_raw_{column}"


def blank(text: pl.Expr) -> pl.Expr:
    """Missing or only whitespace."""
    return text.is_null() | (text.str.strip_chars() == "")


def quoted(text: pl.Expr) -> pl.Expr:
    """``'value'`` for a reason, capped at :data:`MAX_VALUE_CHARS` characters."""
    capped = (
        pl.when(text.str.len_chars() > MAX_VALUE_CHARS)
        .then(pl.concat_str([text.str.slice(0, MAX_VALUE_CHARS), pl.lit("...")]))
        .otherwise(text)
    )
    return pl.concat_str([pl.lit("'"), capped, pl.lit("'")])


def type_name(dtype: pl.DataType) -> str:
    """How a contract type is named in reasons."""
    if isinstance(dtype, pl.Datetime):
        return TIMESTAMP_FORM
    if dtype == pl.Date:
        return "date (YYYY-MM-DD)"
    if isinstance(dtype, pl.Decimal):
        return f"decimal({dtype.precision},{dtype.scale})"
    return "integer" if dtype.is_integer() else str(dtype).lower()


def _exact_decimal(dtype: pl.Decimal) -> str:
    digits = dtype.precision - dtype.scale
    fraction = rf"(?:\.\d{{0,{dtype.scale}}}0*)?" if dtype.scale else r"(?:\.0*)?"
    return rf"^[+-]?(?:0*\d{{1,{digits}}}{fraction}|\.\d{{1,{max(dtype.scale, 1)}}}0*)$"


def parse_value(column: str, dtype: pl.DataType) -> pl.Expr:
    """The typed value of ``column`` from its text, null where it is not exact.

    Timestamps here are the fast path only; :func:`iso_timestamps` completes them.
    """
    raw = pl.col(column)
    if dtype == pl.String:
        return raw
    text = raw.str.strip_chars()
    if isinstance(dtype, pl.Datetime):
        # cache=False: landing timestamps are nearly all distinct, so the cache of unique
        # values only costs time; the shapes keep years 0001-9999
        (micros, micros_form), (seconds, seconds_form) = _MICROS, _SECONDS

        def fixed(form: str) -> pl.Expr:
            return text.str.to_datetime(form, time_unit="us", strict=False, cache=False)

        return held_in(
            pl.when(text.str.contains(micros))
            .then(fixed(micros_form))
            .when(text.str.contains(seconds))
            .then(fixed(seconds_form)),
            dtype,
        )
    if dtype == pl.Date:
        date = text.str.to_date("%Y-%m-%d", strict=False)
        return pl.when(text.str.contains(_DATE)).then(date)
    if isinstance(dtype, pl.Decimal):
        exact = text.str.contains(_exact_decimal(dtype))
        return pl.when(exact).then(text.cast(dtype, strict=False))
    return text.cast(dtype, strict=False)


def held_in(value: pl.Expr, dtype: pl.Datetime) -> pl.Expr:
    """A microsecond timestamp in the unit of ``dtype``, null where that unit cannot hold it
    exactly: nanoseconds hold 1677-09-21 to 2262-04-11 only, milliseconds no finer digits.
    (Parsed straight into nanoseconds, a later year wraps around to another instant; into
    milliseconds, the finer digits are cut: the parser refuses neither.)"""
    if dtype.time_unit == "us":
        return value
    if dtype.time_unit == "ms":
        value = pl.when(value.dt.microsecond() % 1000 == 0).then(value)
    return value.cast(pl.Datetime(dtype.time_unit), strict=False)


def unit_limit(dtype: pl.Datetime) -> str:
    """What the unit of ``dtype`` cannot hold, for a reason."""
    if dtype.time_unit == "ns":
        return "nanosecond timestamps hold 1677-09-21 to 2262-04-11 only"
    return "millisecond timestamps hold no finer digits"


def in_range(value: pl.Expr) -> pl.Expr:
    """``value`` where it lies in years 0001-9999 (what every consumer can represent)."""
    return pl.when(value.is_between(EARLIEST, LATEST)).then(value)


def iso_timestamps(typed: pl.DataFrame, schema: pl.Schema) -> pl.DataFrame:
    """Timestamps the fast path left unparsed, parsed as ISO 8601 (UTC); only the rows
    that need it are parsed again, and nothing is done when no row does."""
    for column, dtype in schema.items():
        if not isinstance(dtype, pl.Datetime):
            continue
        raw = pl.col(raw_of(column))
        pending = typed.select(
            pl.col(column).is_null() & (raw.str.len_bytes() > 0).fill_null(False)
        ).to_series()
        if not pending.any():
            continue
        parsed = typed.select(raw).filter(pending).select(_iso(raw, dtype)).to_series()
        parsed = parsed.cast(dtype, strict=False)  # the column's time zone, if it has one
        values = typed.get_column(column).scatter(pending.arg_true(), parsed)
        typed = typed.with_columns(values.alias(column))
    return typed


def _iso(raw: pl.Expr, dtype: pl.Datetime) -> pl.Expr:
    return held_in(_iso_micros(raw), dtype)


def _iso_micros(raw: pl.Expr) -> pl.Expr:
    """The instant of an ISO 8601 text in microseconds (UTC), null where it is not one."""
    parts = raw.str.strip_chars().str.extract_groups(_ISO)
    date, clock, fraction, zone = (parts.struct.field(str(n)) for n in range(1, 5))
    local = pl.concat_str(
        [date, pl.lit(" "), clock, pl.lit("."), fraction.fill_null("0")]
    ).str.to_datetime(FAST_TIMESTAMP, time_unit="us", strict=False, cache=False)
    offset = zone.str.replace(":", "", literal=True)
    sign = pl.when(offset.str.starts_with("-")).then(-1).otherwise(1)
    hours = offset.str.slice(1, 2).cast(pl.Int64, strict=False).fill_null(0)
    minutes = offset.str.slice(3, 2).cast(pl.Int64, strict=False).fill_null(0)
    valid_zone = zone.is_null() | ((hours <= 23) & (minutes <= 59))
    shift = pl.duration(minutes=sign * (hours * 60 + minutes))
    return in_range(pl.when(valid_zone).then(local - shift))


def problem(column: str, dtype: pl.DataType) -> pl.Expr:
    """Why ``column``'s text did not give a value (null where it did, or was blank)."""
    raw = pl.col(raw_of(column))
    unparsed = pl.col(column).is_null() & ~blank(raw)
    value = quoted(raw)
    generic = pl.concat_str(
        [pl.lit(f"{column}: cannot parse "), value, pl.lit(f" as {type_name(dtype)}")]
    )
    if isinstance(dtype, pl.Datetime) and dtype.time_unit != "us":
        limit = pl.concat_str(
            [
                pl.lit(f"{column}: "),
                value,
                pl.lit(f" is out of the contract's unit ({unit_limit(dtype)})"),
            ]
        )
        return (
            pl.when(unparsed & _iso_micros(raw).is_not_null())
            .then(limit)
            .when(unparsed)
            .then(generic)
        )
    if not isinstance(dtype, pl.Decimal):
        return pl.when(unparsed).then(generic)
    text = raw.str.strip_chars()
    number = text.str.contains(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")
    fraction = text.str.extract(r"\.(\d*)$").str.strip_chars_end("0")
    too_precise = fraction.str.len_chars() > dtype.scale
    kind = f"decimal({dtype.precision},{dtype.scale})"
    return (
        pl.when(unparsed & number & too_precise)
        .then(
            pl.concat_str(
                [
                    pl.lit(f"{column}: "),
                    value,
                    pl.lit(
                        f" has more than {dtype.scale} decimal places ({kind}); "
                        "amounts are never rounded"
                    ),
                ]
            )
        )
        .when(unparsed & number)
        .then(pl.concat_str([pl.lit(f"{column}: "), value, pl.lit(f" does not fit {kind}")]))
        .when(unparsed)
        .then(generic)
    )

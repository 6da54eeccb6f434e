"""Predicates for delta-rs (DataFusion SQL): quoted identifiers, validated date literals.

Only identifiers and dates ever reach the SQL text: identifiers are
backtick-quoted (a backtick in a name is refused), dates must be
``datetime.date`` values (not datetimes, not strings) and are written in ISO form.
"""

import datetime as dt
from collections.abc import Collection

from platform_assets.storage.strategies import newer_condition

SOURCE, TARGET = "s", "t"


def quote(name: str) -> str:
    """Backtick-quote one column name for a delta-rs predicate."""
    if not name or "`" in name or not name.isprintable():
        raise ValueError(f"column name {name!r} cannot be used in a Delta predicate")
    return f"`{name}`"


def validate_date(value: dt.date) -> dt.date:
    """``value`` if it is a calendar date (a ``datetime.date``, not a datetime or a string)."""
    if type(value) is not dt.date:
        raise TypeError(f"partition bounds must be datetime.date values, got {value!r}")
    return value


def date_literal(value: dt.date) -> str:
    """A SQL literal for a validated calendar date."""
    return f"'{validate_date(value).isoformat()}'"


def window_predicate(column: str, start: dt.date, end: dt.date) -> str:
    """``start <= column < end``."""
    col = quote(column)
    return f"{col} >= {date_literal(start)} AND {col} < {date_literal(end)}"


def key_match(key: list[str]) -> str:
    """Target and source rows share every key column."""
    return " AND ".join(f"{TARGET}.{quote(k)} = {SOURCE}.{quote(k)}" for k in key)


def newer(columns: list[str], added: Collection[str] = ()) -> str:
    """(s.c1, s.c2, ...) > (t.c1, t.c2, ...) lexicographically, NULL lowest; never NULL.

    :func:`platform_assets.storage.strategies.newer_condition`, the DuckDB path's total order;
    ``added`` are columns new to the target (NULL there).
    """
    return newer_condition(columns, SOURCE, TARGET, quote, added)


def differs(columns: list[str], added: Collection[str] = ()) -> str:
    """Some of ``columns`` differ between source and target (NULLs compared as values);
    ``added`` are new to the target (NULL there)."""
    if not columns:
        return "FALSE"
    return " OR ".join(
        f"({SOURCE}.{quote(c)} IS NOT NULL)"
        if c in added
        else f"({SOURCE}.{quote(c)} IS DISTINCT FROM {TARGET}.{quote(c)})"
        for c in columns
    )

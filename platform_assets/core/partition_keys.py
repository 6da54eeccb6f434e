"""Daily partition keys: validated before they reach a path, a ledger row or SQL."""

from __future__ import annotations

import datetime as dt
import re

_DATE_KEY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class InvalidPartitionKey(ValueError):
    """A partition key that is not a plain ``YYYY-MM-DD`` calendar date."""


def validate_partition_key(key: str) -> dt.date:
    """Return the date of a daily partition key, or raise before it reaches a path or SQL."""
    if not isinstance(key, str) or not _DATE_KEY.match(key):
        raise InvalidPartitionKey(f"partition key {key!r} is not a YYYY-MM-DD date")
    try:
        return dt.date.fromisoformat(key)
    except ValueError as exc:
        raise InvalidPartitionKey(f"partition key {key!r} is not a valid date: {exc}") from exc


def day_ranges(keys: list[str], max_days: int | None = None) -> list[tuple[str, str]]:
    """Daily keys as the (first, last) ranges of consecutive days they form, in order;
    with ``max_days``, a longer run of days is cut into ranges of at most that many."""
    ranges: list[tuple[str, str]] = []
    length = 0
    for key in sorted(set(keys)):
        day = validate_partition_key(key)
        follows = ranges and validate_partition_key(ranges[-1][1]) + dt.timedelta(days=1) == day
        if follows and (max_days is None or length < max_days):
            ranges[-1] = (ranges[-1][0], key)
            length += 1
        else:
            ranges.append((key, key))
            length = 1
    return ranges

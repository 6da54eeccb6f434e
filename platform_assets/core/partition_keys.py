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


def day_ranges(keys: list[str]) -> list[tuple[str, str]]:
    """Daily keys as the (first, last) ranges of consecutive days they form, in order."""
    ranges: list[tuple[str, str]] = []
    for key in sorted(set(keys)):
        day = validate_partition_key(key)
        if ranges and validate_partition_key(ranges[-1][1]) + dt.timedelta(days=1) == day:
            ranges[-1] = (ranges[-1][0], key)
        else:
            ranges.append((key, key))
    return ranges

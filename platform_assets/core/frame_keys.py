"""A cheap proof that a frame already holds one row per key.

Sorting or hashing a million keys to find duplicates costs tens of milliseconds; a frame
that comes out of a dedupe is already in ascending key order, and for such a frame one
comparison of neighbours proves what the hash would find.
"""

import polars as pl


def ascending_unique(frame: pl.DataFrame, key: list[str]) -> bool:
    """True when ``key`` is one column, never NULL and strictly ascending in ``frame``
    (so every key appears once, in order); False also when it is not known cheaply."""
    if len(key) != 1 or frame.schema[key[0]].is_nested():  # lists, structs: not ordered here
        return False
    column = pl.col(key[0])
    proof = (column.null_count() == 0) & (column.shift(1) < column).slice(1).all()
    return bool(frame.select(proof).item())


def has_duplicate_keys(frame: pl.DataFrame, key: list[str]) -> bool:
    """Whether some value of ``key`` appears in more than one row (the cheap proof first)."""
    return not ascending_unique(frame, key) and frame.select(key).is_duplicated().any()

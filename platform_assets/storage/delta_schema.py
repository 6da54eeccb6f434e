"""The schema-drift policy of ``table_schema`` applied to a Delta table.

A new column is added (nullable, at the end); a column the table has but the
output lacks, or one whose Delta type changed, raises :class:`SchemaDriftError`
naming it. Names match case-insensitively, as in DuckDB: the output's columns
are renamed to the table's spelling and put in the table's order.
"""

import polars as pl
from deltalake import Schema
from deltalake.schema import PrimitiveType

from platform_assets.storage.table_schema import SchemaDriftError


def spelled_as(columns: list[str], names: list[str]) -> list[str]:
    """``names`` spelled as in ``columns`` (names match case-insensitively)."""
    spelling = {c.lower(): c for c in columns}
    return [spelling[n.lower()] for n in names]


def _type_name(dtype) -> str:
    return dtype.type if isinstance(dtype, PrimitiveType) else repr(dtype)


def conform(
    table: str, frame: pl.DataFrame, current: Schema | None
) -> tuple[pl.DataFrame, list[str]]:
    """``frame`` fitted to the table's schema ``current`` (None: no table yet), and the columns
    it adds. Raises :class:`SchemaDriftError` for a dropped or retyped column."""
    if current is None:
        return frame, []
    wanted = {f.name: f.type for f in Schema.from_arrow(frame.head(0).to_arrow().schema).fields}
    by_lower = {c.lower(): c for c in wanted}
    missing = [f.name for f in current.fields if f.name.lower() not in by_lower]
    if missing:
        raise SchemaDriftError(
            f"table {table}: column(s) {', '.join(missing)} missing from the output; "
            "dropping a published column is not allowed"
        )
    retyped = [
        f"{f.name} ({_type_name(f.type)} -> {_type_name(wanted[by_lower[f.name.lower()]])})"
        for f in current.fields
        if wanted[by_lower[f.name.lower()]] != f.type
    ]
    if retyped:
        raise SchemaDriftError(
            f"table {table}: column(s) retyped: {', '.join(retyped)}; "
            "changing a published column's type is not allowed"
        )
    known = {f.name.lower() for f in current.fields}
    added = [c for c in wanted if c.lower() not in known]
    renamed = frame.rename({by_lower[f.name.lower()]: f.name for f in current.fields})
    return renamed.select([*(f.name for f in current.fields), *added]), added

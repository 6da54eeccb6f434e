"""Materialization metadata users expect in the UI: row count, schema, preview."""

from __future__ import annotations

import dagster as dg
import polars as pl

from platform_assets.core.code_version import CodeVersion
from platform_assets.storage.table_schema import duckdb_type

PREVIEW_ROWS = 10
CODE_VERSION_PARTS = "platform/code_version_parts"


def versioned(write_spec: dict[str, str], version: CodeVersion) -> dict[str, str]:
    """Definition metadata: the write spec and the digests of the code version's parts."""
    return {**write_spec, CODE_VERSION_PARTS: version.describe()}


def column_schema(frame: pl.DataFrame) -> dg.TableSchema:
    """The frame's columns with their SQL types (as in the warehouse) as a Dagster table schema."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name, duckdb_type(dtype)) for name, dtype in frame.schema.items()]
    )


def _cell(value: object) -> str | int | float | bool | None:
    """A value as a table record accepts it (dates, decimals and the like as text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def table_preview(frame: pl.DataFrame, rows: int = PREVIEW_ROWS) -> dg.TableMetadataValue:
    """The first ``rows`` rows as table metadata (a sortable table in the UI, with types)."""
    head = frame.head(rows)
    records = [
        dg.TableRecord({name: _cell(value) for name, value in row.items()})
        for row in head.iter_rows(named=True)
    ]
    return dg.MetadataValue.table(records, schema=column_schema(head))


def frame_metadata(frame: pl.DataFrame, location: str) -> dict[str, dg.MetadataValue]:
    """Row count, column schema, where it is stored and a preview of ``frame``.

    ``location`` is a warehouse table (``schema.table``) or a file path; a path is
    reported as ``dagster/uri``, a table as ``dagster/table_name``.
    """
    where = (
        {"dagster/uri": dg.MetadataValue.path(location)}
        if "/" in location
        else {"dagster/table_name": dg.MetadataValue.text(location)}
    )
    return {
        "dagster/row_count": dg.MetadataValue.int(frame.height),
        "dagster/column_schema": dg.MetadataValue.table_schema(column_schema(frame)),
        **where,
        "preview": table_preview(frame),
    }

"""The stock path: the same three assets written through dagster-duckdb's polars IO manager.

``dagster-duckdb-polars`` 0.29.27 (the release paired with dagster 1.13.27) cannot load
inputs with duckdb 2.x: its ``load_input`` calls the removed ``DuckDBPyConnection.arrow()``.
:class:`StockPolarsTypeHandler` is its type handler with that one call renamed
(``to_arrow_table()``); everything else is the stock behaviour of ``DuckDBIOManager``:
DELETE the partition's rows, then ``INSERT ... SELECT *`` by position, in autocommit.

The stock IO manager cannot merge, so ``curated/orders`` runs its MERGE itself through
``DuckDBResource``, as a user of the stock path would. No checksums, ledger, skip,
quarantine or checks: parse with ``pl.read_csv``, dedupe with the dataset's own transforms.
"""

from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import polars as pl
from dagster._core.storage.db_io_manager import DbTypeHandler, TableSlice
from dagster_duckdb import DuckDBIOManager, DuckDBResource
from dagster_duckdb.io_manager import DuckDbClient

from bench.floor import MERGE_SQL
from platform_assets.core.partition_keys import validate_partition_key
from platform_assets.datasets.orders import schema, transforms

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01")
_CURATED_DDL = """
CREATE SCHEMA IF NOT EXISTS curated;
CREATE TABLE IF NOT EXISTS curated.orders AS SELECT * FROM incoming LIMIT 0;
"""


class StockPolarsTypeHandler(DbTypeHandler[pl.DataFrame]):
    """``dagster_duckdb_polars.DuckDBPolarsTypeHandler`` 0.29.27, fixed for duckdb 2.x."""

    def handle_output(
        self, context: dg.OutputContext, table_slice: TableSlice, obj: pl.DataFrame, connection
    ):
        """Create the table from the frame, or insert the frame's rows by position."""
        if not obj.is_empty():
            # DuckDB finds obj_arrow by its name (a replacement scan), as in the stock handler
            obj_arrow = obj.to_arrow()  # noqa: F841
            connection.execute(f"create schema if not exists {table_slice.schema};")
            connection.execute(
                f"create table if not exists {table_slice.schema}.{table_slice.table} "  # noqa: S608
                "as select * from obj_arrow;"
            )
            if not connection.fetchall():
                connection.execute(
                    f"insert into {table_slice.schema}.{table_slice.table} "  # noqa: S608
                    "select * from obj_arrow"
                )
        context.add_output_metadata({"row_count": obj.height})

    def load_input(
        self, context: dg.InputContext, table_slice: TableSlice, connection
    ) -> pl.DataFrame:
        """Load the slice as a polars DataFrame (``to_arrow_table`` instead of ``arrow``)."""
        select = connection.execute(DuckDbClient.get_select_statement(table_slice=table_slice))
        return pl.DataFrame(select.to_arrow_table())

    @property
    def supported_types(self):
        """The types this handler stores and loads."""
        return [pl.DataFrame]


class StockPolarsIOManager(DuckDBIOManager):
    """``DuckDBPolarsIOManager`` with the handler above."""

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        """The polars type handler."""
        return [StockPolarsTypeHandler()]

    @staticmethod
    def default_load_type() -> type | None:
        """Inputs without an annotation load as polars DataFrames."""
        return pl.DataFrame


class StockLanding(dg.ConfigurableResource):
    """Where the landing CSV files are."""

    root: str

    def files(self, partition_key: str) -> list[Path]:
        """The day's CSV files in name order."""
        folder = Path(self.root) / schema.DATASET / f"dt={partition_key}"
        return sorted(folder.glob("*.csv"))


@dg.asset(
    key=["staging", "orders"], partitions_def=DAILY, metadata={"partition_expr": "landing_date"}
)
def staging_orders(context: dg.AssetExecutionContext, landing: StockLanding) -> pl.DataFrame:
    """The day's CDC events, typed and deduplicated (latest per order)."""
    key = context.partition_key
    events = pl.concat(
        [pl.read_csv(path, schema=schema.LANDING_SCHEMA) for path in landing.files(key)]
    )
    return transforms.staged_rows(events, validate_partition_key(key))


@dg.asset(
    key=["curated", "orders"],
    ins={"staged": dg.AssetIn(key=["staging", "orders"])},
    partitions_def=DAILY,
)
def curated_orders(staged: pl.DataFrame, duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Merge the staged day into the current state (the stock IO manager cannot merge)."""
    incoming = transforms.current_state_rows(staged).to_arrow()
    with duckdb.get_connection() as con:
        con.register("incoming", incoming)
        con.execute(_CURATED_DDL)
        merged = con.execute(MERGE_SQL.format(source="incoming")).fetchone()[0]
    return dg.MaterializeResult(metadata={"rows_merged": merged})


def daily_order_figures(current: pl.DataFrame) -> pl.DataFrame:
    """Orders and revenue per business day (day placed), status and currency, in polars.

    ``current`` is the current state; tombstones (deleted orders) do not count.
    """
    return (
        current.filter(~pl.col("is_deleted"))
        .group_by(
            business_date=pl.col("created_at").dt.date(), status="status", currency="currency"
        )
        .agg(orders=pl.len().cast(pl.Int64), revenue=pl.col("amount").sum().cast(schema.MONEY))
        .select(list(schema.MART_SCHEMA))
        .sort(["business_date", "status", "currency"])
    )


@dg.asset(
    key=["marts", "daily_orders"],
    deps=[curated_orders],
    partitions_def=DAILY,
    metadata={"partition_expr": "business_date"},
)
def marts_daily_orders(context: dg.AssetExecutionContext, duckdb: DuckDBResource) -> pl.DataFrame:
    """Orders and revenue of the partition's business day, from the current state."""
    day = validate_partition_key(context.partition_key)
    with duckdb.get_connection() as con:
        current = con.sql(
            "SELECT * FROM curated.orders WHERE CAST(created_at AS DATE) = ?", params=[day]
        ).pl()
    return daily_order_figures(current)


def build_definitions(data_dir: Path) -> dg.Definitions:
    """The stock path's definitions on ``data_dir`` (landing files, ``stock.duckdb``)."""
    database = str(data_dir / "stock.duckdb")
    return dg.Definitions(
        assets=[staging_orders, curated_orders, marts_daily_orders],
        jobs=[dg.define_asset_job("stock_orders_job", partitions_def=DAILY)],
        resources={
            "io_manager": StockPolarsIOManager(database=database),
            "duckdb": DuckDBResource(database=database),
            "landing": StockLanding(root=str(data_dir / "landing")),
        },
    )

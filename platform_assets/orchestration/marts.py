"""Mart assets: per-business-day figures over published tables, replaced day by day."""

import dagster as dg
import polars as pl

from platform_assets.core.code_version import derive_code_version
from platform_assets.core.partition_keys import validate_partition_key
from platform_assets.core.publisher import Publication
from platform_assets.core.write_spec import OverwritePartition
from platform_assets.orchestration.declarations import (
    Mart,
)
from platform_assets.orchestration.drift import OverwriteTarget
from platform_assets.orchestration.idempotency import (
    data_version,
    plan_days,
    plan_metadata,
    publisher,
    raise_if_days_failed,
)
from platform_assets.orchestration.metadata import versioned
from platform_assets.orchestration.partitions import Cadence
from platform_assets.orchestration.planner import PlanInputs
from platform_assets.orchestration.publishing import (
    drift_result,
    drift_specs,
    warehouse_asset,
)
from platform_assets.orchestration.resources import (
    TablesResource,
)
from platform_assets.orchestration.warehouse_resource import WarehouseResource
from platform_assets.storage.table_store import TableStore


def mart_checksums(mart: Mart, tables: TableStore, keys: list[str]) -> dict[str, str]:
    """The input checksum of each day of ``mart`` (from the published tables it reads)."""
    days = [validate_partition_key(key) for key in keys]
    with tables.query(mart.reads) as con:
        by_day = mart.input_checksums(con, days)
    return {day.isoformat(): checksum for day, checksum in by_day.items()}


def mart_write(mart: Mart) -> OverwritePartition:
    """How a mart writes its table: each business day replaced whole."""
    return OverwritePartition(mart.table, mart.partition_column)


def mart_asset(mart: Mart, cadence: Cadence) -> dg.AssetsDefinition:
    """The mart as an asset: skip days whose inputs are unchanged, publish the others."""
    name = mart.asset_key.to_user_string()
    write = mart_write(mart)
    version = derive_code_version("mart", mart, write=write)

    @warehouse_asset(
        cadence,
        key=mart.key,
        deps=mart.deps,
        metadata=versioned(write.metadata(), version),
        code_version=version.value,
        group_name=mart.group,
        description=mart.description,
        check_specs=drift_specs(mart.asset_key, write),
    )
    def mart_days(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, tables: TablesResource
    ):
        store = tables.store()
        checksums = mart_checksums(mart, store, list(context.partition_keys))
        pub = publisher(context, warehouse, name)
        with warehouse.session():
            plan = plan_days(context, pub, checksums)
        publication = Publication(attempts=plan.attempts, write=write)
        try:
            if plan.todo:
                with store.query(mart.reads) as con:
                    days = [validate_partition_key(k) for k in plan.todo]
                    figures, rows_in = mart.build(con, days)
                for key in plan.todo:
                    day = validate_partition_key(key)
                    publication.frames[key] = figures.filter(pl.col(mart.partition_column) == day)
                    publication.rows_in[key] = rows_in.get(key, 0)
                context.log.info(f"{name} {', '.join(plan.todo)}: {figures.height} rows")
        except Exception as exc:
            pub.fail(list(plan.attempts.values()), exc)
            raise
        yield dg.Output(
            publication, metadata=plan_metadata(plan, pub), data_version=data_version(checksums)
        )
        target = OverwriteTarget(context.asset_key, write.table, write.partition_column)
        yield drift_result(context, warehouse, tables, target)
        raise_if_days_failed(context, warehouse)

    return mart_days


def mart_plan_inputs(mart: Mart) -> PlanInputs:
    """How the planner fingerprints a mart's days (any upstream day may change any of them)."""
    return PlanInputs(lambda res, keys: mart_checksums(mart, res.tables, keys), same_day=False)

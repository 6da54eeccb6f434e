"""Mart assets: per-business-day figures over published tables, replaced day by day.

A mart step also catches up: the business days outside its run's partitions that the
run's merges changed (a day's late updates, refunds and corrections reach earlier days)
are recomputed in the same step, each reported as a materialization of its own
partition, so a launch or a sensor's run leaves no mart day stale behind it.
"""

import dagster as dg
import polars as pl

from platform_assets.core.code_version import derive_code_version
from platform_assets.core.partition_keys import validate_partition_key
from platform_assets.core.publisher import DayPlan, Publication, Publisher, is_unchanged
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
from platform_assets.storage.warehouse import transaction

DATA_VERSION_TAG = "dagster/data_version"  # Dagster's tag for a materialization's data version


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
        own = list(context.partition_keys)
        checksums = mart_checksums(mart, store, own)
        pub = publisher(context, warehouse, name)
        catching_up = unforced(pub)  # nobody forced the reached days: recorded as not forced
        with warehouse.session():
            reached = reached_days(context, pub, mart, store, own, cadence.partitions)
            plan = plan_days(context, pub, checksums)
            caught = plan_days(context, catching_up, reached)
        planned = checksums | reached
        publication = Publication(
            attempts=plan.attempts | caught.attempts,
            write=write,
            precondition=lambda key: input_moved(mart, store, key, planned[key]),
        )
        try:
            build_days(mart, store, [(pub, plan), (catching_up, caught)], planned, publication)
        except Exception as exc:
            pub.fail(list(publication.attempts.values()), exc)
            raise
        if publication.frames:
            rows = sum(frame.height for frame in publication.frames.values())
            context.log.info(f"{name} {', '.join(sorted(publication.frames))}: {rows} rows")
        metadata = plan_metadata(plan, pub)
        if caught.todo:
            metadata["days_caught_up"] = ", ".join(caught.todo)
        yield dg.Output(publication, metadata=metadata, data_version=data_version(checksums))
        target = OverwriteTarget(context.asset_key, write.table, write.partition_column)
        yield drift_result(context, warehouse, tables, target)
        # after the check, whose target is the asset's latest materialization: the step's own
        log_caught_up(context, pub, caught.todo, own)
        raise_if_days_failed(context, warehouse)

    return mart_days


def unforced(pub: Publisher) -> Publisher:
    """``pub`` for days this run computes without anyone forcing them."""
    return Publisher(pub.ledger, pub.dataset, pub.run_id, pub.code_version, False, pub.run_is_over)


def build_days(
    mart: Mart,
    tables: TableStore,
    plans: list[tuple[Publisher, DayPlan]],
    planned: dict[str, str],
    publication: Publication,
) -> None:
    """The figures of every day the plans compute, from one snapshot of the tables the mart
    reads, in which each day's input checksum is read again: a day whose input moved since
    it was planned is not computed (failed, named), so the figures are always those of the
    state its recorded checksum names."""
    todo = sorted(key for _, plan in plans for key in plan.todo)
    if not todo:
        return
    days = {key: validate_partition_key(key) for key in todo}
    with tables.query(mart.reads) as con, transaction(con):
        now = mart.input_checksums(con, list(days.values()))
        kept = [key for key in todo if now[days[key]] == planned[key]]
        figures, rows_in = mart.build(con, [days[key] for key in kept]) if kept else (None, {})
    for pub, plan in plans:  # the ledger is written once the snapshot is closed
        moved = {key: MOVED for key in plan.todo if key not in kept}
        pub.block(plan, moved)
        for key in moved:  # closed: no later failure of the step closes them again
            del publication.attempts[key]
    for key in kept:
        publication.frames[key] = figures.filter(pl.col(mart.partition_column) == days[key])
        publication.rows_in[key] = rows_in.get(key, 0)


MOVED = (
    "its input changed while this step read it; the run that changed it (or the late-changes "
    "sensor) recomputes it"
)


def input_moved(mart: Mart, tables: TableStore, key: str, checksum: str) -> str | None:
    """Why the day may not be written (its input is no longer ``checksum``), or None; read
    in the write's transaction."""
    day = validate_partition_key(key)
    with tables.query(mart.reads) as con:
        now = mart.input_checksums(con, [day])[day]
    if now == checksum:
        return None
    return f"{key}: its input changed since it was computed ({checksum} -> {now})"


def reached_days(
    context: dg.AssetExecutionContext,
    pub: Publisher,
    mart: Mart,
    tables: TableStore,
    own: list[str],
    partitions: dg.PartitionsDefinition,
) -> dict[str, str]:
    """The input checksums of the days outside ``own`` (the run's partitions) that this
    run's merges changed and whose published figures are not this input's (days of
    ``partitions`` only)."""
    changed = set(pub.ledger.changed_days_of_runs([context.run_id])) - set(own)
    if not changed:  # most steps: listing every partition key is not free
        return {}
    days = sorted(changed & set(partitions.get_partition_keys()))
    if not days:
        return {}
    checksums = mart_checksums(mart, tables, days)
    published = pub.ledger.published(pub.dataset, days)
    stale = {
        day: checksum
        for day, checksum in checksums.items()
        if not is_unchanged(published[day], checksum, pub.code_version)
    }
    context.log.info(
        f"{pub.dataset}: this run's merges changed business days {', '.join(days)} outside "
        f"its partitions; caught up here: {', '.join(stale) or 'none (already current)'}"
    )
    return stale


def log_caught_up(
    context: dg.AssetExecutionContext, pub: Publisher, caught: list[str], own: list[str]
) -> None:
    """A materialization of each caught-up day this run published (the step's own output
    reports only the run's partitions)."""
    published = pub.ledger.published(pub.dataset, caught) if caught else {}
    for day, version in sorted(published.items()):
        if version is None or version.run_id != pub.run_id:
            continue  # not published by this run (superseded, failed)
        rows = version.rows_written
        context.log_event(
            dg.AssetMaterialization(
                asset_key=context.asset_key,
                partition=day,
                metadata={
                    "caught_up_for": ", ".join(own),
                    "recompute_reason": "a merge of this run changed this business day",
                    "input_checksum": version.input_checksum,
                    "code_version": version.code_version,
                    "rows_written": rows if rows is not None else 0,
                },
                # the data version a run of that partition gives it: its input checksum
                tags={DATA_VERSION_TAG: version.input_checksum},
            )
        )


def mart_plan_inputs(mart: Mart) -> PlanInputs:
    """How the planner fingerprints a mart's days (any upstream day may change any of them)."""
    return PlanInputs(lambda res, keys: mart_checksums(mart, res.tables, keys), same_day=False)

"""Publishing assets: each day's current staged artifact to a warehouse table, gated.

The input checksum of a day is its current staged artifact; the gate reads the check
results of exactly that artifact; the write (a day's overwrite, or a merge / keyed
recompute / rebuild of a current-state table) commits only if the artifact is still
current. Shared by marts: the warehouse asset decorator and the drift check.
"""

from collections.abc import Callable

import dagster as dg
import polars as pl

from platform_assets.core import check_results, checks
from platform_assets.core.code_version import derive_code_version
from platform_assets.core.ledger import Ledger
from platform_assets.core.publisher import Publication, Rebuild, Recompute, upstream_artifacts
from platform_assets.core.write_spec import MergeUpsert, OverwritePartition, WriteSpec
from platform_assets.orchestration.declarations import (
    DatasetSpec,
    Publish,
)
from platform_assets.orchestration.drift import OverwriteTarget, drift
from platform_assets.orchestration.idempotency import (
    REBUILD_TAG,
    data_version,
    is_rebuild,
    plan_days,
    plan_metadata,
    publisher,
    raise_if_days_failed,
    raise_if_nothing_to_publish,
)
from platform_assets.orchestration.metadata import versioned
from platform_assets.orchestration.partitions import Cadence
from platform_assets.orchestration.planner import PlanInputs, upstream_checksums
from platform_assets.orchestration.resources import (
    LakeResource,
    TablesResource,
)
from platform_assets.orchestration.staging import staging_version, staging_version_in
from platform_assets.orchestration.warehouse_resource import WarehouseResource

WAREHOUSE_POOL = "warehouse"


def warehouse_asset(cadence: Cadence, **kwargs):
    """``dg.asset`` for a daily asset published to the warehouse (IO manager, pool, policy)."""
    return dg.asset(
        partitions_def=cadence.partitions,
        backfill_policy=cadence.backfill,
        io_manager_key="warehouse_io_manager",
        pool=WAREHOUSE_POOL,
        kinds={"duckdb"},
        **kwargs,
    )


DRIFT_CHECK = "matches_ledger"


def drift_specs(key: dg.AssetKey, write: WriteSpec) -> list[dg.AssetCheckSpec]:
    """The WARN check of a day-overwrite asset: its days still hold what was published."""
    if not isinstance(write, OverwritePartition):
        return []
    return [
        dg.AssetCheckSpec(
            DRIFT_CHECK,
            asset=key,
            description="each day of the run still holds the rows its publication recorded "
            "(row count and hash in the ledger); a drifted day was changed behind the "
            "platform's back: python -m platform_assets.launch --repair (WARN)",
        )
    ]


def drift_result(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    tables: TablesResource,
    target: OverwriteTarget,
) -> dg.AssetCheckResult:
    """The drift check over the run's days, after its writes."""
    found = drift(tables.store(), Ledger(warehouse), target, list(context.partition_keys))
    for item in found:
        context.log.warning(f"drift: {item.describe()}; repair with launch --repair")
    return dg.AssetCheckResult(
        check_name=DRIFT_CHECK,
        passed=not found,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"drifted_partitions": ", ".join(d.partition for d in found) or "none"},
    )


def keyed_recompute(
    ledger: Ledger,
    lake: LakeResource,
    staging_key: dg.AssetKey,
    dataset: str,
    publish: Publish,
    staged: dict[str, pl.DataFrame],
) -> Callable[[str], Recompute | None]:
    """The keyed recompute of a current-state table for a partition published before.

    When day ``d``'s artifact replaces the one the table holds for it (a corrected
    or withdrawn delivery, a forced run, a code change), the keys it contributed
    before and after are recomputed from every day's current published artifact
    (the new one for ``d``) with the same total order, so a withdrawn event
    disappears and the result is what a rebuild would give. Called in the write's
    transaction, so "every day's current artifact" is the ledger's state at commit.
    ``staged`` holds the (verified) new artifact of each day the run publishes.
    """
    key_columns = list(publish.write.key)

    def recompute(day: str) -> Recompute | None:
        held = ledger.published(dataset, ledger.partitions(dataset))
        old = held.get(day)
        if old is None:
            return None  # a first publication: the newer-wins merge is the same
        sources = {d: v.input_checksum for d, v in held.items() if v is not None and d != day}
        new = staged[day]
        try:
            before = lake.read(staging_key, {day: old.input_checksum})[day]
        except FileNotFoundError as lost:  # its keys are unknown: recompute every key
            frames = [new, *lake.read(staging_key, sources).values()]
            note = (
                f"{dataset} {day}: the artifact {old.input_checksum} it held is missing "
                f"({lost}); {publish.table} is rebuilt from every current artifact instead "
                "of recomputing that day's keys"
            )
            return Recompute(publish.transform(pl.concat(frames)), None, note)
        keys = pl.concat([before.select(key_columns), new.select(key_columns)]).unique()
        rows = [new.join(keys, on=key_columns, how="semi")]
        for frame in lake.read(staging_key, sources).values():
            rows.append(frame.join(keys, on=key_columns, how="semi"))
        return Recompute(publish.transform(pl.concat(rows)), keys)

    return recompute


def full_recompute(
    ledger: Ledger,
    lake: LakeResource,
    staging_key: dg.AssetKey,
    dataset: str,
    publish: Publish,
    staged: dict[str, pl.DataFrame],
    artifacts: dict[str, str],
) -> Callable[[list[str]], Rebuild]:
    """The rebuild of a current-state table: every published day's current artifact at once.

    Called in the write's transaction with the days of the run that are still
    current: their new artifacts (``staged``, verified) replace the ones the table
    holds for them; every other published day contributes the artifact its latest
    publication merged (a day whose new delivery failed its checks keeps its last
    good version, as in the incremental path). The same total order as the merges
    (``publish.transform``) collapses the events to one row per key, so the result
    is what the incremental path gives, and keys no current artifact contains
    (withdrawn or corrected deliveries, tampering) are not in it. ``artifacts``:
    the checksum of each day's new artifact.
    """

    def rebuild(days: list[str]) -> Rebuild:
        held = ledger.published(dataset, ledger.partitions(dataset))
        kept = {d: v.input_checksum for d, v in held.items() if v is not None and d not in days}
        frames = [staged[day] for day in days] + list(lake.read(staging_key, kept).values())
        sources = {**kept, **{day: artifacts[day] for day in days}}
        return Rebuild(publish.transform(pl.concat(frames)), dict(sorted(sources.items())))

    return rebuild


def gate_problems(
    warehouse: WarehouseResource, spec: DatasetSpec, artifacts: dict[str, str], checks_version: str
) -> dict[str, str]:
    """Days whose staged artifact did not pass the current blocking checks (those of the
    staging asset's code version ``checks_version``), with the reason; outcomes of other
    checks, or none at all, do not count as passed."""
    staged_dataset = spec.staging_dataset
    outcomes = check_results.artifact_outcomes(warehouse, staged_dataset, artifacts, checks_version)
    return {
        key: f"blocked by checks on {staged_dataset} (artifact {artifacts[key]}): "
        + "; ".join(problems)
        for key, problems in checks.blocking_problems(outcomes).items()
    }


def published_asset(spec: DatasetSpec, publish: Publish, cadence: Cadence) -> dg.AssetsDefinition:
    """Publish each day's current staged artifact to ``publish.table`` once its checks passed.

    The input checksum of a day is its current staged artifact (the latest
    succeeded staging attempt's output), so a byte-identical staging output skips
    the publication; the gate reads the check results of exactly that artifact,
    the artifact read is verified against it, and the write commits only if it is
    still the day's current artifact.
    """
    checks_version = staging_version(spec).value  # the checks of this dataset's staging
    dataset = dg.AssetKey(publish.key).to_user_string()
    write = publish.write
    version = derive_code_version("publish", publish, upstream=spec.staging_dataset)

    @warehouse_asset(
        cadence,
        key=publish.key,
        deps=[spec.staging_key],
        metadata=versioned(write.metadata(), version),
        code_version=version.value,
        group_name=spec.name,
        description=publish.description,
        check_specs=drift_specs(dg.AssetKey(publish.key), write),
    )
    def published(
        context: dg.AssetExecutionContext,
        lake: LakeResource,
        warehouse: WarehouseResource,
        tables: TablesResource,
    ):
        ledger = Ledger(warehouse)
        rebuild = isinstance(write, MergeUpsert) and is_rebuild(context)
        if rebuild:
            context.log.info(
                f"{dataset}: rebuild ({REBUILD_TAG}=true): {publish.table} is recomputed from "
                "the current staged artifacts of every published day and replaced in one "
                "transaction; this run's days are recomputed even if unchanged"
            )
        pub = publisher(context, warehouse, dataset, rebuild=rebuild)
        with warehouse.session():
            artifacts, missing = upstream_artifacts(
                ledger, spec.staging_dataset, list(context.partition_keys)
            )
            plan = plan_days(context, pub, artifacts, missing)
            checked_by = staging_version_in(context, spec, checks_version)
            blocked = gate_problems(
                warehouse, spec, {key: artifacts[key] for key in plan.todo}, checked_by
            )
            pub.block(plan, blocked)
            held = gate_problems(
                warehouse, spec, {k: artifacts[k] for k in plan.unchanged}, checked_by
            )
            pub.flag(plan, held)
        raise_if_nothing_to_publish(dataset, plan)
        for key, why in sorted(blocked.items()):
            context.log.error(f"{dataset} {key}: not published: {why}")
        for key, why in sorted(held.items()):
            context.log.error(f"{dataset} {key}: published before, now fails the checks: {why}")

        def still_current(key: str) -> str | None:
            now = ledger.published(spec.staging_dataset, [key])[key]
            if now is not None and now.output_checksum == artifacts[key]:
                return None
            newer = now.output_checksum if now else "none"
            return (
                f"{spec.staging_dataset} {key} is now artifact {newer}; this run's "
                f"{artifacts[key]} is not published"
            )

        publication = Publication(attempts=plan.attempts, precondition=still_current, write=write)
        staged: dict[str, pl.DataFrame] = {}
        if rebuild:
            publication.rebuild = full_recompute(
                ledger, lake, spec.staging_key, dataset, publish, staged, artifacts
            )
        elif isinstance(write, MergeUpsert):
            publication.recompute = keyed_recompute(
                ledger, lake, spec.staging_key, dataset, publish, staged
            )
        try:
            staged |= lake.read(spec.staging_key, {key: artifacts[key] for key in plan.todo})
            for key, frame in staged.items():
                publication.frames[key] = publish.transform(frame)
                publication.rows_in[key] = frame.height
        except Exception as exc:
            pub.fail(list(plan.attempts.values()), exc)
            raise
        yield dg.Output(
            publication, metadata=plan_metadata(plan, pub), data_version=data_version(artifacts)
        )
        if isinstance(write, OverwritePartition):
            target = OverwriteTarget(context.asset_key, write.table, write.partition_column)
            yield drift_result(context, warehouse, tables, target)
        raise_if_days_failed(context, warehouse)

    return published


def published_plan_inputs(spec: DatasetSpec, publish: Publish) -> PlanInputs:
    """How the planner fingerprints a publishing asset's days: the upstream's current
    artifacts, and whether the published one still passes the current checks."""
    checks_version = staging_version(spec).value
    return PlanInputs(
        lambda res, keys: upstream_checksums(res.warehouse, spec.staging_dataset, keys),
        present=lambda res, key, published: (
            not gate_problems(res.warehouse, spec, {key: published.input_checksum}, checks_version)
        ),
    )

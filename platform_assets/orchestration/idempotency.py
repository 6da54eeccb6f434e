"""The Dagster face of the skip-or-compute rule: force tag, code versions, metadata, run outcome.

The decisions themselves are the :class:`~platform_assets.core.publisher.Publisher`'s;
this module connects it to a step (its run, tags, instance and log) and turns
its plan into the materialization metadata the UI shows. A skip still returns an
output, so the run and any backfill stay green.
"""

import dagster as dg

from platform_assets.core.fingerprint import combine_fingerprints
from platform_assets.core.ledger import Ledger
from platform_assets.core.publisher import DayPlan, Publisher
from platform_assets.orchestration.audit import PublicationBlocked
from platform_assets.orchestration.warehouse_resource import WarehouseResource

FORCE_TAG = "platform/force"
REBUILD_TAG = "platform/rebuild"
REBUILD_REASON = "rebuild (platform/rebuild=true)"
REASON_TAG = "platform/recompute_reason"
SKIPPED_KEY = "platform/skipped"
_FINISHED_RUN = {
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
}


def is_forced(context: dg.AssetExecutionContext) -> bool:
    """Whether the run carries the tag ``platform/force=true``."""
    return context.run.tags.get(FORCE_TAG, "").strip().lower() == "true"


def is_rebuild(context: dg.AssetExecutionContext) -> bool:
    """Whether the run carries the tag ``platform/rebuild=true`` (rebuild current-state tables)."""
    return context.run.tags.get(REBUILD_TAG, "").strip().lower() == "true"


def code_version(context: dg.AssetExecutionContext) -> str:
    """The code version of the asset being materialized (derived from its declaration by
    :mod:`platform_assets.core.code_version`)."""
    return context.assets_def.code_versions_by_key[context.asset_key] or "unversioned"


def publisher(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    dataset: str,
    rebuild: bool = False,
) -> Publisher:
    """The publisher of ``dataset`` for this step's run.

    ``rebuild``: the step rebuilds a current-state table, so each of its days is
    recomputed (recorded as forced, with the reason ``rebuild``) even if unchanged.
    """

    def run_is_over(run_id: str) -> str | None:
        run = context.instance.get_run_by_id(run_id)
        if run is None:
            return "unknown"
        return run.status.value if run.status in _FINISHED_RUN else None

    return Publisher(
        Ledger(warehouse),
        dataset,
        context.run_id,
        code_version(context),
        is_forced(context) or rebuild,
        run_is_over,
        REBUILD_REASON if rebuild else "forced (platform/force=true)",
    )


def plan_days(
    context: dg.AssetExecutionContext,
    pub: Publisher,
    checksums: dict[str, str],
    failed: dict[str, str] | None = None,
    present=None,
) -> DayPlan:
    """:meth:`Publisher.plan` for the step's partitions, with the run's reason tag and logs."""
    keys = sorted({*checksums, *(failed or {})})
    for line in pub.close_abandoned(keys):
        context.log.warning(line)
    plan = pub.plan(checksums, failed, context.run.tags.get(REASON_TAG), present)
    if plan.todo:
        context.log.info(f"{pub.dataset} {', '.join(plan.todo)}: computing, {plan.reason}")
    if plan.unchanged:
        runs = ", ".join(sorted({v.run_id for v in plan.unchanged.values()}))
        context.log.info(
            f"{pub.dataset} {', '.join(plan.unchanged)}: skipped, unchanged input and code "
            f"version {pub.code_version}; current version published by run {runs}"
        )
    for key, why in sorted(plan.failed.items()):
        context.log.error(f"{pub.dataset} {key}: not published: {why}")
    return plan


def data_version(checksums: dict[str, str]) -> dg.DataVersion:
    """One checksum as is; several combined (a range shares one data version)."""
    if len(checksums) == 1:
        return dg.DataVersion(next(iter(checksums.values())))
    return dg.DataVersion(combine_fingerprints(checksums or {"none": "none"}))


def per_partition(values: dict[str, str]) -> str:
    """One value as is; several as ``day: value`` pairs (a range shares one metadata set)."""
    if len(values) == 1:
        return next(iter(values.values()))
    return ", ".join(f"{key}: {values[key]}" for key in sorted(values))


def plan_metadata(plan: DayPlan, pub: Publisher) -> dict[str, object]:
    """Materialization metadata of a plan: skips, recomputes and days not published."""
    metadata: dict[str, object] = {
        SKIPPED_KEY: not plan.todo,
        "input_checksum": per_partition(plan.checksums) if plan.checksums else "none",
        "code_version": pub.code_version,
        "forced": pub.forced,
    }
    if plan.unchanged:
        metadata |= {
            "skip_reason": f"unchanged: same input checksum and code version "
            f"{pub.code_version} as the published version; nothing was recomputed or written",
            "published_by_run": per_partition({k: v.run_id for k, v in plan.unchanged.items()}),
            "partitions_skipped": ", ".join(plan.unchanged),
        }
        written = [v.rows_written for v in plan.unchanged.values()]
        if None not in written:
            metadata["rows_written_by_publishing_run"] = sum(written)
    if plan.todo:
        metadata |= {"recompute_reason": plan.reason, "partitions_computed": ", ".join(plan.todo)}
    if plan.failed:
        metadata["partitions_not_published"] = "; ".join(
            f"{key}: {why}" for key, why in sorted(plan.failed.items())
        )[:4000]
    return metadata


def raise_if_nothing_to_publish(dataset: str, plan: DayPlan) -> None:
    """Fail the step before it outputs anything when every one of its days failed.

    Nothing is written, so nothing is materialized: the UI shows the step failed
    with the days and reasons, and the steps below it do not run.
    """
    if plan.failed and not plan.todo and not plan.unchanged:
        problems = {f"{dataset} {key}": [why] for key, why in sorted(plan.failed.items())}
        raise PublicationBlocked("this run", problems)


def raise_if_days_failed(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    checks_failed: dict[str, str] | None = None,
) -> None:
    """End the run failed, naming every day of it that was not published, from its last step.

    A day that fails (blocked by its checks, input changed while read, upstream
    missing) does not stop the other days: steps record it and go on, so the
    steps below still publish the good days. The run's last steps (no selected
    asset of the run depends on theirs) then fail, naming the days.
    ``checks_failed``: this step's own days whose staged data failed blocking
    checks (a staging-only run ends failed for them too).
    """
    graph = context.job_def.asset_layer.asset_graph
    selected = context.job_def.asset_layer.executable_asset_keys
    if context.run.asset_selection:  # empty or None: the whole job
        selected = selected & set(context.run.asset_selection)
    below = graph.get(context.asset_key).child_keys & selected
    if below:
        return
    problems: dict[str, list[str]] = {}
    for dataset, partition, error in Ledger(warehouse).run_failures(context.run_id):
        problems.setdefault(f"{dataset} {partition}", []).append(error[:500])
    for partition, error in sorted((checks_failed or {}).items()):
        problems.setdefault(f"{context.asset_key.to_user_string()} {partition}", []).append(error)
    if problems:
        raise PublicationBlocked("this run", problems)

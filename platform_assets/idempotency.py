"""Skip-or-compute: the orchestration rule every partitioned asset follows.

A partition is skipped when the ledger's latest publication of it has the same
input checksum and code version and the run is not forced (run tag
``platform/force=true``). A skip computes and writes nothing; it still returns
an output (a :class:`Publication` with no frame), so the run and any backfill
stay green, and its metadata names the run that published the current version.
"""

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
import polars as pl

from platform_assets.fingerprint import combine_fingerprints
from platform_assets.ledger import FAILED, Attempt, Ledger, PublishedVersion
from platform_assets.warehouse_resource import WarehouseResource

FORCE_TAG = "platform/force"
REASON_TAG = "platform/recompute_reason"
SKIPPED_KEY = "platform/skipped"
_FINISHED_RUN = {
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
}


@dataclass
class Publication:
    """What an asset hands its IO manager: a frame to publish, or nothing (a skip)."""

    frame: pl.DataFrame | None
    attempts: list[Attempt] = field(default_factory=list)
    rows_in: dict[str, int] = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        """Whether every partition was unchanged and nothing is to be written."""
        return self.frame is None

    @property
    def partitions(self) -> list[str]:
        """The partitions this publication replaces (the changed ones of the run)."""
        return [attempt.partition for attempt in self.attempts]


def is_forced(context: dg.AssetExecutionContext) -> bool:
    """Whether the run carries the tag ``platform/force=true``."""
    return context.run.tags.get(FORCE_TAG, "").strip().lower() == "true"


def code_version(context: dg.AssetExecutionContext) -> str:
    """The code version declared on the asset being materialized."""
    return context.assets_def.code_versions_by_key[context.asset_key] or "unversioned"


def _close_abandoned(context, ledger: Ledger, dataset: str, partitions: list[str]) -> None:
    """Mark ``started`` rows of runs that are over (crashed, killed) as failed."""
    for partition, run_id, attempt in ledger.unfinished(dataset, partitions, context.run_id):
        run = context.instance.get_run_by_id(run_id)
        if run is None or run.status in _FINISHED_RUN:
            why = f"abandoned: run {run_id} ended ({run.status.value if run else 'unknown'}) "
            why += "without finishing this attempt"
            ledger.abandon(dataset, partition, run_id, attempt, why)
            context.log.warning(f"{dataset} {partition}: {why}; this run recomputes it")


def is_unchanged(published: PublishedVersion | None, checksum: str, version: str) -> bool:
    """Whether ``published`` is the version for this input checksum and code version."""
    return (
        published is not None
        and published.input_checksum == checksum
        and published.code_version == version
    )


def _data_version(checksums: dict[str, str]) -> dg.DataVersion:
    if len(checksums) == 1:
        return dg.DataVersion(next(iter(checksums.values())))
    return dg.DataVersion(combine_fingerprints(checksums))


def per_partition(values: dict[str, str]) -> str:
    """One value as is; several as ``day: value`` pairs (a range shares one metadata set)."""
    if len(values) == 1:
        return next(iter(values.values()))
    return ", ".join(f"{key}: {values[key]}" for key in sorted(values))


def _input_metadata(checksums: dict[str, str], version: str, forced: bool) -> dict[str, object]:
    return {"input_checksum": per_partition(checksums), "code_version": version, "forced": forced}


def skip_or_compute(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    dataset: str,
    checksums: dict[str, str],
    compute: Callable[[list[str]], tuple[pl.DataFrame, dict[str, int], dict[str, object]]],
    gate: Callable[[list[str]], None] | None = None,
) -> dg.Output[Publication]:
    """Skip the run's unchanged partitions and compute the others.

    ``checksums`` maps each partition key of the run to its input checksum.
    ``compute(keys)`` returns (frame to publish for those partitions, rows read
    per partition, extra metadata); ``gate(keys)``, if given, runs first and
    raises to refuse publication (for example
    :class:`~platform_assets.audit.PublicationBlocked`). The ledger gets one row
    per partition: ``skipped`` here, or ``started`` here and closed by the IO
    manager once the write committed (or ``failed``).
    """
    ledger = Ledger(warehouse)
    version = code_version(context)
    forced = is_forced(context)
    keys = sorted(checksums)
    attempts: list[Attempt] = []
    with warehouse.session():  # the ledger bookkeeping on one connection
        _close_abandoned(context, ledger, dataset, keys)
        published = ledger.published(dataset, keys)
        todo = [k for k in keys if forced or not is_unchanged(published[k], checksums[k], version)]
        unchanged = {k: published[k] for k in keys if k not in todo}
        if unchanged:
            ledger.record_skips(context.run_id, dataset, unchanged)
        if todo:
            reason = _change_reason(published, checksums, version, forced, context)
            context.log.info(f"{dataset} {', '.join(todo)}: computing, {reason}")
            attempts = ledger.begin(
                context.run_id, dataset, {k: checksums[k] for k in todo}, version, forced, reason
            )
            try:
                if gate:
                    gate(todo)
            except Exception as exc:
                fail_attempts(ledger, attempts, exc)
                raise
    metadata: dict[str, object] = {
        SKIPPED_KEY: not todo,
        **_input_metadata(checksums, version, forced),
    }
    if unchanged:
        runs = ", ".join(sorted({pub.run_id for pub in unchanged.values()}))
        context.log.info(
            f"{dataset} {', '.join(unchanged)}: skipped, unchanged input and code version "
            f"{version}; current version published by run {runs}"
        )
        metadata |= {
            "skip_reason": f"unchanged: same input checksum and code version {version} as "
            "the published version; nothing was recomputed or written",
            "published_by_run": per_partition({k: pub.run_id for k, pub in unchanged.items()}),
            "partitions_skipped": ", ".join(unchanged),
        }
        written = [pub.rows_written for pub in unchanged.values()]
        if None not in written:
            metadata["rows_written_by_publishing_run"] = sum(written)
    if not todo:
        return dg.Output(
            Publication(frame=None), metadata=metadata, data_version=_data_version(checksums)
        )
    try:
        frame, rows_in, extra = compute(todo)
    except Exception as exc:
        fail_attempts(ledger, attempts, exc)
        raise
    return dg.Output(
        Publication(frame=frame, attempts=attempts, rows_in=rows_in),
        metadata={
            **metadata,
            "recompute_reason": reason,
            "partitions_computed": ", ".join(todo),
            **extra,
        },
        data_version=_data_version(checksums),
    )


def _change_reason(
    published: dict[str, PublishedVersion | None],
    checksums: dict[str, str],
    version: str,
    forced: bool,
    context: dg.AssetExecutionContext,
) -> str:
    """Why the run computes: forced, or per partition never published / code / input changed."""
    if forced:
        reason = "forced (platform/force=true)"
    else:
        reasons = []
        for key in sorted(published):
            pub = published[key]
            if is_unchanged(pub, checksums[key], version):
                continue
            if pub is None:
                reasons.append(f"{key}: never published")
            elif pub.code_version != version:
                reasons.append(f"{key}: code version {pub.code_version} -> {version}")
            elif pub.input_checksum != checksums[key]:
                reasons.append(f"{key}: input changed")
        reason = "; ".join(reasons) or "changed"
    if context.run.tags.get(REASON_TAG):
        reason = f"{context.run.tags[REASON_TAG]}; {reason}"
    return reason


def fail_attempts(ledger: Ledger, attempts: list[Attempt], exc: BaseException) -> None:
    """Close attempts as failed with the exception's message and last frames."""
    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    ledger.finish(attempts, FAILED, error=detail)


def upstream_checksums(
    warehouse: WarehouseResource, upstream: str, partition_keys: list[str]
) -> dict[str, str]:
    """Input checksums of a downstream asset: the upstream's published output checksums.

    A byte-identical upstream output gives the same checksum, so everything
    below an unchanged partition skips.
    """
    checksums = {}
    for key, published in Ledger(warehouse).published(upstream, partition_keys).items():
        if published is None or not published.output_checksum:
            raise UpstreamNotPublished(
                f"{upstream} {key} is not published yet; materialize it first"
            )
        checksums[key] = published.output_checksum
    return checksums


class UpstreamNotPublished(RuntimeError):
    """A downstream partition was requested before its upstream partition was published."""


def staged_by_run(
    warehouse: WarehouseResource, upstream: str, partition_keys: list[str]
) -> dict[str, str]:
    """The run that wrote the current staged file of each partition."""
    published = Ledger(warehouse).published(upstream, partition_keys)
    return {key: pub.run_id for key, pub in published.items() if pub is not None}

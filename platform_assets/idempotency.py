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
from platform_assets.warehouse import WarehouseResource

FORCE_TAG = "platform/force"
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
        """Whether the partition(s) were unchanged and nothing is to be written."""
        return self.frame is None


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


def _all_unchanged(
    published: dict[str, PublishedVersion | None], checksums: dict[str, str], version: str
) -> bool:
    return all(
        pub is not None and pub.input_checksum == checksums[key] and pub.code_version == version
        for key, pub in published.items()
    )


def _data_version(checksums: dict[str, str]) -> dg.DataVersion:
    if len(checksums) == 1:
        return dg.DataVersion(next(iter(checksums.values())))
    return dg.DataVersion(combine_fingerprints(checksums))


def _input_metadata(checksums: dict[str, str], version: str, forced: bool) -> dict[str, object]:
    return {
        "input_checksum": ", ".join(checksums[k] for k in sorted(checksums)),
        "code_version": version,
        "forced": forced,
    }


def skip_or_compute(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    dataset: str,
    checksums: dict[str, str],
    compute: Callable[[], tuple[pl.DataFrame, dict[str, int], dict[str, object]]],
    gate: Callable[[], None] | None = None,
) -> dg.Output[Publication]:
    """Skip the run's partitions if all are unchanged; otherwise compute them.

    ``checksums`` maps each partition key of the run to its input checksum.
    ``compute`` returns (frame to publish, rows read per partition, extra
    metadata); ``gate``, if given, runs first and raises to refuse publication
    (for example :class:`~platform_assets.audit.PublicationBlocked`). The
    ledger gets one row per partition: ``skipped`` here, or ``started`` here and
    closed by the IO manager once the write committed (or ``failed``).
    """
    ledger = Ledger(warehouse)
    version = code_version(context)
    forced = is_forced(context)
    keys = sorted(checksums)
    _close_abandoned(context, ledger, dataset, keys)
    published = ledger.published(dataset, keys)
    label = f"{dataset} {', '.join(sorted(checksums))}"
    if not forced and _all_unchanged(published, checksums, version):
        runs = sorted({pub.run_id for pub in published.values()})
        ledger.record_skips(context.run_id, dataset, published)
        context.log.info(
            f"{label}: skipped, unchanged input and code version {version}; "
            f"current version published by run {', '.join(runs)}"
        )
        return dg.Output(
            Publication(frame=None),
            metadata={
                SKIPPED_KEY: True,
                "skip_reason": "unchanged: same input checksum and code version as published",
                "published_by_run": ", ".join(runs),
                **_input_metadata(checksums, version, forced),
            },
            data_version=_data_version(checksums),
        )
    reason = (
        "forced (platform/force=true)" if forced else _change_reason(published, checksums, version)
    )
    context.log.info(f"{label}: computing, {reason}")
    attempts = ledger.begin(context.run_id, dataset, checksums, version, forced)
    try:
        if gate:
            gate()
        frame, rows_in, metadata = compute()
    except Exception as exc:
        fail_attempts(ledger, attempts, exc)
        raise
    return dg.Output(
        Publication(frame=frame, attempts=attempts, rows_in=rows_in),
        metadata={
            SKIPPED_KEY: False,
            "recompute_reason": reason,
            **_input_metadata(checksums, version, forced),
            **metadata,
        },
        data_version=_data_version(checksums),
    )


def _change_reason(
    published: dict[str, PublishedVersion | None], checksums: dict[str, str], version: str
) -> str:
    reasons = []
    for key in sorted(published):
        pub = published[key]
        if pub is None:
            reasons.append(f"{key}: never published")
        elif pub.code_version != version:
            reasons.append(f"{key}: code version {pub.code_version} -> {version}")
        elif pub.input_checksum != checksums[key]:
            reasons.append(f"{key}: input changed")
    return "; ".join(reasons) or "changed"


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

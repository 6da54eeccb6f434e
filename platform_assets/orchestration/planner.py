"""Plan a launch: which partitions of a job need a run, decided before any run starts.

A skipped partition inside a run still costs Dagster a run, its steps and their
events. The planner avoids that: it fingerprints every asset's inputs exactly as
the asset itself would (landing content checksums, upstream output checksums,
mart input checksums), compares them with the ledger's published versions, and
returns the partitions that need work. A partition whose upstream needs work
needs work too (its input is only known once the upstream ran); a mart, whose days
may change with any upstream day, then needs every day of the window. The run that
is launched still applies the same rule per partition (unchanged days inside it
skip), so the planner can only save work, never skip something that changed: it
saves whole runs when nothing in a window changed, and narrows a window to the
changed days when no mart is in the job.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg
import duckdb

from platform_assets.core.landing import LandingStore
from platform_assets.core.ledger import Ledger, PublishedVersion
from platform_assets.core.partition_keys import day_ranges
from platform_assets.core.publisher import UpstreamNotPublished, is_unchanged, upstream_artifacts
from platform_assets.core.write_spec import MergeUpsert, OverwritePartition, WriteSpec
from platform_assets.orchestration.warehouse_resource import WarehouseResource
from platform_assets.storage.lake import LakeStore
from platform_assets.storage.table_store import TableStore


@dataclass(frozen=True)
class PlanResources:
    """What the planner reads: the landing area, the ledger's warehouse, published tables,
    the lake."""

    landing: LandingStore
    warehouse: WarehouseResource
    tables: TableStore
    lake: LakeStore


InputChecksums = Callable[[PlanResources, list[str]], dict[str, str]]


@dataclass(frozen=True)
class PlanInputs:
    """How an asset fingerprints its inputs outside a run.

    ``same_day``: partition ``d`` reads only partition ``d`` of its parents; if
    false (marts over a current-state table) any change upstream may change any day.
    ``present(resources, partition, published)``: whether the published output still
    exists (the same test the asset applies before it skips).
    """

    checksums: InputChecksums
    same_day: bool = True
    present: Callable[[PlanResources, str, PublishedVersion], bool] | None = None


def upstream_checksums(
    warehouse: WarehouseResource, upstream: str, partition_keys: list[str]
) -> dict[str, str]:
    """Input checksums of a publishing asset: the upstream's current artifacts (its published
    output checksums), so everything below a byte-identical staged partition skips."""
    checksums, missing = upstream_artifacts(Ledger(warehouse), upstream, partition_keys)
    if missing:
        raise UpstreamNotPublished(next(iter(missing.values())))
    return checksums


CATALOG = "catalog"  # the resource key of the code location's :class:`Catalog`


@dataclass(frozen=True)
class Catalog:
    """What the platform's tools need of a code location besides Dagster's definitions:
    how each asset fingerprints its inputs, how each published asset writes its table,
    the jobs the launcher runs and the ledger datasets in display order. Assembled with
    the definitions from the declarations and kept as the resource ``catalog`` (plain
    values; no asset requires it)."""

    plan_inputs: dict[dg.AssetKey, PlanInputs]
    writes: dict[dg.AssetKey, WriteSpec]
    jobs: tuple[str, ...]
    datasets: tuple[str, ...]

    def overwrites(self) -> dict[dg.AssetKey, OverwritePartition]:
        """The assets published by day overwrite, by key."""
        return {k: w for k, w in sorted(self.writes.items()) if isinstance(w, OverwritePartition)}

    def current_state(self, keys: set[dg.AssetKey]) -> list[dg.AssetKey]:
        """Those of ``keys`` that publish a current-state (merge) table, in order."""
        return sorted(k for k in keys if isinstance(self.writes.get(k), MergeUpsert))

    def across_days(self, keys: set[dg.AssetKey]) -> list[dg.AssetKey]:
        """Those of ``keys`` whose days may change with any upstream day (marts), in order."""
        inputs = self.plan_inputs
        return sorted(key for key in keys if key in inputs and not inputs[key].same_day)


def catalog_of(defs: dg.Definitions) -> Catalog:
    """The catalog assembled with ``defs``."""
    return defs.resources[CATALOG]


@dataclass
class AssetPlan:
    """One asset's decision: the partitions to compute and the unchanged ones."""

    dataset: str
    todo: list[str]
    unchanged: dict[str, PublishedVersion] = field(default_factory=dict)


@dataclass
class JobPlan:
    """The decisions for every asset of a job over some partitions."""

    job: str
    partitions: list[str]
    assets: list[AssetPlan]

    @property
    def todo(self) -> list[str]:
        """The partitions at least one asset has to compute."""
        return sorted({key for asset in self.assets for key in asset.todo})

    def ranges(self) -> list[tuple[str, str]]:
        """The partitions to run as contiguous (first, last) day ranges."""
        return day_ranges(self.todo)


def _checksums(inputs: PlanInputs, resources: PlanResources, keys: list[str]) -> dict[str, str]:
    if not keys:
        return {}
    try:
        return inputs.checksums(resources, keys)
    except (UpstreamNotPublished, duckdb.CatalogException):
        return {}


def plan_job(
    defs: dg.Definitions,
    job_name: str,
    partitions: list[str],
    resources: PlanResources,
    assets: list[dg.AssetKey] | None = None,
) -> JobPlan:
    """Decide, asset by asset in dependency order, which partitions of a job need a run.

    ``assets`` limits the plan to a selection of the job's assets.
    """
    graph = defs.resolve_asset_graph()
    job_keys = defs.resolve_job_def(job_name).asset_layer.executable_asset_keys
    if assets is not None:
        job_keys = job_keys & set(assets)
    ledger = Ledger(resources.warehouse)
    plan_inputs = catalog_of(defs).plan_inputs
    changed: dict[dg.AssetKey, set[str]] = {}
    plans = []
    for key in (k for k in graph.toposorted_asset_keys if k in job_keys):
        node, inputs = graph.get(key), plan_inputs.get(key)
        if inputs is None:
            raise KeyError(
                f"{key.to_user_string()} declares no input checksums for the planner: declare "
                "it (orchestration.declarations) and build the definitions from it"
            )
        upstream = set().union(*(changed.get(parent, set()) for parent in node.parent_keys))
        if inputs.same_day:
            stale = upstream & set(partitions)
        else:
            stale = set(partitions) if upstream else set()
        rest = [k for k in partitions if k not in stale]
        checksums = _checksums(inputs, resources, rest)
        dataset, version = key.to_user_string(), node.code_version or "unversioned"
        published = ledger.published(dataset, partitions)
        unchanged = {
            k: published[k]
            for k in rest
            if k in checksums
            and is_unchanged(published[k], checksums[k], version)
            and (inputs.present is None or inputs.present(resources, k, published[k]))
        }
        todo = sorted(k for k in partitions if k not in unchanged)
        changed[key] = set(todo)
        plans.append(AssetPlan(dataset, todo, unchanged))
    return JobPlan(job_name, partitions, plans)

"""Definitions from declarations: every dataset's assets, job, sensors and schedule.

A dataset module declares what makes it different (:mod:`.declarations`); everything a
code location needs is derived here, so adding a dataset edits nothing else:

- assets: the landing source, staging, each publication, each mart;
- one job per dataset, ``<name>_daily_job``: its staging, its publications and every
  mart that reads them (a mart over several datasets joins each of their jobs);
- a landing sensor per dataset (``<name>_landing_sensor``) and a nightly schedule per job;
- a late-changes sensor per current-state publication with an impact day column
  (``<name>_late_changes_sensor``) over the marts that read it;
- the :class:`~.planner.Catalog`: how each asset fingerprints its inputs for the
  planner, the jobs the launcher runs, the ledger datasets in display order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from platform_assets.core.write_spec import MergeUpsert, WriteSpec
from platform_assets.orchestration.automation.late_changes import build_late_changes_sensor
from platform_assets.orchestration.automation.schedules import build_daily_schedule
from platform_assets.orchestration.automation.sensors import build_landing_sensor
from platform_assets.orchestration.declarations import Dataset, Mart, Publish, readers_of
from platform_assets.orchestration.marts import mart_asset, mart_plan_inputs, mart_write
from platform_assets.orchestration.partitions import Cadence
from platform_assets.orchestration.planner import Catalog, PlanInputs
from platform_assets.orchestration.publishing import published_asset, published_plan_inputs
from platform_assets.orchestration.resources import TablesResource
from platform_assets.orchestration.staging import (
    landing_source,
    staging_asset,
    staging_plan_inputs,
)

Declaration = Dataset | Mart


@dataclass(frozen=True)
class Automation:
    """How often sensors look (seconds) and how long landing files must be quiet."""

    interval_s: int
    landing_quiet_s: float


@dataclass(frozen=True)
class Assembly:
    """What the declarations give: Dagster objects, and the platform's catalog."""

    assets: list[dg.AssetsDefinition | dg.SourceAsset]
    jobs: list[dg.UnresolvedAssetJobDefinition]
    sensors: list[dg.SensorDefinition]
    schedules: list[dg.ScheduleDefinition]
    catalog: Catalog


def assemble(
    declarations: Sequence[Declaration],
    cadence: Cadence,
    automation: Automation,
    tables: TablesResource,
) -> Assembly:
    """Assets, jobs, sensors, schedules and the catalog of ``declarations``.

    ``tables`` is the published-tables resource the late-changes sensors read.
    """
    unknown = [d for d in declarations if not isinstance(d, Dataset | Mart)]
    if unknown:
        raise TypeError(
            f"DECLARATIONS hold Dataset and Mart values only, not {type(unknown[0]).__name__}: "
            f"{unknown[0]!r:.200}"
        )
    datasets = sorted((d for d in declarations if isinstance(d, Dataset)), key=lambda d: d.name)
    shared = [d for d in declarations if isinstance(d, Mart)]
    marts = [m for d in datasets for m in d.marts] + shared
    _refuse_duplicates(datasets, marts)
    _refuse_unknown_inputs(datasets, marts)
    assets: list[dg.AssetsDefinition | dg.SourceAsset] = []
    plan_inputs: dict[dg.AssetKey, PlanInputs] = {}
    writes: dict[dg.AssetKey, WriteSpec] = {}
    for dataset in datasets:
        spec = dataset.spec
        assets += [landing_source(spec, cadence), staging_asset(spec, cadence)]
        plan_inputs[spec.staging_key] = staging_plan_inputs(spec)
        for publish in dataset.publications:
            assets.append(published_asset(spec, publish, cadence))
            plan_inputs[dg.AssetKey(publish.key)] = published_plan_inputs(spec, publish)
            writes[dg.AssetKey(publish.key)] = publish.write
    for mart in marts:
        assets.append(mart_asset(mart, cadence))
        plan_inputs[mart.asset_key] = mart_plan_inputs(mart)
        writes[mart.asset_key] = mart_write(mart)

    jobs, sensors, schedules, shown = [], [], [], []
    for dataset in datasets:
        published = [dg.AssetKey(p.key) for p in dataset.publications]
        readers = readers_of(marts, published)
        job = dg.define_asset_job(
            name=f"{dataset.name}_daily_job",
            selection=dg.AssetSelection.assets(
                dataset.spec.staging_key, *published, *[m.asset_key for m in readers]
            ),
            partitions_def=cadence.partitions,
            description=dataset.job_description or None,
        )
        jobs.append(job)
        schedules.append(build_daily_schedule(job))
        sensors.append(
            build_landing_sensor(
                f"{dataset.name}_landing_sensor",
                dataset.name,
                job,
                automation.interval_s,
                automation.landing_quiet_s,
                cadence.backfill.max_partitions_per_run,
            )
        )
        sensors += _late_changes_sensors(dataset, marts, cadence, automation, tables)
        shown += [dataset.spec.staging_dataset, *(k.to_user_string() for k in published)]
        shown += [m.asset_key.to_user_string() for m in dataset.marts]
    shown += [m.asset_key.to_user_string() for m in shared]
    catalog = Catalog(plan_inputs, writes, tuple(sorted(job.name for job in jobs)), tuple(shown))
    return Assembly(assets, jobs, sensors, schedules, catalog)


def _late_changes_sensors(
    dataset: Dataset,
    marts: Sequence[Mart],
    cadence: Cadence,
    automation: Automation,
    tables: TablesResource,
) -> list[dg.SensorDefinition]:
    merged = [p for p in dataset.publications if _tracks_impact(p)]
    sensors = []
    for publish in merged:
        key = dg.AssetKey(publish.key)
        readers = readers_of(marts, [key])
        if not readers:
            continue
        suffix = "" if len(merged) == 1 else "_" + "_".join(publish.key)
        sensors.append(
            build_late_changes_sensor(
                f"{dataset.name}{suffix}_late_changes_sensor",
                source_dataset=key.to_user_string(),
                marts=readers,
                interval_s=automation.interval_s,
                tables=tables,
                partitions=cadence.partitions,
                max_days=cadence.backfill.max_partitions_per_run,
            )
        )
    return sensors


def _tracks_impact(publish: Publish) -> bool:
    return isinstance(publish.write, MergeUpsert) and publish.write.impact_day_column is not None


def _refuse_duplicates(datasets: Sequence[Dataset], marts: Sequence[Mart]) -> None:
    """Two declarations of one name, asset key or table would overwrite each other."""
    names = [d.name for d in datasets]
    keys = [dg.AssetKey(p.key) for d in datasets for p in d.publications]
    keys += [m.asset_key for m in marts]
    tables = [p.table for d in datasets for p in d.publications] + [m.table for m in marts]
    tables += [d.spec.quarantine_table for d in datasets]
    for what, values in (("dataset name", names), ("asset key", keys), ("table", tables)):
        twice = sorted({str(v) for v in values if values.count(v) > 1})
        if twice:
            raise ValueError(f"{what} declared twice: {', '.join(twice)}")


def _refuse_unknown_inputs(datasets: Sequence[Dataset], marts: Sequence[Mart]) -> None:
    """A mart must read declared publications or marts (a typo would leave it in no job)."""
    known = {dg.AssetKey(p.key) for d in datasets for p in d.publications}
    known |= {m.asset_key for m in marts}
    for mart in marts:
        unknown = [k.to_user_string() for k in mart.deps if k not in known]
        if unknown:
            raise ValueError(
                f"{mart.asset_key.to_user_string()} reads {', '.join(unknown)}, which no "
                "dataset declares (a publication or a mart)"
            )

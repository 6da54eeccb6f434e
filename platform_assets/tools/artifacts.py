"""Staged artifacts: list them, collect superseded ones, roll a partition back.

Usage::

    python -m platform_assets.tools.artifacts list [--dataset orders] [--partition 2024-01-03]
    python -m platform_assets.tools.artifacts gc [--dry-run]
    python -m platform_assets.tools.artifacts rollback --dataset orders --partition 2024-01-03

Every staged partition is an immutable artifact named by its checksum
(``lake/staging/<dataset>/dt=<day>/<checksum>.parquet``); the ledger says which
one is current (the latest succeeded staging attempt). ``gc`` deletes artifacts
that stopped being current more than ``PLATFORM_ARTIFACT_RETENTION_DAYS`` ago
(default 7), and unrecorded ones (left by a crashed run) older than that; the
current artifact of every partition is always kept. ``rollback`` makes the
previous artifact of a partition current again and republishes it; the next
staging run of that day restages its landing files, so fix those first.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass

import dagster as dg

from platform_assets.core.ledger import Ledger
from platform_assets.core.partition_keys import validate_partition_key
from platform_assets.orchestration.resources import artifact_folder
from platform_assets.storage.lake import LakeStore


@dataclass(frozen=True)
class ArtifactState:
    """One stored artifact of a staged partition and what the ledger says of it."""

    dataset: str
    partition: str
    checksum: str
    written_at: dt.datetime
    current: bool
    superseded_at: dt.datetime | None
    recorded: bool
    published: bool = False

    def collectable(self, now: dt.datetime, retention: dt.timedelta) -> bool:
        """Whether garbage collection may delete it (never the current one, nor one that a
        publication below still holds: a correction recomputes from it)."""
        if self.current or self.published:
            return False
        since = self.superseded_at if self.recorded else self.written_at
        return since is not None and since < now - retention


def artifact_states(
    lake: LakeStore, ledger: Ledger, asset_key: dg.AssetKey, partition: str
) -> list[ArtifactState]:
    """The stored artifacts of one staged partition, newest current first."""
    dataset = asset_key.to_user_string()
    history = ledger.published_history(dataset, partition)
    current = history[0].output_checksum if history else None
    superseded: dict[str, dt.datetime] = {}
    for newer, older in zip(history, history[1:], strict=False):
        if older.output_checksum != newer.output_checksum:
            superseded.setdefault(older.output_checksum, newer.completed_at)
    recorded = {version.output_checksum for version in history}
    held = ledger.published_inputs(partition)
    stored = lake.artifacts(artifact_folder(asset_key, partition))
    return sorted(
        (
            ArtifactState(
                dataset,
                partition,
                checksum,
                written,
                checksum == current,
                superseded.get(checksum),
                checksum in recorded,
                checksum in held,
            )
            for checksum, written in stored.items()
        ),
        key=lambda state: (not state.current, -state.written_at.timestamp()),
    )


def staged_assets(defs: dg.Definitions) -> list[dg.AssetKey]:
    """The asset keys of the staged (lake) assets."""
    graph = defs.resolve_asset_graph()
    return sorted(
        key for key in graph.get_all_asset_keys() if key.path[0] == "staging" and len(key.path) > 1
    )


def rollback(ledger: Ledger, lake: LakeStore, asset_key: dg.AssetKey, partition: str) -> str:
    """Make the previous artifact of a staged partition current; returns its checksum."""
    dataset = asset_key.to_user_string()
    history = ledger.published_history(dataset, partition)
    if not history:
        raise SystemExit(f"{dataset} {partition} was never staged: nothing to roll back")
    current = history[0].output_checksum
    previous = next((v for v in history if v.output_checksum != current), None)
    if previous is None:
        raise SystemExit(f"{dataset} {partition} has no earlier artifact than {current}")
    stored = lake.artifacts(artifact_folder(asset_key, partition))
    if previous.output_checksum not in stored:
        raise SystemExit(
            f"{dataset} {partition}: the previous artifact {previous.output_checksum} was "
            "collected (PLATFORM_ARTIFACT_RETENTION_DAYS); restage from landing files instead"
        )
    run_id = dt.datetime.now(dt.UTC).strftime("rollback-%Y%m%dT%H%M%S.%fZ")
    ledger.record_rollback(run_id, dataset, partition, previous, f"rolled back from {current}")
    return previous.output_checksum


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    from platform_assets.definitions import environment_definitions
    from platform_assets.orchestration.planner import catalog_of
    from platform_assets.settings import load_settings
    from platform_assets.tools.launch import launch_job

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="stored artifacts and which is current")
    listing.add_argument("--dataset", help="e.g. orders (default: every staged dataset)")
    listing.add_argument("--partition", help="YYYY-MM-DD (default: every staged day)")
    collect = commands.add_parser("gc", help="delete artifacts past the retention")
    collect.add_argument("--dry-run", action="store_true", help="only print what would go")
    back = commands.add_parser("rollback", help="make the previous artifact current again")
    back.add_argument("--dataset", required=True)
    back.add_argument("--partition", required=True)
    args = parser.parse_args(argv)

    settings = load_settings()
    defs = environment_definitions()
    ledger = Ledger(defs.resources["warehouse"])
    lake = defs.resources["lake"].store()
    keys = staged_assets(defs)
    if getattr(args, "dataset", None):
        keys = [k for k in keys if k.path[-1] == args.dataset]
        if not keys:
            parser.error(f"no staged dataset {args.dataset!r}")
    if args.command == "rollback":
        partition = validate_partition_key(args.partition).isoformat()
        checksum = rollback(ledger, lake, keys[0], partition)
        print(f"{keys[0].to_user_string()} {partition}: artifact {checksum} is current again")
        job = next(
            j
            for j in catalog_of(defs).jobs
            if keys[0] in defs.resolve_job_def(j).asset_layer.executable_asset_keys
        )
        in_job = defs.resolve_job_def(job).asset_layer.executable_asset_keys
        publishing = sorted(k for k in in_job if k != keys[0])
        with dg.DagsterInstance.get() as instance:
            launch = launch_job(job, [partition], instance, assets=publishing)
        print("republished" if launch.success else "republishing FAILED; see the run in the UI")
        return 0 if launch.success else 1

    now = dt.datetime.now(dt.UTC)
    retention = dt.timedelta(days=settings.artifact_retention_days)
    deleted = 0
    for key in keys:
        dataset = key.to_user_string()
        days = [args.partition] if getattr(args, "partition", None) else ledger.partitions(dataset)
        for day in days:
            for state in artifact_states(lake, ledger, key, day):
                if args.command == "list":
                    role = "current" if state.current else "superseded"
                    role = role if state.recorded else "unrecorded"
                    role += ", published" if state.published else ""
                    print(f"{dataset} {day} {state.checksum} {role} written {state.written_at}")
                elif state.collectable(now, retention):
                    print(
                        f"{'would delete' if args.dry_run else 'deleting'} {dataset} {day} "
                        f"{state.checksum}"
                    )
                    if not args.dry_run:
                        lake.delete_artifact(artifact_folder(key, day), state.checksum)
                    deleted += 1
    if args.command == "gc":
        print(
            f"{deleted} artifact(s) past {settings.artifact_retention_days:g} day(s) of retention",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

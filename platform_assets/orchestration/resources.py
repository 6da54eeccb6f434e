"""Resources shared by every dataset: the landing area, the lake and the published tables.

Each comes in a local flavour (here) and an S3 flavour with the same methods
(:mod:`platform_assets.orchestration.resources_s3`, imported only with
``PLATFORM_STORAGE=s3``); ``definitions`` picks one per ``PLATFORM_STORAGE``.
"""

from pathlib import Path

import dagster as dg
import polars as pl

from platform_assets.core.landing import LandingStore
from platform_assets.core.partition_keys import validate_partition_key
from platform_assets.orchestration.warehouse_resource import WarehouseResource
from platform_assets.storage.lake import LakeStore, LocalLake, artifact_name
from platform_assets.storage.landing_local import LocalLanding
from platform_assets.storage.table_store import TableStore, WarehouseTables


class LandingResource(dg.ConfigurableResource):
    """The landing area where CDC files are delivered, as a local folder."""

    root: str

    def store(self) -> LandingStore:
        """The landing store to list and read files from."""
        return LocalLanding(Path(self.root))


def artifact_folder(asset_key: dg.AssetKey, partition_key: str) -> str:
    """Where one partition's staged artifacts live, relative to the lake root."""
    validate_partition_key(partition_key)
    return "/".join([*asset_key.path, f"dt={partition_key}"])


def artifact_present(lake: LakeStore, asset_key: dg.AssetKey, partition_key: str, checksum) -> bool:
    """Whether the staged artifact ``checksum`` of a partition is still in the lake (an
    operator or a lifecycle rule may have deleted it: the partition is then restaged)."""
    folder = artifact_folder(asset_key, partition_key)
    return checksum is not None and lake.exists(f"{folder}/{artifact_name(checksum)}")


class LakeResource(dg.ConfigurableResource):
    """The lake (staging area): content-addressed Parquet artifacts per staged partition.

    Subclasses say where (:meth:`store`); the layout is the same everywhere:
    ``<asset path>/dt=<key>/<checksum>.parquet``.
    """

    def store(self) -> LakeStore:
        """The lake store to read and write artifacts."""
        raise NotImplementedError

    def read(self, asset_key: dg.AssetKey, artifacts: dict[str, str]) -> dict[str, pl.DataFrame]:
        """The given artifact of each partition (``{partition: checksum}``), verified."""
        store = self.store()
        return {
            key: store.read_artifact(artifact_folder(asset_key, key), checksum)
            for key, checksum in sorted(artifacts.items())
        }


class LocalLakeResource(LakeResource):
    """The lake as a local folder (``$PLATFORM_DATA_DIR/lake``)."""

    root: str

    def store(self) -> LakeStore:
        """Files under ``root``: temp file, fsync, rename."""
        return LocalLake(Path(self.root))


class TablesResource(dg.ConfigurableResource):
    """The published tables (curated and marts); subclasses say where (:meth:`store`)."""

    def store(self) -> TableStore:
        """The table store to write, read and query published tables."""
        raise NotImplementedError


class WarehouseTablesResource(TablesResource):
    """Published tables in the DuckDB warehouse file (``PLATFORM_STORAGE=local``)."""

    warehouse: WarehouseResource

    def store(self) -> TableStore:
        """The warehouse's tables, written with :mod:`platform_assets.storage.strategies`."""
        return WarehouseTables(self.warehouse)

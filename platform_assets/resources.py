"""Resources shared by every dataset: the landing area."""

from pathlib import Path

import dagster as dg
import polars as pl

from platform_assets.io.lake import LocalLake
from platform_assets.io.managers import lake_relpath
from platform_assets.landing import LocalLanding


class LandingResource(dg.ConfigurableResource):
    """The landing area where CDC files are delivered (a local folder for now)."""

    root: str

    def store(self) -> LocalLanding:
        """The landing store to list and read files from."""
        return LocalLanding(Path(self.root))


class LakeResource(dg.ConfigurableResource):
    """Read access to lake partitions (the staging area) from asset bodies."""

    root: str

    def path(self, asset_key: dg.AssetKey, partition_key: str) -> Path:
        """The file of one partition of an asset."""
        return Path(self.root) / lake_relpath(asset_key, partition_key)

    def read(self, asset_key: dg.AssetKey, partition_keys: list[str]) -> pl.DataFrame:
        """Read and concatenate the given partitions of an asset."""
        lake = LocalLake(Path(self.root))
        return lake.read_parquet([lake_relpath(asset_key, key) for key in partition_keys])

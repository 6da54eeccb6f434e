"""Resources shared by every dataset: the landing area."""

from pathlib import Path

import dagster as dg
import polars as pl
from dagster_aws.s3 import S3Resource

from platform_assets.io.lake import LocalLake
from platform_assets.io.managers import lake_relpath
from platform_assets.landing import LandingStore, LocalLanding
from platform_assets.landing_s3 import S3Landing


class LandingResource(dg.ConfigurableResource):
    """The landing area where CDC files are delivered, as a local folder."""

    root: str

    def store(self) -> LandingStore:
        """The landing store to list and read files from."""
        return LocalLanding(Path(self.root))


class S3LandingResource(dg.ConfigurableResource):
    """The landing area under ``s3://<bucket>/<prefix>/landing/`` (``PLATFORM_STORAGE=s3``).

    Same ``store()`` as :class:`LandingResource`; objects are listed and read
    through dagster-aws's ``S3Resource`` (credentials from the standard AWS chain,
    never from config).
    """

    s3: S3Resource
    bucket: str
    prefix: str = ""

    def store(self) -> LandingStore:
        """The landing store to list and read objects from."""
        root = "/".join(p for p in (self.prefix.strip("/"), "landing") if p)
        return S3Landing(self.s3.get_client(), self.bucket, root)


class LakeResource(dg.ConfigurableResource):
    """Read access to lake partitions (the staging area) from asset bodies."""

    root: str

    def read(self, asset_key: dg.AssetKey, partition_keys: list[str]) -> pl.DataFrame:
        """Read and concatenate the given partitions of an asset."""
        lake = LocalLake(Path(self.root))
        return lake.read_parquet([lake_relpath(asset_key, key) for key in partition_keys])

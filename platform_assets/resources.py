"""Resources shared by every dataset: the landing area."""

from pathlib import Path
from typing import Any

import boto3
import dagster as dg
import polars as pl
from botocore.config import Config
from botocore.handlers import disable_signing
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


class RetryingS3Resource(S3Resource):
    """dagster-aws's ``S3Resource`` with botocore's retry mode and socket timeouts set.

    Throttling (503 SlowDown), 5xx answers, reset connections and timeouts are retried
    with jittered exponential backoff. ``max_attempts`` counts every attempt, the first
    included (botocore's ``total_max_attempts``), so a persistent fault costs exactly
    that many requests and then raises. Credentials come from the standard AWS chain.
    """

    retry_mode: str = "standard"
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0

    def client_config(self) -> Config:
        """The botocore client config: retries and timeouts."""
        return Config(
            retries={"mode": self.retry_mode, "total_max_attempts": self.max_attempts},
            connect_timeout=self.connect_timeout_s,
            read_timeout=self.read_timeout_s,
        )

    def get_client(self) -> Any:
        """A boto3 S3 client with :meth:`client_config`."""
        client = boto3.session.Session(profile_name=self.profile_name).client(
            "s3",
            region_name=self.region_name,
            endpoint_url=self.endpoint_url,
            use_ssl=self.use_ssl,
            verify=self.verify,
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
            aws_session_token=self.aws_session_token,
            config=self.client_config(),
        )
        if self.use_unsigned_session:
            client.meta.events.register("choose-signer.s3.*", disable_signing)
        return client


class S3LandingResource(dg.ConfigurableResource):
    """The landing area under ``s3://<bucket>/<prefix>/landing/`` (``PLATFORM_STORAGE=s3``).

    Same ``store()`` as :class:`LandingResource`; objects are listed and read
    through :class:`RetryingS3Resource` (credentials from the standard AWS chain,
    never from config).
    """

    s3: RetryingS3Resource
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

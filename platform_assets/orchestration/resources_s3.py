"""The S3 flavours of the shared resources (``PLATFORM_STORAGE=s3``): landing and lake
under an S3 prefix, published tables as Delta tables.

Imported only when the settings ask for S3, so the local path never loads boto3,
dagster-aws or deltalake.
"""

from typing import Any

import boto3
import dagster as dg
from botocore.config import Config
from botocore.handlers import disable_signing
from dagster_aws.s3 import S3Resource

from platform_assets.core.landing import LandingStore
from platform_assets.orchestration.resources import LakeResource, TablesResource
from platform_assets.storage.delta_location import s3_storage_options
from platform_assets.storage.delta_store import DeltaTableStore
from platform_assets.storage.delta_tables import DeltaTables
from platform_assets.storage.lake import LakeStore
from platform_assets.storage.lake_s3 import S3Lake
from platform_assets.storage.landing_s3 import S3Landing
from platform_assets.storage.table_store import TableStore


def s3_key_root(prefix: str, area: str) -> str:
    """``<prefix>/<area>`` (just ``<area>`` without a prefix), the root of one S3 area."""
    return "/".join(p for p in (prefix.strip("/"), area) if p)


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
        return S3Landing(self.s3.get_client(), self.bucket, s3_key_root(self.prefix, "landing"))


class S3LakeResource(LakeResource):
    """The lake under ``s3://<bucket>/<prefix>/lake/`` (``PLATFORM_STORAGE=s3``)."""

    s3: RetryingS3Resource
    bucket: str
    prefix: str = ""

    def store(self) -> LakeStore:
        """Objects under ``<prefix>/lake``, one PUT per partition."""
        return S3Lake(self.s3.get_client(), self.bucket, s3_key_root(self.prefix, "lake"))


class DeltaTablesResource(TablesResource):
    """Published tables as Delta tables under ``uri`` (``s3://<bucket>/<prefix>/tables``).

    Credentials come from the AWS chain delta-rs reads itself, never from config.
    """

    uri: str
    endpoint_url: str | None = None
    max_attempts: int | None = None
    connect_timeout_s: float | None = None
    request_timeout_s: float | None = None

    def store(self) -> TableStore:
        """Delta tables at ``<uri>/<schema>/<table>``, committed by conditional put."""
        options = s3_storage_options(
            self.endpoint_url,
            max_attempts=self.max_attempts,
            connect_timeout_s=self.connect_timeout_s,
            request_timeout_s=self.request_timeout_s,
        )
        return DeltaTables(DeltaTableStore(self.uri, options))

"""Per-test S3 fixtures on the session's moto server (``moto_endpoint``, :mod:`tests.s3`)."""

import itertools
from pathlib import Path

import boto3
import pytest

from platform_assets.settings import load_settings
from tests.s3 import AWS_ENV

_BUCKETS = itertools.count()


@pytest.fixture
def aws_env(moto_endpoint, monkeypatch):
    """Test credentials and the loopback endpoint in the environment (as boto3 reads them)."""
    for name, value in {**AWS_ENV, "AWS_ENDPOINT_URL": moto_endpoint}.items():
        monkeypatch.setenv(name, value)
    return moto_endpoint


@pytest.fixture
def s3(aws_env):
    """A boto3 S3 client on the moto server."""
    return boto3.client("s3", endpoint_url=aws_env)


@pytest.fixture
def bucket(s3) -> str:
    """A fresh, empty bucket for one test."""
    name = f"landing-test-{next(_BUCKETS)}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3_settings(tmp_path: Path, aws_env, bucket):
    """Settings with PLATFORM_STORAGE=s3 (landing in the bucket, lake and warehouse local)."""
    return load_settings(
        {
            "PLATFORM_DATA_DIR": str(tmp_path / "s3-run"),
            "PLATFORM_STORAGE": "s3",
            "PLATFORM_S3_BUCKET": bucket,
            "PLATFORM_S3_PREFIX": "env/prod",
            "AWS_ENDPOINT_URL": aws_env,
        }
    )

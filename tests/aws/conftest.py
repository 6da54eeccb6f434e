"""S3 settings on the session's moto server (``aws_env``, ``bucket``: :mod:`tests.s3`)."""

from pathlib import Path

import pytest

from platform_assets.settings import load_settings


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

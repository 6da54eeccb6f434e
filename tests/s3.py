"""A real S3 API on loopback for the tests: moto's standalone server, one per test session.

A pytest plugin (``pytest_plugins`` in ``tests/conftest.py``): the session fixture
``moto_endpoint``, the per-test fixtures ``aws_env``, ``s3`` and ``bucket`` on it;
:data:`AWS_ENV` (test credentials) and :func:`upload_tree` for tests that fill a bucket.
"""

import itertools
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest

READY_DEADLINE_S = 30.0
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
_BUCKETS = itertools.count()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@pytest.fixture(scope="session")
def moto_endpoint():
    """Start ``python -m moto.server`` on a free loopback port; yield its URL; stop it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + READY_DEADLINE_S
        while not _answers(f"{url}/moto-api/"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto server not answering on {url} after {READY_DEADLINE_S}s")
            try:  # wait for the process to exit (a failed start), at most 0.1 s per attempt
                code = proc.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                continue
            raise RuntimeError(f"moto server exited with {code} before answering")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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


def upload_tree(s3, bucket: str, root: Path, prefix: str) -> list[str]:
    """Put every file under ``root`` at ``<prefix>/<relative path>``; return the keys."""
    keys = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        key = f"{prefix}/{path.relative_to(root).as_posix()}"
        s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys

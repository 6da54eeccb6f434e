"""The model-based history test: random seeded histories, then the published tables
must equal a plain-SQL reference over the final landing files (issues 15 and 16).

Part of ``make test``, bounded: a few sequences without and with corrections, on local
storage and on S3 (a moto server, one per session) with the Postgres ledger (a private
cluster, one per session); each S3 sequence has its own bucket and database. Longer
runs: ``make chaos SEED=<first seed> N=<sequences> [CORRECTIONS=1] [STORE=s3]``, which
sets ``HISTORY_SEED``, ``HISTORY_N``, ``HISTORY_CORRECTIONS`` and ``HISTORY_STORE``
(read here only). Replay one seed with ``make chaos SEED=<seed> N=1 ...``.
"""

import itertools
import os
from pathlib import Path

import boto3
import pytest

from tests.history.child import LOCAL, S3
from tests.history.runner import Store, run_sequence
from tests.s3 import AWS_ENV

BOUNDED = (
    [(seed, False, LOCAL) for seed in range(4)]
    + [(seed, True, LOCAL) for seed in range(100, 104)]
    + [(seed, False, S3) for seed in range(2)]
    + [(seed, True, S3) for seed in range(100, 102)]
)
_BUCKETS = itertools.count()


def _sequences() -> list[tuple[int, bool, str]]:
    """(seed, corrections, store): the bounded default, or a chaos run from the environment."""
    if "HISTORY_N" not in os.environ:
        return BOUNDED
    first = int(os.environ.get("HISTORY_SEED") or 0)
    corrections = os.environ.get("HISTORY_CORRECTIONS", "") == "1"
    store = os.environ.get("HISTORY_STORE") or LOCAL
    if store not in (LOCAL, S3):
        raise ValueError(f"HISTORY_STORE must be {LOCAL!r} or {S3!r}, got {store!r}")
    count = int(os.environ["HISTORY_N"])
    return [(seed, corrections, store) for seed in range(first, first + count)]


@pytest.fixture
def history_store(request, monkeypatch) -> Store:
    """The sequence's store: local, or a fresh bucket on the session's moto server and a
    fresh database on the session's Postgres cluster (both started only when needed)."""
    if request.param == LOCAL:
        return Store()
    endpoint = request.getfixturevalue("moto_endpoint")
    postgres = request.getfixturevalue("postgres_server")
    for name, value in {**AWS_ENV, "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(name, value)  # in-process runs: boto3 and delta-rs read them
    bucket = f"history-{os.getpid()}-{next(_BUCKETS)}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return Store(S3, endpoint, bucket, postgres.url(postgres.new_database()))


@pytest.mark.parametrize(
    ("seed", "corrections", "history_store"),
    _sequences(),
    indirect=["history_store"],
    ids=lambda value: str(value),
)
def test_history(seed: int, corrections: bool, history_store: Store, tmp_path: Path):
    """After any history, settled automation publishes the oracle's tables, and no
    published row ever fails a blocking check."""
    outcome = run_sequence(seed, tmp_path, corrections=corrections, store=history_store)
    if outcome.failed:
        pytest.fail(outcome.report(), pytrace=False)
    print(outcome.report())  # the steps of a passing seed: shown with -rP or -s

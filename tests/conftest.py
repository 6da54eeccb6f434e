"""Shared fixtures: a temporary data root with a real DuckDB file and sample landing data."""

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from platform_assets.definitions import build_definitions
from platform_assets.settings import load_settings
from platform_assets.tools.sample import SampleSpec, generate

START = dt.date(2024, 1, 1)
# The private PostgreSQL cluster (``postgres_server``, ``postgres_url``) and the moto
# S3 server (``moto_endpoint``): session fixtures.
pytest_plugins = ["tests.postgres", "tests.s3"]


@pytest.fixture
def settings(tmp_path: Path):
    """Settings pointing at a fresh data root under ``tmp_path``."""
    return load_settings({"PLATFORM_DATA_DIR": str(tmp_path / "data")})


@pytest.fixture
def defs(settings) -> dg.Definitions:
    """The platform's definitions wired to the temporary data root."""
    return build_definitions(settings)


@pytest.fixture
def sample_days(settings):
    """Write ``days`` days of sample CDC files into the data root; returns the partition keys."""

    def write(days: int = 3, orders_per_day: int = 300, seed: int = 42) -> list[str]:
        spec = SampleSpec(START, days, orders_per_day, seed)
        return list(generate(spec, settings.data_dir))

    return write


@pytest.fixture
def materialize_partition(defs):
    """Run the orders job (or ``assets`` of it) for one partition on an ephemeral instance;
    return the result."""
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def("orders_daily_job")

    def run(
        partition_key: str,
        tags: dict[str, str] | None = None,
        assets: list[dg.AssetKey] | None = None,
    ) -> dg.ExecuteInProcessResult:
        result = job.execute_in_process(
            partition_key=partition_key, instance=instance, tags=tags, asset_selection=assets
        )
        assert result.success
        return result

    return run


@pytest.fixture
def orders_job_assets(defs) -> list[str]:
    """The orders job's assets: its staging, its publications and every mart that reads
    them, whichever dataset declares the mart (sorted)."""
    job = defs.resolve_job_def("orders_daily_job")
    return sorted(key.to_user_string() for key in job.asset_layer.executable_asset_keys)


def read_table(settings, sql: str) -> pl.DataFrame:
    """Query the warehouse file directly (a separate, read-only connection)."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.sql(sql).pl()
    finally:
        con.close()


def run_orders(defs, instance, key, selection=None, tags=None) -> dg.ExecuteInProcessResult:
    """Run ``orders_daily_job`` (or a selection of its assets) for one partition; no raise."""
    job = defs.resolve_job_def("orders_daily_job")
    if selection:
        job = job.get_subset(asset_selection=set(selection))
    return job.execute_in_process(
        partition_key=key, instance=instance, tags=tags, raise_on_error=False
    )


def request_span(request: dg.RunRequest) -> tuple[str, str]:
    """The (first, last) day of a run request: its range, or its one partition."""
    span = request.partition_key_range
    return (span.start, span.end) if span else (request.partition_key, request.partition_key)


def requested_days(requests: list[dg.RunRequest]) -> list[str]:
    """Every day the run requests cover, in request order (a range request: each of its days)."""
    days = []
    for request in requests:
        first, last = request_span(request)
        day = dt.date.fromisoformat(first)
        while day.isoformat() <= last:
            days.append(day.isoformat())
            day += dt.timedelta(days=1)
    return days

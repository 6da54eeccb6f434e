"""The orders job with landing on S3 (moto server) gives the same tables as the local run."""

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from platform_assets.definitions import build_definitions
from platform_assets.sample import SampleSpec, generate
from platform_assets.settings import load_settings
from tests.aws.conftest import upload_tree
from tests.conftest import START, read_table

DAY = "2024-01-02"
TABLES = {
    "curated.orders": "SELECT * FROM curated.orders ORDER BY order_id",
    "marts.daily_orders": "SELECT * FROM marts.daily_orders ORDER BY ALL",
    "marts.daily_revenue_by_segment": "SELECT * FROM marts.daily_revenue_by_segment ORDER BY ALL",
}
LEDGER_SQL = "SELECT run_id, dataset, status, input_checksum FROM platform.pipeline_runs"


def run_orders(settings, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = build_definitions(settings).resolve_job_def("orders_daily_job")
    result = job.execute_in_process(partition_key=DAY, instance=instance)
    assert result.success
    return result


def ledger(settings, result: dg.ExecuteInProcessResult) -> dict[str, tuple[str, str]]:
    rows = read_table(settings, LEDGER_SQL).filter(pl.col("run_id") == result.run_id)
    assert rows.height > 0
    rows = rows.iter_rows(named=True)
    return {r["dataset"]: (r["status"], r["input_checksum"]) for r in rows}


@pytest.fixture
def local_settings(tmp_path):
    settings = load_settings({"PLATFORM_DATA_DIR": str(tmp_path / "local-run")})
    generate(SampleSpec(START, 3, 300, 42), settings.data_dir)
    return settings


def test_s3_landing_gives_the_same_tables_as_local(local_settings, s3_settings, s3, bucket):
    upload_tree(s3, bucket, local_settings.landing_dir, "env/prod/landing")
    assert not s3_settings.landing_dir.exists()  # nothing of the landing is local on s3
    run_orders(local_settings, dg.DagsterInstance.ephemeral())
    instance = dg.DagsterInstance.ephemeral()
    first = run_orders(s3_settings, instance)

    for table, sql in TABLES.items():
        local = read_table(local_settings, sql)
        on_s3 = read_table(s3_settings, sql)
        assert local.height > 0, table
        assert_frame_equal(on_s3, local, check_exact=True)

    store = build_definitions(s3_settings).resources["landing"].store()
    etag_checksum = store.fingerprint(store.files("orders", DAY))
    assert ledger(s3_settings, first)["staging/orders"] == ("succeeded", etag_checksum)

    rerun = ledger(s3_settings, run_orders(s3_settings, instance))
    assert rerun["staging/orders"] == ("skipped", etag_checksum)
    assert rerun["curated/orders"][0] == "skipped"

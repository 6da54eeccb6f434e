"""The whole pipeline with PLATFORM_STORAGE=s3 on a real S3 API (moto server).

Landing objects, the staging lake (``<prefix>/lake/``, one Parquet object per
partition) and the published tables (Delta tables under ``<prefix>/tables/``)
are all in the bucket; only the ledger and check results stay in the local
DuckDB file. The same sample days run through the local path give the
reference tables. The bucket is versioned, so every PUT of a lake object is
counted; Delta table versions count the commits.
"""

from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from platform_assets.core.write_spec import OverwritePartition
from platform_assets.definitions import build_definitions
from platform_assets.orchestration.planner import catalog_of
from platform_assets.settings import load_settings
from platform_assets.storage.delta_location import s3_root, s3_storage_options
from platform_assets.storage.delta_store import DeltaTableStore
from platform_assets.storage.lake import artifact_name
from platform_assets.storage.lake_s3 import S3Lake
from platform_assets.tools.launch import launch_job, run_range
from platform_assets.tools.sample import SampleSpec, generate
from tests.conftest import START, read_table
from tests.s3 import upload_tree

PREFIX = "env/prod"
FIRST, CHANGED, LAST = "2024-01-01", "2024-01-02", "2024-01-03"
DAYS = [FIRST, CHANGED, LAST]
# every dataset the code location declares, from its catalog (a new dataset is covered)
_DEFS = build_definitions(load_settings({}))
CATALOG = catalog_of(_DEFS)
JOBS = list(CATALOG.jobs)
WRITES = {key.to_user_string(): write for key, write in CATALOG.writes.items()}
TABLES = sorted(write.table for write in WRITES.values())
STAGED = [d for d in CATALOG.datasets if d.startswith("staging/")]
DATASETS = [name.removesuffix("_daily_job") for name in JOBS]
ORDERS_ASSETS = ["staging/orders", "curated/orders", "marts/daily_orders"]
CHANGED_FILE = f"landing/orders/dt={CHANGED}/cdc-20240102-00004.csv"
# a new order placed on the changed day: it changes that business day and no other
NEW_ORDER = (
    "I,876700000099999,87670099999,5,placed,12.34,EUR,"
    "2024-01-02 12:00:00.000000,2024-01-02 12:00:00.000000\n"
)
LEDGER_SQL = (
    "SELECT dataset, partition, status, forced, input_checksum, output_checksum "
    "FROM platform.pipeline_runs"
)


def run_jobs(settings, instance, jobs=JOBS, force=False) -> list[str]:
    """Run each job over the three days (one single-run range each); their run ids."""
    definitions = build_definitions(settings)
    results = [run_range(job, FIRST, LAST, instance, force, definitions) for job in jobs]
    assert all(result.success for result in results)
    return [result.run_id for result in results]


def ledger_rows(settings, run_ids: list[str]) -> pl.DataFrame:
    """The ledger rows the given runs wrote (read from the local warehouse file)."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        sql = LEDGER_SQL + " WHERE run_id IN (SELECT unnest($ids::VARCHAR[]))"
        rows = con.sql(sql, params={"ids": run_ids}).pl()
    finally:
        con.close()
    assert rows.height > 0
    return rows


def statuses(rows: pl.DataFrame) -> dict[tuple[str, str], str]:
    return {(r["dataset"], r["partition"]): r["status"] for r in rows.iter_rows(named=True)}


def delta_store(settings) -> DeltaTableStore:
    return DeltaTableStore(
        f"{s3_root(settings)}/tables", s3_storage_options(settings.s3_endpoint_url)
    )


def delta_versions(settings) -> dict[str, int]:
    store = delta_store(settings)
    return {table: store.load(table).version() for table in TABLES}


def in_job(job: str) -> set[str]:
    """The assets a job runs."""
    keys = _DEFS.resolve_job_def(job).asset_layer.executable_asset_keys
    return {key.to_user_string() for key in keys}


ORDERS_JOB = sorted(in_job("orders_daily_job"))


def artifact_key(dataset: str, day: str, checksum: str) -> str:
    """The S3 key of a staged artifact."""
    return f"{PREFIX}/lake/{dataset}/dt={day}/{artifact_name(checksum)}"


def lake_puts(s3, bucket: str) -> dict[str, int]:
    """PUTs per lake object (the bucket is versioned)."""
    pages = s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, Prefix=f"{PREFIX}/lake/"
    )
    puts: dict[str, int] = {}
    for page in pages:
        for version in page.get("Versions", []):
            puts[version["Key"]] = puts.get(version["Key"], 0) + 1
    return puts


def late_change_requests(settings, instance: dg.DagsterInstance) -> list[dg.RunRequest]:
    """One tick of the late-changes sensor from an empty cursor (every merge so far)."""
    definitions = build_definitions(settings)
    sensor = definitions.resolve_sensor_def("orders_late_changes_sensor")
    context = dg.build_sensor_context(
        instance=instance,
        definitions=definitions,
        resources={"warehouse": definitions.resources["warehouse"]},
    )
    result = sensor.evaluate_tick(context)
    assert result.cursor  # it read the merges' ledger rows
    return list(result.run_requests or [])


def assert_same_tables(s3_settings, local_settings) -> None:
    store = delta_store(s3_settings)
    for table in TABLES:
        local = read_table(local_settings, f"SELECT * FROM {table}").sort(pl.all())  # noqa: S608
        on_s3 = store.read(table).sort(pl.all())
        assert local.height > 0, table
        assert_frame_equal(on_s3, local, check_exact=True)


def change_landing(local_settings, s3, bucket: str) -> None:
    """Append a new order to one landing file of the changed day, locally and in S3."""
    path = local_settings.data_dir / CHANGED_FILE
    path.write_text(path.read_text() + NEW_ORDER)
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}/{CHANGED_FILE}", Body=path.read_bytes())


@pytest.fixture
def local_settings(tmp_path: Path):
    settings = load_settings({"PLATFORM_DATA_DIR": str(tmp_path / "local-run")})
    generate(SampleSpec(START, len(DAYS), 300, 42), settings.data_dir)
    return settings


def test_whole_pipeline_on_s3_is_idempotent_and_equals_local(
    local_settings, s3_settings, s3, bucket
):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    upload_tree(s3, bucket, local_settings.landing_dir, f"{PREFIX}/landing")
    local_instance, instance = dg.DagsterInstance.ephemeral(), dg.DagsterInstance.ephemeral()
    local_first = run_jobs(local_settings, local_instance)

    # first run: everything computed, staged objects and Delta tables in the bucket
    first = ledger_rows(s3_settings, run_jobs(s3_settings, instance))
    assert set(statuses(first).values()) == {"succeeded"}
    assert {dataset for dataset, _ in statuses(first)} == {*STAGED, *WRITES}
    staged = first.filter(pl.col("dataset").str.starts_with("staging/"))
    expected_objects = {
        artifact_key(dataset, day, checksum)
        for dataset, day, checksum in staged.select(
            "dataset", "partition", "output_checksum"
        ).rows()
    }
    assert len(expected_objects) == len(STAGED) * len(DAYS)
    assert lake_puts(s3, bucket) == dict.fromkeys(expected_objects, 1)
    assert not s3_settings.lake_dir.exists()
    assert read_table(
        s3_settings,
        "SELECT table_schema FROM information_schema.tables "
        "WHERE table_schema IN ('curated', 'marts', 'quarantine')",
    ).is_empty()
    for dataset in DATASETS:  # quarantine tables are published in the bucket too
        assert delta_store(s3_settings).load(f"quarantine.{dataset}") is not None
    assert_same_tables(s3_settings, local_settings)
    # the staged output checksums are deterministic: the same bytes as the local lake's
    staged_sql = "output_checksum IS NOT NULL AND dataset LIKE 'staging/%'"
    local_staged = ledger_rows(local_settings, local_first).filter(pl.sql_expr(staged_sql))
    s3_staged = first.filter(pl.sql_expr(staged_sql))
    assert_frame_equal(
        s3_staged.select("dataset", "partition", "output_checksum").sort(pl.all()),
        local_staged.select("dataset", "partition", "output_checksum").sort(pl.all()),
    )

    # the late-changes sensor compares the marts' published inputs with the Delta tables
    assert late_change_requests(s3_settings, instance) == []

    # rerun: every partition skipped, nothing rewritten
    versions, puts = delta_versions(s3_settings), lake_puts(s3, bucket)
    rerun = ledger_rows(s3_settings, run_jobs(s3_settings, instance))
    assert set(statuses(rerun).values()) == {"skipped"}
    assert statuses(rerun).keys() == statuses(first).keys()
    assert delta_versions(s3_settings) == versions
    assert lake_puts(s3, bucket) == puts

    # one landing object changed: exactly that day recomputed, the others skipped
    change_landing(local_settings, s3, bucket)
    run_jobs(local_settings, local_instance, jobs=["orders_daily_job"])
    changed_rows = ledger_rows(s3_settings, run_jobs(s3_settings, instance, ["orders_daily_job"]))
    changed = statuses(changed_rows)
    for dataset in ORDERS_JOB:
        for day in DAYS:
            assert changed[(dataset, day)] == ("succeeded" if day == CHANGED else "skipped")
    (checksum,) = changed_rows.filter(
        (pl.col("dataset") == "staging/orders")
        & (pl.col("partition") == CHANGED)
        & (pl.col("status") == "succeeded")
    )["output_checksum"]
    # a new artifact beside the old one (kept for rollback), each PUT once
    assert lake_puts(s3, bucket) == {**puts, artifact_key("staging/orders", CHANGED, checksum): 1}
    after_change = delta_versions(s3_settings)
    for asset, write in WRITES.items():  # one commit per table the orders job writes
        moved = 1 if asset in ORDERS_JOB else 0
        assert after_change[write.table] == versions[write.table] + moved, write.table
    assert_same_tables(s3_settings, local_settings)

    # forced: every partition recomputed and rewritten, same tables
    forced = ledger_rows(s3_settings, run_jobs(s3_settings, instance, force=True))
    assert set(statuses(forced).values()) == {"succeeded"}
    assert forced["forced"].all()
    # the recomputed artifacts are byte-identical: already stored, not PUT again
    assert lake_puts(s3, bucket) == {**puts, artifact_key("staging/orders", CHANGED, checksum): 1}
    # one overwrite commit per day and job (a mart reading two datasets is in both jobs);
    # re-merging identical rows changes nothing (rule 3)
    commits = {
        write.table: len(DAYS) * sum(asset in in_job(job) for job in JOBS)
        if isinstance(write, OverwritePartition)
        else 0
        for asset, write in WRITES.items()
    }
    now = delta_versions(s3_settings)
    assert {table: now[table] - after_change[table] for table in TABLES} == commits
    assert_same_tables(s3_settings, local_settings)


def test_planned_launch_on_s3_reads_the_delta_tables(local_settings, s3_settings, s3, bucket):
    upload_tree(s3, bucket, local_settings.landing_dir, f"{PREFIX}/landing")
    instance, definitions = dg.DagsterInstance.ephemeral(), build_definitions(s3_settings)

    def launch_all():
        launches = [launch_job(job, DAYS, instance, definitions=definitions) for job in JOBS]
        assert all(launch.success for launch in launches)
        return launches

    assert all(launch.runs for launch in launch_all())
    versions = delta_versions(s3_settings)
    second = launch_all()
    # the marts' input checksums come from the Delta tables (the local file has no tables)
    assert [launch.plan.todo for launch in second] == [[]] * len(JOBS)
    assert [launch.runs for launch in second] == [[]] * len(JOBS)
    assert delta_versions(s3_settings) == versions
    planned = ledger_rows(s3_settings, [launch.plan_id for launch in second])
    assert set(statuses(planned).values()) == {"skipped"}


def test_rebuild_on_s3_repairs_a_tampered_delta_table_in_one_commit(
    local_settings, s3_settings, s3, bucket
):
    """launch --rebuild with Delta tables and the ledger outside their commits."""
    upload_tree(s3, bucket, local_settings.landing_dir, f"{PREFIX}/landing")
    instance, definitions = dg.DagsterInstance.ephemeral(), build_definitions(s3_settings)
    orders = [dg.AssetKey(key.split("/")) for key in ORDERS_ASSETS]
    launch = launch_job("orders_daily_job", DAYS, instance, definitions=definitions, assets=orders)
    assert launch.success
    store = delta_store(s3_settings)
    published = store.read("curated.orders").sort("order_id")
    gone = published.head(3)
    store.replace_keys("curated.orders", gone.clear(), ["order_id"], gone.select("order_id"))
    bogus = published.tail(1).with_columns(pl.lit(1, dtype=pl.Int64).alias("order_id"))
    store.merge_upsert("curated.orders", bogus, ["order_id"], ["updated_at", "seq"])
    tampered = store.load("curated.orders").version()

    def rebuild():
        launch = launch_job(
            "orders_daily_job",
            DAYS[2:],
            instance,
            definitions=definitions,
            assets=orders,
            rebuild=True,
        )
        assert launch.success
        return launch

    first = rebuild()
    assert_frame_equal(store.read("curated.orders").sort("order_id"), published)
    assert store.load("curated.orders").version() == tampered + 1  # one overwrite commit
    rows = ledger_rows(s3_settings, [first.runs[0].run_id])
    curated = rows.filter(pl.col("dataset") == "curated/orders")
    assert curated["status"].to_list() == ["succeeded"] and curated["forced"].to_list() == [True]
    rebuild()
    assert store.load("curated.orders").version() == tampered + 1  # equal: nothing written


def test_a_missing_artifact_on_s3_reads_as_missing(s3, bucket):
    """A lost artifact is a FileNotFoundError on S3 as on disk (the keyed recompute of a
    day whose held artifact is lost falls back to a rebuild on it)."""
    lake = S3Lake(s3, bucket, PREFIX)
    with pytest.raises(FileNotFoundError, match=rf"s3://{bucket}/.* is missing"):
        lake.read_artifact("staging/orders/dt=2024-01-01", "xxh3:" + "0" * 32)

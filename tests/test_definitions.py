"""The code location loads and exposes the contract asset keys."""

import dagster as dg

from platform_assets import definitions
from platform_assets.definitions import build_definitions
from platform_assets.settings import load_settings

CONTRACT_KEYS = {
    dg.AssetKey(["landing", "orders"]),
    dg.AssetKey(["staging", "orders"]),
    dg.AssetKey(["curated", "orders"]),
    dg.AssetKey(["marts", "daily_orders"]),
}


def test_definitions_load_and_validate():
    dg.Definitions.validate_loadable(definitions.defs())


def test_contract_asset_keys_present():
    keys = set(definitions.defs().resolve_asset_graph().get_all_asset_keys())
    assert CONTRACT_KEYS <= keys


def test_every_materializable_asset_has_code_version_and_description():
    graph = definitions.defs().resolve_asset_graph()
    for key in graph.materializable_asset_keys:
        node = graph.get(key)
        assert node.code_version, f"{key.to_user_string()} has no code_version"
        assert node.description, f"{key.to_user_string()} has no description"


def test_warehouse_writers_share_the_warehouse_pool():
    graph = definitions.defs().resolve_asset_graph()
    for key in [dg.AssetKey(["curated", "orders"]), dg.AssetKey(["marts", "daily_orders"])]:
        assert graph.get(key).pools == {"warehouse"}


def test_s3_retry_settings_reach_the_delta_tables(tmp_path):
    settings = load_settings(
        {
            "PLATFORM_DATA_DIR": str(tmp_path),
            "PLATFORM_STORAGE": "s3",
            "PLATFORM_S3_BUCKET": "bucket",
            "PLATFORM_S3_MAX_ATTEMPTS": "3",
            "PLATFORM_S3_CONNECT_TIMEOUT_S": "2",
            "PLATFORM_S3_READ_TIMEOUT_S": "7",
        }
    )
    tables = build_definitions(settings).resources["tables"]
    assert tables.uri == "s3://bucket/tables"
    assert (tables.max_attempts, tables.connect_timeout_s, tables.request_timeout_s) == (3, 2, 7)


def test_two_settings_give_two_code_locations_in_one_process(tmp_path):
    """Partitions and the backfill policy come from the settings given, not the environment
    at import: two definitions built side by side each keep their own."""
    early = load_settings(
        {
            "PLATFORM_DATA_DIR": str(tmp_path / "a"),
            "PLATFORM_START_DATE": "2023-06-01",
            "PLATFORM_MAX_PARTITIONS_PER_RUN": "5",
        }
    )
    late = load_settings(
        {"PLATFORM_DATA_DIR": str(tmp_path / "b"), "PLATFORM_START_DATE": "2025-02-01"}
    )
    built = {name: build_definitions(s) for name, s in (("early", early), ("late", late))}
    for name, defs in built.items():
        job = defs.resolve_job_def("orders_daily_job")
        first = job.partitions_def.get_first_partition_key()
        assert first == {"early": "2023-06-01", "late": "2025-02-01"}[name]
        staging = defs.resolve_assets_def(dg.AssetKey(["staging", "orders"]))
        assert staging.partitions_def.get_first_partition_key() == first
        sensor = defs.resolve_sensor_def("orders_landing_sensor")
        assert sensor.job.partitions_def.get_first_partition_key() == first
    policy = built["early"].resolve_assets_def(dg.AssetKey(["curated", "orders"])).backfill_policy
    assert policy.max_partitions_per_run == 5


def test_every_job_sensor_and_schedule_comes_from_the_declarations():
    """The datasets' declarations alone decide the jobs, sensors and schedules; the
    launcher's jobs and the demo's datasets are the catalog's."""
    from platform_assets.datasets import declarations
    from platform_assets.orchestration.declarations import Dataset
    from platform_assets.orchestration.planner import catalog_of

    defs = definitions.defs()
    catalog = catalog_of(defs)
    datasets = [d for d in declarations() if isinstance(d, Dataset)]
    jobs = sorted(f"{d.name}_daily_job" for d in datasets)
    assert list(catalog.jobs) == jobs
    merged = [
        d.name
        for d in datasets
        if any(getattr(p.write, "impact_day_column", None) for p in d.publications)
    ]
    assert sorted(s.name for s in defs.sensors) == sorted(
        [f"{d.name}_landing_sensor" for d in datasets]
        + [f"{name}_late_changes_sensor" for name in merged]
    )
    assert sorted(s.name for s in defs.schedules) == [f"{job}_nightly" for job in jobs]
    revenue = dg.AssetKey(["marts", "daily_revenue_by_segment"])
    for job in ("orders_daily_job", "customers_daily_job"):  # a mart over two datasets
        assert revenue in defs.resolve_job_def(job).asset_layer.executable_asset_keys
    late = defs.resolve_sensor_def("orders_late_changes_sensor")
    assert set(late.asset_selection.resolve(defs.resolve_asset_graph())) >= {
        dg.AssetKey(["marts", "daily_orders"]),
        revenue,
    }
    assert set(catalog.plan_inputs) == set(defs.resolve_asset_graph().materializable_asset_keys)

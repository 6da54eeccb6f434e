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
    dg.Definitions.validate_loadable(definitions.defs)


def test_contract_asset_keys_present():
    keys = set(definitions.defs.resolve_asset_graph().get_all_asset_keys())
    assert CONTRACT_KEYS <= keys


def test_every_materializable_asset_has_code_version_and_description():
    graph = definitions.defs.resolve_asset_graph()
    for key in graph.materializable_asset_keys:
        node = graph.get(key)
        assert node.code_version, f"{key.to_user_string()} has no code_version"
        assert node.description, f"{key.to_user_string()} has no description"


def test_warehouse_writers_share_the_warehouse_pool():
    graph = definitions.defs.resolve_asset_graph()
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

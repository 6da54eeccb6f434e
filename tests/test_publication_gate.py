"""Write-audit-publish: a failed blocking check keeps every published table as it was."""

import dagster as dg
import duckdb
import pytest

from platform_assets.orchestration.audit import PublicationBlocked
from tests.conftest import read_table, run_orders

CHECKSUM_SQL = "SELECT count(*) AS n, bit_xor(hash(t)) AS h FROM {} AS t"


def table_checksums(settings) -> dict[str, tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return {
            table: con.execute(CHECKSUM_SQL.format(table)).fetchone()  # noqa: S608
            for table in ("curated.orders", "marts.daily_orders")
        }
    finally:
        con.close()


def ledger_rows(settings, run_id: str) -> list[tuple]:
    return read_table(
        settings,
        f"SELECT dataset, status, error FROM platform.pipeline_runs WHERE run_id = '{run_id}' "  # noqa: S608
        "ORDER BY dataset",
    ).rows()


@pytest.fixture
def two_days(settings, sample_days, materialize_partition):
    keys = sample_days(days=2, orders_per_day=200)
    for key in [*keys, keys[0]]:  # the second day's late changes reach the first day's mart
        materialize_partition(key)
    return keys


def poison(settings, key: str) -> None:
    """Make some amounts negative in the day's first file (valid CSV, bad values)."""
    path = sorted((settings.landing_dir / "orders" / f"dt={key}").glob("*.csv"))[0]
    lines = path.read_text().splitlines()
    for i in range(1, 4):
        fields = lines[i].split(",")
        fields[5] = "-" + fields[5]
        lines[i] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")


def test_failed_check_keeps_published_tables_and_is_recorded(settings, defs, two_days):
    key = two_days[0]
    before = table_checksums(settings)
    poison(settings, key)
    instance = dg.DagsterInstance.ephemeral()
    result = run_orders(defs, instance, key)

    assert not result.success
    assert table_checksums(settings) == before
    evaluations = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}
    failed = evaluations["amount_non_negative"]
    assert failed.passed is False
    assert failed.metadata["failing_rows"].value >= 1
    assert "amount" in failed.metadata["failing_rows_sample"].value
    assert evaluations["currency_well_formed"].passed is True
    recorded = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [failed.asset_check_key]
    )[failed.asset_check_key]
    assert recorded.run_id == result.run_id
    rows = ledger_rows(settings, result.run_id)
    assert ("staging/orders", "succeeded", None) in rows
    statuses = {r[0]: r[1] for r in rows}
    assert statuses["curated/orders"] == "failed", rows
    assert "amount_non_negative" in dict((r[0], r[2]) for r in rows)["curated/orders"], rows
    # the only day of the step above failed, so the mart step did not run
    assert "marts/daily_orders" not in statuses, rows


def test_publishing_assets_alone_refuse_a_failed_partition(settings, defs, two_days):
    key = two_days[0]
    poison(settings, key)
    instance = dg.DagsterInstance.ephemeral()
    run_orders(defs, instance, key, selection=[dg.AssetKey(["staging", "orders"])])
    before = table_checksums(settings)

    publishers = [dg.AssetKey(["curated", "orders"]), dg.AssetKey(["marts", "daily_orders"])]
    result = run_orders(defs, instance, key, selection=publishers)
    assert not result.success
    assert table_checksums(settings) == before
    # every day of curated failed: it fails, naming the day and why, and outputs nothing
    failure = result.failure_data_for_node("curated__orders")
    assert failure.error.cls_name == PublicationBlocked.__name__
    assert "amount_non_negative" in failure.user_failure_data.description
    not_published = failure.user_failure_data.metadata["partitions_not_published"].value
    assert not_published == f"curated/orders {key}"
    assert ("curated/orders", "failed") in [r[:2] for r in ledger_rows(settings, result.run_id)]

    forced = run_orders(defs, instance, key, selection=publishers, tags={"platform/force": "true"})
    assert not forced.success
    assert table_checksums(settings) == before


def test_fixing_the_input_publishes_the_day(settings, defs, two_days):
    key = two_days[0]
    path = sorted((settings.landing_dir / "orders" / f"dt={key}").glob("*.csv"))[0]
    original = path.read_bytes()
    poison(settings, key)
    instance = dg.DagsterInstance.ephemeral()
    assert not run_orders(defs, instance, key).success
    path.write_bytes(original)
    fixed = run_orders(defs, instance, key)
    assert fixed.success
    statuses = {r[0]: r[1] for r in ledger_rows(settings, fixed.run_id)}
    assert statuses["staging/orders"] == "succeeded"
    assert statuses["curated/orders"] in {"succeeded", "skipped"}
    negative = read_table(settings, "SELECT count(*) AS n FROM curated.orders WHERE amount < 0")
    assert negative["n"][0] == 0


def test_too_many_rejects_block_publication(settings, defs, two_days):
    key = two_days[1]
    folder = settings.landing_dir / "orders" / f"dt={key}"
    path = sorted(folder.glob("*.csv"))[0]
    lines = path.read_text().splitlines()
    bad = [lines[0]] + ["X" + line[1:] for line in lines[1:]]
    path.write_text("\n".join(bad) + "\n")
    before = table_checksums(settings)
    result = run_orders(defs, dg.DagsterInstance.ephemeral(), key)
    assert not result.success
    evaluations = {e.asset_check_key.name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations["reject_rate"] is False
    assert table_checksums(settings) == before
    quarantined = read_table(settings, "SELECT count(*) AS n FROM quarantine.orders")
    assert quarantined["n"][0] == len(lines) - 1

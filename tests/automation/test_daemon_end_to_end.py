"""On a real `dagster dev` daemon: the landing sensor, and UI backfills (normal, again, forced)."""

import datetime as dt
import os

import pytest

from platform_assets.definitions import build_definitions
from platform_assets.orchestration.planner import catalog_of
from platform_assets.settings import load_settings
from platform_assets.storage.warehouse import connect
from platform_assets.tools.sample import SampleSpec, generate
from tests.dagster_dev import LOCATION, REPOSITORY, DagsterDev, wait_for

# the orders job's assets and the marts among them, from the declarations
_DEFS = build_definitions(load_settings({}))
_KEYS = _DEFS.resolve_job_def("orders_daily_job").asset_layer.executable_asset_keys
ASSETS = sorted(key.path for key in _KEYS)
DATASETS = ["/".join(path) for path in ASSETS]
MARTS = [key.to_user_string() for key in catalog_of(_DEFS).across_days(set(_KEYS))]
# every job's assets: what an asset backfill of every dataset selects
_EVERY_KEY = set().union(
    *(
        _DEFS.resolve_job_def(job).asset_layer.executable_asset_keys
        for job in catalog_of(_DEFS).jobs
    )
)
EVERY_ASSET = sorted(key.path for key in _EVERY_KEY)
STAGED = sorted(key.to_user_string() for key in _EVERY_KEY if key.path[0] == "staging")
LANDING_SENSORS = sorted(s.name for s in _DEFS.sensors if s.name.endswith("_landing_sensor"))
WEEK = [(dt.date(2024, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(7)]
RUN_TIMEOUT_S = 240
MAX_PARTITIONS_PER_RUN = 3  # a 7-day backfill runs as ranges of 3, 3 and 1 days


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory):
    limits = {"PLATFORM_MAX_PARTITIONS_PER_RUN": str(MAX_PARTITIONS_PER_RUN)}
    server = DagsterDev(tmp_path_factory.mktemp("daemon"), limits).start()
    yield server
    server.stop()


def ledger(server: DagsterDev, run_ids: list[str]) -> list[tuple]:
    with connect(server.data_dir / "warehouse.duckdb", read_only=True) as con:
        return con.execute(
            "SELECT dataset, partition, status, forced FROM platform.pipeline_runs "
            "WHERE run_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY dataset, partition",
            [run_ids],
        ).fetchall()


def finished_backfill(server: DagsterDev, backfill_id: str) -> list[dict]:
    status = wait_for(
        lambda: (
            server.backfill_status(backfill_id) not in {"REQUESTED", "CANCELING"}
            and server.backfill_status(backfill_id)
        ),
        RUN_TIMEOUT_S,
        f"backfill {backfill_id}",
    )
    runs = server.runs({"dagster/backfill": backfill_id})
    assert status in {"COMPLETED", "COMPLETED_SUCCESS"}, (status, runs)
    assert runs and {r["status"] for r in runs} == {"SUCCESS"}
    return runs


def drop_days(dagster_dev: DagsterDev, days: int) -> None:
    """Write sample days elsewhere, then move each day's folder into the landing area at once
    (a sensor tick never sees half a day)."""
    outside = dagster_dev.data_dir.parent / "incoming"
    generate(SampleSpec(dt.date(2024, 1, 1), days, 100, 42), outside)
    for folder in sorted(outside.glob("landing/*/dt=*")):
        target = dagster_dev.data_dir / folder.relative_to(outside)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(folder, target)


def run_days(run: dict) -> list[str]:
    """The days a run covers: its partition, or each day of its range."""
    tags = {t["key"]: t["value"] for t in run["tags"]}
    if "dagster/partition" in tags:
        return [tags["dagster/partition"]]
    first = dt.date.fromisoformat(tags["dagster/asset_partition_range_start"])
    last = dt.date.fromisoformat(tags["dagster/asset_partition_range_end"])
    return [(first + dt.timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def test_sensor_publishes_new_landing_days(dagster_dev):
    """Every dataset's landing sensor runs its job over the new days (consecutive days seen
    in one tick are one run over their range); the orders runs publish the orders job's
    assets."""
    drop_days(dagster_dev, 2)

    def sensor_runs_done(sensor: str):
        runs = dagster_dev.runs({"dagster/sensor_name": sensor})
        failed = [r for r in runs if r["status"] in {"FAILURE", "CANCELED"}]
        assert not failed, failed
        days = sorted(day for r in runs for day in run_days(r))
        return days == WEEK[:2] and all(r["status"] == "SUCCESS" for r in runs) and runs

    every = {}
    for sensor in LANDING_SENSORS:
        every[sensor] = wait_for(
            lambda sensor=sensor: sensor_runs_done(sensor), RUN_TIMEOUT_S, f"{sensor}'s runs"
        )
    staged = ledger(dagster_dev, [r["runId"] for runs in every.values() for r in runs])
    assert {(d, p) for d, p, s, _ in staged if d.startswith("staging/") and s == "succeeded"} == {
        (f"staging/{sensor.removesuffix('_landing_sensor')}", p)
        for sensor in LANDING_SENSORS
        for p in WEEK[:2]
    }
    runs = every["orders_landing_sensor"]
    rows = ledger(dagster_dev, [r["runId"] for r in runs])
    published = {(d, p) for d, p, s, _ in rows if s == "succeeded"}
    assert published >= {(d, p) for d in DATASETS if d not in MARTS for p in WEEK[:2]}
    # the customers sensor's runs may have computed a day's revenue with the same inputs first
    assert {(d, p) for d, p, _, _ in rows} == {(d, p) for d in DATASETS for p in WEEK[:2]}


def test_ui_backfills_normal_again_and_forced(dagster_dev):
    """Asset backfill of every dataset, job backfill of the orders job, forced asset backfill:
    ranges of up to 3 days per run."""
    asset_backfill = {
        "assetSelection": [{"path": path} for path in EVERY_ASSET],
        "partitionNames": WEEK,
    }
    first = finished_backfill(dagster_dev, dagster_dev.launch_backfill(asset_backfill))
    first_rows = ledger(dagster_dev, [r["runId"] for r in first])
    for staged in STAGED:  # the sensors staged the first two days
        assert {(p, s) for d, p, s, _ in first_rows if d == staged} == {
            *((p, "skipped") for p in WEEK[:2]),
            *((p, "succeeded") for p in WEEK[2:]),
        }, staged

    job_backfill = {
        "selector": {
            "partitionSetName": "orders_daily_job_partition_set",
            "repositorySelector": {
                "repositoryLocationName": LOCATION,
                "repositoryName": REPOSITORY,
            },
        },
        "partitionNames": WEEK,
    }
    again = finished_backfill(dagster_dev, dagster_dev.launch_backfill(job_backfill))
    assert len(again) == 3
    again_rows = ledger(dagster_dev, [r["runId"] for r in again])
    assert len(again_rows) == len(DATASETS) * 7
    assert {s for _, _, s, _ in again_rows} == {"skipped"}

    forced_params = {**asset_backfill, "tags": [{"key": "platform/force", "value": "true"}]}
    forced = finished_backfill(dagster_dev, dagster_dev.launch_backfill(forced_params))
    forced_rows = ledger(dagster_dev, [r["runId"] for r in forced])
    assert len(forced_rows) == len(EVERY_ASSET) * 7
    assert {(s, f) for _, _, s, f in forced_rows} == {("succeeded", True)}


def test_late_file_recomputes_affected_mart_days_automatically(dagster_dev):
    """A late file refunds one order placed on each of two consecutive days: the landing
    sensor's run of the late day brings every mart of both days up to date in its own mart
    steps (no second run)."""
    with connect(dagster_dev.data_dir / "warehouse.duckdb", read_only=True) as con:
        placed = con.execute(
            "SELECT arg_min(order_id, order_id), arg_min(customer_id, order_id), "
            "arg_min(amount, order_id), arg_min(currency, order_id), arg_min(created_at, order_id) "
            "FROM curated.orders WHERE NOT is_deleted AND created_at < '2024-01-03' "
            "GROUP BY created_at::DATE ORDER BY 5"
        ).fetchall()
    assert len(placed) == 2
    late = [
        f"U,99999999999999{n},{order_id},{customer},refunded,{amount},{currency},"
        f"{created:%Y-%m-%d %H:%M:%S.%f},2024-01-08 12:00:00.000000"
        for n, (order_id, customer, amount, currency, created) in enumerate(placed)
    ]
    staged = dagster_dev.data_dir.parent / "incoming-late" / "dt=2024-01-08"
    staged.mkdir(parents=True)
    header = "op,seq,order_id,customer_id,status,amount,currency,created_at,updated_at"
    (staged / "cdc-late.csv").write_text("\n".join([header, *late]) + "\n")
    os.rename(staged, dagster_dev.data_dir / "landing" / "orders" / "dt=2024-01-08")

    landed = {"dagster/sensor_name": "orders_landing_sensor", "dagster/partition": "2024-01-08"}

    def landing_run_finished():
        runs = dagster_dev.runs(landed)
        return runs if runs and all(r["status"] in {"SUCCESS", "FAILURE"} for r in runs) else None

    runs = wait_for(landing_run_finished, RUN_TIMEOUT_S, "the landing sensor's run of 2024-01-08")
    assert [r["status"] for r in runs] == ["SUCCESS"]
    rows = ledger(dagster_dev, [r["runId"] for r in runs])
    caught_up = [
        (dataset, day, status, forced) for dataset, day, status, forced in rows if day in WEEK[:2]
    ]
    assert caught_up == [
        (mart, day, "succeeded", False) for mart in sorted(MARTS) for day in WEEK[:2]
    ]
    days = [dt.date.fromisoformat(day) for day in WEEK[:2]]
    mart = (
        "SELECT business_date, status, currency, orders, revenue FROM marts.daily_orders "
        "WHERE business_date IN (SELECT unnest($days))"
    )
    state = (
        "SELECT created_at::DATE, status, currency, count(*), sum(amount)::DECIMAL(18, 2) "
        "FROM curated.orders WHERE NOT is_deleted AND created_at::DATE IN (SELECT unnest($days)) "
        "GROUP BY ALL"
    )
    with connect(dagster_dev.data_dir / "warehouse.duckdb", read_only=True) as con:
        refunded = con.execute(
            "SELECT count(*) FROM curated.orders WHERE status = 'refunded' "
            "AND order_id IN (SELECT unnest($ids))",
            {"ids": [order_id for order_id, *_ in placed]},
        ).fetchone()[0]
        differences = con.execute(
            f"SELECT count(*) FROM (({mart} EXCEPT ALL {state}) "  # noqa: S608
            f"UNION ALL ({state} EXCEPT ALL {mart}))",
            {"days": days},
        ).fetchone()[0]
    assert (refunded, differences) == (2, 0)  # the refunds are in both days' figures

"""UTC everywhere: DuckDB and Postgres sessions, and the late-changes cursor across a DST change.

DuckDB's session time zone defaults to the machine's ``TZ`` (read when DuckDB starts, so
``time.tzset`` in a running process does not change it): the checks on a machine in a
daylight-saving zone run in a child process started with ``TZ=America/New_York``.
"""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from platform_assets.core.ledger import Ledger
from platform_assets.orchestration.warehouse_resource import WarehouseResource
from platform_assets.storage.metadata_postgres import postgres_connection

REPO = Path(__file__).resolve().parents[1]
NEW_YORK = "America/New_York"
# 2024-11-03 06:00 UTC, clocks in New York go back from 02:00 EDT to 01:00 EST.
BEFORE_DST_END = dt.datetime(2024, 11, 3, 5, 45, tzinfo=dt.UTC)  # 01:45 EDT
AFTER_DST_END = dt.datetime(2024, 11, 3, 6, 15, tzinfo=dt.UTC)  # 01:15 EST, 30 min later
# A succeeded curated/orders merge that changed 2024-11-02: (run_id, started, completed).
INSERT = (
    "INSERT INTO platform.pipeline_runs (run_id, dataset, partition, attempt, status, "
    "started_at, completed_at, changed_days) "
    "VALUES (?, 'curated/orders', '2024-11-03', 1, 'succeeded', ?, ?, '2024-11-02')"
)

_CHILD = """
import json, sys
import duckdb
from platform_assets.storage.delta_duckdb import delta_views
from platform_assets.core.ledger import Ledger
from platform_assets.storage.warehouse import connect
from platform_assets.orchestration.warehouse_resource import WarehouseResource

path, rows = sys.argv[1], json.loads(sys.argv[2])
zone = "SELECT current_setting('TimeZone')"
with connect(path) as con, delta_views(None, []) as views:
    zones = [c.execute(zone).fetchone()[0] for c in (duckdb.connect(), con, views)]
warehouse = WarehouseResource(path=path)
ledger, cursor, seen = Ledger(warehouse), "", []
for run_id, completed in rows:  # the sensor ticks after each merge
    with warehouse.metadata_db() as con:
        con.execute(INSERT, [run_id, completed, completed])
    found = ledger.changed_days_after("curated/orders", cursor)
    seen.append([row[1] for row in found])
    cursor = found[-1][0] if found else cursor
print(json.dumps({"zones": zones, "seen": seen}))
"""


def insert_merge(con, run_id: str, completed: dt.datetime) -> None:
    """Record a merge (:data:`INSERT`) completed at ``completed``."""
    con.execute(INSERT, [run_id, completed, completed])


def run_in_new_york(path: Path, rows: list[tuple[str, dt.datetime]]) -> dict:
    """Run :data:`_CHILD` with ``TZ=America/New_York`` on the warehouse file ``path``."""
    Ledger(WarehouseResource(path=str(path))).changed_days_after("curated/orders", "")  # DDL
    script = f"INSERT = {INSERT!r}\n{_CHILD}"
    arguments = json.dumps([(run_id, at.isoformat()) for run_id, at in rows])
    done = subprocess.run(
        [sys.executable, "-c", script, str(path), arguments],
        env={**os.environ, "TZ": NEW_YORK},
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_duckdb_connections_are_utc_under_a_dst_zone(tmp_path):
    zones = run_in_new_york(tmp_path / "warehouse.duckdb", [])["zones"]
    assert zones == [NEW_YORK, "UTC", "UTC"], "a plain connection, warehouse.connect, delta_views"


def test_a_merge_after_the_dst_change_is_read_after_one_before_it(tmp_path):
    rows = [("run-edt", BEFORE_DST_END), ("run-est", AFTER_DST_END)]
    seen = run_in_new_york(tmp_path / "warehouse.duckdb", rows)["seen"]
    assert seen == [["run-edt"], ["run-est"]]


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request, tmp_path) -> WarehouseResource:
    """A warehouse keeping its run metadata in its DuckDB file or in a Postgres database."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    store = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"), ledger_url=url)
    Ledger(store).changed_days_after("curated/orders", "")  # creates the ledger table
    with store.metadata_db() as con:
        for run_id, completed in [("run-edt", BEFORE_DST_END), ("run-est", AFTER_DST_END)]:
            insert_merge(con, run_id, completed)
    return store


def test_the_cursor_is_a_utc_time_and_a_run_id(warehouse):
    ledger = Ledger(warehouse)
    first, second = ledger.changed_days_after("curated/orders", "")
    assert first[:2] == ("2024-11-03T05:45:00.000000Z|run-edt", "run-edt")
    assert second[:2] == ("2024-11-03T06:15:00.000000Z|run-est", "run-est")
    assert [row[1] for row in ledger.changed_days_after("curated/orders", first[0])] == ["run-est"]
    assert ledger.changed_days_after("curated/orders", second[0]) == []
    with warehouse.metadata_db() as con:  # a tie on the completion time goes by run id
        insert_merge(con, "run-est-2", AFTER_DST_END)
    assert [row[1] for row in ledger.changed_days_after("curated/orders", second[0])] == [
        "run-est-2"
    ]


@pytest.mark.parametrize(
    "old",
    [
        "2024-11-03T01:45:00.000000|run-edt",  # the old format: New York time, no offset
        "2024-11-03T05:45:00.000000|run-edt",  # the old format on a UTC machine
        "not a cursor",
    ],
)
def test_an_old_or_unreadable_cursor_reads_again_rather_than_skip(warehouse, old):
    found = Ledger(warehouse).changed_days_after("curated/orders", old)
    assert [row[1] for row in found] == ["run-edt", "run-est"]


def test_postgres_sessions_are_utc_whatever_the_database_default(postgres_server):
    database = postgres_server.new_database()
    postgres_server.admin(f"ALTER DATABASE \"{database}\" SET timezone TO '{NEW_YORK}'")
    with postgres_connection(postgres_server.url(database)) as con:
        assert con.query("SELECT current_setting('TimeZone')") == [("UTC",)]

"""The run ledger and check results on PostgreSQL (``PLATFORM_LEDGER_URL``), as on DuckDB.

On ECS every run is its own task, so ``platform.pipeline_runs`` and
``platform.check_results`` live in a database all tasks share. These tests run the
ledger API on both backends, the orders job with its ledger in Postgres (and
Dagster's own storage configured as in ``deploy/dagster.yaml``), concurrent
writers, and check that a password never shows.
"""

import datetime as dt
import multiprocessing
import traceback
from pathlib import Path

import dagster as dg
import duckdb
import psycopg2
import pytest
import yaml

from platform_assets.core.check_results import artifact_outcomes, record_outcomes
from platform_assets.core.checks import CheckOutcome
from platform_assets.core.ledger import Ledger, LedgerRowMissing, PublishedVersion
from platform_assets.datasets.orders.assets import ORDERS
from platform_assets.definitions import build_definitions
from platform_assets.orchestration.idempotency import SKIPPED_KEY
from platform_assets.orchestration.staging import staging_version
from platform_assets.orchestration.warehouse_resource import WarehouseResource
from platform_assets.settings import load_settings
from platform_assets.storage.metadata_postgres import MetadataDatabaseError
from platform_assets.tools import ledger as ledger_cli
from platform_assets.tools.ledger import published_summary, recent_attempts
from platform_assets.tools.sample import SampleSpec, generate
from tests.conftest import START, run_orders
from tests.postgres import PASSWORD, PASSWORD_USER
from tests.test_publication_gate import poison

DEPLOY_YAML = Path(__file__).resolve().parents[1] / "deploy" / "dagster.yaml"
DATASETS = ["staging/orders", "curated/orders", "marts/daily_orders"]
WRITERS, ROUNDS = 6, 4


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request, tmp_path) -> WarehouseResource:
    """A warehouse keeping its run metadata in its DuckDB file or in a Postgres database."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return WarehouseResource(path=str(tmp_path / "warehouse.duckdb"), ledger_url=url)


def ledger_rows(warehouse: WarehouseResource, where: str = "true") -> list[tuple]:
    """(run_id, dataset, partition, attempt, status, note or error) in a stable order."""
    with warehouse.metadata_db() as con:
        return con.query(
            "SELECT run_id, dataset, partition, attempt, status, coalesce(note, error) "  # noqa: S608
            f"FROM platform.pipeline_runs WHERE {where} "
            "ORDER BY run_id, dataset, partition, attempt"
        )


def test_attempts_are_numbered_per_run_and_the_latest_publication_wins(warehouse):
    ledger = Ledger(warehouse)
    notes = {"d1": "new", "d2": "new"}
    first = ledger.begin("run-a", "staging/orders", {"d1": "c1", "d2": "c2"}, "1", False, notes)
    again = ledger.begin("run-a", "staging/orders", {"d1": "c1"}, "1", False)
    assert [(a.partition, a.attempt) for a in first + again] == [("d1", 1), ("d2", 1), ("d1", 2)]
    ledger.finish(first, "succeeded", {"d1": 10, "d2": 20}, {"d1": 9, "d2": 19}, {"d1": "o1"})
    ledger.finish(again, "failed", error="boom")

    published = ledger.published("staging/orders", ["d1", "d2", "d3"])
    assert published["d3"] is None
    assert (published["d1"].run_id, published["d1"].input_checksum) == ("run-a", "c1")
    assert (published["d1"].output_checksum, published["d1"].rows_written) == ("o1", 9)
    assert published["d1"].completed_at.tzinfo is not None

    later = ledger.begin("run-b", "staging/orders", {"d1": "c1-new"}, "2", True)
    ledger.finish(later, "succeeded", rows_written={"d1": 5}, changed_days=["2024-01-01"])
    newest = ledger.published("staging/orders", ["d1"])["d1"]
    assert (newest.run_id, newest.input_checksum, newest.code_version) == ("run-b", "c1-new", "2")
    assert ledger_rows(warehouse) == [
        ("run-a", "staging/orders", "d1", 1, "succeeded", "new"),
        ("run-a", "staging/orders", "d1", 2, "failed", "boom"),
        ("run-a", "staging/orders", "d2", 1, "succeeded", "new"),
        ("run-b", "staging/orders", "d1", 1, "succeeded", None),
    ]


def test_a_success_is_never_recorded_for_an_attempt_whose_row_is_gone(warehouse):
    """If an attempt's row vanished between its start and its end (seen once under a real
    ``dagster dev``, cause unknown), closing it as succeeded fails loudly, and nothing of
    that transaction is recorded; closing it as failed stays quiet (the failure it reports
    comes first)."""
    ledger = Ledger(warehouse)
    kept, lost = ledger.begin("run-a", "staging/orders", {"d1": "c1", "d2": "c2"}, "1", False)
    with warehouse.metadata_db() as con:
        con.execute("DELETE FROM platform.pipeline_runs WHERE partition = 'd2'")
    with pytest.raises(LedgerRowMissing, match="staging/orders d2: the ledger has no row"):
        ledger.finish([kept, lost], "succeeded", rows_written={"d1": 1, "d2": 2})
    assert ledger_rows(warehouse) == [("run-a", "staging/orders", "d1", 1, "started", None)]
    ledger.finish([kept, lost], "failed", error="boom")
    assert ledger_rows(warehouse) == [("run-a", "staging/orders", "d1", 1, "failed", "boom")]


def test_skips_and_blocked_publications_take_the_next_attempt(warehouse):
    ledger = Ledger(warehouse)
    now = dt.datetime.now(dt.UTC)
    version = PublishedVersion("run-a", "c1", "1", "o1", now, 9)
    ledger.begin("run-b", "curated/orders", {"d1": "c1"}, "1", False)
    ledger.record_skips("run-b", "curated/orders", {"d1": version, "d2": version})
    ledger.record_blocked("run-b", ["curated/orders", "marts/daily_orders"], {"d1": "bad"}, {})
    skipped = "unchanged; current version published by run run-a"
    assert ledger_rows(warehouse) == [
        ("run-b", "curated/orders", "d1", 1, "started", None),
        ("run-b", "curated/orders", "d1", 2, "skipped", skipped),
        ("run-b", "curated/orders", "d1", 3, "failed", "bad"),
        ("run-b", "curated/orders", "d2", 1, "skipped", skipped),
        ("run-b", "marts/daily_orders", "d1", 1, "failed", "bad"),
    ]


def test_trailing_rows_unfinished_and_abandon(warehouse):
    ledger = Ledger(warehouse)
    for day, rows in enumerate([100, 200, 300, 400], start=1):
        attempts = ledger.begin(f"run-{day}", "staging/orders", {f"d{day}": "c"}, "1", False)
        ledger.finish(attempts, "succeeded", rows_written={f"d{day}": rows})
    redo = ledger.begin("run-5", "staging/orders", {"d2": "c"}, "1", False)
    ledger.finish(redo, "succeeded", rows_written={"d2": 250})
    assert ledger.trailing_rows("staging/orders", "d4", 2) == [300, 250]
    assert ledger.trailing_rows("staging/orders", "d1", 7) == []

    crashed = ledger.begin("run-6", "staging/orders", {"d3": "c", "d4": "c"}, "1", False)
    assert ledger.unfinished("staging/orders", ["d3", "d9"], "run-7") == [("d3", "run-6", 1)]
    assert ledger.unfinished("staging/orders", ["d3"], "run-6") == []
    ledger.abandon("staging/orders", "d3", "run-6", crashed[0].attempt, "abandoned: run ended")
    assert ledger.unfinished("staging/orders", ["d3", "d4"], "run-7") == [("d4", "run-6", 1)]
    assert ledger_rows(warehouse, "run_id = 'run-6'")[0][4:] == ("failed", "abandoned: run ended")


def test_changed_days_after_a_cursor(warehouse):
    ledger = Ledger(warehouse)
    for run, days in (("run-a", ["2024-01-01"]), ("run-b", None), ("run-c", ["2024-01-02", "x"])):
        attempts = ledger.begin(run, "curated/orders", {"2024-01-03": "c"}, "1", False)
        ledger.finish(attempts, "succeeded", changed_days=days)
    rows = ledger.changed_days_after("curated/orders", "")
    assert [row[1:] for row in rows] == [
        ("run-a", "2024-01-03", "2024-01-01"),
        ("run-c", "2024-01-03", "2024-01-02,x"),
    ]
    assert rows[0][0].endswith("|run-a") and rows[0][0] < rows[1][0]
    assert [row[1] for row in ledger.changed_days_after("curated/orders", rows[0][0])] == ["run-c"]
    assert ledger.changed_days_after("staging/orders", "") == []


def test_check_results_round_trip(warehouse):
    ok = CheckOutcome("amount_non_negative", "ERROR", True, 0, "0 of 9 row(s) fail")
    bad = CheckOutcome("amount_non_negative", "ERROR", False, 2, "2 of 9 row(s) fail", "| x |")
    warn = CheckOutcome("row_count_vs_trailing", "WARN", True, 0, "it's fine", "")
    artifacts = {"d1": "xxh3:a1", "d2": "xxh3:a2"}
    outcomes = {"d1": [ok, warn], "d2": [bad]}
    record_outcomes(warehouse, "staging/orders", "run-a", outcomes, artifacts, "v1")
    record_outcomes(warehouse, "staging/orders", "run-a", {"d1": [bad]}, artifacts, "v1")
    record_outcomes(warehouse, "staging/orders", "run-b", {"d1": [ok]}, {"d1": "xxh3:other"}, "v1")
    wanted = {**artifacts, "d3": "xxh3:a3"}
    stored = artifact_outcomes(warehouse, "staging/orders", wanted, "v1")
    assert stored == {"d1": [bad, warn], "d2": [bad], "d3": []}
    assert artifact_outcomes(warehouse, "staging/orders", {}, "v1") == {}
    # outcomes of other checks (another code version) never decide a gate
    assert artifact_outcomes(warehouse, "staging/orders", wanted, "v2") == dict.fromkeys(wanted, [])


def test_tables_first_created_in_a_transaction_that_rolls_back_are_created_again(warehouse):
    """The first use of the check results in a process may happen inside a transaction
    that then fails (a dropped connection, a failed write): the table must still exist for
    the next use (Postgres DDL is transactional; it was remembered as created, and every
    later write of the process failed with 'relation does not exist')."""
    ok = CheckOutcome("amount_non_negative", "ERROR", True, 0, "0 of 9 row(s) fail")
    with pytest.raises(RuntimeError, match="the write failed"):
        with warehouse.metadata_transaction():
            record_outcomes(warehouse, "staging/orders", "run-a", {"d1": [ok]}, {"d1": "a"}, "v1")
            raise RuntimeError("the write failed")
    record_outcomes(warehouse, "staging/orders", "run-b", {"d1": [ok]}, {"d1": "a"}, "v1")
    assert artifact_outcomes(warehouse, "staging/orders", {"d1": "a"}, "v1") == {"d1": [ok]}


def test_the_ledger_cli_queries(warehouse):
    ledger = Ledger(warehouse)
    attempts = ledger.begin("0123456789", "staging/orders", {"d1": "c"}, "1", False)
    ledger.finish(attempts, "succeeded", {"d1": 3}, {"d1": 2})
    ledger.record_skips(
        "plan-20240101T000000Z",
        "staging/orders",
        {"d1": PublishedVersion("0123456789", "c", "1", None, dt.datetime.now(dt.UTC))},
    )
    with warehouse.metadata_db() as con:
        recent, summary = recent_attempts(con, 5), published_summary(con)
    assert recent.columns[:5] == ["run", "dataset", "partition", "attempt", "status"]
    assert sorted(recent["run"]) == ["01234567", "planned"]
    assert recent["seconds"].dtype.is_float()
    assert recent["code_version"].to_list() == ["1", "1"]
    assert summary.rows() == [("staging/orders", 1, "d1", 1, 1, 0, 0)]


def test_a_session_shares_one_postgres_connection_and_leaves_the_file_alone(
    postgres_url, tmp_path, monkeypatch
):
    opened = []
    real_connect = psycopg2.connect
    monkeypatch.setattr(psycopg2, "connect", lambda **kw: opened.append(1) or real_connect(**kw))
    warehouse = WarehouseResource(path=str(tmp_path / "w.duckdb"), ledger_url=postgres_url)
    ledger = Ledger(warehouse)
    with warehouse.session():
        ledger.published("staging/orders", ["d1"])
        attempts = ledger.begin("run-a", "staging/orders", {"d1": "c"}, "1", False)
        record_outcomes(warehouse, "staging/orders", "run-a", {"d1": []}, {}, "v1")
        ledger.finish(attempts, "succeeded")
    assert len(opened) == 1
    assert not (tmp_path / "w.duckdb").exists()
    ledger.published("staging/orders", ["d1"])
    assert len(opened) == 2


def _write_attempts(url: str, path: str, barrier, worker: int) -> None:
    """One concurrent writer: begin, skip and blocked rows on the same run and partition."""
    ledger = Ledger(WarehouseResource(path=path, ledger_url=url))
    version = PublishedVersion("run-0", "c", "1", None, dt.datetime.now(dt.UTC))
    barrier.wait()
    for turn in range(ROUNDS):
        if turn % 3 == 0:
            attempts = ledger.begin("shared", "staging/orders", {"d1": f"w{worker}"}, "1", False)
            ledger.finish(attempts, "failed", error=f"worker {worker}")
        elif turn % 3 == 1:
            ledger.record_skips("shared", "staging/orders", {"d1": version})
        else:
            ledger.record_blocked("shared", ["staging/orders"], {"d1": f"worker {worker}"}, {})


def test_concurrent_writers_get_distinct_attempt_numbers(postgres_url, tmp_path):
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(WRITERS)
    path = str(tmp_path / "unused.duckdb")
    workers = [
        context.Process(target=_write_attempts, args=(postgres_url, path, barrier, n))
        for n in range(WRITERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0] * WRITERS
    rows = ledger_rows(WarehouseResource(path=path, ledger_url=postgres_url))
    assert [row[3] for row in rows] == list(range(1, WRITERS * ROUNDS + 1))
    assert "started" not in {row[4] for row in rows}


@pytest.fixture
def pg_settings(tmp_path, postgres_url):
    """Settings with a local data root and the ledger in Postgres; two days of sample data."""
    settings = load_settings(
        {"PLATFORM_DATA_DIR": str(tmp_path / "data"), "PLATFORM_LEDGER_URL": postgres_url}
    )
    generate(SampleSpec(START, 2, 200, 42), settings.data_dir)
    return settings


def pg_ledger_output(settings, run_id: str, dataset: str) -> str:
    """The output checksum (staged artifact) one run recorded for ``dataset``."""
    con = psycopg2.connect(settings.ledger_url)
    try:
        with con.cursor() as cursor:
            cursor.execute(
                "SELECT output_checksum FROM platform.pipeline_runs "
                "WHERE run_id = %s AND dataset = %s AND status = 'succeeded'",
                [run_id, dataset],
            )
            return cursor.fetchone()[0]
    finally:
        con.close()


def pg_ledger(settings, run_id: str) -> dict[str, tuple]:
    """{dataset: (status, error)} of one run, read from Postgres directly."""
    con = psycopg2.connect(settings.ledger_url)
    try:
        with con.cursor() as cursor:
            cursor.execute(
                "SELECT dataset, status, error FROM platform.pipeline_runs WHERE run_id = %s",
                [run_id],
            )
            return {dataset: (status, error) for dataset, status, error in cursor.fetchall()}
    finally:
        con.close()


def duckdb_platform_tables(settings) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'platform'"
        ).fetchall()
    finally:
        con.close()


@pytest.fixture
def dagster_on_postgres(postgres_server, monkeypatch):
    """A Dagster instance with ``deploy/dagster.yaml``'s ``storage:`` block, on the test cluster."""
    env = {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_USER": "postgres",
        "DAGSTER_PG_PASSWORD": "unused-with-trust-auth",
        "DAGSTER_PG_DB": postgres_server.new_database(),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    storage = yaml.safe_load(DEPLOY_YAML.read_text())["storage"]
    storage["postgres"]["postgres_db"]["port"] = postgres_server.port
    storage["postgres"]["postgres_db"]["params"]["sslmode"] = "disable"  # no TLS on loopback
    with dg.instance_for_test(overrides={"storage": storage}) as instance:
        yield instance


def test_orders_job_keeps_its_ledger_in_postgres(pg_settings, dagster_on_postgres):
    defs = build_definitions(pg_settings)
    instance = dagster_on_postgres
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    first = run_orders(defs, instance, "2024-01-01")
    assert first.success
    assert {d: pg_ledger(pg_settings, first.run_id)[d][0] for d in DATASETS} == {
        d: "succeeded" for d in DATASETS
    }
    assert duckdb_platform_tables(pg_settings) == []  # no ledger, no check results in the file

    second = run_orders(defs, instance, "2024-01-01")
    assert second.success
    assert {status for status, _ in pg_ledger(pg_settings, second.run_id).values()} == {"skipped"}
    flags = {
        event.event_specific_data.materialization.metadata[SKIPPED_KEY].value
        for event in second.get_asset_materialization_events()
    }
    assert flags == {True}
    assert instance.get_run_by_id(second.run_id).status == dg.DagsterRunStatus.SUCCESS


def test_publication_gate_reads_check_results_from_postgres(pg_settings):
    defs = build_definitions(pg_settings)
    instance = dg.DagsterInstance.ephemeral()
    key = "2024-01-02"
    poison(pg_settings, key)
    staged = run_orders(defs, instance, key, selection=[dg.AssetKey(["staging", "orders"])])
    assert not staged.success  # a blocking check failed on the staged artifact
    artifact = pg_ledger_output(pg_settings, staged.run_id, "staging/orders")
    version = staging_version(ORDERS).value
    warehouse = defs.resources["warehouse"]
    stored = artifact_outcomes(warehouse, "staging/orders", {key: artifact}, version)[key]
    assert [o.name for o in stored if not o.passed] == ["amount_non_negative"]

    publishers = [dg.AssetKey(["curated", "orders"]), dg.AssetKey(["marts", "daily_orders"])]
    blocked = run_orders(defs, instance, key, selection=publishers)
    assert not blocked.success
    failure = blocked.failure_data_for_node("curated__orders")
    assert failure.error.cls_name == "PublicationBlocked"
    status, error = pg_ledger(pg_settings, blocked.run_id)["curated/orders"]
    assert status == "failed" and "amount_non_negative" in error
    assert duckdb_platform_tables(pg_settings) == []


def test_a_password_never_shows(postgres_server, postgres_url, tmp_path, monkeypatch, capsys):
    database = postgres_url.rsplit("/", 1)[1]
    wrong = "wrong-" + PASSWORD
    path = str(tmp_path / "w.duckdb")
    for url in (
        postgres_server.url(database, PASSWORD_USER, wrong),
        f"postgresql://{PASSWORD_USER}:{wrong}@127.0.0.1:1/{database}",
        f"postgresql://{PASSWORD_USER}:{wrong}@127.0.0.1:notaport/{database}",
        f"mysql://{PASSWORD_USER}:{wrong}@127.0.0.1/{database}",
        f"host=127.0.0.1 user={PASSWORD_USER} password={wrong}",
        f"postgresql://{PASSWORD_USER}:{wrong}@[127.0.0.1/{database}",
        f"postgresql://{PASSWORD_USER}@127.0.0.1:1/{database}?password={wrong}",
    ):
        with pytest.raises(MetadataDatabaseError) as caught:
            Ledger(WarehouseResource(path=path, ledger_url=url)).published("d", ["d1"])
        assert wrong not in "".join(traceback.format_exception(caught.value))

    right = postgres_server.url(database, PASSWORD_USER, PASSWORD)
    Ledger(WarehouseResource(path=path, ledger_url=right)).begin(
        "run-a", "d", {"p": "c"}, "1", False
    )
    monkeypatch.setenv("PLATFORM_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PLATFORM_LEDGER_URL", right)
    assert ledger_cli.main([]) == 0
    monkeypatch.setenv("PLATFORM_LEDGER_URL", postgres_server.url(database, PASSWORD_USER, wrong))
    assert ledger_cli.main([]) == 1
    monkeypatch.setenv("PLATFORM_LEDGER_URL", postgres_server.url(database, PASSWORD_USER))
    monkeypatch.setenv("PGPASSWORD", PASSWORD)  # libpq's own variable
    assert ledger_cli.main([]) == 0
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err
    assert out.count("run-a") == 2 and f"{PASSWORD_USER}:***@" in out
    assert "password authentication failed" in err and f"{PASSWORD_USER}:***@" in err


def test_the_code_location_refuses_a_ledger_url_with_a_password(tmp_path, postgres_server):
    url = postgres_server.url("db", PASSWORD_USER, PASSWORD)
    settings = load_settings({"PLATFORM_DATA_DIR": str(tmp_path), "PLATFORM_LEDGER_URL": url})
    with pytest.raises(ValueError, match="PGPASSWORD") as caught:
        build_definitions(settings)
    assert PASSWORD not in str(caught.value)

"""The code location assembled from declarations (issue 19): the adversarial review of
429892e as regression tests, each a break of "declarations in, definitions out" on that
commit (docstrings say what broke).

Throwaway declarations are built here and handed to ``build_definitions(settings,
declarations)``; nothing outside this file is changed.
"""

import dataclasses
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from platform_assets.datasets import declarations
from platform_assets.datasets.customers.dataset import CUSTOMERS, CUSTOMERS_DAILY
from platform_assets.datasets.orders.assets import CURATED_ORDERS, DAILY_ORDERS, ORDERS
from platform_assets.definitions import build_definitions
from platform_assets.orchestration.declarations import Dataset, Mart
from platform_assets.orchestration.planner import catalog_of
from platform_assets.storage.table_fingerprint import daily_slice_checksums
from platform_assets.storage.table_schema import existing_columns
from platform_assets.storage.warehouse import query_frame
from tests.conftest import read_table
from tests.test_late_changes import DAY1, DAY2, DAY3, execute_request, land, late_changes_ticks

ROOT = Path(__file__).resolve().parents[1]

# --- a mart over a mart: per business day, the orders of marts.daily_orders summed ----------

TOTALS = "marts.daily_order_totals"
TOTALS_SCHEMA = pl.Schema({"business_date": pl.Date, "kept_orders": pl.Int64})
KEPT = (
    "SELECT business_date, CAST(sum(orders) FILTER (WHERE status <> 'refunded') AS BIGINT) "
    "AS kept_orders FROM marts.daily_orders "
)


def _merge_into(table: str):
    """The orders write spec, into another table."""
    return dataclasses.replace(CURATED_ORDERS.write, table=table)


def totals_checksums(con: duckdb.DuckDBPyConnection, days: list[dt.date]):
    """What a day of the totals is computed from: that day of marts.daily_orders."""
    return daily_slice_checksums(con, "marts.daily_orders", "business_date", days)


def build_totals(con: duckdb.DuckDBPyConnection, days: list[dt.date]):
    """Orders not refunded per business day, summed from marts.daily_orders."""
    if not existing_columns(con, "marts.daily_orders"):
        return pl.DataFrame(schema=TOTALS_SCHEMA), {}
    figures = query_frame(
        con,
        KEPT + "WHERE business_date IN (SELECT unnest(?::DATE[])) GROUP BY ALL ORDER BY ALL",
        [days],
    )
    return figures.cast(TOTALS_SCHEMA), {}


ORDER_TOTALS = Mart(
    key=["marts", "daily_order_totals"],
    group="orders",
    deps=[DAILY_ORDERS.asset_key],
    table=TOTALS,
    description="Orders per business day, from marts.daily_orders (a mart over a mart).",
    input_checksums=totals_checksums,
    build=build_totals,
    reads=["marts.daily_orders"],
)


def test_a_mart_over_a_mart_is_brought_up_to_date_by_the_late_changes_sensor(settings):
    """WAS (medium): the assembly puts a mart that reads another mart into the
    late-changes sensor ("readers_of: directly or through another mart"), but the sensor
    requests every mart of a changed day at once, each in its own run, deciding from the
    tables as they are at the tick. The mart over the mart compares its input (the old
    marts.daily_orders day) with what it published, sees no change and is not requested;
    once marts.daily_orders is recomputed no merge row is written, so no later tick looks
    at that day again. The mart over the mart keeps the figures of before the late change
    until an unrelated merge touches that day (the launcher's catch-up gets it right; the
    sensor, which is how late changes are handled under `dagster dev`, does not).
    """
    defs = build_definitions(settings, [*declarations(), ORDER_TOTALS])
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def("orders_daily_job")
    assert ORDER_TOTALS.asset_key in job.asset_layer.executable_asset_keys
    tick = late_changes_ticks(defs)

    for day, rows in [("2024-01-01", DAY1), ("2024-01-02", DAY2), ("2024-01-03", DAY3)]:
        land(settings, day, rows)
        assert job.execute_in_process(partition_key=day, instance=instance).success
    for _ in range(4):  # the sensor, tick after tick, until it asks for nothing more
        requests = tick()
        if not requests:
            break
        for request in requests:
            assert execute_request(defs, request, instance).success

    # order 1 (placed 2024-01-01) was refunded on 2024-01-03: marts.daily_orders has it
    assert (
        read_table(
            settings,
            "SELECT count(*) FROM marts.daily_orders WHERE business_date = DATE '2024-01-01' "
            "AND status = 'refunded'",
        ).item()
        == 1
    )
    expected = read_table(settings, KEPT + "GROUP BY ALL ORDER BY ALL")
    totals = read_table(settings, f"SELECT * FROM {TOTALS} ORDER BY ALL")  # noqa: S608
    assert totals.rows() == expected.rows()  # found: 2024-01-01 still 2 kept orders, not 1


# --- the assembly accepts declarations that cannot work -------------------------------------


def test_a_mart_whose_deps_name_no_declared_asset_is_refused(settings):
    """WAS (medium): a mart whose ``deps`` name an asset no dataset declares (a typo:
    ``curated/order``) is accepted. Dagster turns the unknown key into an external stub,
    ``readers_of`` finds no publication it reads, so the mart joins no job, no sensor, no
    schedule; the launcher, the demo and ``--repair``'s job lookup never run it, and nothing
    says so. It only shows as a lone asset in the UI. The assembly should refuse it, naming
    the unknown key (or at least the mart that no job runs).
    """
    typo = dataclasses.replace(
        DAILY_ORDERS,
        key=["marts", "daily_orders_typo"],
        table="marts.daily_orders_typo",
        deps=[dg.AssetKey(["curated", "order"])],
    )
    try:
        defs = build_definitions(settings, [*declarations(), typo])
    except ValueError:
        return  # refused: what should happen
    in_jobs = {
        key
        for job in catalog_of(defs).jobs
        for key in defs.resolve_job_def(job).asset_layer.executable_asset_keys
    }
    assert typo.asset_key in in_jobs, "accepted, yet no job runs marts/daily_orders_typo"


def test_two_assets_publishing_to_one_table_are_refused(settings):
    """WAS (medium): duplicate asset keys and dataset names are refused, duplicate
    warehouse tables are not. A dataset copied from customers (the README's example of
    adding one) that keeps ``table="curated.customers_daily"`` is accepted; run after
    customers, its job replaces customers' day in that table (reproduced:
    curated.customers_daily then holds only the copy's rows, ``verify`` reports the
    customers day drifted and the next launch plans it again). The same holds for two
    marts on one table. ``_refuse_duplicates`` should refuse a table written by two assets.
    """
    copy = Dataset(
        spec=dataclasses.replace(CUSTOMERS, name="suppliers"),
        publications=(dataclasses.replace(CUSTOMERS_DAILY, key=["curated", "suppliers_daily"]),),
    )
    with pytest.raises(ValueError, match="curated.customers_daily"):
        build_definitions(settings, [*declarations(), copy])
    second_mart = dataclasses.replace(DAILY_ORDERS, key=["marts", "daily_orders_again"])
    with pytest.raises(ValueError, match="marts.daily_orders"):
        build_definitions(settings, [*declarations(), second_mart])


def test_a_declaration_that_is_not_a_dataset_or_mart_is_refused(settings):
    """WAS (low): ``assemble`` keeps the ``Dataset`` and ``Mart`` values of a module's
    ``DECLARATIONS`` and silently drops anything else, so ``DECLARATIONS = [SPEC, PUBLISH]``
    (a DatasetSpec and a Publish, a natural slip) or a stray publication gives a code
    location without that dataset and no error. It should be refused.
    """
    with pytest.raises((TypeError, ValueError)):
        build_definitions(settings, [*declarations(), CUSTOMERS, CUSTOMERS_DAILY])


def test_two_current_state_publications_of_one_dataset_get_distinct_sensors(settings):
    """WAS (low): the late-changes sensor of each merge publication is named from
    ``publish.key[1:]``, dropping the key's first part, so a dataset with two merge
    publications whose keys differ only there (``curated/shipments`` and
    ``audit/shipments``, each read by a mart) gets two sensors named
    ``shipments_shipments_late_changes_sensor`` and Dagster refuses the whole code location
    ("Duplicate definition found"). Distinct asset keys should give distinct sensor names.
    """
    curated = dataclasses.replace(
        CURATED_ORDERS, key=["curated", "shipments"], write=_merge_into("curated.shipments")
    )
    audit = dataclasses.replace(
        CURATED_ORDERS, key=["audit", "shipments"], write=_merge_into("audit.shipments")
    )
    marts = tuple(
        dataclasses.replace(
            DAILY_ORDERS,
            key=["marts", f"daily_{p.key[0]}_shipments"],
            table=f"marts.daily_{p.key[0]}_shipments",
            deps=[dg.AssetKey(p.key)],
            reads=[p.table],
        )
        for p in (curated, audit)
    )
    shipments = Dataset(
        spec=dataclasses.replace(ORDERS, name="shipments"),
        publications=(curated, audit),
        marts=marts,
    )

    def late_sensors(defs: dg.Definitions) -> list[str]:
        return [s.name for s in defs.sensors if s.name.endswith("_late_changes_sensor")]

    before = late_sensors(build_definitions(settings))
    defs = build_definitions(settings, [*declarations(), shipments])
    names = late_sensors(defs)
    assert len(set(names)) == len(names) == len(before) + 2, names
    dg.Definitions.validate_loadable(defs)  # what `dagster dev` does: refused today


def test_the_late_changes_sensor_describes_its_own_dataset(settings):
    """WAS (low, a hard-coded dataset): the late-changes sensor's description, shown in
    the UI, says "whose orders a <publication> merge changed" for every dataset, so a third
    dataset's sensor reads "the days of marts/daily_net_shipments whose orders a
    curated/shipments merge changed". late_changes.py should not name a dataset.
    """
    curated = dataclasses.replace(
        CURATED_ORDERS, key=["curated", "shipments"], write=_merge_into("curated.shipments")
    )
    mart = dataclasses.replace(
        DAILY_ORDERS,
        key=["marts", "daily_net_shipments"],
        table="marts.daily_net_shipments",
        deps=[dg.AssetKey(curated.key)],
        reads=[curated.table],
    )
    shipments = Dataset(
        spec=dataclasses.replace(ORDERS, name="shipments"), publications=(curated,), marts=(mart,)
    )
    defs = build_definitions(settings, [*declarations(), shipments])
    description = defs.resolve_sensor_def("shipments_late_changes_sensor").description
    assert "orders" not in description, description


# --- settings: nothing read at import ---------------------------------------------------------


@pytest.mark.parametrize(
    "variable",
    [
        "PLATFORM_START_DATE=2024-02-30",
        "PLATFORM_MAX_PARTITIONS_PER_RUN=many",
        "PLATFORM_LEDGER_URL=postgresql://user:secret@db.example/platform",
    ],
)
def test_building_definitions_from_given_settings_ignores_the_environment(tmp_path, variable):
    """WAS (low): issue 19 item 3 says "nothing read at import", but importing
    ``platform_assets.definitions`` (to call ``build_definitions(settings)``) runs the
    module-level ``defs = build_definitions()``, which reads the environment and builds the
    environment's whole code location. A process whose environment holds a bad or
    refused setting cannot build definitions from the settings it passes: the import
    raises (InvalidPartitionKey, ValueError, "PLATFORM_LEDGER_URL carries a password").
    The same for ``platform_assets.tools.launch`` and ``tools.demo``, which import ``defs``
    at module level (``launch.JOBS``), and for tests (conftest imports build_definitions).
    """
    name, value = variable.split("=", 1)
    code = (
        "from platform_assets.definitions import build_definitions\n"
        "from platform_assets.settings import load_settings\n"
        "from platform_assets.tools.launch import launch_job\n"
        f"defs = build_definitions(load_settings({{'PLATFORM_DATA_DIR': {str(tmp_path)!r}}}))\n"
        "print(defs.resolve_job_def('orders_daily_job').name)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), name: value}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1]
    assert done.stdout.strip() == "orders_daily_job"


# --- item 5: no dead code ---------------------------------------------------------------------

ENTRY_POINTS = {"main", "defs", "DECLARATIONS"}


def test_every_top_level_name_of_the_package_is_used_somewhere():
    """WAS (low): 429892e claims issue 19 item 5 ("remove what nothing calls"), yet the
    package still defines names nothing refers to: ``count_by_day``
    (orchestration/metadata.py), ``QUARANTINE_TABLE`` (datasets/orders/schema.py, a
    duplicate of ``DatasetSpec.quarantine_table``, which derives ``quarantine.orders`` from
    the name) and ``SNAPSHOT_COLUMNS`` (tools/sample_customers.py), named by no module and
    no test. (The two IO managers'
    ``load_input`` named by the issue cannot go: Dagster's IOManager declares it abstract.)
    """
    import ast
    import re

    files = sorted((ROOT / "platform_assets").rglob("*.py"))
    tests = sorted((ROOT / "tests").rglob("*.py"))
    text = "\n".join(path.read_text() for path in [*files, *tests] if path != Path(__file__))
    unused = []
    for path in files:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            else:
                continue
            for name in names:
                if name in ENTRY_POINTS or name.startswith("__"):
                    continue
                if len(re.findall(rf"\b{re.escape(name)}\b", text)) <= 1:
                    unused.append(f"{path.relative_to(ROOT)}:{node.lineno} {name}")
    assert unused == []

"""Derived code versions (issue #16, item 4): a logic change recomputes what it affects.

Unit tests pin what counts in a version (code, helpers, constants, closures) and
what does not (comments, docstrings, formatting, a function's name, unrelated
code); a subprocess with another hash seed derives the same versions. The
pipeline tests change a declaration the way a developer would (another staging
transform, another mart SQL) and run a 3-day range on a real DuckDB file: the
ledger rows of that run say exactly which (asset, day) was recomputed and which
skipped.
"""

import dataclasses
import importlib
import json
import operator
import os
import re
import subprocess
import sys
import textwrap

import dagster as dg
import duckdb
import polars as pl
import pytest

from platform_assets.core import cdc, checks
from platform_assets.core.code_version import (
    ENGINE_VERSION,
    UnversionableValue,
    derive_code_version,
    fingerprint,
)
from platform_assets.datasets import declarations
from platform_assets.datasets.orders import schema, transforms
from platform_assets.datasets.orders.assets import CURATED_ORDERS, DAILY_ORDERS, ORDERS
from platform_assets.definitions import build_definitions
from platform_assets.orchestration import planner
from platform_assets.orchestration.declarations import Dataset
from platform_assets.storage.warehouse import qualified, query_frame
from platform_assets.tools.launch import plan_resources
from tests.conftest import read_table
from tests.test_late_changes import event, land

RANGE = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]
STAGED = "staging/orders"

# --- what counts in a version ---------------------------------------------------------

FIXTURE = '''
"""A dataset module of a test: a transform, its helper, a constant, an unrelated function."""
import polars as pl

SQL = "SELECT order_id, amount FROM curated.orders"


def helper(frame):
    return frame.with_columns(amount=pl.col("amount") * 2)


def transform(frame):
    """Double the amounts."""
    return helper(frame).select(SQL.split()[1].rstrip(","), "amount")


def unrelated(frame):
    return frame.head(1)


def factory(factor):
    def scaled(frame):
        return frame.with_columns(amount=pl.col("amount") * factor)

    return scaled


class Scaler:
    """A callable declaration: its methods and what they use count, and its fields."""

    def __init__(self, factor):
        self.factor = factor

    def __call__(self, frame):
        return helper(frame).with_columns(amount=pl.col("amount") * self.factor)
'''

EDITS = {
    "comment, docstring, formatting": [
        ('    """Double the amounts."""\n', "    # doubles the amounts\n"),
        (
            '    return helper(frame).select(SQL.split()[1].rstrip(","), "amount")',
            "    return helper(\n        frame\n    ).select(\n"
            "        SQL.split()[1].rstrip(','),  'amount')",
        ),
    ],
    "an unrelated function": [("frame.head(1)", "frame.head(2)")],
    "type annotations": [
        ("def helper(frame):", "def helper(frame: pl.DataFrame) -> pl.DataFrame:")
    ],
}
CHANGES = {
    "the transform": [('"amount")\n', '"amount").unique()\n')],
    "a helper it calls": [('pl.col("amount") * 2', 'pl.col("amount") * 3')],
    "a constant it reads (SQL)": [("SELECT order_id, amount", "SELECT order_id , amount")],
}


@pytest.fixture
def fixture_module(tmp_path, monkeypatch):
    """Write the fixture module with some edits under a name and import it (removed from
    ``sys.modules`` after the test)."""

    def write(name: str, edits: list[tuple[str, str]]):
        text = FIXTURE
        for old, new in edits:
            assert old in text, old
            text = text.replace(old, new)
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.delitem(sys.modules, name, raising=False)
        return importlib.import_module(name)

    return write


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edit_that_cannot_change_the_output_keeps_the_version(fixture_module, edit):
    base = fixture_module("cv_base", [])
    edited = fixture_module("cv_edited", EDITS[edit])
    assert fingerprint(edited.transform) == fingerprint(base.transform)


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_to_the_code_or_what_it_uses_changes_the_version(fixture_module, change):
    base = fixture_module("cv_base", [])
    changed = fixture_module("cv_changed", CHANGES[change])
    assert fingerprint(changed.transform) != fingerprint(base.transform)


def test_a_callable_object_counts_by_its_class_code_and_its_fields(fixture_module):
    base = fixture_module("cv_base", [])
    helper_changed = fixture_module("cv_helper", CHANGES["a helper it calls"])
    commented = fixture_module(
        "cv_commented", [("        self.factor", "        # x\n        self.factor")]
    )
    assert fingerprint(commented.Scaler(2)) == fingerprint(base.Scaler(2))
    assert fingerprint(base.Scaler(3)) != fingerprint(base.Scaler(2))
    assert fingerprint(helper_changed.Scaler(2)) != fingerprint(base.Scaler(2))


def test_renaming_a_function_keeps_its_version_and_closures_count(fixture_module):
    module = fixture_module("cv_closures", [])
    assert fingerprint(module.factory(2)) == fingerprint(module.factory(2))
    assert fingerprint(module.factory(2)) != fingerprint(module.factory(3))
    renamed = fixture_module("cv_renamed", [("def helper(", "def helper_renamed(")])
    assert fingerprint(renamed.unrelated) == fingerprint(module.unrelated)


def test_declaration_fields_count_descriptions_do_not():
    version = derive_code_version("staging", ORDERS).value
    described = dataclasses.replace(ORDERS, staging_description="Reworded.")
    assert derive_code_version("staging", described).value == version
    contract = dataclasses.replace(ORDERS.contract, not_null=("order_id", "customer_id"))
    stricter = dataclasses.replace(ORDERS, contract=contract)
    assert derive_code_version("staging", stricter).value != version
    assert derive_code_version("staging", ORDERS, write_spec={"a": "b"}).value != version
    assert fingerprint(pl.DataFrame({"fx": [1.1]})) != fingerprint(pl.DataFrame({"fx": [1.2]}))
    assert fingerprint(frozenset({"a", "b", "c"})) == fingerprint(frozenset({"c", "b", "a"}))


def test_the_shared_cdc_code_counts_by_content(monkeypatch):
    """Which event of a key wins (``core/cdc.py``) decides the datasets' output: an edit to
    it recomputes them, as an edit to their own code does."""
    declared = {"staging": ORDERS, "curated": CURATED_ORDERS}
    before = [derive_code_version(kind, d).value for kind, d in declared.items()]

    def keep_latest(frame, key, ordering):  # NULLs highest instead of lowest
        return frame.sort(ordering, nulls_last=True).unique(key, keep="last")

    monkeypatch.setattr(cdc, "keep_latest", keep_latest)
    after = [derive_code_version(kind, d).value for kind, d in declared.items()]
    assert after[0] != before[0] and after[1] != before[1]


def test_the_shared_checks_count_by_content(monkeypatch):
    """Which checks a staged day runs, and how (``core/checks.py``), decides whether it may
    be published: an edit to them re-evaluates every day, as an edit to a dataset's own
    rules does."""
    before = derive_code_version("staging", ORDERS).value
    original = checks.reject_rate

    def reject_rate(rejected, total, threshold):  # a looser rule: twice the threshold
        return original(rejected, total, 2 * threshold)

    monkeypatch.setattr(checks, "reject_rate", reject_rate)
    assert derive_code_version("staging", ORDERS).value != before


def test_a_value_known_only_by_its_address_is_refused():
    with pytest.raises(UnversionableValue, match="cannot derive a code version"):
        fingerprint([object()])
    with pytest.raises(UnversionableValue, match="cannot derive a code version"):
        fingerprint(operator.methodcaller("sort"))  # callable, its logic is not visible
    with pytest.raises(UnversionableValue, match="Python UDF|native expressions"):
        fingerprint(pl.col("a").map_batches(lambda s: s))


def test_every_asset_has_a_short_derived_version_and_shows_its_parts(defs):
    graph = defs.resolve_asset_graph()
    for key in graph.materializable_asset_keys:
        node = graph.get(key)
        assert re.fullmatch(r"[0-9a-f]{12}", node.code_version or ""), key
        assert node.metadata["platform/code_version_parts"].startswith(f"engine {ENGINE_VERSION}")


VERSIONS_CHILD = """
import json, sys
from platform_assets.definitions import build_definitions
from platform_assets.settings import load_settings
graph = build_definitions(load_settings({"PLATFORM_DATA_DIR": sys.argv[1]})).resolve_asset_graph()
print(json.dumps({
    key.to_user_string(): [graph.get(key).code_version,
                           graph.get(key).metadata["platform/code_version_parts"]]
    for key in graph.materializable_asset_keys
}, sort_keys=True))
"""


def test_versions_are_the_same_in_other_processes(settings, defs):
    graph = defs.resolve_asset_graph()
    here = {
        key.to_user_string(): [
            graph.get(key).code_version,
            graph.get(key).metadata["platform/code_version_parts"],
        ]
        for key in graph.materializable_asset_keys
    }
    for seed in ("1", "4242"):  # str/set hashing is salted per process; versions must not be
        child = subprocess.run(
            [sys.executable, "-c", VERSIONS_CHILD, str(settings.data_dir)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(child.stdout) == here
    assert sorted(here) == sorted(planner.catalog_of(defs).datasets)


# --- a code change recomputes exactly what it affects -----------------------------------

TEST_ORDER = 999_000_001


def stage_without_test_orders(events: pl.DataFrame, landing_date) -> pl.DataFrame:
    """The orders transform with a fix: orders in ISO 4217's test currency (XTS) are dropped."""
    return transforms.staged_rows(events.filter(pl.col("currency") != "XTS"), landing_date)


def stage_refactored(events: pl.DataFrame, landing_date) -> pl.DataFrame:
    """The same staging rows computed another way (a refactor: byte-identical output)."""
    latest = cdc.keep_latest(
        events.with_columns(pl.col("op").eq("D").alias("is_deleted")),
        schema.BUSINESS_KEY,
        schema.ORDERING,
    )
    return latest.with_columns(pl.lit(landing_date).cast(pl.Date).alias("landing_date")).select(
        schema.STAGING_COLUMNS
    )


def build_daily_orders_without_cancelled(con: duckdb.DuckDBPyConnection, days):
    """marts/daily_orders with new SQL: cancelled orders no longer count."""
    figures = query_frame(
        con,
        "SELECT CAST(created_at AS DATE) AS business_date, status, currency, "  # noqa: S608
        "count(*) AS orders, CAST(sum(amount) AS DECIMAL(18, 2)) AS revenue "
        f"FROM {qualified(schema.CURATED_TABLE)} "
        "WHERE NOT is_deleted AND status <> 'cancelled' "
        "AND CAST(created_at AS DATE) IN (SELECT unnest(?::DATE[])) "
        "GROUP BY ALL ORDER BY business_date, status, currency",
        [days],
    )
    return figures.cast(schema.MART_SCHEMA), {}


@pytest.fixture
def instance(tmp_path):
    """A real (temporary, SQLite-backed) Dagster instance."""
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as test_instance:
        yield test_instance


def with_orders(settings, spec=None, mart=None) -> dg.Definitions:
    """The platform's definitions with the orders dataset declared from a changed staging
    ``spec`` or a changed daily-orders ``mart`` (what a code change to its module does)."""
    changed = []
    for declaration in declarations():
        if isinstance(declaration, Dataset) and declaration.name == ORDERS.name:
            marts = tuple(mart if mart and m.key == mart.key else m for m in declaration.marts)
            declaration = dataclasses.replace(declaration, spec=spec or ORDERS, marts=marts)
        changed.append(declaration)
    return build_definitions(settings, changed)


def run_days(
    settings, defs: dg.Definitions, instance
) -> dict[tuple[str, str], tuple[str, str, str]]:
    """Run orders_daily_job over DAYS in one run; {(dataset, day): (status, version, note)}."""
    result = defs.resolve_job_def("orders_daily_job").execute_in_process(
        instance=instance, tags={RANGE[0]: DAYS[0], RANGE[1]: DAYS[-1]}
    )
    assert result.success
    rows = read_table(
        settings,
        "SELECT dataset, partition, status, code_version, coalesce(note, '') "  # noqa: S608
        f"FROM platform.pipeline_runs WHERE run_id = '{result.run_id}'",
    ).rows()
    return {(d, p): (s, v, n) for d, p, s, v, n in rows}


def statuses(rows) -> dict[str, dict[str, str]]:
    """{dataset: {day: status}} of one run."""
    found: dict[str, dict[str, str]] = {}
    for (dataset, day), (status, _, _) in rows.items():
        found.setdefault(dataset, {})[day] = status
    return found


def artifacts(settings) -> dict[str, str]:
    """The current staged artifact of each day (the succeeded staging attempts' output)."""
    rows = read_table(
        settings,
        "SELECT DISTINCT ON (partition) partition, output_checksum FROM platform.pipeline_runs "
        "WHERE dataset = 'staging/orders' AND status = 'succeeded' "
        "ORDER BY partition, completed_at DESC",
    ).rows()
    return dict(rows)


@pytest.fixture
def below(orders_job_assets) -> list[str]:
    """The orders job's assets below its staging (publications and every mart reading them)."""
    assert STAGED in orders_job_assets
    return [asset for asset in orders_job_assets if asset != STAGED]


@pytest.fixture
def published(settings, sample_days, defs, instance, below):
    """Three sample days plus a test-currency order placed on day 2, all published."""
    assert sample_days(days=3, orders_per_day=200) == DAYS
    test_order = event(
        "I", 1, TEST_ORDER, "placed", "12.50", "2024-01-02 12:00:00", "2024-01-02 12:00:00", "XTS"
    )
    land(settings, DAYS[1], [test_order], name="cdc-test-order.csv")
    first = run_days(settings, defs, instance)
    assert {status for status, _, _ in first.values()} == {"succeeded"}
    assert len(first) == (1 + len(below)) * len(DAYS)
    return first


def planned(defs: dg.Definitions) -> dict[str, list[str]]:
    """What ``launch`` would run (skip before launching): {dataset: days to compute}."""
    plan = planner.plan_job(defs, "orders_daily_job", DAYS, plan_resources(defs))
    return {asset.dataset: asset.todo for asset in plan.assets}


def curated_orders(settings) -> set[int]:
    return set(read_table(settings, "SELECT order_id FROM curated.orders")["order_id"])


def version_of(defs: dg.Definitions, dataset: str) -> str:
    return defs.resolve_asset_graph().get(dg.AssetKey(dataset.split("/"))).code_version


def test_a_transform_fix_recomputes_staging_and_only_the_days_whose_data_it_changed(
    settings, defs, instance, published, below
):
    fixed = with_orders(settings, dataclasses.replace(ORDERS, stage=stage_without_test_orders))
    old, new = version_of(defs, "staging/orders"), version_of(fixed, "staging/orders")
    assert old != new
    for dataset in below:  # downstream versions do not depend on the staging code
        assert version_of(fixed, dataset) == version_of(defs, dataset)
    before = artifacts(settings)
    assert TEST_ORDER in curated_orders(settings)

    rows = run_days(settings, fixed, instance)

    # the fix changes only day 2's orders: below staging, only day 2 is recomputed
    day_two = {DAYS[0]: "skipped", DAYS[1]: "succeeded", DAYS[2]: "skipped"}
    assert statuses(rows) == {
        STAGED: dict.fromkeys(DAYS, "succeeded"),
        **dict.fromkeys(below, day_two),
    }
    for day in DAYS:
        assert rows[("staging/orders", day)][1:] == (new, f"code version {old} -> {new}")
        assert rows[("curated/orders", day)][1] == version_of(defs, "curated/orders")
    assert rows[("curated/orders", DAYS[1])][2] == "input changed"
    after = artifacts(settings)
    assert [day for day in DAYS if after[day] != before[day]] == [DAYS[1]]
    assert TEST_ORDER not in curated_orders(settings)
    currencies = read_table(settings, "SELECT DISTINCT currency FROM marts.daily_orders")
    assert "XTS" not in set(currencies["currency"])

    again = run_days(settings, fixed, instance)
    assert {status for status, _, _ in again.values()} == {"skipped"}


def test_a_refactor_with_identical_output_recomputes_staging_and_nothing_below(
    settings, defs, instance, published, below
):
    refactored = with_orders(settings, dataclasses.replace(ORDERS, stage=stage_refactored))
    assert version_of(refactored, "staging/orders") != version_of(defs, "staging/orders")
    before = artifacts(settings)

    rows = run_days(settings, refactored, instance)

    assert statuses(rows) == {
        STAGED: dict.fromkeys(DAYS, "succeeded"),
        **{dataset: dict.fromkeys(DAYS, "skipped") for dataset in below},
    }
    assert artifacts(settings) == before  # the same bytes: content-addressed, checksum unchanged


def test_a_mart_sql_change_recomputes_only_that_marts_days(
    settings, defs, instance, published, below
):
    every = [STAGED, *below]
    mart = dataclasses.replace(DAILY_ORDERS, build=build_daily_orders_without_cancelled)
    changed = with_orders(settings, mart=mart)
    old, new = version_of(defs, "marts/daily_orders"), version_of(changed, "marts/daily_orders")
    assert old != new
    cancelled = "SELECT count(*) AS n FROM marts.daily_orders WHERE status = 'cancelled'"
    assert read_table(settings, cancelled)["n"][0] > 0
    assert planned(defs) == dict.fromkeys(every, [])  # launch plans by the same versions
    assert planned(changed) == {**dict.fromkeys(every, []), "marts/daily_orders": DAYS}

    rows = run_days(settings, changed, instance)

    assert statuses(rows) == {
        **dict.fromkeys(every, dict.fromkeys(DAYS, "skipped")),
        "marts/daily_orders": dict.fromkeys(DAYS, "succeeded"),
    }
    assert {rows[("marts/daily_orders", day)][1:] for day in DAYS} == {
        (new, f"code version {old} -> {new}")
    }
    assert read_table(settings, cancelled)["n"][0] == 0
    event = instance.get_latest_materialization_event(dg.AssetKey(["marts", "daily_orders"]))
    materialization = event.asset_materialization
    assert materialization.tags["dagster/code_version"] == new  # what the UI shows
    assert materialization.metadata["code_version"].value == new


def test_a_name_imported_inside_the_function_counts(tmp_path, monkeypatch):
    """What a function imports inside its body counts like a global it uses: a constant
    changed in the module it imports from changes the version (found by review)."""
    helper = tmp_path / "cv_inner_helper.py"
    (tmp_path / "cv_inner_build.py").write_text(
        "def build(x):\n    from cv_inner_helper import FACTOR\n    return x * FACTOR\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    versions, outputs = [], []
    for factor in (1, 2):
        helper.write_text(f"FACTOR = {factor}\n")
        for name in ("cv_inner_helper", "cv_inner_build"):
            sys.modules.pop(name, None)
        importlib.invalidate_caches()
        build = importlib.import_module("cv_inner_build").build
        versions.append(derive_code_version("mart", build).value)
        outputs.append(build(10))
    assert outputs[0] != outputs[1]
    assert versions[0] != versions[1]


def test_equal_code_from_other_source_is_parsed_again(tmp_path, monkeypatch):
    """Sources are parsed once per code object, and code objects compare equal by value
    (not by file or decorators): a decorator edited in a module reloaded in the same
    process, or the same function in another file, still counts by its own source (found
    by review: the cache was keyed by equality)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    module = "cv_decorated"
    text = (
        "def deco(n):\n    return lambda fn: fn\n\n\n@deco({n})\ndef build(x):\n    return x + 1\n"
    )
    versions = []
    for n in (1, 2):
        (tmp_path / f"{module}.py").write_text(text.format(n=n))
        sys.modules.pop(module, None)
        importlib.invalidate_caches()
        versions.append(fingerprint(importlib.import_module(module).build))
    assert versions[0] != versions[1]

"""The Dagster UI as users see it, in a real browser: materialize, backfill, skip, force, block.

The tests form one flow on one `dagster dev` and run in file order. Its sensors and schedules
are stopped first, so every run the tests look at was launched by a click in the UI.
Screenshots of each step go to test-output/ui/.
"""

import datetime as dt
import re

import polars as pl
import pytest
from playwright.sync_api import Locator, Page, expect

from platform_assets.storage.warehouse import connect
from platform_assets.tools.sample import SampleSpec, generate
from tests.dagster_dev import LOCATION, DagsterDev

pytestmark = pytest.mark.ui

CONTRACT_ASSETS = ["landing/orders", "staging/orders", "curated/orders", "marts/daily_orders"]
PUBLISHED = ["staging/orders", "curated/orders", "marts/daily_orders"]
CHECKS = [
    "amount_non_negative",
    "business_dates_plausible",
    "business_key_unique",
    "currency_well_formed",
    "reject_rate",
    "row_count_vs_trailing",
    "schema_contract",
    "status_allowed",
    "timestamps_consistent",
]
DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]
BAD_DAY = "2024-01-04"
BAD_ORDER_IDS = [99_990_000_000 + i for i in range(3)]
RUN_TIMEOUT_S = 180
SLOW_UI_MS = 60_000
ORDERS_GROUP = f"/locations/{LOCATION}/asset-groups/orders"


@pytest.fixture(scope="module")
def flow(server: DagsterDev) -> dict:
    """Stop the automation, seed three sample days; later steps record what they launched."""
    statuses = server.stop_automation()
    assert statuses and set(statuses.values()) == {"STOPPED"}, statuses
    generate(SampleSpec(dt.date(2024, 1, 1), 3, 100, 42), server.data_dir)
    assert server.runs({}) == []
    return {}


def needs(flow: dict, *steps: str) -> None:
    missing = [step for step in steps if step not in flow]
    assert not missing, f"earlier steps of the flow did not run: {missing}; run the whole module"


# --- what the UI offers -------------------------------------------------------------------


def open_launch_dialog(page: Page, path: str, button: str = "Materialize") -> Locator:
    """Open a page and its Materialize dialog, with partitions older than 90 days shown."""
    page.goto(path)
    page.get_by_role("button", name=button).first.click()
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
    expect(dialog).to_be_visible()
    dialog.get_by_text("Show all partitions").click()
    return dialog


def select_partitions(dialog: Locator, selection: str, count: int) -> None:
    """Type a partition selection (``2024-01-01`` or ``[2024-01-01...2024-01-03]``)."""
    box = dialog.get_by_placeholder("ex: ", exact=False)
    box.fill(selection)
    box.press("Enter")
    label = "1 partition" if count == 1 else f"{count} partitions"
    expect(dialog.get_by_text(label, exact=True)).to_be_visible()


def add_tag(page: Page, dialog: Locator, key: str, value: str) -> None:
    """The dialog's Tags section: Add tags -> key and value -> Apply."""
    dialog.get_by_text("Tags", exact=True).click()
    dialog.get_by_role("button", name="Add tags").click()
    editor = page.get_by_role("dialog").filter(has_text="Add tags to run")
    editor.get_by_placeholder("Tag Key").fill(key)
    editor.get_by_placeholder("Tag Value").fill(value)
    editor.get_by_role("button", name="Apply").click()
    expect(editor).to_be_hidden()
    expect(dialog.get_by_text(f"{key}: {value}")).to_be_visible()


def launched(page: Page, toast: str) -> str:
    """The run or backfill id from the toast ("Launched run 1a2b3c4d" + its View link)."""
    message = page.get_by_text(re.compile(rf"^{toast} [\w-]+$")).last
    expect(message).to_be_visible()
    short = message.inner_text().split()[-1]
    link = page.locator(f"a[href^='/runs/{short}'], a[href^='/runs/b/{short}']").first
    match = re.match(r"^/runs/(?:b/)?([\w-]+)", link.get_attribute("href") or "")
    assert match and match.group(1).startswith(short), (short, match)
    return match.group(1)


def launch_run(page: Page, dialog: Locator) -> str:
    dialog.get_by_role("button", name="Launch 1 run").click()
    return launched(page, "Launched run")


def launch_backfill(page: Page, dialog: Locator) -> str:
    dialog.get_by_role("button", name="Launch backfill").click()
    return launched(page, "Created backfill")


def metadata(page: Page, asset: str, partition: str) -> dict[str, str]:
    """The metadata table of the partition's latest materialization (asset's Partitions tab)."""
    page.goto(f"/assets/{asset}?view=partitions&partition={partition}")
    table = page.get_by_text("Metadata", exact=True).locator("xpath=following::table[1]")
    expect(table.get_by_text("platform/skipped", exact=True)).to_be_visible(timeout=SLOW_UI_MS)
    rows = table.locator("tr").all()
    cells = [row.locator("td").all_inner_texts() for row in rows]
    return {c[0].strip(): c[1].strip() for c in cells if len(c) >= 2}


def latest_run_link(page: Page) -> str:
    """The short run id shown under "Run" of the partition's latest materialization."""
    return page.locator("a[href^='/runs/']").first.inner_text().strip()


def check_row(page: Page, name: str) -> Locator:
    return page.locator("span", has=page.locator(f'div[title="{name}"]')).first


def backfill_run_ids(server: DagsterDev, backfill_id: str) -> list[str]:
    runs = server.runs({"dagster/backfill": backfill_id})
    assert runs and {r["status"] for r in runs} == {"SUCCESS"}, runs
    return [r["runId"] for r in runs]


def expect_backfill_succeeded(page: Page, server: DagsterDev, backfill_id: str) -> None:
    assert server.wait_backfill(backfill_id, RUN_TIMEOUT_S) == "COMPLETED_SUCCESS"
    page.goto(f"/runs/b/{backfill_id}")
    expect(page.get_by_text("Succeeded", exact=True).first).to_be_visible(timeout=SLOW_UI_MS)
    for asset in PUBLISHED:
        expect(page.get_by_role("link", name=asset.replace("/", " / ")).first).to_be_visible()


def warehouse_rows(server: DagsterDev, sql: str, params: list) -> list[tuple]:
    with connect(server.data_dir / "warehouse.duckdb", read_only=True) as con:
        return con.execute(sql, params).fetchall()


# --- the flow -----------------------------------------------------------------------------


def test_asset_graph_shows_the_four_contract_assets(flow, page, shot):
    page.goto("/")
    page.get_by_role("link", name="Lineage").first.click()
    expect(page).to_have_url(re.compile(r"/asset-groups"), timeout=SLOW_UI_MS)
    group = page.locator("foreignObject").filter(has=page.locator('[data-tooltip="orders"]'))
    expect(group.first).to_be_visible(timeout=SLOW_UI_MS)
    shot("global-lineage")
    page.goto(ORDERS_GROUP)
    for key in CONTRACT_ASSETS:
        node = page.locator("foreignObject").filter(has=page.locator(f'a[href^="/assets/{key}?"]'))
        expect(node).to_have_count(1, timeout=SLOW_UI_MS)
        expect(node).to_contain_text(key.rsplit("/", 1)[-1])
    shot("orders-group-graph")
    flow["graph"] = True


def test_materialize_one_staging_partition_and_read_row_count_and_checks(server, flow, page, shot):
    needs(flow, "graph")
    dialog = open_launch_dialog(page, "/assets/staging/orders")
    expect(dialog).to_contain_text("Launch runs to materialize staging / orders")
    select_partitions(dialog, DAYS[0], 1)
    shot("staging-dialog-one-partition")
    run_id = launch_run(page, dialog)
    assert server.wait_run(run_id, RUN_TIMEOUT_S) == "SUCCESS"
    page.goto(f"/runs/{run_id}")
    expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=SLOW_UI_MS)
    shot("staging-run-success")

    staged = list((server.data_dir / "lake" / "staging" / "orders").glob(f"dt={DAYS[0]}/*"))
    assert len(staged) == 1, staged
    rows = pl.read_parquet(staged[0]).height
    page.goto("/assets/staging/orders")
    row_count = page.get_by_text("Row count", exact=True).locator("xpath=..")
    expect(row_count).to_have_text(re.compile(rf"^Row count\s*{rows:,}$"), timeout=SLOW_UI_MS)
    checks = page.get_by_text("Latest check results", exact=True).locator("xpath=..")
    expect(checks.get_by_role("img", name="check_circle")).to_be_visible()
    expect(checks).to_have_text(re.compile(rf"^Latest check results\s*{len(CHECKS)}$"))
    expect(page.get_by_text(DAYS[0], exact=True).first).to_be_visible()
    shot("staging-overview-row-count-and-checks")

    page.get_by_role("tab", name="Checks").click()
    for name in CHECKS:
        expect(check_row(page, name)).to_contain_text("Succeeded")
    shot("staging-checks-all-succeeded")
    flow["first_run"] = run_id


def test_backfill_of_three_partitions_completes(server, flow, page, shot):
    needs(flow, "first_run")
    dialog = open_launch_dialog(page, ORDERS_GROUP, button="Materialize all")
    expect(dialog).to_contain_text("Launch runs to materialize 3 assets")
    select_partitions(dialog, f"[{DAYS[0]}...{DAYS[-1]}]", 3)
    shot("backfill-dialog-three-partitions")
    backfill_id = launch_backfill(page, dialog)
    expect_backfill_succeeded(page, server, backfill_id)
    shot("backfill-succeeded")

    values = metadata(page, "curated/orders", DAYS[1])
    assert values["platform/skipped"] == "false"
    assert "never published" in values["recompute_reason"]
    assert int(values["dagster/row_count"].replace(",", "")) > 0
    shot("curated-recomputed-never-published")
    flow["backfill"] = backfill_id
    flow["backfill_runs"] = backfill_run_ids(server, backfill_id)


def test_relaunched_backfill_marks_partitions_skipped_unchanged(server, flow, page, shot):
    needs(flow, "backfill")
    page.goto(f"/runs/b/{flow['backfill']}")
    page.locator("button").filter(has=page.get_by_role("img", name="expand_more")).last.click()
    page.get_by_role("menuitem").filter(has_text=re.compile(r"^Re-execute$")).click()
    again = launched(page, "Created backfill")
    assert again != flow["backfill"]
    expect_backfill_succeeded(page, server, again)
    shot("relaunched-backfill-succeeded")
    again_runs = backfill_run_ids(server, again)

    for asset in PUBLISHED:
        values = metadata(page, asset, DAYS[1])
        assert values["platform/skipped"] == "true", (asset, values)
        assert values["skip_reason"].startswith("unchanged"), (asset, values)
        assert any(run in values["published_by_run"] for run in flow["backfill_runs"]), values
        assert DAYS[1] in values["partitions_skipped"], values
        assert "recompute_reason" not in values
        assert latest_run_link(page) in {run[:8] for run in again_runs}
        page.get_by_text("skip_reason", exact=True).scroll_into_view_if_needed()
        shot(f"skipped-unchanged-{asset.replace('/', '-')}")
    flow["again"] = again


def test_forced_backfill_from_the_tags_section_recomputes(server, flow, page, shot):
    needs(flow, "again")
    dialog = open_launch_dialog(page, ORDERS_GROUP, button="Materialize all")
    select_partitions(dialog, f"[{DAYS[0]}...{DAYS[-1]}]", 3)
    add_tag(page, dialog, "platform/force", "true")
    shot("forced-backfill-dialog-with-tag")
    forced = launch_backfill(page, dialog)
    expect_backfill_succeeded(page, server, forced)
    forced_runs = backfill_run_ids(server, forced)
    shot("forced-backfill-succeeded")

    for asset in PUBLISHED:
        values = metadata(page, asset, DAYS[1])
        assert values["platform/skipped"] == "false", (asset, values)
        assert values["forced"] == "true", (asset, values)
        assert values["recompute_reason"].startswith("forced"), (asset, values)
        assert "skip_reason" not in values
        assert latest_run_link(page) in {run[:8] for run in forced_runs}
        shot(f"forced-recomputed-{asset.replace('/', '-')}")
    flow["forced"] = forced


def seed_bad_day(server: DagsterDev) -> None:
    """A normal sample day plus one otherwise valid file with negative amounts."""
    generate(SampleSpec(dt.date.fromisoformat(BAD_DAY), 1, 100, 42), server.data_dir)
    header = "op,seq,order_id,customer_id,status,amount,currency,created_at,updated_at"
    lines = [
        f"I,{990_000_000_000_000 + i},{order_id},7,placed,-{10 + i}.50,USD,"
        f"{BAD_DAY} 12:00:0{i}.000000,{BAD_DAY} 12:00:0{i}.000000"
        for i, order_id in enumerate(BAD_ORDER_IDS)
    ]
    folder = server.data_dir / "landing" / "orders" / f"dt={BAD_DAY}"
    (folder / f"cdc-{BAD_DAY.replace('-', '')}-refunds.csv").write_text(
        "\n".join([header, *lines]) + "\n"
    )


def expect_not_materialized(page: Page, asset: str, shot, name: str) -> None:
    page.goto(f"/assets/{asset}?view=partitions&partition={BAD_DAY}")
    expect(page.get_by_text("did not materialize this asset")).to_be_visible(timeout=SLOW_UI_MS)
    expect(page.get_by_text("No metadata entries")).to_be_visible()
    shot(name)


def test_bad_landing_file_fails_the_blocking_check_and_nothing_is_published(
    server, flow, page, shot
):
    needs(flow, "forced")
    seed_bad_day(server)
    dialog = open_launch_dialog(page, ORDERS_GROUP, button="Materialize all")
    select_partitions(dialog, BAD_DAY, 1)
    run_id = launch_run(page, dialog)
    assert server.wait_run(run_id, RUN_TIMEOUT_S) == "FAILURE"
    page.goto(f"/runs/{run_id}")
    expect(page.get_by_text("Failure", exact=True).first).to_be_visible(timeout=SLOW_UI_MS)
    refusal = re.compile(r"PublicationBlocked: not published in this run: curated/orders")
    expect(page.get_by_text(refusal).first).to_be_visible()
    expect(page.get_by_text("Errored (1)")).to_be_visible()  # curated: its only day blocked
    expect(page.get_by_text("Not executed (1)")).to_be_visible()  # so the mart did not run
    shot("bad-day-run-blocked")

    page.goto("/assets/staging/orders?view=checks")
    expect(check_row(page, "amount_non_negative")).to_contain_text("Failed", timeout=SLOW_UI_MS)
    for name in set(CHECKS) - {"amount_non_negative"}:
        expect(check_row(page, name)).to_contain_text("Succeeded")
    check_row(page, "amount_non_negative").click()
    expect(page.get_by_text("ERROR: a failing day is not published").first).to_be_visible()
    expect(page.get_by_text(f"{BAD_DAY}: {len(BAD_ORDER_IDS)} of ").first).to_be_visible()
    shot("bad-day-amount-check-failed")

    expect_not_materialized(page, "curated/orders", shot, "bad-day-curated-not-materialized")
    expect_not_materialized(page, "marts/daily_orders", shot, "bad-day-marts-not-materialized")
    flow["bad_run"] = run_id


def test_forcing_publication_of_the_bad_day_is_refused(server, flow, page, shot):
    needs(flow, "bad_run")
    dialog = open_launch_dialog(page, "/assets/curated/orders")
    select_partitions(dialog, BAD_DAY, 1)
    add_tag(page, dialog, "platform/force", "true")
    run_id = launch_run(page, dialog)
    assert server.wait_run(run_id, RUN_TIMEOUT_S) == "FAILURE"
    page.goto(f"/runs/{run_id}")
    expect(page.get_by_text("Failure", exact=True).first).to_be_visible(timeout=SLOW_UI_MS)
    refusal = page.get_by_text(re.compile(r"PublicationBlocked: not published")).first
    expect(refusal).to_be_visible()
    shot("forced-publication-refused")

    expect_not_materialized(page, "curated/orders", shot, "bad-day-curated-still-unpublished")
    published = warehouse_rows(
        server,
        "SELECT order_id FROM curated.orders WHERE order_id IN (SELECT unnest(?::BIGINT[]))",
        [BAD_ORDER_IDS],
    )
    assert published == []
    days = warehouse_rows(
        server, "SELECT count(*) FROM marts.daily_orders WHERE business_date = ?", [BAD_DAY]
    )
    assert days == [(0,)]

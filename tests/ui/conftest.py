"""Fixtures for the browser tests: a real `dagster dev`, headless Debian Chromium, screenshots."""

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dagster_dev import REPO, DagsterDev

CHROMIUM = Path(os.environ.get("PLATFORM_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = REPO / "test-output" / "ui"
UI_TIMEOUT_MS = 30_000


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Expose each phase's report on the item, so fixtures can tell a failed test."""
    outcome = yield
    setattr(item, f"rep_{call.when}", outcome.get_result())


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[DagsterDev]:
    """`dagster dev` with its sensors and schedules stopped, so only the test launches runs."""
    server = DagsterDev(tmp_path_factory.mktemp("ui"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, with a fresh temporary profile."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def page(browser, server):
    """One tab through the whole flow; the community dialog is dismissed whenever it shows."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, base_url=server.url)
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    page.add_locator_handler(
        page.get_by_text("Join the Dagster community"),
        lambda: page.get_by_role("button", name="Skip").click(),
    )
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """test-output/ui/, emptied at the start of the session."""
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    return SHOTS


@pytest.fixture
def shot(page, screenshots, request):
    """``shot("name")`` saves what the page shows as NN-name.png; a failing test saves one too."""

    def save(name: str) -> Path:
        path = screenshots / f"{len(list(screenshots.glob('*.png'))) + 1:02d}-{name}.png"
        page.screenshot(path=path)
        return path

    yield save
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        save("FAILED-" + re.sub(r"\W+", "-", request.node.name))

"""The pages in a real browser: Playwright driving Debian's Chromium against the real app.

Log in, open every page (no console error, charts drawn), change a filter (the URL and the
numbers follow), download a CSV (the same rows the page shows), and save a screenshot of each
page under test-output/screenshots/ for a person to look at.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pages_published
import pytest
from browser_helpers import Server, open_browser, require_chromium, serve_app, signed_in_page

require_chromium()
pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
# path, screenshot name, whether the page draws Plotly charts
PAGES: tuple[tuple[str, str, bool], ...] = (
    ("/", "overview", True),
    ("/profiles", "profiles", False),
    ("/profiles/P-MID", "profile-detail", True),
    ("/clearance", "clearance", True),
    ("/offices", "offices", True),
    ("/data", "data", False),
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The real app with the known data published, served on a free local port."""
    with serve_app(
        pages_published.published_home(tmp_path_factory.mktemp("browser-pages"))
    ) as running:
        yield running


@pytest.fixture(scope="module")
def browser_page(server: Server) -> Iterator[tuple[Any, list[str]]]:
    """An analyst's page at 1366×768, and the console errors seen so far."""
    with open_browser() as browser:
        yield signed_in_page(browser, server, "analyst")


def _wait_for_page(page: Any, charts: bool) -> None:
    page.wait_for_selector(".page-content > *", state="attached")
    if charts:
        page.wait_for_selector(".page-content .main-svg")
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize(("path", "name", "charts"), PAGES, ids=[p[1] for p in PAGES])
def test_every_page_opens_without_console_errors(
    browser_page: Any, server: Server, path: str, name: str, charts: bool
) -> None:
    page, errors = browser_page
    errors.clear()
    page.goto(server.url + path)
    _wait_for_page(page, charts)
    assert page.locator(".state-error").count() == 0
    assert "Data as of" in page.inner_text(".page-header")
    if charts:
        assert page.locator(".page-content .main-svg").count() >= 1
    if name == "profiles":
        rows = page.locator(".ag-center-cols-container .ag-row")
        rows.first.wait_for()
        assert rows.count() == len(pages_published.PROFILES)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        # Selecting a row (here from the keyboard) opens the profile, filters kept.
        page.locator(".ag-center-cols-container .ag-row[row-id='P-GOOD'] .ag-cell").first.focus()
        page.keyboard.press("Space")
        page.wait_for_url("**/profiles/P-GOOD?**")
        _wait_for_page(page, charts=True)
        assert "Profile P-GOOD" in page.inner_text(".page-header")
        assert errors == []
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    assert errors == []


def test_changing_a_filter_updates_url_and_numbers(browser_page: Any, server: Server) -> None:
    page, errors = browser_page
    errors.clear()
    page.goto(server.url + "/")
    _wait_for_page(page, charts=True)
    card = page.locator("#card-declarations .card-value")
    raw = pages_published.make_declarations()
    latest = raw.filter(
        (raw["lodged_month"] == pages_published.LATEST_MONTH) & (raw["office_code"] == "DKR")
    )
    expected = f"{latest.height:,}"
    assert (
        card.inner_text()
        == f"{raw.filter(raw['lodged_month'] == pages_published.LATEST_MONTH).height:,}"
    )
    page.click("#filter-offices")
    page.get_by_role("option", name="DKR").click()
    page.keyboard.press("Escape")
    page.wait_for_url("**office=DKR**")
    # Not wait_for_function: the app's content security policy forbids Playwright's eval.
    from playwright.sync_api import expect

    expect(page.locator("#card-declarations .card-value")).to_have_text(expected, timeout=30_000)
    assert card.inner_text() == expected
    assert errors == []
    # The shared link opens the same view, and the nav keeps the filters.
    page.goto(page.url)
    _wait_for_page(page, charts=True)
    assert page.locator("#card-declarations .card-value").inner_text() == expected
    page.click("a.ck-nav-link[href='/offices']")
    page.wait_for_url("**/offices?**office=DKR**")


def test_download_returns_the_rows_the_page_shows(browser_page: Any, server: Server) -> None:
    page, errors = browser_page
    errors.clear()
    page.goto(server.url + "/offices")
    _wait_for_page(page, charts=True)
    shown = page.locator("#offices-table-section tbody tr td:first-child").all_inner_texts()
    with page.expect_download() as info:
        page.click("#offices-table-section .download-button")
    download = info.value
    assert download.suggested_filename == "customs-kpi-offices-table-2026-03.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    assert [r["office"] for r in rows] == shown == ["DKR", "THS", "ZIG"]
    declarations = page.locator("#offices-table-section tbody tr td:nth-child(2)").all_inner_texts()
    assert [f"{float(r['declarations']):,.0f}" for r in rows] == declarations
    assert errors == []


@pytest.mark.parametrize(("path", "name"), [("/", "overview"), ("/clearance", "clearance")])
def test_tablet_portrait_has_no_sideways_scroll(
    browser_page: Any, server: Server, path: str, name: str
) -> None:
    page, errors = browser_page
    errors.clear()
    page.set_viewport_size({"width": 768, "height": 1024})
    try:
        page.goto(server.url + path)
        _wait_for_page(page, charts=True)
        overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        page.screenshot(path=str(SCREENSHOTS / f"{name}-tablet.png"), full_page=True)
        assert overflow <= 0
        assert errors == []
    finally:
        page.set_viewport_size({"width": 1366, "height": 768})


def test_nothing_is_fetched_from_outside_the_app(browser_page: Any, server: Server) -> None:
    """Offline first: every request the browser makes while visiting every page (scripts, CSS,
    fonts, images, XHR) goes to the app itself, never to a CDN or the internet."""
    from urllib.parse import urlsplit

    app_origin = urlsplit(server.url).netloc
    # A fresh context (empty cache) in the module's browser: one Playwright per thread.
    browser = browser_page[0].context.browser
    page, errors = signed_in_page(browser, server, "analyst")
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    for path, _, charts in PAGES:
        page.goto(server.url + path)
        _wait_for_page(page, charts)
    page.context.close()
    outside = sorted(
        {
            u
            for u in requested
            if urlsplit(u).scheme in ("http", "https", "ws", "wss")
            and urlsplit(u).netloc != app_origin
        }
    )
    assert requested, "no request was recorded"
    assert outside == []
    assert errors == []

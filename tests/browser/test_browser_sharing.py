"""In Chromium: the period presets set the period and the URL; a reload restores every view
choice (period, offices, What-if scenario); a click on an office in a chart filters the page and
the URL, and the back button returns to the view before; a saved view is saved and reopened
from the header menu. Screenshots to test-output/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pages_published
import pytest
from browser_helpers import (
    Server,
    open_browser,
    require_chromium,
    serve_app,
    signed_in_page,
    wait_for_callbacks,
)

require_chromium()
pytestmark = pytest.mark.browser

SHOTS = Path("test-output/screenshots")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve_app(pages_published.published_home(tmp_path_factory.mktemp("sharing"))) as running:
        yield running


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"sharing-{name}.png"), full_page=True)


def _click_point(page: Any, locator: Any) -> None:
    """A click on a Plotly point (the chart's drag layer takes the pointer events)."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.click(x, y)


def test_presets_set_the_period_and_the_url(server: Server) -> None:
    with open_browser() as browser:
        page, errors = signed_in_page(browser, server, "analyst")
        assert page.locator(".preset-active").inner_text() == "12 months"  # the one default
        page.click(".preset-button:has-text('3 months')")
        page.wait_for_url("**from=*")
        page.wait_for_selector(".preset-button.preset-active:has-text('3 months')")
        to = page.locator("#filter-to").inner_text()
        assert "Mar 2026" in to and "Jan 2026" in page.locator("#filter-from").inner_text()
        assert "from=2026-01&to=2026-03" in page.url
        page.click(".preset-button:has-text('Last month')")
        page.wait_for_url("**from=2026-03&to=2026-03*")
        wait_for_callbacks(page)
        _shot(page, "after-presets")
        assert errors == []


def test_a_reload_restores_the_view(server: Server) -> None:
    with open_browser() as browser:
        page, errors = signed_in_page(browser, server, "analyst", path="/what-if")
        page.click(".preset-button:has-text('24 months')")
        page.wait_for_url("**from=*")
        page.click("label:has-text('Suspend')")
        page.wait_for_url("**action=suspend*")
        url = page.url
        page.reload()
        wait_for_callbacks(page)
        assert page.url == url
        assert page.locator("input[value=suspend]").is_checked()
        assert page.locator(".preset-button.preset-active").inner_text() == "24 months"
        assert errors == []


def test_a_click_on_an_office_filters_and_back_returns(server: Server) -> None:
    with open_browser() as browser:
        page, errors = signed_in_page(browser, server, "analyst", path="/offices")
        page.wait_for_selector("#offices-content .js-plotly-plot")
        before = page.url
        bars = page.locator('[id*="volumes"] .bars .point path')
        _click_point(page, bars.first)
        page.wait_for_url("**office=*")
        wait_for_callbacks(page)
        office = page.url.split("office=")[1].split("&")[0]
        assert office in page.locator("#filter-offices").inner_text()  # the chip, with its ✕
        _shot(page, "after-cross-filter")
        page.go_back()
        page.wait_for_url(before)
        page.wait_for_selector("#filter-offices:has-text('All offices')")
        assert errors == []


def test_a_saved_view_opens_again(server: Server) -> None:
    with open_browser() as browser:
        page, errors = signed_in_page(browser, server, "analyst")
        page.click(".preset-button:has-text('3 months')")
        page.wait_for_url("**from=*")
        saved_url = page.url
        page.click("#saved-views > summary")
        page.fill("#saved-views-name", "Quarter")
        page.click("#saved-views-save")
        page.wait_for_selector("#saved-views-list a:has-text('Quarter')")
        _shot(page, "after-saved-views")
        page.goto(server.url + "/offices")
        wait_for_callbacks(page)
        page.click("#saved-views > summary")
        page.click("#saved-views-list a:has-text('Quarter')")
        page.wait_for_url(saved_url)
        page.wait_for_selector(".preset-button.preset-active:has-text('3 months')")
        assert errors == []

"""The charts as drawn by Chromium for a one-month and a 24-month period (issue 13, point 2):
Overview, Profile detail, Clearance and Offices. The axis tick labels read as months (no time of
day), no axis repeats a label, and a screenshot of each is kept in test-output/screenshots/
(``charts-<page>-<period>-after.png``; with ``CHARTS_SCREENSHOT_STAGE=before`` the same test run
on the code before the figure helpers wrote the "before" pictures of the README tour).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pages_published
import pytest
from browser_helpers import Server, open_browser, require_chromium, serve_app, signed_in_page

from customs_kpi.settings import load_settings

require_chromium()
pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
STAGE = os.environ.get("CHARTS_SCREENSHOT_STAGE", "after")
MONTHS = 24  # Jan 2025 .. Dec 2026
PERIODS = {"1-month": "from=2026-12&to=2026-12", "24-months": "from=2025-01&to=2026-12"}
PAGES = {
    "overview": "/",
    "profile-detail": "/profiles/P-MID",
    "clearance": "/clearance",
    "offices": "/offices",
}
TIME_OF_DAY = re.compile(r"\d:\d\d")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = load_settings(environ={}, home=tmp_path_factory.mktemp("browser-figures"))
    settings.ensure_home()
    original = pages_published.make_declarations
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pages_published, "MONTHS", MONTHS)
        patch.setattr(pages_published, "make_declarations", lambda: original(per_month=240))
        pages_published.build(settings)
    with serve_app(settings) as running:
        yield running


@pytest.fixture(scope="module")
def browser_page(server: Server) -> Iterator[tuple[Any, list[str]]]:
    with open_browser() as browser:
        yield signed_in_page(browser, server, "analyst")


def _axis_labels(page: Any, selector: str) -> list[list[str]]:
    """The tick labels of each axis of that kind (".xtick" or ".ytick"), per axis layer."""
    return page.evaluate(
        """(sel) => Array.from(document.querySelectorAll('.page-content .main-svg'))
            .flatMap(svg => Array.from(svg.querySelectorAll('g.' + sel.slice(1) + 's')))
            .map(layer => Array.from(layer.querySelectorAll(sel + ' text'))
                 .map(t => t.textContent))""",
        selector,
    )


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("name", PAGES)
def test_charts_read_right_for_the_period(
    browser_page: Any, server: Server, name: str, period: str
) -> None:
    page, errors = browser_page
    errors.clear()
    page.goto(f"{server.url}{PAGES[name]}?{PERIODS[period]}")
    page.wait_for_selector(".page-content .main-svg")
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        "() => document.querySelectorAll('.page-content .js-plotly-plot').length > 0 &&"
        " Array.from(document.querySelectorAll('.page-content .js-plotly-plot'))"
        ".every(p => p.querySelector('.main-svg'))",
        timeout=60_000,
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"charts-{name}-{period}-{STAGE}.png"), full_page=True)
    if STAGE != "after":
        return
    assert errors == []
    for labels in _axis_labels(page, ".xtick"):
        assert not any(TIME_OF_DAY.search(label) for label in labels), (name, period, labels)
    for labels in _axis_labels(page, ".xtick") + _axis_labels(page, ".ytick"):
        shown = [label for label in labels if label]
        assert len(set(shown)) == len(shown), (name, period, labels)
        assert not any(label.startswith(("−", "-")) for label in shown), (name, period, labels)

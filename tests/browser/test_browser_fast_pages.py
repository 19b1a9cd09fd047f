"""In Chromium, the pages made faster still behave: the Overlap pairs grid links to profiles
(click and keyboard, inside the app, no reload) and sorts numbers as numbers; the profile page
shows its first declarations page with the content and pages on from it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pages_published
import pytest
from browser_helpers import (
    Server,
    open_browser,
    require_chromium,
    serve_app,
    signed_in_page,
)

require_chromium()
pytestmark = pytest.mark.browser

GRID_ROWS = "#overlap-pairs .ag-center-cols-container .ag-row"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve_app(
        pages_published.published_home(tmp_path_factory.mktemp("fast-pages"))
    ) as running:
        yield running


def _overlap(page: Any, server: Server) -> None:
    page.goto(server.url + "/overlap")
    page.wait_for_selector("#overlap-pairs .ag-row")
    page.wait_for_load_state("networkidle")


def _column(page: Any, col_id: str) -> list[str]:
    """The column's texts in the order shown (the grid positions rows, the DOM keeps order)."""
    rows = page.locator(GRID_ROWS).evaluate_all(
        """(rows, col) => rows.map(r => [Number(r.getAttribute('row-index')),
              (r.querySelector(`.ag-cell[col-id="${col}"]`) || {}).textContent || ''])""",
        col_id,
    )
    return [text.strip() for _, text in sorted(rows)]


def test_overlap_grid_links_and_sorts(server: Server) -> None:
    with open_browser() as browser:
        page, errors = signed_in_page(browser, server, "analyst")
        _overlap(page, server)
        shared = _column(page, "shared_declarations")
        assert shared and all(s.replace(",", "").isdigit() for s in shared)
        # Numbers sort as numbers (the cells show formatted text).
        header = '.ag-header-cell[col-id="shared_declarations"]'
        page.click(f"{header} .ag-header-cell-label")
        page.wait_for_selector(f'{header}[aria-sort="ascending"]')
        ascending = [int(s.replace(",", "")) for s in _column(page, "shared_declarations")]
        assert ascending == sorted(ascending)
        jaccard = _column(page, "jaccard")
        assert all(j.endswith("%") for j in jaccard)

        # A click opens the profile inside the app: the page is not reloaded.
        page.evaluate("window.__stayed = true")
        link = page.locator('#overlap-pairs .ag-cell[col-id="profile_a"] a').first
        profile = link.inner_text().strip()
        link.click()
        page.wait_for_url(f"**/profiles/{profile}*")
        page.wait_for_selector(f"text=Profile {profile}")
        assert page.evaluate("window.__stayed === true")

        # Enter on a focused profile cell follows its link too.
        _overlap(page, server)
        cell = page.locator(f'{GRID_ROWS} .ag-cell[col-id="profile_b"]').first
        other = cell.inner_text().strip()
        entries = page.evaluate("window.history.length")
        cell.click(position={"x": 100, "y": 5})  # on the cell, beside the link
        # The click has landed (the grid focuses the cell) and added no history entry: a link
        # followed in the app pushes one at once, in the click's own handler.
        page.wait_for_selector(f'{GRID_ROWS} .ag-cell-focus[col-id="profile_b"]')
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.history.length") == entries
        assert "/overlap" in page.url
        page.keyboard.press("Enter")
        page.wait_for_url(f"**/profiles/{other}*")
        assert page.evaluate("window.history.length") == entries + 1
        assert errors == []


def test_profile_declarations_first_page_and_paging(server: Server) -> None:
    with open_browser() as browser:
        page, errors = signed_in_page(browser, server, "analyst", path="/profiles/P-GOOD")
        page.wait_for_selector("#profile-declarations >> text=1–25 of")
        first = page.inner_text("#profile-declarations")
        page.click("#profile-declarations-next")
        page.wait_for_selector("#profile-declarations >> text=26–50 of")
        page.click("#profile-declarations-prev")
        page.wait_for_selector("#profile-declarations >> text=1–25 of")
        assert page.inner_text("#profile-declarations") == first
        assert errors == []

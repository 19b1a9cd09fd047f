"""The tuning workflow in a real browser (Playwright, Debian's Chromium, the real app, generated
data): an analyst takes a decision in the review queue, sees it on the profile's timeline,
downloads the committee workbook, and opens the what-if, changes and overlap pages without a
console error. A viewer is not offered the queue and is refused it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from browser_helpers import Server, open_browser, require_chromium, serve_app, signed_in_page
from etl_helpers import load_tuning_sample

require_chromium()
pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings, _ = load_tuning_sample(tmp_path_factory.mktemp("tuning-browser"))
    with serve_app(settings) as running:
        yield running


def _settle(page: Any) -> None:
    page.wait_for_selector(".page-content > *", state="attached")
    page.wait_for_load_state("networkidle")


def _shoot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_analyst_decides_and_sees_it_on_the_timeline(server: Server) -> None:
    with open_browser() as browser:
        page, errors = signed_in_page(browser, server, "analyst", path="/review")
        _settle(page)
        page.wait_for_selector("#review-grid .ag-row")
        first = page.locator("#review-grid .ag-center-cols-container .ag-row").first
        first.locator(".ag-cell").first.click()
        page.wait_for_selector("#review-profile-state >> text=flagged")
        profile = page.inner_text("#review-profile-state").split(":")[0].strip()
        page.click("#review-start")
        page.wait_for_selector("#review-message >> text=under review")
        page.check("#review-decision input[value=suspend]")
        page.fill("#review-rationale", "Two quarters below random; suspend pending new criteria.")
        page.click("#review-decide")
        page.wait_for_selector("#review-message >> text=decided (suspend)")
        entry = server.state.audit_entries(action_prefix="review.decide")[0]
        assert (entry.user_name, entry.target) == ("analyst", f"profile:{profile}")
        with page.expect_download() as info:
            page.click("#review-export-button")
        book = openpyxl.load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()))
        assert book["Review queue"]["A1"].value == "Profile"
        _shoot(page, "review-queue")

        page.goto(f"{server.url}/profiles/{profile}")
        _settle(page)
        page.wait_for_selector(".page-content .main-svg")
        annotations = page.locator(".annotation-text").evaluate_all(
            "nodes => nodes.map(n => n.textContent || '')"
        )
        assert any(t.startswith("decision: suspend") for t in annotations), annotations
        expected = {
            f"/what-if?profiles={profile}": "Detections at risk",
            "/changes": "Which changes worked",
            "/overlap": "Most similar pairs",
        }
        for path, heading in expected.items():
            page.goto(server.url + path)
            _settle(page)
            page.wait_for_selector(f".page-content >> text={heading}")
            assert "could not be computed" not in page.inner_text(".page-content")
            _shoot(page, path.strip("/").split("?")[0])
        assert errors == []


def test_viewer_is_not_offered_the_queue(server: Server) -> None:
    with open_browser() as browser:
        page, _errors = signed_in_page(browser, server, "viewer")
        nav = page.inner_text("header")
        assert "What-if" in nav and "Review queue" not in nav
        response = page.goto(server.url + "/review")
        assert response is not None and response.status == 403

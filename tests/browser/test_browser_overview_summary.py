"""In Chromium, the Overview's summary band answers the director's questions: how many headline
KPIs are off target, the significant deteriorations, the lift over random (with its interval
or why there is none) and the profiles flagged with what they cost, exactly the facts of
kpis.summary.month_summary; with Channel = Red, "% physically inspected" is judged over every
channel (never 100 % off target) and says so, and the Channel mix says it ignores the filter.
Screenshots go to test-output/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from browser_helpers import Server, open_browser, require_chromium, serve_app, signed_in_page
from etl_helpers import load_tuning_sample

from customs_kpi.published import current_version
from kpis.cube import CubeFrames, Filters
from kpis.summary import Summary, month_summary, summary_sentences

require_chromium()
pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
MONTH = date(2025, 12, 1)
QUERY = "/?from=2025-01&to=2025-12"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings, _ = load_tuning_sample(tmp_path_factory.mktemp("overview-summary"))
    with serve_app(settings) as running:
        yield running


def _facts(server: Server, filters: Filters | None = None) -> Summary:
    published = current_version(server.settings)
    assert published is not None
    cube = CubeFrames.from_published(published)
    return month_summary(
        cube, MONTH, server.settings.flag_config(), filters, server.settings.min_sample
    )


def test_the_band_shows_the_months_facts(server: Server) -> None:
    facts = _facts(server)
    with open_browser() as browser:
        page, errors = signed_in_page(browser, server, "viewer", path=QUERY)
        band = page.locator("#overview-summary")
        band.wait_for()
        # Above the cards: the first thing the director reads.
        assert band.bounding_box()["y"] < page.locator("#overview-cards").bounding_box()["y"]
        off = page.locator("#summary-off-target .card-value").inner_text()
        assert off == f"{len(facts.off_target)} of {facts.judged}"
        worse = page.locator("#summary-deteriorations .card-value").inner_text()
        assert worse == str(len(facts.deteriorating))
        flagged = page.locator("#summary-flagged").inner_text()
        assert str(len(facts.flagged)) in flagged
        assert f"{facts.severity:,.0f} inspections wasted" in flagged
        lift = page.locator("#summary-lift").inner_text()
        assert "Lift over random" in lift
        if facts.lift is not None and facts.lift_sufficient:
            assert "95 % interval" in lift
        text = " ".join(band.locator(".summary-text li").all_inner_texts())
        for sentence in summary_sentences(facts):
            assert sentence in text
        if facts.flagged:  # one click to the flagged profiles, the period kept
            link = page.locator("#summary-flagged a")
            assert link.get_attribute("href").startswith("/profiles?from=2025-01&to=2025-12")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "overview-summary-band.png"), full_page=False)
        assert errors == []


def test_channel_red_does_not_judge_the_inspection_rate_on_red_alone(server: Server) -> None:
    with open_browser() as browser:
        page, errors = signed_in_page(browser, server, "viewer", path=QUERY + "&channel=red")
        card = page.locator("#card-physical_inspection_rate")
        card.wait_for()
        text = card.inner_text()
        assert "100.0 %" not in text
        assert "channel filter does not apply" in text
        assert (
            "Ignores the channel filter"
            in page.locator("#overview-channel-mix-section").inner_text()
        )
        band = page.locator("#overview-summary").inner_text()
        assert "baseline ignores the channel filter" in band
        red = _facts(server, Filters(channels=("red",)))
        off = page.locator("#summary-off-target .card-value").inner_text()
        assert off == f"{len(red.off_target)} of {red.judged}"
        assert errors == []

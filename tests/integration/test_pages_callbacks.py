"""Page callbacks called directly on a published version built from known declarations.

Every number is checked against an independent count over the raw declarations (polars over the
generator's rows, not the cube), and every download against what the chart draws.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pages_published
import polars as pl
import pytest
from argon2 import PasswordHasher

from appstate.passwords import Passwords
from appstate.roles import Role
from customs_kpi.published import current_version
from customs_kpi.settings import Settings, load_settings
from dashboard import filters as flt
from dashboard.data import PageContext, Viewer, build_context
from kpis.domain import Channel
from kpis.grain import add_months

PAGE_MODULES = ("home", "profiles", "profile_detail", "clearance", "offices", "data")
CONTROL = ("yellow", "red", "blue")
FINAL = ("no_finding", "irregularity", "seizure")
HITS = ("irregularity", "seizure")


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    """The page modules as the app loads them (create_app imports them and takes their
    callbacks; importing them by hand would leave stray callbacks for the next app)."""
    from dashboard.app import create_app

    settings = load_settings(environ={}, home=tmp_path_factory.mktemp("pages-modules"))
    create_app(
        settings, passwords=Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    )
    return {name: sys.modules[f"dashboard.pages.{name}"] for name in PAGE_MODULES}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, pl.DataFrame]]:
    home = tmp_path_factory.mktemp("pages-home")
    settings = load_settings(environ={}, home=home)
    settings.ensure_home()
    built = pages_published.build(settings)
    yield settings, built.declarations


def _ctx(
    published: tuple[Settings, pl.DataFrame],
    role: Role = Role.ADMIN,
    offices: tuple[str, ...] | None = None,
) -> PageContext:
    settings, _ = published
    return build_context(settings, Viewer("tester", role, offices), current_version(settings))


def _filters(ctx: PageContext, **changes: Any) -> flt.PageFilters:
    # The whole 15 months of the test data unless a test says otherwise (the app's default
    # period, CUSTOMS_KPI_DEFAULT_PERIOD_MONTHS, is 12).
    return ctx.resolve(replace(flt.PageFilters(), **changes), pages_published.MONTHS)


def _controlled(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(pl.col("channel").is_in(CONTROL), pl.col("control_result").is_in(FINAL))


def _hit_rate(frame: pl.DataFrame) -> float:
    controlled = _controlled(frame)
    return controlled.filter(pl.col("control_result").is_in(HITS)).height / controlled.height


def _find(component: Any, predicate: Any) -> list[Any]:
    """Every component in a Dash tree matching ``predicate``, in document order."""
    if isinstance(component, list | tuple):
        return [found for node in component for found in _find(node, predicate)]
    if component is None or isinstance(component, str | int | float):
        return []
    own = [component] if predicate(component) else []
    return own + _find(getattr(component, "children", None), predicate)


def _graphs(component: Any) -> list[Any]:
    return _find(component, lambda n: type(n).__name__ == "Graph")


# --- Overview ---------------------------------------------------------------------------------
def test_overview_cards_match_an_independent_count(
    pages: dict[str, ModuleType], published: Any
) -> None:
    ctx = _ctx(published)
    filters = _filters(ctx)
    assert filters.end == pages_published.LATEST_MONTH
    home = pages["home"]
    raw = published[1]
    month = raw.filter(pl.col("lodged_month") == filters.end)
    previous = raw.filter(pl.col("lodged_month") == date(2026, 2, 1))
    year_ago = raw.filter(pl.col("lodged_month") == date(2025, 3, 1))

    hit = home.card_data(ctx, filters, "hit_rate")
    assert hit.value == pytest.approx(_hit_rate(month))
    assert hit.denominator == _controlled(month).height
    assert hit.mom_delta == pytest.approx(_hit_rate(month) - _hit_rate(previous))
    assert hit.yoy_delta == pytest.approx(_hit_rate(month) - _hit_rate(year_ago))
    assert len(hit.sparkline) == 13 and hit.sparkline[-1][0] == filters.end

    inspection = home.card_data(ctx, filters, "physical_inspection_rate")
    assert inspection.value == pytest.approx(
        month.filter(pl.col("channel") == "red").height / month.height
    )
    assert home.card_data(ctx, filters, "declarations").value == month.height

    content = home.update_content.body(ctx, None, None, None, None)
    cards = _find(content, lambda n: getattr(n, "className", "").startswith("kpi-card"))
    assert [c.id for c in cards] == [f"card-{k}" for k in home.CARD_KPIS]
    assert len(_graphs(content)) == len(home.CARD_KPIS) + 3  # sparklines + 3 charts


def test_overview_filters_change_the_numbers(pages: dict[str, ModuleType], published: Any) -> None:
    ctx = _ctx(published)
    home = pages["home"]
    raw = published[1]
    filters = _filters(ctx, offices=("DKR",), channel=Channel.RED)
    month = raw.filter(
        pl.col("lodged_month") == filters.end,
        pl.col("office_code") == "DKR",
        pl.col("channel") == "red",
    )
    assert home.card_data(ctx, filters, "declarations").value == month.height
    assert home.card_data(ctx, filters, "hit_rate").value == pytest.approx(_hit_rate(month))
    # Same numbers through the callback, from the filter controls' raw values.
    content = home.update_content.body(ctx, "2025-01", "2026-03", ["DKR"], "red")
    card = _find(content, lambda n: getattr(n, "id", None) == "card-declarations")[0]
    assert f"{month.height:,}" in str(card)


def test_overview_download_is_what_the_chart_draws(
    pages: dict[str, ModuleType], published: Any
) -> None:
    ctx = _ctx(published)
    home = pages["home"]
    filters = _filters(ctx)
    mix = home.download_frame(ctx, filters, "channel-mix", None)
    figure = home.channel_mix_graph(mix)
    red = next(t for t in figure.data if t.name == "red")
    expected = mix.filter(pl.col("channel") == "red").sort("month")["value"].to_list()
    assert list(red.y) == expected
    # And the shares are those of the raw rows.
    raw = published[1].filter(pl.col("lodged_month") == filters.end)
    assert expected[-1] == pytest.approx(raw.filter(pl.col("channel") == "red").height / raw.height)
    trend = home.download_frame(ctx, filters, "trend", "random_share")
    assert set(trend["kpi"].to_list()) == {"random_share"}
    assert trend.height == 15  # every month of the period, explicit calendar


# --- Profiles ---------------------------------------------------------------------------------
def test_profile_grid_numbers_and_flags(pages: dict[str, ModuleType], published: Any) -> None:
    ctx = _ctx(published)
    profiles = pages["profiles"]
    filters = _filters(ctx, start=date(2025, 1, 1))
    table = profiles.profile_frame(ctx, filters)
    raw = published[1].filter(pl.col("profile_ids").list.contains("P-GOOD"))
    good = table.filter(pl.col("profile_id") == "P-GOOD").row(0, named=True)
    assert good["declarations"] == raw.height
    assert good["controlled"] == _controlled(raw).height
    assert good["hit_rate"] == pytest.approx(_hit_rate(raw))
    assert good["lift"] > 3 and good["p_value"] < 0.001
    # The poor profile is no better than random; the expired one is flagged as expired.
    poor = table.filter(pl.col("profile_id") == "P-POOR").row(0, named=True)
    assert {"no_better_than_random", "below_target"} <= set(poor["flags"])
    assert "no_better_than_random" not in good["flags"]
    old = table.filter(pl.col("profile_id") == "P-OLD").row(0, named=True)
    assert "expired_or_review_overdue" in old["flags"]
    rows = profiles.grid_rows(table, ctx.settings.min_sample)
    row = next(r for r in rows if r["profile"] == "P-GOOD")
    assert row["hit_rate"] == round(_hit_rate(raw) * 100, 2)
    assert len(row["trend"]) == 12


def test_profile_flags_follow_the_settings_rule_set(
    pages: dict[str, ModuleType], published: Any
) -> None:
    """The administration's rule set (settings) is the one the page judges with."""
    settings, raw = published
    strict = replace(settings, flag_target_hit_rate=0.9, flag_cost_per_control=1e9)
    ctx = build_context(settings=strict, viewer=Viewer("tester", Role.ADMIN, None),
                        published_version=current_version(settings))  # fmt: skip
    profiles = pages["profiles"]
    filters = _filters(ctx, start=date(2025, 1, 1))
    table = profiles.profile_frame(ctx, filters)
    good = table.filter(pl.col("profile_id") == "P-GOOD").row(0, named=True)
    # P-GOOD is far above the default target, but below 90 %; any revenue is below 1e9.
    assert _hit_rate(raw.filter(pl.col("profile_ids").list.contains("P-GOOD"))) < 0.9
    assert {"below_target", "low_yield"} <= set(good["flags"])
    default = profiles.profile_frame(_ctx(published), filters)
    assert "below_target" not in default.filter(pl.col("profile_id") == "P-GOOD")["flags"][0]
    # The page states the rule set it judged with.
    shown = str(profiles.content(ctx, filters))
    assert f"Flag rules: {strict.flag_config().describe()}" in shown
    assert "hit-rate target 90.0 %; low yield below 1,000,000,000.00" in shown


def test_profile_row_click_keeps_the_filters(pages: dict[str, ModuleType], published: Any) -> None:
    ctx = _ctx(published)
    href = pages["profiles"].open_profile.body(
        ctx, [{"profile": "P-MID", "name": "Textile origin"}], "2025-06", "2026-03", ["THS"], "red"
    )
    assert href == "/profiles/P-MID?from=2025-06&to=2026-03&office=THS&channel=red"
    odd = pages["profiles"].open_profile.body(ctx, [{"profile": "P 1/x"}], None, None, None, None)
    assert odd.startswith("/profiles/P%201%2Fx?")


# --- Profile detail ---------------------------------------------------------------------------
def test_profile_detail_before_after_and_offences(
    pages: dict[str, ModuleType], published: Any
) -> None:
    ctx = _ctx(published)
    detail = pages["profile_detail"]
    filters = _filters(ctx, start=date(2025, 1, 1))
    changes = detail.changes_frame(ctx, filters, "P-MID")
    modified = changes.filter(pl.col("change_type") == "modified").row(0, named=True)
    raw = published[1].filter(pl.col("profile_ids").list.contains("P-MID"))
    # Modified in September 2025; the rule set's window each side, the month itself left out.
    months, changed = ctx.settings.flag_change_window_months, date(2025, 9, 1)
    before = raw.filter(
        pl.col("lodged_month").is_between(add_months(changed, -months), add_months(changed, -1))
    )
    after = raw.filter(
        pl.col("lodged_month").is_between(add_months(changed, 1), add_months(changed, months))
    )
    assert modified["controlled_before"] == _controlled(before).height
    assert modified["hit_rate_after"] == pytest.approx(_hit_rate(after))
    assert modified["hit_rate_after"] > modified["hit_rate_before"]  # the generator doubled it
    shown = str(detail._changes_table(changes, ctx.settings.min_sample))
    assert f"{modified['hit_rate_after'] * 100:.1f} %" in shown
    assert modified["verdict"].replace("_", " ") in shown
    # Below the minimum sample a side shows no rate and the comparison no delta.
    small = str(detail._changes_table(changes, 10_000))
    assert "insufficient data" in small and " pp" not in small

    offences = detail.offence_frame(ctx, filters, "P-MID")
    hits = _controlled(raw).filter(pl.col("control_result").is_in(HITS))
    expected = hits.group_by("offence_type").len().sort("offence_type")
    got = offences.sort("offence_type")
    assert got["offence_type"].to_list() == expected["offence_type"].to_list()
    assert got["hits"].to_list() == expected["len"].to_list()

    monthly = detail.monthly_frame(ctx, filters, "P-MID")
    # The baseline line is the random hit rate of the same months (and offices).
    random = ctx.compute("random_hit_rate", filters, by=("month",))
    assert monthly["random_hit_rate"].to_list() == pytest.approx(random["value"].to_list())
    figure = detail.trend_graph(monthly, changes)
    names = [t.name for t in figure.data]
    assert "Hit rate" in names and "Random baseline" in names
    labels = [a.text for a in figure.layout.annotations]
    assert any(label.startswith("modified") for label in labels)


def test_declaration_drill_down_is_paged_scoped_and_for_analysts(
    pages: dict[str, ModuleType], published: Any
) -> None:
    detail = pages["profile_detail"]
    scoped = _ctx(published, Role.ANALYST, offices=("ZIG",))
    filters = _filters(scoped)
    rows, total = detail.declarations_frame(scoped, filters, "P-GOOD", 0)
    raw = published[1].filter(
        pl.col("profile_ids").list.contains("P-GOOD"), pl.col("office_code") == "ZIG"
    )
    assert total == _controlled(raw).height
    assert rows.height == detail.PAGE_SIZE
    assert set(rows["office_code"].to_list()) == {"ZIG"}
    assert rows["lodged_at"].to_list() == sorted(rows["lodged_at"].to_list(), reverse=True)
    second, _ = detail.declarations_frame(scoped, filters, "P-GOOD", 1)
    assert set(second["declaration_id"]).isdisjoint(set(rows["declaration_id"]))
    # A crafted office pick outside the scope does not widen it.
    crafted = detail.declarations_frame(scoped, replace(filters, offices=("DKR",)), "P-GOOD", 0)
    assert crafted[1] == total
    # Viewers get no drill-down section, only the explanation.
    viewer = _ctx(published, Role.VIEWER)
    content = detail.content(viewer, _filters(viewer), "P-GOOD")
    assert not _find(content, lambda n: getattr(n, "id", None) == detail.DECL_TABLE_ID)
    assert "analyst role" in str(content)


def test_unknown_profile_says_so(pages: dict[str, ModuleType], published: Any) -> None:
    ctx = _ctx(published)
    content = pages["profile_detail"].content(ctx, _filters(ctx), "NO-SUCH")
    assert "no profile “NO-SUCH”" in str(content)


# --- Clearance, offices, data -----------------------------------------------------------------
def test_clearance_distribution_and_offices(pages: dict[str, ModuleType], published: Any) -> None:
    ctx = _ctx(published)
    clearance = pages["clearance"]
    filters = _filters(ctx)
    dist = clearance.distribution_frame(ctx, filters, "release")
    raw = published[1].filter(pl.col("released_at").is_not_null())
    for channel, part in dist.group_by("channel"):
        assert part["share"].sum() == pytest.approx(1.0)
        assert part["total"][0] == raw.filter(pl.col("channel") == channel[0]).height
    offices = clearance.office_frame(ctx, filters, "release")
    expected = raw.group_by("office_code").len().sort("office_code")
    assert offices["released"].to_list() == expected["len"].to_list()
    content = clearance.update_content.body(ctx, None, None, None, None, "release")
    assert len(_graphs(content)) == 5


def test_offices_comparison(pages: dict[str, ModuleType], published: Any) -> None:
    ctx = _ctx(published)
    offices = pages["offices"]
    frame = offices.office_frame(ctx, _filters(ctx))
    raw = published[1]
    for row in frame.iter_rows(named=True):
        mine = raw.filter(pl.col("office_code") == row["office"])
        assert row["declarations"] == mine.height
        assert row["hit_rate"] == pytest.approx(_hit_rate(mine))
    scatter = offices.scatter_graph(frame)
    assert list(scatter.data[0].text) == frame["office"].to_list()


def test_scoped_user_sees_only_their_offices(pages: dict[str, ModuleType], published: Any) -> None:
    ctx = _ctx(published, Role.VIEWER, offices=("THS",))
    assert ctx.offices() == ["THS"]
    frame = pages["offices"].office_frame(ctx, _filters(ctx, offices=("DKR", "ZIG")))
    assert frame["office"].to_list() == ["THS"]
    declarations = pages["home"].card_data(ctx, _filters(ctx), "declarations")
    raw = published[1].filter(
        pl.col("office_code") == "THS", pl.col("lodged_month") == pages_published.LATEST_MONTH
    )
    assert declarations.value == raw.height


def test_data_page_freshness_and_quarantine(pages: dict[str, ModuleType], published: Any) -> None:
    data = pages["data"]
    ctx = _ctx(published, Role.VIEWER)
    summary = data.quarantine_summary(ctx)
    assert dict(zip(summary["rule"], summary["rows"], strict=True)) == {
        "code:channel": 1,
        "required:lodged_at": 1,
    }
    assert ctx.data_as_of is not None
    # data_as_of is a naive UTC timestamp (the warehouse stores UTC).
    as_of = ctx.data_as_of.replace(tzinfo=ctx.data_as_of.tzinfo or UTC)
    old = data.freshness(ctx, as_of + timedelta(hours=ctx.settings.freshness_hours + 1))
    assert old.age_hours == pytest.approx(ctx.settings.freshness_hours + 1) and old.stale
    recent = data.freshness(ctx, as_of + timedelta(hours=1))
    assert recent.age_hours == pytest.approx(1.0) and not recent.stale
    content = data.content(ctx)
    text = str(content)
    # Raw quarantined rows are an admin detail.
    assert "data-quarantine-section" in text and "data-quarantine-rows-section" not in text
    assert "data-quarantine-rows-section" in str(data.content(_ctx(published, Role.ADMIN)))


def test_nothing_published_pages_say_how_to_load(
    pages: dict[str, ModuleType], tmp_path: Path
) -> None:
    settings = load_settings(environ={}, home=tmp_path / "empty")
    settings.ensure_home()
    ctx = build_context(settings, Viewer("v", Role.VIEWER), current_version(settings))
    assert not ctx.published
    for name in ("home", "profiles", "clearance", "offices"):
        content = pages[name].update_content.body(
            ctx, None, None, None, None, *(["release"] if name == "clearance" else [])
        )
        assert "No data has been published yet" in str(content)
        assert "customs-kpi load" in str(content)
    layout = pages["home"].frame.page_layout(
        "overview", title="Overview", intro="", query={}, content_id="x", context=ctx
    )
    assert "No data has been published yet" in str(layout)


def test_a_failing_callback_shows_a_message_not_a_blank(
    pages: dict[str, ModuleType],
    published: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    home = pages["home"]
    ctx = _ctx(published)
    monkeypatch.setattr("dashboard.data.request_context", lambda: ctx)

    def broken(*_args: Any) -> Any:
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(home, "content", broken)
    with caplog.at_level("ERROR"):
        out = home.update_content(None, None, None, None)
    assert "could not be computed" in str(out)
    reference = str(out).split("reference ")[1][:8]
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)


def test_viewer_is_refused_an_analyst_callback(
    pages: dict[str, ModuleType], published: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from werkzeug.exceptions import Forbidden

    detail = pages["profile_detail"]
    monkeypatch.setattr("dashboard.data.request_context", lambda: _ctx(published, Role.VIEWER))
    with pytest.raises(Forbidden):
        detail.update_declarations(0, 0, 0, "P-GOOD", None, None, None, None)
    assert datetime  # keeps the import used for type clarity in helpers


def test_trend_pick_survives_a_filter_change(pages: dict[str, ModuleType], published: Any) -> None:
    home = pages["home"]
    ctx = _ctx(published)
    box, picked = home.update_trend.body(ctx, "release_time_p90", None, None, None, None)
    assert picked == "release_time_p90"
    # The next redraw (new filters) keeps the pick: the store is the callback's State.
    content = home.update_content.body(ctx, "2025-06", "2026-03", None, "all", picked)
    dropdown = _find(content, lambda n: getattr(n, "id", None) == home.TREND_KPI_ID)[0]
    assert dropdown.value == "release_time_p90"
    figure = _graphs(_find(content, lambda n: getattr(n, "id", None) == home.TREND_BOX_ID))[0]
    expected = home.trend_frame(ctx, _filters(ctx, start=date(2025, 6, 1)), "release_time_p90")
    assert list(figure.figure.data[-1].y) == [
        v if ok else None for v, ok in zip(expected["value"], expected["sufficient"], strict=True)
    ]
    assert _graphs(box)[0].figure.layout.yaxis.tickformat in (",.0f", ",.1f")  # hours, not %


def test_cards_download_matches_the_cards(pages: dict[str, ModuleType], published: Any) -> None:
    home = pages["home"]
    ctx = _ctx(published)
    filters = _filters(ctx)
    table = home.download_frame(ctx, filters, "cards", None)
    assert table["kpi"].to_list() == list(home.CARD_KPIS)
    for kpi_id in ("hit_rate", "declarations", "release_time_median"):
        card = home.card_data(ctx, filters, kpi_id)
        row = table.filter(pl.col("kpi") == kpi_id).row(0, named=True)
        assert row["value"] == pytest.approx(card.value)
        assert row["mom_delta"] == pytest.approx(card.mom_delta)
        assert row["month"] == filters.end
    hit = table.filter(pl.col("kpi") == "hit_rate").row(0, named=True)
    assert hit["status"] == "on target" and hit["target"] == pytest.approx(0.034)


def test_stale_data_is_flagged_on_every_page(pages: dict[str, ModuleType], tmp_path: Path) -> None:
    settings = load_settings(environ={}, home=tmp_path / "stale")
    settings.ensure_home()
    old = datetime.now(UTC).replace(microsecond=0, tzinfo=None) - timedelta(
        hours=settings.freshness_hours + 5
    )
    pages_published.build(settings, data_as_of=old)
    ctx = build_context(settings, Viewer("v", Role.VIEWER), current_version(settings))
    layout = pages["offices"].frame.page_layout(
        "offices", title="Offices", intro="", query={}, content_id="x", context=ctx
    )
    header = _find(layout, lambda n: getattr(n, "className", "") == "page-header")[0]
    assert "stale" in str(header)
    banner = _find(pages["data"].content(ctx), lambda n: getattr(n, "id", None) == "data-freshness")
    assert "Data may be stale" in str(banner[0])
    assert f"warning after {settings.freshness_hours} hours" in str(banner[0])

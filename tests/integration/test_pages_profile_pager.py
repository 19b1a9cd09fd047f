"""The profile page's declarations pager reads only the lodged months that hold the requested
page (totals from the cube): every page must still be exactly what one plain SQL query over all
the facts returns, for every scope and filter, and the first page comes with the content."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from types import ModuleType
from typing import Any

import pages_published
import polars as pl
import pytest
from auth_helpers import call, login, make_app

from appstate.roles import Role
from customs_kpi.published import current_version
from customs_kpi.settings import Settings
from dashboard import filters as flt
from dashboard.data import PageContext, Viewer, build_context
from dashboard.pages._profile_facts import (
    DECLARATION_COLUMNS,
    PAGE_SIZE,
    controlled_by_month,
    declarations_frame,
    page_months,
)
from kpis.domain import Channel

PAGER = "..profile-declarations.children...profile-declarations-page.data.."


@pytest.fixture(scope="module")
def app_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Settings]]:
    settings = pages_published.published_home(tmp_path_factory.mktemp("pager-home"))
    app, _, _ = make_app(settings, {"analyst": (Role.ANALYST, ())})
    yield app, settings


@pytest.fixture(scope="module")
def detail(app_home: Any) -> ModuleType:
    """The page module as the app loaded it (create_app registered its callbacks)."""
    return sys.modules["dashboard.pages.profile_detail"]


def _ctx(settings: Settings, offices: tuple[str, ...] | None = None) -> PageContext:
    viewer = Viewer("tester", Role.ANALYST, offices)
    return build_context(settings, viewer, current_version(settings))


def _by_hand(
    ctx: PageContext, profile: str, filters: flt.PageFilters, offices: tuple[str, ...] | None
) -> pl.DataFrame:
    """Every controlled declaration of the profile, latest first: one query over all months."""
    assert filters.start is not None and filters.end is not None
    clauses = [
        "h.profile_id = ?",
        "d.lodged_month BETWEEN ? AND ?",
        "d.channel IN ('yellow', 'red', 'blue')",
        "d.control_result IN ('no_finding', 'irregularity', 'seizure')",
    ]
    params: list[Any] = [profile, filters.start, filters.end]
    if offices:
        clauses.append(f"d.office_code IN ({', '.join('?' for _ in offices)})")
        params.extend(offices)
    if filters.channel is not None:
        clauses.append("d.channel = ?")
        params.append(filters.channel.value)
    columns = ", ".join(f"d.{c}" for c in DECLARATION_COLUMNS)
    return ctx.query(
        f"SELECT {columns} FROM declarations d JOIN profile_hits h "
        "ON h.declaration_id = d.declaration_id AND h.lodged_month = d.lodged_month "
        f"WHERE {' AND '.join(clauses)} ORDER BY d.lodged_at DESC, d.declaration_id",
        params,
    )


def test_page_months_picks_the_months_holding_the_page() -> None:
    counts = pl.DataFrame(
        {
            "lodged_month": [date(2026, 3, 1), date(2026, 2, 1), date(2026, 1, 1)],
            "controlled": [10, 30, 5],
        }
    )
    assert page_months(counts, 0, 25) == ([date(2026, 3, 1), date(2026, 2, 1)], 0)
    assert page_months(counts, 25, 25) == ([date(2026, 2, 1), date(2026, 1, 1)], 10)
    assert page_months(counts, 10, 25) == ([date(2026, 2, 1)], 10)
    assert page_months(counts, 40, 25) == ([date(2026, 1, 1)], 40)
    assert page_months(counts, 45, 25) == ([], 45)  # past the end


@pytest.mark.parametrize(
    ("offices", "pick", "channel"),
    [(None, (), None), (("ZIG",), (), None), (None, ("THS", "DKR"), Channel.RED)],
)
def test_every_page_equals_one_query_over_all_months(
    app_home: Any,
    offices: tuple[str, ...] | None,
    pick: tuple[str, ...],
    channel: Channel | None,
) -> None:
    _, settings = app_home
    ctx = _ctx(settings, offices)
    filters = ctx.resolve(replace(flt.PageFilters(), offices=pick, channel=channel))
    expected = _by_hand(ctx, "P-GOOD", filters, offices or pick or None)
    assert expected.height > 2 * PAGE_SIZE  # several pages, across month boundaries
    newest = controlled_by_month(ctx, filters, "P-GOOD")["controlled"][0]
    assert newest % PAGE_SIZE  # some page straddles the newest month's boundary
    last = (expected.height - 1) // PAGE_SIZE
    for page in sorted({0, 1, newest // PAGE_SIZE, last}):
        rows, total = declarations_frame(ctx, filters, "P-GOOD", page)
        assert total == expected.height
        want = expected.slice(page * PAGE_SIZE, PAGE_SIZE)
        assert rows["declaration_id"].to_list() == want["declaration_id"].to_list()
        assert rows.columns == list(DECLARATION_COLUMNS)
        assert rows.rows() == want.rows()
    beyond, total = declarations_frame(ctx, filters, "P-GOOD", last + 1)
    assert beyond.is_empty() and beyond.columns == list(DECLARATION_COLUMNS)
    assert total == expected.height


def test_no_controlled_declaration_gives_an_empty_page(app_home: Any) -> None:
    _, settings = app_home
    ctx = _ctx(settings)
    filters = ctx.resolve(flt.PageFilters())
    rows, total = declarations_frame(ctx, filters, "NO-SUCH", 0)
    assert total == 0 and rows.is_empty() and rows.columns == list(DECLARATION_COLUMNS)


def test_first_page_is_drawn_with_the_content(app_home: Any, detail: ModuleType) -> None:
    _, settings = app_home
    ctx = _ctx(settings)
    filters = ctx.resolve(flt.PageFilters())
    expected = _by_hand(ctx, "P-GOOD", filters, None)
    text = json.dumps(detail.content(ctx, filters, "P-GOOD"), default=str, ensure_ascii=False)
    assert f"1–25 of {expected.height:,}" in text
    assert expected["declaration_id"][0] in text
    assert expected["declaration_id"][PAGE_SIZE] not in text


def test_pager_redrawn_with_the_content_only_resets_the_page(app_home: Any) -> None:
    app, _ = app_home
    client = login(app, "analyst")
    # Drawn anew (no button pressed): the content already shows page 0, the store goes back.
    response = call(client, app, PAGER, [0, 0], [3, "P-GOOD", None, None, None, None])
    assert response.status_code == 200
    answer = response.get_json()["response"]
    assert answer == {"profile-declarations-page": {"data": 0}}
    # "Older" from the third page shows the fourth.
    response = call(
        client,
        app,
        PAGER,
        [0, 1],
        [2, "P-GOOD", None, None, None, None],
        changed=["profile-declarations-next.n_clicks"],
    )
    answer = response.get_json()["response"]
    assert answer["profile-declarations-page"]["data"] == 3
    assert "76–100 of" in json.dumps(answer, ensure_ascii=False)


def test_a_failing_first_page_leaves_the_rest_of_the_page(
    app_home: Any, detail: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, settings = app_home
    ctx = _ctx(settings)

    def broken(*_args: Any) -> Any:
        raise RuntimeError("facts unreadable")

    monkeypatch.setattr(detail, "declarations_frame", broken)
    text = json.dumps(
        detail.content(ctx, ctx.resolve(flt.PageFilters()), "P-GOOD"),
        default=str,
        ensure_ascii=False,
    )
    assert "could not be computed" in text
    assert "Hit rate, interval and random baseline" in text and "Random baseline" in text

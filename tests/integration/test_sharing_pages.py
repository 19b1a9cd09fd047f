"""Issue 13 points 4 and 5 through the app: each page's layout reads every view choice back
from the URL (what a reload or a shared link restores), the one default period, the saved-views
menu's callback (per user, never more than the user's office scope), the Reports page's "no
worker is running", and the currency in the monthly report."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pages_published
import pytest
from auth_helpers import call, login, make_app
from dash_helpers import component_text as _text
from pypdf import PdfReader

from appstate.roles import Role
from appstate.saved_views import views_for
from customs_kpi.published import current_version
from customs_kpi.settings import Settings
from dashboard import filters as flt
from dashboard.data import Viewer, build_context
from worker.jobs import WorkerInfo
from worker.queue import Request, RequestKind, RequestStatus

ROUTER = ".._pages_content.children..._pages_store.data.."
SAVED = "..saved-views-list.children...saved-views-status.children.."


@pytest.fixture(scope="module")
def app_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Settings]]:
    settings = pages_published.published_home(tmp_path_factory.mktemp("sharing"))
    app, _, _ = make_app(
        settings,
        {"analyst": (Role.ANALYST, ()), "other": (Role.ANALYST, ()),
         "dakar": (Role.VIEWER, ("DKR",))},
    )  # fmt: skip
    yield app, settings


def _layout(app: Any, path: str, search: str = "", user: str = "analyst") -> Any:
    response = call(login(app, user), app, ROUTER, [path, search])
    assert response.status_code == 200
    return response.get_json()["response"]["_pages_content"]["children"]


def _find(tree: Any, component_id: Any) -> dict[str, Any]:
    """The props of the component with ``component_id`` in a layout's JSON."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            props = node.get("props", {})
            if props.get("id") == component_id:
                found.append(props)
            walk(props.get("children"))
            for value in props.values():
                if isinstance(value, dict | list) and value is not props.get("children"):
                    walk(value)

    walk(tree)
    assert found, f"{component_id} not in the layout"
    return found[0]


def _page(name: str) -> Any:
    return sys.modules[f"dashboard.pages.{name}"]


# --- The URL restores every view choice -------------------------------------------------------
def test_overview_trend_kpi_round_trips(app_home: tuple[Any, Settings]) -> None:
    app, _ = app_home
    home = _page("home")
    assert (
        _find(_layout(app, "/", "?trend=seizure_rate"), home.TREND_STORE)["data"] == "seizure_rate"
    )
    assert _find(_layout(app, "/", "?trend=evil"), home.TREND_STORE)["data"] == home.DEFAULT_TREND
    marker = _find(_layout(app, "/"), {"type": flt.VIEW_PARAM, "key": "trend"})
    assert marker["data"] == {"key": "trend", "default": home.DEFAULT_TREND}


def test_whatif_scenario_round_trips(app_home: tuple[Any, Settings]) -> None:
    app, _ = app_home
    whatif = _page("whatif")
    tree = _layout(app, "/what-if", "?profiles=P-GOOD,P-MID&action=suspend&keep=30")
    assert _find(tree, whatif.PROFILES_ID)["value"] == ["P-GOOD", "P-MID"]
    assert _find(tree, whatif.ACTION_ID)["value"] == "suspend"
    assert str(_find(tree, whatif.KEEP_ID)["value"]) == "30"
    for key in ("profiles", "action", "keep"):
        _find(tree, {"type": flt.VIEW_PARAM, "key": key})


def test_profiles_grid_sort_and_filters_round_trip(app_home: tuple[Any, Settings]) -> None:
    app, settings = app_home
    profiles = _page("profiles")
    model = {"profile": {"filterType": "text", "type": "contains", "filter": "GOOD"}}
    search = f"?sort=lift:desc&filter={json.dumps(model)}"
    state = _find(_layout(app, "/profiles", search), profiles.GRID_STATE_ID)["data"]
    assert state == {"sort": "lift:desc", "filter": model}
    ctx = build_context(settings, Viewer("t", Role.ANALYST), current_version(settings))
    content = profiles.update_content.body(ctx, None, None, [], "all", [], state)
    grids = [g for g in _walk_components(content) if type(g).__name__ == "AgGrid"]
    assert grids, "the grid is drawn"
    grid = grids[0]
    assert grid.filterModel == model
    lift = next(c for c in grid.columnDefs if c.get("field") == "lift")
    assert lift["sort"] == "desc" and lift["sortIndex"] == 0


def _walk_components(node: Any) -> Iterator[Any]:
    if isinstance(node, list | tuple):
        for child in node:
            yield from _walk_components(child)
        return
    if node is None or isinstance(node, str | int | float):
        return
    yield node
    yield from _walk_components(getattr(node, "children", None))


def test_every_page_opens_with_the_one_default_period(app_home: tuple[Any, Settings]) -> None:
    app, settings = app_home
    published = current_version(settings)
    assert published is not None
    months = published.months()
    start, end = flt.preset_period(months, settings.default_period_months) or (None, None)
    assert start is not None and end is not None
    for path in ("/", "/profiles", "/review", "/what-if", "/overlap", "/offices", "/clearance"):
        tree = _layout(app, path)
        assert _find(tree, flt.FROM_ID)["value"] == flt.month_key(start), path
        assert _find(tree, flt.TO_ID)["value"] == flt.month_key(end), path


def test_a_link_never_shows_offices_outside_the_scope(app_home: tuple[Any, Settings]) -> None:
    app, _ = app_home
    tree = _layout(app, "/offices", "?office=DKR,ZIG", user="dakar")
    assert _find(tree, flt.OFFICES_ID)["value"] == ["DKR"]


# --- Saved views menu -------------------------------------------------------------------------
def _save(client: Any, app: Any, url: str, name: str) -> dict[str, Any]:
    response = call(
        client, app, SAVED, [True, {"url": url, "n": 1}, []], [name],
        changed=["saved-views-current.data"],
    )  # fmt: skip
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["response"]


def test_saved_views_are_per_user_and_within_scope(app_home: tuple[Any, Settings]) -> None:
    app, settings = app_home
    store = views_for(settings.app_db_path)
    dakar = login(app, "dakar")
    out = _save(dakar, app, "/offices?office=DKR,ZIG&channel=red", "Mine")
    assert "Saved" in json.dumps(out["saved-views-status"])
    # The link kept names no office outside the user's scope.
    assert [v.url for v in store.list_views("dakar")] == ["/offices?office=DKR&channel=red"]
    refused = _save(dakar, app, "https://evil.example/", "Evil")
    assert "Not saved" in json.dumps(refused["saved-views-status"])
    # Another user sees none of them.
    other = login(app, "other")
    listing = call(other, app, SAVED, [True, None, []], [None], changed=["saved-views.open"])
    assert "Mine" not in listing.get_data(as_text=True)
    assert store.list_views("other") == []


# --- Reports: "no worker is running" ----------------------------------------------------------
def _request(age_seconds: float, now: datetime) -> Request:
    return Request(
        id="r1", kind=RequestKind.REPORT, requested_by="ann",
        requested_at=(now - timedelta(seconds=age_seconds)).isoformat(), month="2025-12",
        reason="draft",
    )  # fmt: skip


def test_a_stranded_request_says_no_worker_is_running(app_home: tuple[Any, Settings]) -> None:
    reports = _page("reports")
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    fresh, old = _request(2, now), _request(60, now)
    assert not reports.is_stranded(fresh, worker_alive=False, now=now)
    assert reports.is_stranded(old, worker_alive=False, now=now)
    assert not reports.is_stranded(old, worker_alive=True, now=now)
    done = replace(old, status=RequestStatus.SUCCEEDED)
    assert not reports.is_stranded(done, worker_alive=False, now=now)
    row = reports.request_rows([old], worker_alive=False, now=now)[0]
    assert _text(row["Status"]) == "no worker is running"
    assert _text(reports.request_rows([old], worker_alive=True, now=now)[0]["Status"]) == "pending"


def test_viewers_are_not_shown_shell_commands(app_home: tuple[Any, Settings]) -> None:
    app, _ = app_home
    reports = _page("reports")
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    viewer = _text(reports.worker_banner(WorkerInfo(), now))
    assert "not running" in viewer and "`" not in viewer and "customs-kpi" not in viewer
    assert "administrator" in viewer
    assert "customs-kpi worker" in _text(reports.worker_banner(WorkerInfo(), now, operator=True))
    assert reports.worker_banner(WorkerInfo(heartbeat_at=now.isoformat()), now) is None
    # Through the app: the viewer's Reports page (no worker ever ran here).
    output = "..reports-content.children...reports-poll.disabled.."
    response = call(login(app, "dakar"), app, output, [0, None])
    text = response.get_data(as_text=True)
    assert "The worker is not running" in text and "customs-kpi worker" not in text


# --- Currency in the monthly report -----------------------------------------------------------
def test_the_monthly_report_names_the_currency(app_home: tuple[Any, Settings]) -> None:
    from monthly_report.producer import produce_report

    _, settings = app_home
    published = current_version(settings)
    assert published is not None
    month = max(published.months())
    priced = replace(settings, currency="XOF")
    version = produce_report(priced, month, reason="currency test", now=datetime.now(UTC))
    csv_headers = {
        p.name: p.read_text(encoding="utf-8").splitlines()[0] for p in version.path.glob("*.csv")
    }
    amounts = [c for h in csv_headers.values() for c in h.split(",") if "revenue" in c]
    assert amounts and all(c.endswith(" (XOF)") for c in amounts), amounts
    pdf = next(version.path.glob("*.pdf"))
    text = " ".join(" ".join(page.extract_text() for page in PdfReader(pdf).pages).split())
    assert " XOF" in text

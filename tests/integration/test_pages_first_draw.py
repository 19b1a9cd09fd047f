"""What one page load asks of the server. Dash skips a ``prevent_initial_call`` callback when its
inputs appear only if every output appears with them; an output outside the content makes it
run for nothing each time the content is drawn (a round trip after the drawing). So the CSV
download and the declarations pager live in the content, and the Overview's trend (drawn by the
content) is not computed a second time."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pages_published
import pytest
from auth_helpers import call, login, make_app
from dash.exceptions import PreventUpdate

from appstate.roles import Role
from customs_kpi.published import current_version
from customs_kpi.settings import Settings
from dashboard import filters as flt
from dashboard.data import PageContext, Viewer, build_context
from kpis import catalogue


@pytest.fixture(scope="module")
def app_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Settings]]:
    settings = pages_published.published_home(tmp_path_factory.mktemp("first-draw"))
    app, _, _ = make_app(settings, {"analyst": (Role.ANALYST, ())})
    yield app, settings


ROUTER = ".._pages_content.children..._pages_store.data.."
PATHS = {
    "home": "/",
    "profile_detail": "/profiles/P-GOOD",
    "overlap": "/overlap",
    "clearance": "/clearance",
}


def _prevented(app: Any, output: str) -> bool:
    """Whether the renderer is told not to run the callback of ``output`` on first draw."""
    response = login(app, "analyst").get("/_dash-dependencies")
    assert response.status_code == 200
    spec = next(c for c in response.get_json() if c["output"] == output)
    return bool(spec["prevent_initial_call"])


def _layout(app: Any, name: str) -> str:
    """The page's layout as the router sends it, without the content."""
    response = call(login(app, "analyst"), app, ROUTER, [PATHS[name], ""])
    assert response.status_code == 200
    text = json.dumps(response.get_json()["response"]["_pages_content"]["children"])
    assert "page-content" in text and "filter-from" in text  # a real page, not an error
    return text


def _page(name: str) -> ModuleType:
    return sys.modules[f"dashboard.pages.{name}"]


def _ctx(settings: Settings, role: Role = Role.ANALYST) -> PageContext:
    return build_context(settings, Viewer("tester", role), current_version(settings))


def _ids(tree: Any) -> set[str]:
    """Every component id in a Dash tree."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list | tuple):
            for child in node:
                walk(child)
            return
        if node is None or isinstance(node, str | int | float):
            return
        if isinstance(getattr(node, "id", None), str):
            found.add(node.id)
        walk(getattr(node, "children", None))

    walk(tree)
    return found


def _content(name: str, ctx: PageContext) -> Any:
    filters = ctx.resolve(flt.PageFilters())
    page = _page(name)
    if name == "home":
        return page.content(ctx, filters)
    if name == "profile_detail":
        return page.content(ctx, filters, "P-GOOD")
    if name == "overlap":
        return page.content(ctx, filters, 1)
    return page.content(ctx, filters, "release")


@pytest.mark.parametrize("name", ["home", "profile_detail", "overlap", "clearance"])
def test_every_output_of_a_content_callback_is_drawn_with_its_inputs(
    app_home: Any, name: str
) -> None:
    app, settings = app_home
    page = _page(name)
    for role in (Role.VIEWER, Role.ANALYST):
        drawn = _ids(_content(name, _ctx(settings, role)))
        assert page.DOWNLOAD_ID in drawn
    assert f'"{page.DOWNLOAD_ID}"' not in _layout(app, name)  # only once, with its buttons
    assert _prevented(app, f"{page.DOWNLOAD_ID}.data")


def test_declarations_pager_outputs_come_with_its_buttons(app_home: Any) -> None:
    app, settings = app_home
    detail = _page("profile_detail")
    drawn = _ids(_content("profile_detail", _ctx(settings, Role.ANALYST)))
    assert {detail.DECL_TABLE_ID, detail.DECL_PAGE_STORE, detail.DECL_PREV_ID} <= drawn
    output = f"..{detail.DECL_TABLE_ID}.children...{detail.DECL_PAGE_STORE}.data.."
    assert _prevented(app, output)
    # Viewers get no pager, but the store the download callback reads is there.
    viewer = _ids(_content("profile_detail", _ctx(settings, Role.VIEWER)))
    assert detail.DECL_PAGE_STORE in viewer and detail.DECL_TABLE_ID not in viewer


def test_overview_trend_is_not_computed_again_for_the_kpi_drawn(app_home: Any) -> None:
    _, settings = app_home
    home = _page("home")
    ctx = _ctx(settings)
    # The content drew hit_rate (the store's pick): the picker's first call changes nothing.
    with pytest.raises(PreventUpdate):
        home.update_trend.body(ctx, "hit_rate", None, None, None, None, "hit_rate")
    box, picked = home.update_trend.body(ctx, "seizure_rate", None, None, None, None, "hit_rate")
    assert picked == "seizure_rate"
    # The chart comes with its text alternative (dashboard.components.layout.graph).
    chart = box.children[0]
    names = [trace.name for trace in chart.figure.data]
    assert catalogue.get("seizure_rate").label in names

"""Office scope on the Data and Reports pages (issue 11, point 8): a user with an office scope
sees the declarations of their offices, never the national totals; the run log's per-file row
counts, the quarantine counts and a monthly report's pending-controls count (all national) are shown
to users without an office scope only. Signed in through the real login, callbacks as the
browser sends them, numbers checked against counts made by hand over the test's
published version."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import dash
import pages_published
import polars as pl
import pytest
from auth_helpers import call, login, make_app, press_download
from flask.testing import FlaskClient

from appstate.roles import Role
from customs_kpi.settings import load_settings

DATA = "data-content.children"
REPORTS = "..reports-content.children...reports-poll.disabled.."
PENDING = 4321  # the report manifest's (national) count of pending controls
USERS = {
    "adam": (Role.ADMIN, ()),
    "vera": (Role.VIEWER, ()),
    "ths": (Role.VIEWER, ("THS",)),
    "two": (Role.ANALYST, ("DKR", "THS")),
    "sadm": (Role.ADMIN, ("ZIG",)),  # an administrator with an office scope
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dash.Dash, pl.DataFrame]]:
    settings = load_settings(environ={}, home=tmp_path_factory.mktemp("scope-data"))
    settings.ensure_home()
    built = pages_published.build(settings)
    version = settings.reports_dir / "2026-03" / "v1"
    version.mkdir(parents=True)
    (version / "manifest.json").write_text(
        json.dumps(
            {
                "status": "final",
                "reason": "scheduled",
                "created_at": "2026-04-01T06:00:00+00:00",
                "pending_controls": PENDING,
                "files": [],
            }
        ),
        encoding="utf-8",
    )
    app, _, _ = make_app(settings, users=USERS)
    yield app, built.declarations


def _stats(tree: Any) -> dict[str, str]:
    """The Data page's stat list: label → value."""
    found: dict[str, str] = {}
    if isinstance(tree, dict):
        props = tree.get("props", {})
        if isinstance(props, dict) and props.get("className") == "stat":
            label, value = (c["props"]["children"] for c in props["children"])
            found[label] = value
        for value in tree.values():
            found.update(_stats(value))
    elif isinstance(tree, list):
        for value in tree:
            found.update(_stats(value))
    return found


def _data_page(client: FlaskClient, app: dash.Dash) -> Any:
    response = call(client, app, DATA, [0])
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["response"]["data-content"]["children"]


def _download(client: FlaskClient, app: dash.Dash, view: str) -> Any:
    response = press_download(client, app, "data", view)
    if response.status_code == 204:  # PreventUpdate: nothing sent
        return None
    assert response.status_code == 200, response.get_data(as_text=True)
    content = response.get_json()["response"]["data-download"]["data"]["content"]
    return list(csv.DictReader(io.StringIO(content)))


def _count(declarations: pl.DataFrame, offices: tuple[str, ...] | None) -> str:
    """Declarations counted by hand over the rows the published version was built from."""
    rows = (
        declarations
        if offices is None
        else declarations.filter(pl.col("office_code").is_in(list(offices)))
    )
    return f"{rows.height:,}"


@pytest.mark.parametrize(
    ("user", "offices"), [("ths", ("THS",)), ("two", ("DKR", "THS")), ("sadm", ("ZIG",))]
)
def test_scoped_user_sees_their_declarations_not_national_totals(
    site: tuple[dash.Dash, pl.DataFrame], user: str, offices: tuple[str, ...]
) -> None:
    app, declarations = site
    page = _data_page(login(app, user), app)
    stats = _stats(page)
    assert stats["Declarations (your offices)"] == _count(declarations, offices)
    assert "Declarations" not in stats and "Quarantined rows" not in stats
    text = json.dumps(page)
    national = _count(declarations, None)
    assert national != _count(declarations, offices)
    assert national not in text  # the national total appears nowhere on the page
    assert f"{declarations.height + 2:,}" not in text  # nor the run's rows read (national)
    # The run is listed, without its file-level counts; no quarantine figures at all.
    assert "pages-test.csv" in text
    for hidden in (
        '"Read"',
        '"Inserted"',
        '"Quarantined"',
        "Quarantine by rule",
        "Quarantined rows",
        "lodged_at",
        "X1",  # a quarantined row's declaration (raw rows of any office)
    ):
        assert hidden not in text, hidden


def test_national_user_sees_national_totals(site: tuple[dash.Dash, pl.DataFrame]) -> None:
    app, declarations = site
    page = _data_page(login(app, "vera"), app)
    stats = _stats(page)
    assert stats["Declarations"] == _count(declarations, None) == "9,000"
    assert stats["Quarantined rows"] == "2"
    text = json.dumps(page)
    assert f"{declarations.height + 2:,}" in text and "Quarantine by rule" in text


def test_scoped_downloads_leave_out_national_counts(site: tuple[dash.Dash, pl.DataFrame]) -> None:
    app, _ = site
    scoped = login(app, "ths")
    runs = _download(scoped, app, "runs")
    assert [r["file_name"] for r in runs] == ["pages-test.csv"]
    for column in ("rows_read", "rows_inserted", "rows_replaced", "rows_quarantined", "message"):
        assert column not in runs[0], column
    assert _download(scoped, app, "quarantine") is None  # refused on the server
    scoped_admin = login(app, "sadm")
    assert _download(scoped_admin, app, "quarantine") is None
    assert _download(scoped_admin, app, "quarantine-rows") is None
    assert "rows_read" not in _download(scoped_admin, app, "runs")[0]
    national = login(app, "vera")
    runs = _download(national, app, "runs")
    assert runs[0]["rows_read"] == "9002" and runs[0]["rows_quarantined"] == "2"
    assert sum(int(r["rows"]) for r in _download(national, app, "quarantine")) == 2
    rows = _download(login(app, "adam"), app, "quarantine-rows")
    assert sorted(r["declaration_id"] for r in rows) == ["X1", "X2"]


def _reports(client: FlaskClient, app: dash.Dash) -> str:
    response = call(client, app, REPORTS, [0, None])
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.dumps(response.get_json()["response"]["reports-content"]["children"])


def test_reports_pending_count_only_for_national_users(
    site: tuple[dash.Dash, pl.DataFrame],
) -> None:
    app, _ = site
    for user in ("ths", "two"):
        text = _reports(login(app, user), app)
        assert "v1" in text  # the report is listed
        assert f"{PENDING:,}" not in text and "Pending controls" not in text, user
    text = _reports(login(app, "vera"), app)
    assert "Pending controls" in text and f"{PENDING:,}" in text

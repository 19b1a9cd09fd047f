"""The tuning pages inside the real app (create_app, Flask test client, generated data): review
queue decisions reach the audit trail and the profile's timeline, viewers are refused on the
server, the committee workbook is role-checked and audited, what-if / changes / overlap pages
show what kpis computes."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import openpyxl
import polars as pl
import pytest
from auth_helpers import call_json as call
from auth_helpers import find_prop, login, make_app, press_download
from etl_helpers import load_tuning_sample
from flask.testing import FlaskClient

from appstate import AppState
from appstate.roles import Role
from customs_kpi.published import current_version
from customs_kpi.settings import Settings, load_settings

USERS = {
    "viewer": (Role.VIEWER, ()),
    "analyst": (Role.ANALYST, ()),
    "admin": (Role.ADMIN, ()),
}
ROUTER = ".._pages_content.children..._pages_store.data.."
ACT = "..review-message.children...review-refresh.data.."
CONTENT = "..review-content.children...review-profile.options.."


@dataclass(frozen=True)
class App:
    app: Any
    settings: Settings
    state: AppState
    truth: dict[str, Any]


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    settings, sample = load_tuning_sample(tmp_path_factory.mktemp("tuning-pages"))
    published = current_version(settings)
    assert published is not None
    office = str(published.query("SELECT min(office_code) AS o FROM declarations")["o"][0])
    app, state, _ = make_app(settings, {**USERS, "scoped": (Role.ANALYST, (office,))})
    yield App(app, settings, state, sample.ground_truth)


def layout_of(client: FlaskClient, app: Any, path: str) -> Any:
    status, routed = call(client, app, ROUTER, [path, ""])
    assert status == 200, (path, status)
    return routed["response"]["_pages_content"]["children"]


def filter_values(layout: Any) -> list[Any]:
    return [find_prop(layout, i, "value") for i in FILTERS]


FILTERS = ("filter-from", "filter-to", "filter-offices", "filter-channel")


def review_content(client: FlaskClient, app: Any) -> tuple[Any, list[dict[str, str]]]:
    layout = layout_of(client, app, "/review")
    status, payload = call(client, app, CONTENT, [*filter_values(layout), [], 0])
    assert status == 200
    response = payload["response"]
    return response["review-content"]["children"], response["review-profile"]["options"]


def act(
    client: FlaskClient, app: Any, button: str, profile: str, seen: str | None,
    decision: str | None = None, rationale: str | None = None,
) -> tuple[int, Any]:  # fmt: skip
    ids = ["review-start", "review-decide", "review-reopen", "review-release"]
    clicks = [1 if i == button else 0 for i in ids]
    return call(
        client, app, ACT, clicks, [profile, decision, rationale, seen, 0],
        changed=[f"{button}.n_clicks"],
    )  # fmt: skip


# --- Review queue ---------------------------------------------------------------------------------
def test_analyst_sees_the_queue_viewer_does_not(web: App) -> None:
    analyst = login(web.app, "analyst")
    assert analyst.get("/review").status_code == 200
    grid, options = review_content(analyst, web.app)
    rows = find_prop(grid, "review-grid", "rowData")
    assert rows and [o["value"] for o in options] == [r["profile"] for r in rows]
    # Ranked by cost: flagged profiles by severity (wasted inspections) first.
    severity = [r["severity"] for r in rows if r["severity"] is not None]
    assert severity and severity == sorted(severity, reverse=True)
    assert [r["severity"] for r in rows[: len(severity)]] == severity
    viewer = login(web.app, "viewer")
    layout = layout_of(analyst, web.app, "/review")
    status, _ = call(viewer, web.app, CONTENT, [*filter_values(layout), [], 0])
    assert status == 403


def test_viewer_cannot_take_a_decision(web: App) -> None:
    viewer = login(web.app, "viewer")
    before = len(web.state.audit_entries(action_prefix="review."))
    status, _ = act(viewer, web.app, "review-start", "P003", "flagged")
    assert status == 403
    status, _ = act(viewer, web.app, "review-decide", "P003", "under_review", "retire", "x")
    assert status == 403
    assert len(web.state.audit_entries(action_prefix="review.")) == before
    from appstate.review import store_for

    assert store_for(web.settings.app_db_path).get("P003").state.value == "flagged"


def test_record_decision_on_a_flagged_profile_starts_the_review_itself(web: App) -> None:
    """No "Start review" first: the web side records the decision on a flagged profile, the
    review starting by itself (both steps audited, as appstate.review does everywhere)."""
    client = login(web.app, "analyst")
    _, options = review_content(client, web.app)
    profile = options[-1]["value"]
    status, payload = act(client, web.app, "review-decide", profile, "flagged", "keep", "fine")
    assert status == 200 and "decided (keep)" in json.dumps(payload), payload
    entries = web.state.audit_entries(action_prefix="review.")
    assert [(e.action, e.target) for e in entries[:2]] == [
        ("review.decide", f"profile:{profile}"),
        ("review.start", f"profile:{profile}"),
    ]
    # The rules are the same: a decision still needs its rationale.
    other = options[-2]["value"]
    status, payload = act(client, web.app, "review-decide", other, "flagged", "keep")
    assert "rationale" in json.dumps(payload)
    from appstate.review import store_for

    assert store_for(web.settings.app_db_path).get(other).state.value == "flagged"


def test_decision_reaches_audit_trail_and_timeline(web: App) -> None:
    client = login(web.app, "analyst")
    _, options = review_content(client, web.app)
    profile = options[0]["value"]
    status, payload = act(client, web.app, "review-start", profile, "flagged")
    assert status == 200
    assert "under review" in json.dumps(payload)
    # Deciding without a rationale is refused with a sentence, and nothing is written.
    status, payload = act(client, web.app, "review-decide", profile, "under_review", "retire")
    assert status == 200 and "rationale" in json.dumps(payload)
    rationale = "Hit rate below random for two quarters; inspections go to P001 instead."
    status, payload = act(
        client, web.app, "review-decide", profile, "under_review", "retire", rationale
    )
    assert status == 200 and "decided (retire)" in json.dumps(payload)
    entries = web.state.audit_entries(action_prefix="review.")
    assert [(e.action, e.user_name, e.target) for e in entries[:2]] == [
        ("review.decide", "analyst", f"profile:{profile}"),
        ("review.start", "analyst", f"profile:{profile}"),
    ]
    assert entries[0].details["rationale"] == rationale
    state_output = "..review-profile-state.children...review-seen-state.data.."
    status, shown = call(client, web.app, state_output, [profile, 1])
    assert status == 200
    text = json.dumps(shown, ensure_ascii=False)
    assert shown["response"]["review-seen-state"]["data"] == "decided"
    assert rationale in text and f"/what-if?profiles={profile}&action=retire" in text
    # A second screen still showing "under review" cannot decide again.
    status, payload = act(client, web.app, "review-decide", profile, "under_review", "keep", "x")
    assert "changed by someone else" in json.dumps(payload)
    # The profile page's timeline (its content callback) draws the decision.
    layout = layout_of(client, web.app, f"/profiles/{profile}")
    status, content = call(
        client, web.app, "profile-content.children", filter_values(layout), [profile]
    )
    assert status == 200
    text = json.dumps(content)
    assert "decision: retire" in text
    assert "Hit rate below random for two quarters" in text


def test_committee_workbook_is_role_checked_and_audited(web: App) -> None:
    layout = layout_of(login(web.app, "analyst"), web.app, "/review")
    values = filter_values(layout)
    viewer = login(web.app, "viewer")
    status, _ = call(viewer, web.app, "review-export.data", [1], [["decided"], *values])
    assert status == 403
    client = login(web.app, "admin")
    status, payload = call(client, web.app, "review-export.data", [1], [["decided"], *values])
    assert status == 200
    sent = payload["response"]["review-export"]["data"]
    assert sent["filename"].endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(base64.b64decode(sent["content"])))
    sheet = book["Review queue"]
    header = [c.value for c in sheet[1]]
    rows = [dict(zip(header, (c.value for c in r), strict=True)) for r in sheet.iter_rows(2)]
    _, options = review_content(client, web.app)
    assert {r["Profile"] for r in rows} >= {o["value"] for o in options}
    for r in rows:
        if r["Controls"]:
            assert r["Controls without finding"] == r["Controls"] - r["Hits"]
        if r["Enough controls for rates"] == "no":
            assert r["Hit rate"] is None and r["Lift"] is None
        else:
            assert r["Hit rate"] == pytest.approx(r["Hits"] / r["Controls"])
    assert "Exported by" in [c.value for c in book["About"]["A"]]
    entry = web.state.audit_entries(action_prefix="export.review_queue")[0]
    assert entry.user_name == "admin" and entry.details["rows"] == len(rows)


# --- What-if, changes, overlap --------------------------------------------------------------------
WHATIF = "..whatif-content.children...whatif-profiles.options.."


def download_csv(
    client: FlaskClient, app: Any, page: str, view: str, state: list[Any]
) -> pl.DataFrame:
    """Click a page's CSV button (pattern-matching id) and read the file it sends."""
    entry = app.callback_map[f"{page}-download.data"]
    assert len(state) == len(entry["state"])
    response = press_download(client, app, page, view, state)
    assert response.status_code == 200
    content = response.get_json()["response"][f"{page}-download"]["data"]["content"]
    return pl.read_csv(io.StringIO(content))


def whatif_csv(client: FlaskClient, app: Any, values: list[Any], state: list[Any]) -> pl.DataFrame:
    return download_csv(client, app, "whatif", "summary", [*state, *values])


def test_whatif_page_shows_the_hand_counted_savings(web: App) -> None:
    client = login(web.app, "viewer")
    layout = layout_of(client, web.app, "/what-if")
    values = filter_values(layout)
    assert values[:2] == ["2025-01", "2025-12"]  # twelve months ending with the latest
    published = current_version(web.settings)
    assert published is not None
    ranked = published.query(
        """SELECT profile_id, count(*) AS n FROM profile_hits
           WHERE lodged_month BETWEEN DATE '2025-01-01' AND DATE '2025-12-01'
           GROUP BY 1 ORDER BY n DESC, profile_id LIMIT 2"""
    )["profile_id"].to_list()
    pid = ranked[0]
    status, payload = call(client, web.app, WHATIF, [*values, [pid], "retire", 50])
    assert status == 200
    expected = published.query(
        """WITH f AS (SELECT declaration_id, lodged_month, count(*) AS n,
                             bool_or(profile_id = ?) AS mine FROM profile_hits GROUP BY ALL)
           SELECT count(*) FILTER (WHERE d.channel IN ('yellow','red','blue')
                    AND d.control_result IN ('no_finding','irregularity','seizure')) AS saved,
                  count(*) FILTER (WHERE d.channel IN ('yellow','red','blue')
                    AND d.control_result IN ('irregularity','seizure')) AS at_risk
           FROM declarations d JOIN f USING (declaration_id, lodged_month)
           WHERE f.mine AND f.n = 1
             AND d.selection_source NOT IN ('random','officer','intelligence')
             AND d.lodged_month BETWEEN DATE '2025-01-01' AND DATE '2025-12-01'""",
        [pid],
    ).row(0, named=True)
    assert expected["saved"] > 0
    text = json.dumps(payload["response"]["whatif-content"]["children"], ensure_ascii=False)
    assert "Detections at risk" in text and f'"{expected["at_risk"]:,}"' in text
    assert "whatif-assumption-other_profiles" in text
    csv = whatif_csv(client, web.app, values, [[pid], "retire", 50])
    controls = csv.filter(pl.col("measure") == "controls").row(0, named=True)
    assert controls["change"] == -expected["saved"]
    assert controls["method"] == "cube"
    # A set is counted from the facts and thinning gives expected values.
    csv = whatif_csv(client, web.app, values, [ranked, "lower_selection", 25])
    row = csv.filter(pl.col("measure") == "controls").row(0, named=True)
    assert row["method"] == "facts" and row["selection_kept"] == 0.25
    assert row["change"] < 0


def test_changes_page_lists_change_log_and_decisions(web: App) -> None:
    from appstate.audit import Actor
    from appstate.review import State as ReviewState
    from appstate.review import store_for

    truth = {p["profile_id"]: p["changes"][0] for p in web.truth["profiles"] if p["changes"]}
    decided_on = sorted(truth)[0]
    store = store_for(web.settings.app_db_path)
    if store.get(decided_on).state.value == "flagged":
        store.transition(decided_on, ReviewState.UNDER_REVIEW, Actor("analyst", "analyst"))
        store.transition(
            decided_on,
            ReviewState.DECIDED,
            Actor("analyst"),
            decision="keep",
            rationale="judged after the recorded change",
        )
    client = login(web.app, "viewer")
    layout = layout_of(client, web.app, "/changes")
    output = "changes-content.children"
    sources = ["change_log", "decision"]
    # Every change of the data: from its first month (the default period is 12 months).
    filters = filter_values(layout)
    filters[0] = find_prop(layout, "filter-from", "options")[-1]["value"]
    status, payload = call(client, web.app, output, [*filters, 6, sources])
    assert status == 200
    text = json.dumps(payload, ensure_ascii=False)
    assert "judged after the recorded change" in text and "review decision" in text
    csv = download_csv(client, web.app, "changes", "changes", [6, sources, *filters])
    rows = {(r["profile_id"], r["change_type"]): r for r in csv.iter_rows(named=True)}
    for pid, change in truth.items():
        row = rows[(pid, "modified")]
        rose = change["hit_rate_after"] > change["hit_rate_before"]
        assert (row["hit_rate_delta"] > 0) == rose, row
        expected = "improved" if rose else "worsened"
        assert row["verdict"] in (expected, "insufficient_data", "no_significant_change"), row
    assert any(r["verdict"] in ("improved", "worsened") for r in rows.values())
    assert rows[(decided_on, "keep")]["source"] == "decision"
    status, payload = call(client, web.app, output, [*filter_values(layout), 6, ["decision"]])
    text = json.dumps(payload, ensure_ascii=False)
    assert "judged after the recorded change" in text and '"modified"' not in text


def test_overlap_page_ranks_the_hand_counted_pairs(web: App) -> None:
    client = login(web.app, "viewer")
    layout = layout_of(client, web.app, "/overlap")
    status, payload = call(client, web.app, "overlap-content.children",
                           [*filter_values(layout), 1])  # fmt: skip
    assert status == 200
    published = current_version(web.settings)
    assert published is not None
    top = published.query(
        """WITH h AS (SELECT * FROM profile_hits
                      WHERE lodged_month BETWEEN DATE '2025-01-01' AND DATE '2025-12-01'),
                v AS (SELECT profile_id, count(*) AS n FROM h GROUP BY 1),
                p AS (SELECT x.profile_id AS a, y.profile_id AS b, count(*) AS s FROM h x JOIN h y
                      ON x.declaration_id = y.declaration_id AND x.lodged_month = y.lodged_month
                      AND x.profile_id < y.profile_id GROUP BY 1, 2)
           SELECT a, b, s, s / (va.n + vb.n - s) AS jaccard FROM p
           JOIN v va ON va.profile_id = a JOIN v vb ON vb.profile_id = b
           ORDER BY jaccard DESC, s DESC, a, b LIMIT 1"""
    ).row(0, named=True)
    text = json.dumps(payload, ensure_ascii=False)
    first_a = text.index(f'"/profiles/{top["a"]}"')
    assert first_a < text.index("Similarity matrix")
    assert f"{top['jaccard']:.1%}" in text


PAGE_CONTENT = {
    "/review": CONTENT,
    "/what-if": WHATIF,
    "/changes": "changes-content.children",
    "/overlap": "overlap-content.children",
}
EXTRA_INPUTS: dict[str, list[Any]] = {
    "/review": [[], 0],
    "/what-if": [None, "retire", 50],
    "/changes": [3, ["change_log", "decision"]],
    "/overlap": [2],
}


@pytest.mark.parametrize("user", ["viewer", "analyst", "admin", "scoped"])
@pytest.mark.parametrize("path", sorted(PAGE_CONTENT))
def test_every_tuning_page_renders_for_every_allowed_role(web: App, user: str, path: str) -> None:
    client = login(web.app, user)
    allowed = not (path == "/review" and user == "viewer")
    assert client.get(path).status_code == (200 if allowed else 403)
    if not allowed:
        return
    layout = layout_of(client, web.app, path)
    status, payload = call(
        client, web.app, PAGE_CONTENT[path], [*filter_values(layout), *EXTRA_INPUTS[path]]
    )
    assert status == 200
    text = json.dumps(layout) + json.dumps(payload)
    assert "could not be computed" not in text
    assert "Data as of" in text


def test_scoped_user_overlap_and_whatif_come_from_their_offices(web: App) -> None:
    from kpis.overlap import facts_queries, rank_pairs
    from kpis.whatif import Scenario, hits_query, what_if

    client = login(web.app, "scoped")
    office = web.state.get_user("scoped").offices[0]
    layout = layout_of(client, web.app, "/overlap")
    values = filter_values(layout)
    assert find_prop(layout, "filter-offices", "options") == [{"label": office, "value": office}]
    # A crafted payload asking for every office still gets only the user's office.
    crafted = [values[0], values[1], ["PRT01", "AIR02", "ZZZ"], values[3]]
    csv = download_csv(client, web.app, "overlap", "pairs", [1, *crafted])
    published = current_version(web.settings)
    assert published is not None
    period = (date(2025, 1, 1), date(2025, 12, 31))
    (pq, pp), (vq, vp) = facts_queries(period, [office])
    expected = rank_pairs(published.query(pq, pp), published.query(vq, vp))
    assert csv["shared_declarations"].to_list() == expected["shared_declarations"].to_list()
    assert csv["profile_a"].to_list() == expected["profile_a"].to_list()
    national = published.query(
        "SELECT count(*) AS n FROM profile_hits WHERE lodged_month BETWEEN ? AND ?",
        [date(2025, 1, 1), date(2025, 12, 1)],
    )["n"][0]
    assert expected["declarations_a"].sum() < national
    profiles = expected.select("profile_a", "profile_b").row(0)
    what = download_csv(client, web.app, "whatif", "summary", [list(profiles), "retire", 50,
                                                               *crafted])  # fmt: skip
    sql, params = hits_query(profiles, period, [office])
    hand = what_if(web_cube(web), Scenario(tuple(profiles)), period,
                   hits=published.query(sql, params), offices=[office])  # fmt: skip
    controls = what.filter(pl.col("measure") == "controls").row(0, named=True)
    assert controls["before"] == hand.before.controlled
    assert controls["change"] == pytest.approx(-hand.removed.controlled)


def web_cube(web: App) -> Any:
    from kpis.cube import CubeFrames

    published = current_version(web.settings)
    assert published is not None
    return CubeFrames.from_published(published)


def test_an_old_decision_does_not_hide_a_profile_flagged_again(web: App) -> None:
    import time_machine

    from appstate.audit import Actor
    from appstate.review import State as ReviewState
    from appstate.review import store_for

    client = login(web.app, "analyst")
    _, options = review_content(client, web.app)
    pid = next(o["value"] for o in reversed(options) if o["label"].endswith("· flagged"))
    store = store_for(web.settings.app_db_path)
    analyst = Actor("analyst", "analyst")
    # Decided in December 2024: the queue's window (Jan–Dec 2025) is all after the decision.
    with time_machine.travel(datetime(2024, 12, 2, 9, 0, tzinfo=UTC), tick=False):
        store.transition(pid, ReviewState.UNDER_REVIEW, analyst)
        store.transition(
            pid, ReviewState.DECIDED, analyst, decision="keep", rationale="fine at the June meeting"
        )
    grid, _ = review_content(client, web.app)
    row = next(r for r in find_prop(grid, "review-grid", "rowData") if r["profile"] == pid)
    assert row["state"] == "decided: keep (flagged again)"
    # A decision taken now hides the profile until a later window flags it again.
    store.transition(pid, ReviewState.UNDER_REVIEW, analyst)
    store.transition(
        pid, ReviewState.DECIDED, analyst, decision="modify", rationale="narrow the value band"
    )
    grid, _ = review_content(client, web.app)
    assert pid not in [r["profile"] for r in find_prop(grid, "review-grid", "rowData")]


def test_crafted_decision_on_an_unknown_profile_is_refused(web: App) -> None:
    client = login(web.app, "analyst")
    before = len(web.state.audit_entries(action_prefix="review."))
    status, payload = act(client, web.app, "review-start", "NOT-A-PROFILE", "flagged")
    assert status == 200
    assert "no profile “NOT-A-PROFILE”" in json.dumps(payload, ensure_ascii=False)
    assert len(web.state.audit_entries(action_prefix="review.")) == before


def test_csv_downloads_of_the_tuning_pages_are_audited(web: App) -> None:
    client = login(web.app, "viewer")
    layout = layout_of(client, web.app, "/overlap")
    download_csv(client, web.app, "overlap", "pairs", [3, *filter_values(layout)])
    entry = web.state.audit_entries(action_prefix="export.csv")[0]
    assert entry.user_name == "viewer" and entry.target is not None
    assert entry.target.startswith("customs-kpi-overlap")


def test_tuning_pages_before_anything_is_published(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = load_settings(environ={}, home=tmp_path_factory.mktemp("tuning-empty"))
    settings.ensure_home()
    app, _, _ = make_app(settings, {"analyst": (Role.ANALYST, ())})
    client = login(app, "analyst")
    for path, output in PAGE_CONTENT.items():
        layout = layout_of(client, app, path)
        assert "No data has been published yet" in json.dumps(layout)
        status, payload = call(client, app, output, [None] * 4 + EXTRA_INPUTS[path])
        assert status == 200
        assert "could not be computed" not in json.dumps(payload)

"""Review workflow state: allowed and refused transitions, history, audit rows, concurrency."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from appstate import AppState
from appstate.audit import Actor
from appstate.review import Decision, ReviewError, ReviewStore, State

ANA = Actor("ana", "analyst", "10.0.0.5")
BOB = Actor("bob", "admin", "10.0.0.6")


@pytest.fixture
def store(tmp_path: Path) -> ReviewStore:
    return ReviewStore(tmp_path / "app.db")


def test_full_cycle_is_recorded_and_audited(store: ReviewStore) -> None:
    assert store.get("P7").state is State.FLAGGED
    start = store.transition("P7", State.UNDER_REVIEW, ANA, rationale="committee of 3 March")
    decided = store.transition(
        "P7",
        State.DECIDED,
        BOB,
        decision="retire",
        rationale="Hit rate 1.2 % over 240 controls; random 3 %.",
    )
    review = store.get("P7")
    assert review.state is State.DECIDED
    assert review.decision is Decision.RETIRE
    assert review.rationale == "Hit rate 1.2 % over 240 controls; random 3 %."
    assert review.updated_by == "bob"
    history = store.history("P7")
    assert [(e.from_state, e.to_state) for e in history] == [
        (State.FLAGGED, State.UNDER_REVIEW),
        (State.UNDER_REVIEW, State.DECIDED),
    ]
    audit = AppState(store.path).audit_entries(action_prefix="review.")
    assert [(a.action, a.user_name, a.role, a.remote_addr, a.target) for a in audit] == [
        ("review.decide", "bob", "admin", "10.0.0.6", "profile:P7"),
        ("review.start", "ana", "analyst", "10.0.0.5", "profile:P7"),
    ]
    assert audit[0].details["decision"] == "retire"
    assert audit[0].details["rationale"].startswith("Hit rate 1.2 %")
    assert (start.audit_id, decided.audit_id) == (audit[1].audit_id, audit[0].audit_id)
    frame = store.decisions_frame("P7")
    assert frame.to_dicts()[0]["change_type"] == "retire"
    assert frame.to_dicts()[0]["source"] == "decision"
    assert frame.to_dicts()[0]["changed_by"] == "bob"


@pytest.mark.parametrize(
    ("setup", "target", "kwargs", "message"),
    [
        ([], State.DECIDED, {"decision": "keep"}, "needs the analyst's rationale"),
        (
            ["start", "decide"],
            State.DECIDED,
            {"decision": "keep", "rationale": "again"},
            "cannot move to decided",
        ),
        (["start"], State.DECIDED, {"decision": "keep"}, "needs the analyst's rationale"),
        (["start"], State.DECIDED, {"rationale": "why"}, "choose a decision"),
        (["start"], State.UNDER_REVIEW, {}, "cannot move to under review"),
        ([], State.UNDER_REVIEW, {"decision": "keep"}, "only a decision carries"),
    ],
)
def test_refused_transitions_change_nothing(
    store: ReviewStore, setup: list[str], target: State, kwargs: dict[str, str], message: str
) -> None:
    for step in setup:
        if step == "start":
            store.transition("P1", State.UNDER_REVIEW, ANA)
        else:
            store.transition("P1", State.DECIDED, ANA, decision="keep", rationale="fine")
    before = (store.get("P1"), len(store.history()), len(AppState(store.path).audit_entries()))
    with pytest.raises(ReviewError, match=message):
        store.transition("P1", target, ANA, **kwargs)  # type: ignore[arg-type]
    after = (store.get("P1"), len(store.history()), len(AppState(store.path).audit_entries()))
    assert after == before


def test_a_decision_on_a_flagged_profile_starts_its_review_by_itself(
    store: ReviewStore,
) -> None:
    """Recording a decision without "Start review": the review starts in the same transaction,
    both steps in the history and the audit trail, by the same user."""
    decided = store.transition(
        "P8", State.DECIDED, ANA, decision="suspend", rationale="2 hits in 300 controls",
        expected=State.FLAGGED,
    )  # fmt: skip
    assert (decided.from_state, decided.to_state, decided.decision) == (
        State.UNDER_REVIEW, State.DECIDED, Decision.SUSPEND,
    )  # fmt: skip
    review = store.get("P8")
    assert (review.state, review.decision, review.updated_by) == (
        State.DECIDED, Decision.SUSPEND, "ana",
    )  # fmt: skip
    assert [(e.from_state, e.to_state, e.user_name) for e in store.history("P8")] == [
        (State.FLAGGED, State.UNDER_REVIEW, "ana"),
        (State.UNDER_REVIEW, State.DECIDED, "ana"),
    ]
    audit = AppState(store.path).audit_entries(action_prefix="review.")
    assert [(a.action, a.user_name, a.target) for a in audit] == [
        ("review.decide", "ana", "profile:P8"),
        ("review.start", "ana", "profile:P8"),
    ]
    assert audit[1].details == {
        "profile_id": "P8", "from": "flagged", "to": "under_review", "decision": None,
        "rationale": None,
    }  # fmt: skip
    assert decided.audit_id == audit[0].audit_id
    # Only one decision event: the before/after and the timeline see one change.
    assert store.decisions_frame("P8").height == 1
    # Someone else moved it meanwhile: refused, nothing written (neither step).
    store.transition("P9", State.UNDER_REVIEW, BOB)
    entries = len(AppState(store.path).audit_entries())
    with pytest.raises(ReviewError, match="changed by someone else"):
        store.transition("P9", State.DECIDED, ANA, decision="keep", rationale="ok",
                         expected=State.FLAGGED)  # fmt: skip
    assert store.get("P9").state is State.UNDER_REVIEW
    assert len(AppState(store.path).audit_entries()) == entries


def test_stale_screen_is_refused(store: ReviewStore) -> None:
    store.transition("P2", State.UNDER_REVIEW, ANA)
    # Bob's screen still shows "flagged": his start is refused, the state is Ana's.
    with pytest.raises(ReviewError, match="changed by someone else"):
        store.transition("P2", State.UNDER_REVIEW, BOB, expected=State.FLAGGED)
    store.transition("P2", State.DECIDED, BOB, decision="modify", rationale="narrow the HS range",
                     expected=State.UNDER_REVIEW)  # fmt: skip
    assert store.get("P2").decision is Decision.MODIFY


def test_reopen_and_release(store: ReviewStore) -> None:
    store.transition("P3", State.UNDER_REVIEW, ANA)
    store.transition("P3", State.FLAGGED, ANA, rationale="not this month")
    assert store.get("P3").state is State.FLAGGED
    store.transition("P3", State.UNDER_REVIEW, ANA)
    store.transition(
        "P3", State.DECIDED, ANA, decision=Decision.KEEP, rationale="recent change needs time"
    )
    store.transition("P3", State.UNDER_REVIEW, BOB, rationale="new data")
    assert store.get("P3").state is State.UNDER_REVIEW
    assert store.get("P3").decision is None
    actions = [a.action for a in AppState(store.path).audit_entries(action_prefix="review.")]
    assert actions == [
        "review.reopen", "review.decide", "review.start", "review.release", "review.start"
    ]  # fmt: skip
    assert store.decisions_frame("P3")["change_type"].to_list() == ["keep"]


def test_the_tables_come_from_the_app_state_migrations(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    AppState(path).add_user("carol", "viewer", "x")
    first = ReviewStore(path)
    first.transition("P4", State.UNDER_REVIEW, ANA)
    second = ReviewStore(path)  # a second process or a restart
    assert second.get("P4").state is State.UNDER_REVIEW
    assert AppState(path).get_user("carol").name == "carol"
    con = sqlite3.connect(path)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert {"review_state", "review_events", "audit", "users"} <= tables


def test_database_refuses_an_unknown_decision(store: ReviewStore) -> None:
    store.transition("P5", State.UNDER_REVIEW, ANA)
    with pytest.raises(ValueError):
        store.transition("P5", State.DECIDED, ANA, decision="abolish", rationale="no such decision")
    assert store.get("P5").state is State.UNDER_REVIEW

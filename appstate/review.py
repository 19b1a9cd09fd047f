"""Review workflow state per profile, in the app-state SQLite database (``settings.app_db_path``).

flagged → under_review → decided (keep | modify | suspend | retire), with the analyst's
rationale, who and when. A profile without a row is *flagged* as soon as the review queue
lists it. Allowed moves::

    flagged ──start──► under_review ──decide──► decided
                 ▲         │ release                │ reopen
                 └─────────┘                        └──────► under_review

Deciding on a flagged profile starts its review by itself: the one transaction records
``review.start`` then ``review.decide`` (two history rows, two audit rows), so the analyst
goes from a flag to a decision without a separate "Start review" step (:data:`AUTO_START`).

Every transition is one SQLite transaction that updates the state, appends to the history
(``review_events``) and writes the audit-trail row (``appstate.audit``, same database), so the
three can never disagree. The tables come from the migrations (``appstate.db``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import polars as pl

from appstate.audit import Actor, insert_audit
from appstate.db import Database, per_database, utc_now_iso

MAX_RATIONALE = 4000


class State(StrEnum):
    FLAGGED = "flagged"
    UNDER_REVIEW = "under_review"
    DECIDED = "decided"


class Decision(StrEnum):
    KEEP = "keep"
    MODIFY = "modify"
    SUSPEND = "suspend"
    RETIRE = "retire"


# (from, to) → audit action
TRANSITIONS: dict[tuple[State, State], str] = {
    (State.FLAGGED, State.UNDER_REVIEW): "review.start",
    (State.UNDER_REVIEW, State.DECIDED): "review.decide",
    (State.UNDER_REVIEW, State.FLAGGED): "review.release",
    (State.DECIDED, State.UNDER_REVIEW): "review.reopen",
}


# Moves made in two steps, the first one on the user's behalf: (from, to) → the step between.
AUTO_START: dict[tuple[State, State], State] = {
    (State.FLAGGED, State.DECIDED): State.UNDER_REVIEW,
}


class ReviewError(ValueError):
    """A transition the workflow refuses (the message says why, for the analyst)."""


@dataclass(frozen=True)
class ProfileReview:
    profile_id: str
    state: State
    decision: Decision | None = None
    rationale: str | None = None
    updated_by: str | None = None
    updated_at: str | None = None


@dataclass(frozen=True)
class ReviewEvent:
    event_id: int
    profile_id: str
    from_state: State
    to_state: State
    decision: Decision | None
    rationale: str | None
    user_name: str
    role: str | None
    at: str
    audit_id: int


def _clean_profile(profile_id: str) -> str:
    pid = (profile_id or "").strip()
    if not pid or len(pid) > 128:
        raise ReviewError("choose a profile")
    return pid


class ReviewStore(Database):
    """The workflow tables; safe across threads and processes."""

    # --- reads ----------------------------------------------------------------------------------
    def get(self, profile_id: str) -> ProfileReview:
        with self._read() as con:
            row = con.execute(
                "SELECT * FROM review_state WHERE profile_id = ?", (profile_id,)
            ).fetchone()
        return _review(row) if row else ProfileReview(profile_id, State.FLAGGED)

    def states(self) -> dict[str, ProfileReview]:
        """Every profile with a recorded state (others are flagged when queued)."""
        with self._read() as con:
            rows = con.execute("SELECT * FROM review_state ORDER BY profile_id").fetchall()
        return {r["profile_id"]: _review(r) for r in rows}

    def history(self, profile_id: str | None = None) -> list[ReviewEvent]:
        """Transitions, oldest first (one profile, or all)."""
        where, params = ("WHERE profile_id = ?", (profile_id,)) if profile_id else ("", ())
        with self._read() as con:
            rows = con.execute(
                f"SELECT * FROM review_events {where} ORDER BY event_id", params
            ).fetchall()
        return [_event(r) for r in rows]

    def decisions_frame(self, profile_id: str | None = None) -> pl.DataFrame:
        """Decisions as change events (``kpis.beforeafter.EVENT_SCHEMA``): ``changed_at`` (UTC,
        naive like the change log), ``change_type`` = the decision, ``summary`` = rationale,
        ``changed_by``, ``source`` = decision. For timelines and before/after."""
        decided = [e for e in self.history(profile_id) if e.to_state is State.DECIDED]
        return pl.DataFrame(
            {
                "profile_id": [e.profile_id for e in decided],
                "changed_at": [_naive_utc(e.at) for e in decided],
                "change_type": [e.decision.value if e.decision else None for e in decided],
                "summary": [e.rationale for e in decided],
                "changed_by": [e.user_name for e in decided],
                "source": ["decision"] * len(decided),
            },
            schema={
                "profile_id": pl.String,
                "changed_at": pl.Datetime("us"),
                "change_type": pl.String,
                "summary": pl.String,
                "changed_by": pl.String,
                "source": pl.String,
            },
        )

    # --- writes ---------------------------------------------------------------------------------
    def transition(
        self,
        profile_id: str,
        to_state: State | str,
        actor: Actor,
        *,
        decision: Decision | str | None = None,
        rationale: str | None = None,
        expected: State | str | None = None,
    ) -> ReviewEvent:
        """Move a profile to ``to_state``; ``expected`` = the state the user saw (refused if
        someone else moved it meanwhile). A decision needs a decision and a rationale.
        Deciding on a flagged profile starts its review first, in the same transaction
        (:data:`AUTO_START`); the decision's event is returned."""
        pid = _clean_profile(profile_id)
        target = State(to_state)
        text = (rationale or "").strip() or None
        if text is not None and len(text) > MAX_RATIONALE:
            raise ReviewError(f"the rationale is limited to {MAX_RATIONALE} characters")
        chosen = Decision(decision) if decision else None
        if target is State.DECIDED:
            if chosen is None:
                raise ReviewError("choose a decision: keep, modify, suspend or retire")
            if text is None:
                raise ReviewError("a decision needs the analyst's rationale")
        elif chosen is not None:
            raise ReviewError("only a decision carries keep / modify / suspend / retire")
        if not actor.name:
            raise ReviewError("no user")
        with self._write() as con:
            return self._apply(con, pid, target, actor, chosen, text, expected)

    def _apply(
        self,
        con: sqlite3.Connection,
        pid: str,
        target: State,
        actor: Actor,
        chosen: Decision | None,
        text: str | None,
        expected: State | str | None,
    ) -> ReviewEvent:
        row = con.execute("SELECT state FROM review_state WHERE profile_id = ?", (pid,)).fetchone()
        current = State(row["state"]) if row else State.FLAGGED
        if expected is not None and State(expected) is not current:
            raise ReviewError(
                f"{pid} is now {current.value.replace('_', ' ')} (changed by someone else): "
                "reload the queue"
            )
        between = AUTO_START.get((current, target))
        if between is not None:
            self._apply(con, pid, between, actor, None, None, None)
            return self._apply(con, pid, target, actor, chosen, text, between)
        action = TRANSITIONS.get((current, target))
        if action is None:
            raise ReviewError(
                f"{pid} is {current.value.replace('_', ' ')}: it cannot move to "
                f"{target.value.replace('_', ' ')}"
            )
        at = utc_now_iso()
        details: dict[str, Any] = {
            "profile_id": pid,
            "from": current.value,
            "to": target.value,
            "decision": chosen.value if chosen else None,
            "rationale": text,
        }
        audit_id = insert_audit(con, action, actor, f"profile:{pid}", details, at)
        con.execute(
            "INSERT INTO review_state (profile_id, state, decision, rationale, updated_by, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (profile_id) DO UPDATE SET "
            "state = excluded.state, decision = excluded.decision, "
            "rationale = excluded.rationale, updated_by = excluded.updated_by, "
            "updated_at = excluded.updated_at",
            (pid, target.value, chosen.value if chosen else None, text, actor.name, at),
        )
        cur = con.execute(
            "INSERT INTO review_events (profile_id, from_state, to_state, decision, rationale, "
            "user_name, role, at, audit_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (pid, current.value, target.value, chosen.value if chosen else None, text,
             actor.name, actor.role, at, audit_id),
        )  # fmt: skip
        return ReviewEvent(
            event_id=int(cur.lastrowid or 0),
            profile_id=pid,
            from_state=current,
            to_state=target,
            decision=chosen,
            rationale=text,
            user_name=str(actor.name),  # checked by transition
            role=actor.role,
            at=at,
            audit_id=audit_id,
        )


def _review(row: sqlite3.Row) -> ProfileReview:
    return ProfileReview(
        profile_id=row["profile_id"],
        state=State(row["state"]),
        decision=Decision(row["decision"]) if row["decision"] else None,
        rationale=row["rationale"],
        updated_by=row["updated_by"],
        updated_at=row["updated_at"],
    )


def _event(row: sqlite3.Row) -> ReviewEvent:
    return ReviewEvent(
        event_id=row["event_id"],
        profile_id=row["profile_id"],
        from_state=State(row["from_state"]),
        to_state=State(row["to_state"]),
        decision=Decision(row["decision"]) if row["decision"] else None,
        rationale=row["rationale"],
        user_name=row["user_name"],
        role=row["role"],
        at=row["at"],
        audit_id=row["audit_id"],
    )


def _naive_utc(iso: str) -> datetime:
    moment = datetime.fromisoformat(iso)
    return moment.replace(tzinfo=None) if moment.tzinfo is not None else moment


# The review store of an app-state database, created once per process.
store_for = per_database(ReviewStore)


def timeline_events(path: Path, profile_id: str) -> pl.DataFrame:
    """A profile's review decisions for its timeline: ``changed_at``, ``change_type``
    (``decision: retire``), ``summary`` (rationale and who), like the change log's columns."""
    decisions = store_for(path).decisions_frame(profile_id)
    return decisions.select(
        "changed_at",
        ("decision: " + pl.col("change_type")).alias("change_type"),
        (pl.col("summary") + " (" + pl.col("changed_by") + ")").alias("summary"),
    )

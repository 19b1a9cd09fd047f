"""The app-state database: schema versioning, WAL, private files, several writing processes,
users, sessions and the throttling policy."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from appstate import AppState
from appstate.audit import Actor
from appstate.db import MIGRATIONS, SCHEMA_VERSION, AppStateError, split_sql
from appstate.review import Decision, ReviewStore
from appstate.review import State as ReviewState
from appstate.roles import Role, parse_role
from appstate.sessions import hash_session_token
from appstate.throttle import ThrottlePolicy, pair_key
from appstate.users import AdminRefused, state_label

HASH = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"  # never verified here


def test_schema_is_versioned_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    state = AppState(path)
    assert state.schema_version() == SCHEMA_VERSION == 5
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {
        "users", "user_offices", "sessions", "login_throttle", "audit", "app_meta",
        "review_state", "review_events", "saved_views",
    }  # fmt: skip
    AppState(path)  # opening again migrates nothing and loses nothing
    assert state.schema_version() == SCHEMA_VERSION


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    AppState(path)
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA user_version = 99")
    with pytest.raises(AppStateError, match="schema version 99, newer than this program"):
        AppState(path)


def test_database_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    state = AppState(path)
    # Another process's open connection keeps the -wal and -shm files alive after a write.
    reader = sqlite3.connect(path)
    try:
        reader.execute("SELECT count(*) FROM users").fetchall()
        state.add_user("ann", Role.ADMIN, HASH)
        for name in ("app.db", "app.db-wal", "app.db-shm"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    finally:
        reader.close()


WRITER = """
import sys
from appstate import AppState
from appstate.audit import Actor
state = AppState(sys.argv[1])
for i in range(int(sys.argv[3])):
    state.record_audit("export.csv", Actor(sys.argv[2], "viewer", "10.0.0.1"), f"view-{i}")
    state.record_login_failure("address", "10.0.0.1", float(i))
"""


def test_several_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    AppState(path)
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), f"proc{n}", "40"])
        for n in range(3)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    state = AppState(path)
    entries = state.audit_entries(limit=1000)
    assert len(entries) == 120
    assert {e.user_name for e in entries} == {"proc0", "proc1", "proc2"}
    # Read-modify-write under BEGIN IMMEDIATE: no increment was lost.
    throttle = state.throttle_state("address", "10.0.0.1", now=100.0)
    assert throttle is not None and throttle.failures == 120


def test_users(tmp_path: Path) -> None:
    state = AppState(tmp_path / "app.db")
    user = state.add_user("Ann.Lee", "analyst", HASH, ["THS", "DKR", "THS", " "])
    assert (user.name, user.role, user.offices) == ("Ann.Lee", Role.ANALYST, ("DKR", "THS"))
    assert user.scope == frozenset({"DKR", "THS"})
    assert state.find_user("ann.lee") == user  # names are case-insensitive
    with pytest.raises(AppStateError, match="already exists"):
        state.add_user("ANN.LEE", "viewer", HASH)
    for bad in ("", "a b", "x" * 65, "-lead", "semi;colon"):
        with pytest.raises(AppStateError, match="invalid user name"):
            state.add_user(bad, "viewer", HASH)
    with pytest.raises(AppStateError, match="invalid office code"):
        state.add_user("bob", "viewer", HASH, ["D'K"])
    with pytest.raises(ValueError, match="unknown role 'root'"):
        state.add_user("bob", "root", HASH)
    assert state.set_offices("ann.lee", []).scope is None
    assert state.set_role("ann.lee", Role.ADMIN).role is Role.ADMIN
    assert [u.name for u in state.list_users()] == ["Ann.Lee"]
    with pytest.raises(AppStateError, match="no user named 'ghost'"):
        state.set_role("ghost", "viewer")


def test_sessions_store_only_a_hash_of_the_token(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    state = AppState(path)
    user = state.add_user("ann", Role.VIEWER, HASH)
    token, record = state.create_session(user.user_id, "10.0.0.5", "agent")
    assert record.session_hash == hash_session_token(token) != token
    assert token.encode() not in path.read_bytes()
    assert state.get_session(token) == record
    assert state.get_session(token + "x") is None
    assert state.end_session(record.session_hash, "logout") is True
    assert state.end_session(record.session_hash, "logout") is False  # reported once
    _, other = state.create_session(user.user_id, None, None)
    assert state.end_user_sessions(user.user_id, "password reset") == 1
    assert state.purge_sessions(time.time() + 1) == 2
    assert state.get_session(token) is None and other.ended_at is None


def test_throttle_policy_delays_grow_and_are_capped() -> None:
    policy = ThrottlePolicy()
    pair = [policy.delay_after(n) for n in range(1, 14)]
    assert pair == [0, 0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    account = [policy.delay_after(n, "account") for n in range(9, 17)]
    assert account == [0, 2, 4, 8, 16, 32, 60, 60]  # a real user waits a minute at most
    assert [policy.delay_after(n, "address") for n in (29, 30, 31, 40, 99)] == [0, 2, 4, 60, 60]
    assert (policy.lockout_after_for("pair"), policy.lockout_after_for("address")) == (10, 100)
    assert policy.lockout_after_for("account") is None  # never locked: see below


def test_locks_end_by_themselves(tmp_path: Path) -> None:
    policy = ThrottlePolicy(lockout_after=3, lock_seconds=600.0)
    state = AppState(tmp_path / "app.db", policy)
    key = pair_key("10.0.0.1", "kim")
    results = [state.record_login_failure("pair", key, 100.0 + i) for i in range(3)]
    assert [just_locked for _, just_locked in results] == [False, False, True]
    last, _ = results[-1]
    assert (last.locked_at, last.locked_until, last.next_allowed_at) == (102.0, 702.0, 702.0)
    assert last.is_locked_at(701.9) and not last.is_locked_at(702.0)
    assert state.locked_accounts(now=500.0) == frozenset({"kim"})
    assert state.locked_accounts(now=702.0) == frozenset()
    # A failure after the lock has ended locks again (and says so again).
    again, just_locked = state.record_login_failure("pair", key, 800.0)
    assert just_locked and (again.failures, again.locked_until) == (4, 1400.0)
    # While locked, a further failure (an early one refused by the login check never gets
    # here) does not report the lock again.
    third, just_locked = state.record_login_failure("pair", key, 900.0)
    assert not just_locked and third.locked_at == 800.0 and third.locked_until == 1500.0
    assert [t.key for t in state.throttled_keys(now=1000.0)] == [key]
    # Forgotten an hour after the last failure once no lock runs.
    assert state.throttle_state("pair", key, now=900.0 + 3600.0) is not None
    assert state.throttle_state("pair", key, now=900.0 + 3601.0) is None
    assert state.clear_login_failures("pair", key) is True


def test_an_account_is_slowed_and_reported_never_locked(tmp_path: Path) -> None:
    state = AppState(tmp_path / "app.db")
    results = [state.record_login_failure("account", "kim", 100.0 + i) for i in range(40)]
    alerts = [n + 1 for n, (_, alert) in enumerate(results) if alert]
    assert alerts == [state.policy.account_alert_after]
    last, _ = results[-1]
    assert last.locked_until is None and last.next_allowed_at == 139.0 + 60.0


def test_unlocking_an_account_or_an_address_clears_its_pairs(tmp_path: Path) -> None:
    state = AppState(tmp_path / "app.db")
    now = time.time()
    for address, account in [("10.0.0.1", "kim"), ("10.0.0.2", "kim"), ("10.0.0.1", "lea")]:
        for _ in range(state.policy.lockout_after):
            state.record_login_failure("pair", pair_key(address, account), now)
    state.record_login_failure("account", "kim", now)
    state.record_login_failure("address", "10.0.0.1", now)
    assert state.locked_accounts() == frozenset({"kim", "lea"})
    assert state.unlock_account("kim") is True
    assert state.locked_accounts() == frozenset({"lea"})
    assert {(t.kind, t.key) for t in state.throttled_keys()} == {
        ("pair", "10.0.0.1|lea"),
        ("address", "10.0.0.1"),
    }
    assert state.unlock_address("10.0.0.1") is True
    assert state.throttled_keys() == []
    assert state.unlock_address("10.0.0.1") is False and state.unlock_account("kim") is False


def test_unknown_names_share_salted_buckets(tmp_path: Path) -> None:
    state = AppState(tmp_path / "app.db", ThrottlePolicy(unknown_name_buckets=8))
    keys = {state.unknown_name_key(f"guess{i}") for i in range(200)}
    assert len(keys) <= 8 and all(k.startswith("?") for k in keys)
    assert state.unknown_name_key("Guess1 ") == state.unknown_name_key("guess1")
    # Each database draws its own salt: which names share a bucket cannot be worked out.
    wide = ThrottlePolicy(unknown_name_buckets=1 << 40)
    mine, other = AppState(tmp_path / "app.db", wide), AppState(tmp_path / "other.db", wide)
    assert mine.unknown_name_key("guess1") != other.unknown_name_key("guess1")


def _database_at(path: Path, version: int) -> sqlite3.Connection:
    """A connection to a new app.db built by the first ``version`` migrations."""
    con = sqlite3.connect(path, isolation_level=None)
    for target in range(version):
        for statement in split_sql(MIGRATIONS[target]):
            con.execute(statement)
    con.execute(f"PRAGMA user_version = {version}")
    return con


def test_a_version_2_database_keeps_its_failures_but_not_its_permanent_locks(
    tmp_path: Path,
) -> None:
    path = tmp_path / "app.db"
    con = _database_at(path, 2)
    con.execute(
        "INSERT INTO login_throttle VALUES ('account', 'kim', 10, 50.0, 178.0, 50.0), "
        "('address', '10.0.0.1', 3, 60.0, 62.0, NULL)"
    )
    con.close()
    state = AppState(path)
    assert state.schema_version() == SCHEMA_VERSION
    rows = {(t.kind, t.key): t for t in state.throttled_keys(now=100.0)}
    assert set(rows) == {("account", "kim"), ("address", "10.0.0.1")}
    assert rows[("account", "kim")].failures == 10
    assert rows[("account", "kim")].locked_until is None
    assert state.locked_accounts(now=100.0) == frozenset()


OLD_V3_DUMP = Path(__file__).resolve().parents[1] / "data" / "app_db_v3.sql"


def test_a_version_3_database_with_review_tables_made_outside_the_migrations_migrates(
    tmp_path: Path,
) -> None:
    """Before the review tables were a migration step, the review module created them itself:
    such a file (tests/data/app_db_v3.sql, dumped from it) reaches the current version with
    its data."""
    path = tmp_path / "app.db"
    con = sqlite3.connect(path)
    con.executescript(OLD_V3_DUMP.read_text(encoding="utf-8"))
    con.close()
    state = AppState(path)
    assert state.schema_version() == SCHEMA_VERSION
    assert [(u.name, u.role, u.offices) for u in state.list_users()] == [
        ("adam", Role.ADMIN, ()),
        ("ana", Role.ANALYST, ("DKR01",)),
    ]
    store = ReviewStore(path)
    decided = store.get("P7")
    assert (decided.state, decided.decision, decided.rationale) == (
        ReviewState.DECIDED, Decision.RETIRE, "Hit rate too low",
    )  # fmt: skip
    assert [(e.from_state, e.to_state, e.audit_id) for e in store.history("P7")] == [
        (ReviewState.FLAGGED, ReviewState.UNDER_REVIEW, 1),
        (ReviewState.UNDER_REVIEW, ReviewState.DECIDED, 2),
    ]
    reopened = store.transition("P7", ReviewState.UNDER_REVIEW, Actor("adam", "admin"))
    assert (reopened.event_id, reopened.audit_id) == (3, 3)
    assert [e.action for e in state.audit_entries()] == [
        "review.reopen", "review.decide", "review.start",
    ]  # fmt: skip


def test_a_version_3_database_without_review_tables_gets_them(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    _database_at(path, 3).close()
    assert AppState(path).schema_version() == SCHEMA_VERSION
    store = ReviewStore(path)
    store.transition("P1", ReviewState.UNDER_REVIEW, Actor("ana", "analyst"))
    assert store.get("P1").state is ReviewState.UNDER_REVIEW


def test_the_store_never_demotes_or_disables_the_last_active_admin(tmp_path: Path) -> None:
    """Whoever calls it (the Users page and the CLI go through appstate.users' rules first)."""
    state = AppState(tmp_path / "app.db")
    state.add_user("ann", Role.ADMIN, HASH)
    state.add_user("bob", Role.ADMIN, HASH)
    state.set_disabled("bob", True)
    with pytest.raises(AdminRefused, match="ann is the last active administrator"):
        state.set_role("ann", Role.VIEWER)
    with pytest.raises(AdminRefused, match="ann is the last active administrator"):
        state.set_disabled("ann", True)
    assert state.set_role("ann", Role.ADMIN).role is Role.ADMIN  # staying admin is fine
    assert state.set_role("bob", Role.ANALYST).role is Role.ANALYST  # bob is not active
    state.set_disabled("bob", False)
    state.set_role("bob", Role.ADMIN)
    assert state.set_disabled("ann", True).is_disabled


def test_parse_role() -> None:
    assert parse_role(" Admin ") is Role.ADMIN
    assert Role.ADMIN.covers(Role.ANALYST) and not Role.VIEWER.covers(Role.ANALYST)
    with pytest.raises(ValueError, match="valid: viewer, analyst, admin"):
        parse_role("superuser")


def _version_1_database(path: Path) -> None:
    """An app.db as the previous release left it: schema 1, a user with a session and a row."""
    con = _database_at(path, 1)
    try:
        con.execute(
            "INSERT INTO users (name, role, password_hash, created_at, updated_at, "
            "password_changed_at) VALUES ('old.admin', 'admin', ?, 'c', 'u', 'p')",
            (HASH,),
        )
        con.execute("INSERT INTO user_offices (user_id, office_code) VALUES (1, 'DKR'), (1, 'THS')")
        con.execute(
            "INSERT INTO sessions (session_hash, user_id, csrf_token, created_at, last_seen_at) "
            "VALUES ('h', 1, 'c', 1.0, 1.0)"
        )
        con.execute("INSERT INTO audit (at, action) VALUES ('2026-01-01T00:00:00.000+00:00', 'x')")
    finally:
        con.close()


def test_a_version_1_database_is_upgraded_and_keeps_its_users(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    _version_1_database(path)
    state = AppState(path)
    assert state.schema_version() == SCHEMA_VERSION
    user = state.get_user("old.admin")
    assert (user.role, user.offices, user.password_hash) == (Role.ADMIN, ("DKR", "THS"), HASH)
    assert user.must_change_password is False  # existing users are not forced to change
    assert state.active_session_count(user.user_id) == 1
    assert [e.action for e in state.audit_entries()] == ["x"]
    AppState(path)  # a second opening migrates nothing
    assert state.get_user("old.admin") == user


def test_must_change_password_is_set_by_admins_and_cleared_by_the_user(tmp_path: Path) -> None:
    state = AppState(tmp_path / "app.db")
    assert state.add_user("ann", Role.VIEWER, HASH).must_change_password is False
    issued = state.add_user("bob", Role.VIEWER, HASH, must_change_password=True)
    assert issued.must_change_password and state_label(issued, ()) == "active, must change password"
    own = state.set_password_hash("bob", HASH + "x", must_change_password=False)
    assert own.must_change_password is False and own.password_hash == HASH + "x"

    state.create_session(own.user_id, None, None)
    state.create_session(own.user_id, None, None)
    now = time.time()
    for _ in range(state.policy.lockout_after):
        state.record_login_failure("pair", pair_key("10.0.0.9", "bob"), now)
    assert state.locked_accounts() == frozenset({"bob"})
    assert state_label(state.get_user("bob"), state.locked_accounts()) == "active, locked out"
    reset = state.reset_password("BOB", HASH + "y", must_change_password=True)
    assert (reset.sessions_ended, reset.lockout_cleared) == (2, True)
    assert reset.user.must_change_password and reset.user.password_hash == HASH + "y"
    assert state.active_session_count(own.user_id) == 0 and state.locked_accounts() == frozenset()
    again = state.reset_password("bob", HASH, must_change_password=False)
    assert (again.sessions_ended, again.lockout_cleared) == (0, False)
    assert not again.user.must_change_password
    with pytest.raises(AppStateError, match="no user named 'ghost'"):
        state.reset_password("ghost", HASH, must_change_password=True)
    state.set_disabled("bob", True)
    locked = frozenset({"bob"})
    assert state_label(state.get_user("bob"), locked) == "disabled, locked out"


def test_prune_audit_deletes_rows_older_than_a_timestamp(tmp_path: Path) -> None:
    state = AppState(tmp_path / "app.db")
    for day in (1, 2, 3, 4):
        with time_machine.travel(datetime(2026, 3, day, 12, 0, tzinfo=UTC), tick=False):
            state.record_audit("export.csv", Actor("amy", "viewer"))
    assert state.prune_audit("2026-03-01T12:00:00+00:00") == 0  # not older: kept
    # A local time with an offset is compared in UTC (14:00 at +02:00 is 12:00 UTC).
    assert state.prune_audit("2026-03-02T14:00:00.001+02:00") == 2
    assert state.prune_audit("2026-03-02") == 0
    assert [e.at[:10] for e in state.audit_entries()] == ["2026-03-04", "2026-03-03"]
    assert state.prune_audit("2026-03-04T00:00:00") == 1  # no offset: UTC
    assert [e.at for e in state.audit_entries()] == ["2026-03-04T12:00:00.000+00:00"]
    with pytest.raises(AppStateError, match="not an ISO date or timestamp: 'last week'"):
        state.prune_audit("last week")
    assert len(state.audit_entries()) == 1

"""customs-kpi users … and customs-kpi audit: the same app-state database the web app uses."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from appstate import AppState
from appstate.audit import Actor
from appstate.passwords import Passwords
from appstate.roles import Role
from customs_kpi.cli import app
from customs_kpi.settings import Settings

runner = CliRunner()
GENERATED = re.compile(r"password for (\S+): (\S+)")
LONG = "a sufficiently long one\n"


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables one row per line whatever the terminal (rich reads the width once, at import)."""
    from customs_kpi.cli.common import console

    monkeypatch.setattr(console, "_width", 200)


def run(settings: Settings, *args: str, stdin: str | None = None) -> tuple[int, str]:
    result = runner.invoke(
        app, [*args, "--home", str(settings.home)], input=stdin, terminal_width=200
    )
    return result.exit_code, result.output


def test_add_generates_a_password_shown_once_and_stores_only_its_hash(
    settings: Settings,
) -> None:
    code, out = run(settings, "users", "add", "maria", "--role", "analyst", "--office", "DKR")
    assert code == 0, out
    assert "created maria (analyst, DKR)" in out
    match = GENERATED.search(out)
    assert match is not None and match.group(1) == "maria"
    password = match.group(2)
    assert len(password) >= 20 and out.count(password) == 1
    user = AppState(settings.app_db_path).get_user("maria")
    assert (user.role, user.offices) == (Role.ANALYST, ("DKR",))
    assert user.password_hash.startswith("$argon2id$")
    assert Passwords().verify(user.password_hash, password)
    assert password.encode() not in settings.app_db_path.read_bytes()
    # Each call generates a different password.
    run(settings, "users", "add", "maria2", "--role", "viewer")
    second = AppState(settings.app_db_path).get_user("maria2")
    assert not Passwords().verify(second.password_hash, password)


def test_add_with_password_from_stdin(settings: Settings) -> None:
    code, out = run(
        settings, "users", "add", "ops", "--role", "admin", "--password-stdin",
        stdin="a sufficiently long one\n",
    )  # fmt: skip
    assert code == 0, out
    assert "password for" not in out
    user = AppState(settings.app_db_path).get_user("ops")
    assert Passwords().verify(user.password_hash, "a sufficiently long one")


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["users", "add", "x", "--role", "boss"], None, "unknown role 'boss'"),
        (["users", "add", "x", "--role", "viewer", "--password-stdin"], "short\n", "at least 12"),
        (["users", "add", "bad name", "--role", "viewer"], None, "invalid user name"),
        (["users", "set-role", "ghost", "viewer"], None, "no user named 'ghost'"),
        (["users", "disable", "ghost"], None, "no user named 'ghost'"),
        (["users", "unlock"], None, "give a user NAME or --address ADDR"),
        (["audit", "--since", "27/11/2026"], None, "expected YYYY-MM-DD"),
    ],
)
def test_errors_are_explained(
    settings: Settings, args: list[str], stdin: str | None, message: str
) -> None:
    code, out = run(settings, *args, stdin=stdin)
    assert code == 1
    assert message in out
    assert AppState(settings.app_db_path).find_user("x") is None


def test_duplicate_names_are_refused_whatever_their_case(settings: Settings) -> None:
    assert run(settings, "users", "add", "Lea", "--role", "viewer")[0] == 0
    code, out = run(settings, "users", "add", "lea", "--role", "admin")
    assert code == 1 and "already exists" in out
    assert [u.role for u in AppState(settings.app_db_path).list_users()] == [Role.VIEWER]


def test_role_disable_enable_and_audit(settings: Settings) -> None:
    run(settings, "users", "add", "sam", "--role", "viewer")
    state = AppState(settings.app_db_path)
    user = state.get_user("sam")
    state.create_session(user.user_id, "10.1.1.1", "test")
    assert state.active_session_count(user.user_id) == 1

    code, out = run(settings, "users", "set-role", "sam", "analyst")
    assert code == 0 and "sam: viewer → analyst" in out
    code, out = run(settings, "users", "disable", "sam")
    assert code == 0 and "sam: disabled" in out
    assert state.get_user("sam").is_disabled
    assert state.active_session_count(user.user_id) == 0
    assert run(settings, "users", "enable", "sam")[0] == 0
    assert not state.get_user("sam").is_disabled

    entries = list(reversed(state.audit_entries(limit=10)))
    assert [e.action for e in entries] == [
        "user.create", "user.role_change", "user.disable", "user.enable",
    ]  # fmt: skip
    assert entries[1].details == {"from": "viewer", "to": "analyst"}
    assert all(e.user_name and e.user_name.startswith("cli") for e in entries)
    assert all(e.remote_addr == "cli" and e.target == "sam" for e in entries)


def test_unlock_lifts_a_lock_out(settings: Settings) -> None:
    run(settings, "users", "add", "kim", "--role", "viewer")
    state = AppState(settings.app_db_path)
    now = time.time()
    for _ in range(state.policy.address_lockout_after):
        state.record_login_failure("pair", "10.9.9.8|kim", now)
        state.record_login_failure("account", "kim", now)
        state.record_login_failure("address", "10.9.9.9", now)
    assert state.throttle_state("pair", "10.9.9.8|kim").is_locked_at(now)  # type: ignore[union-attr]
    assert state.throttle_state("address", "10.9.9.9").is_locked_at(now)  # type: ignore[union-attr]
    code, out = run(settings, "users", "list")
    assert code == 0 and "active, locked out" in out

    code, out = run(settings, "users", "unlock", "KIM", "--address", "10.9.9.9")
    assert code == 0, out
    assert "KIM: unlocked" in out and "10.9.9.9: unlocked" in out
    assert state.throttle_state("account", "kim") is None
    assert state.throttle_state("pair", "10.9.9.8|kim") is None
    assert state.throttle_state("address", "10.9.9.9") is None
    code, out = run(settings, "users", "unlock", "kim")
    assert "kim: was not locked" in out
    actions = [e.action for e in state.audit_entries(action_prefix="", limit=10)]
    assert actions[:3] == ["user.unlock", "address.unlock", "user.unlock"]


def test_reset_password_ends_sessions(settings: Settings) -> None:
    run(settings, "users", "add", "lou", "--role", "viewer")
    state = AppState(settings.app_db_path)
    before = state.get_user("lou")
    state.create_session(before.user_id, None, None)
    code, out = run(settings, "users", "reset-password", "lou")
    assert code == 0 and "password reset, sessions ended" in out
    match = GENERATED.search(out)
    assert match is not None
    after = state.get_user("lou")
    assert after.password_hash != before.password_hash
    assert Passwords().verify(after.password_hash, match.group(2))
    assert state.active_session_count(before.user_id) == 0
    code, _ = run(
        settings, "users", "reset-password", "lou", "--password-stdin", stdin="another long one\n"
    )
    assert code == 0
    assert Passwords().verify(state.get_user("lou").password_hash, "another long one")


def test_demo_accounts_are_created_once_with_random_passwords(settings: Settings) -> None:
    code, out = run(settings, "users", "demo", "--office", "THS")
    assert code == 0, out
    state = AppState(settings.app_db_path)
    users = {u.name: (u.role, u.offices) for u in state.list_users()}
    assert users == {
        "viewer": (Role.VIEWER, ()),
        "analyst": (Role.ANALYST, ()),
        "admin": (Role.ADMIN, ()),
        "analyst-office": (Role.ANALYST, ("THS",)),
    }
    rows = re.findall(r"│\s*(\S+)\s*│\s*(\w+)\s*│\s*([^│]+?)\s*│\s*(\S+)\s*│", out)
    passwords = {name: pw for name, _role, _offices, pw in rows if name in users}
    assert set(passwords) == set(users)
    assert len(set(passwords.values())) == 4
    for name, password in passwords.items():
        assert Passwords().verify(state.get_user(name).password_hash, password)
    code, again = run(settings, "users", "demo")
    assert code == 0 and "demo accounts already exist" in again
    for password in passwords.values():
        assert password not in again


def test_list_shows_scope_and_state(settings: Settings) -> None:
    run(settings, "users", "add", "zed", "--role", "analyst", "--office", "ZIG", "--office", "DKR")
    run(settings, "users", "add", "amy", "--role", "viewer")
    run(settings, "users", "disable", "amy")
    code, out = run(settings, "users", "list")
    assert code == 0
    lines = [line for line in out.splitlines() if "amy" in line or "zed" in line]
    assert "amy" in lines[0] and "viewer" in lines[0] and "all" in lines[0]
    assert "disabled" in lines[0] and "never" in lines[0]
    assert "zed" in lines[1] and "DKR, ZIG" in lines[1] and "active" in lines[1]


def test_audit_filters(settings: Settings) -> None:
    state = AppState(settings.app_db_path)
    for i in range(5):
        state.record_audit(
            "export.csv", Actor("amy", "viewer", "10.0.0.1"), f"view-{i}", {"rows": i}
        )
    state.record_audit("login.success", Actor("bob", "admin", "10.0.0.2"))
    code, out = run(settings, "audit", "--user", "amy", "--limit", "2")
    assert code == 0, out
    assert "view-4" in out and "view-3" in out and "view-2" not in out and "bob" not in out
    assert '{"rows": 4}' in out and "10.0.0.1" in out
    code, out = run(settings, "audit", "--action", "login")
    assert "login.success" in out and "export.csv" not in out
    today = datetime.now(UTC).date()
    code, out = run(settings, "audit", "--since", today.isoformat())
    assert out.count("export.csv") == 5
    code, out = run(settings, "audit", "--since", today.replace(year=today.year + 1).isoformat())
    assert code == 0 and "no audit entries match" in out


def test_generated_passwords_must_be_changed_at_first_sign_in(settings: Settings) -> None:
    run(settings, "users", "add", "gen", "--role", "viewer")
    run(settings, "users", "add", "own", "--role", "viewer", "--password-stdin", stdin=LONG)
    state = AppState(settings.app_db_path)
    assert state.get_user("gen").must_change_password is True
    assert state.get_user("own").must_change_password is False
    created = {e.target: e.details for e in state.audit_entries(action_prefix="user.create")}
    assert created["gen"]["must_change_password"] is True
    assert created["own"]["must_change_password"] is False
    code, out = run(settings, "users", "list")
    lines = {line.split()[1]: line for line in out.splitlines() if "viewer" in line}
    assert "active, must change password" in lines["gen"]
    assert "must change" not in lines["own"]

    now = time.time()
    for _ in range(state.policy.lockout_after):
        state.record_login_failure("pair", "10.9.9.8|own", now)
    code, out = run(settings, "users", "reset-password", "own")
    assert code == 0 and "to be changed at first sign-in" in out
    user = state.get_user("own")
    assert user.must_change_password is True
    assert state.throttle_state("pair", "10.9.9.8|own") is None  # the lock-out is lifted
    entry = state.audit_entries(action_prefix="user.password_reset", limit=1)[0]
    assert entry.details == {
        "sessions_ended": 0,
        "lockout_cleared": True,
        "must_change_password": True,
    }
    password = GENERATED.search(out).group(2)  # type: ignore[union-attr]
    assert password not in str(state.audit_entries(limit=100))
    run(settings, "users", "reset-password", "own", "--password-stdin", stdin=LONG)
    assert state.get_user("own").must_change_password is False


def test_demo_accounts_need_no_password_change(settings: Settings) -> None:
    assert run(settings, "users", "demo", "--office", "THS")[0] == 0
    users = AppState(settings.app_db_path).list_users()
    assert len(users) == 4
    assert [u.must_change_password for u in users] == [False] * 4


def test_the_last_active_admin_is_neither_demoted_nor_disabled(settings: Settings) -> None:
    """The user-admin rules of appstate.users, which the Users page applies too."""
    assert run(settings, "users", "add", "boss", "--role", "admin")[0] == 0
    refused = "boss is the last active administrator: make another user an administrator first."
    for args in (("set-role", "boss", "analyst"), ("disable", "boss")):
        code, out = run(settings, "users", *args)
        assert (code, out.strip()) == (1, f"error: {refused}"), args
    state = AppState(settings.app_db_path)
    boss = state.get_user("boss")
    assert (boss.role, boss.is_disabled) == (Role.ADMIN, False)
    assert [e.action for e in state.audit_entries()] == ["user.create"]  # refusals change nothing

    assert run(settings, "users", "set-role", "boss", "admin") == (
        0,
        "boss already has the role admin\n",
    )
    run(settings, "users", "add", "deputy", "--role", "admin")
    code, out = run(settings, "users", "disable", "boss")
    assert code == 0 and "boss: disabled" in out
    # A disabled administrator is not an active one: demoting boss leaves deputy in charge.
    code, out = run(settings, "users", "set-role", "boss", "viewer")
    assert code == 0 and "boss: admin → viewer" in out
    code, out = run(settings, "users", "disable", "deputy")
    assert code == 1 and "deputy is the last active administrator" in out

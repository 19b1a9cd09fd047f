"""Signing in: growing delays and lock-out (per account and per address), admin unlock, disabled
accounts, and the audit rows each step writes."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import dash
import pytest
import time_machine
from auth_helpers import (
    PASSWORD,
    SHELL_OUTPUT,
    audit_actions,
    call,
    client_from,
    form_token,
    login,
    make_app,
    post_login,
)

from appstate.roles import Role
from appstate.throttle import ThrottlePolicy
from customs_kpi.settings import Settings

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
APPLY = "..admin-result.children...admin-result.className...admin-version.data.."
WRONG = "not the password at all"
SET_ROLE, DISABLE, ENABLE = "admin-set-role", "admin-disable", "admin-enable"
UNLOCK, UNLOCK_SELECTED = "admin-unlock", "admin-unlock-address"
END_SESSIONS = "admin-end-sessions"


def _press(app: dash.Dash, button: str) -> list[int]:
    """n_clicks of the admin page's buttons (the callback's inputs) with ``button`` pressed."""
    buttons = [spec["id"] for spec in app.callback_map[APPLY]["inputs"]]
    assert buttons == [SET_ROLE, DISABLE, ENABLE, UNLOCK, UNLOCK_SELECTED, END_SESSIONS]
    return [1 if b == button else 0 for b in buttons]


def _press_as_admin(app: dash.Dash, button: str, state: list[object]) -> dict[str, Any]:
    """Press one of the admin page's buttons as the admin 'adam' with the callback's ``state``
    (user, role, selected locks, version); the callback's outputs."""
    response = call(
        login(app, "adam"), app, APPLY, _press(app, button), state, changed=[f"{button}.n_clicks"]
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    outputs: dict[str, Any] = response.get_json()["response"]
    return outputs


def _admin_action(app: dash.Dash, button: str, user: str | None, locks: object = None) -> str:
    """Press one of the admin page's buttons as 'adam' on ``user``; the message it shows."""
    return str(_press_as_admin(app, button, [user, None, locks, 0])["admin-result"]["children"])


def test_growing_delays_then_a_lock_that_ends_by_itself(settings: Settings) -> None:
    """Issue 11.12: ten wrong passwords used to lock an account until an admin unlocked it."""
    app, state, _ = make_app(settings)
    policy = state.policy
    with time_machine.travel(START, tick=False) as clock:
        client = app.server.test_client()
        waits = []
        for failure in range(1, policy.lockout_after):
            response = post_login(client, "vera", WRONG)
            assert response.status_code == 401, failure
            waits.append(int(response.headers.get("Retry-After", "0")))
            if waits[-1]:
                # Too early: refused without checking the password and without counting.
                early = post_login(client, "vera", PASSWORD)
                assert early.status_code == 429
                assert early.headers["Retry-After"] == str(waits[-1])
                assert "Too many failed sign-ins. Wait" in early.get_data(as_text=True)
                clock.shift(waits[-1])
        assert waits == [0, 0, 2, 4, 8, 16, 32, 64, 128]

        locked = post_login(client, "vera", WRONG)
        assert locked.status_code == 403
        assert locked.headers["Retry-After"] == "900"
        text = locked.get_data(as_text=True)
        assert "Try again in 15 minutes, or ask an administrator to unlock it" in text
        assert "vera" in state.locked_accounts()
        clock.shift(policy.lock_seconds - 1)
        assert post_login(client, "vera", PASSWORD).status_code == 403  # still locked
        clock.shift(1)
        # The lock has ended by itself: the right password signs in, no administrator needed.
        assert post_login(client, "vera", PASSWORD).status_code == 302
    assert state.throttle_state("pair", "127.0.0.1|vera") is None
    assert state.throttle_state("account", "vera") is None

    actions = audit_actions(state)
    assert actions.count("login.failure") == 10
    assert actions.count("login.lockout") == 1
    assert actions.count("login.refused") == 8  # 7 too-early attempts, 1 while locked
    assert actions[-1] == "login.success"
    lockout = state.audit_entries(action_prefix="login.lockout", limit=1)[0]
    assert (lockout.target, lockout.details) == (
        "vera",
        {"by": "pair", "failures": 10, "locked_seconds": 900},
    )
    assert lockout.remote_addr == "127.0.0.1"


def test_an_administrator_may_lift_a_lock_before_it_ends(settings: Settings) -> None:
    app, state, _ = make_app(settings)
    with time_machine.travel(START, tick=False) as clock:
        client = client_from(app, "10.0.0.66")
        for _ in range(state.policy.lockout_after):
            clock.shift(state.policy.max_delay_seconds)  # past any delay of the last failure
            post_login(client, "vera", WRONG)
        assert post_login(client, "vera", PASSWORD).status_code == 403
        assert _admin_action(app, UNLOCK, "vera") == "vera: sign-in unlocked."
        assert post_login(client, "vera", PASSWORD).status_code == 302
    unlock = state.audit_entries(action_prefix="user.unlock", limit=1)[0]
    assert (unlock.user_name, unlock.role, unlock.target) == ("adam", "admin", "vera")


def test_a_guesser_cannot_lock_out_the_real_user(settings: Settings) -> None:
    """Wrong passwords from another address delay the account a minute at most; they never
    lock the real user out (per-account delays are capped, locks are per address and account)."""
    app, state, _ = make_app(settings)
    policy = state.policy
    with time_machine.travel(START, tick=False) as clock:
        # Forty guesses for vera, from ten addresses, as fast as the delays allow.
        for n in range(40):
            guesser = client_from(app, f"198.51.100.{n % 10}")
            response = post_login(guesser, "vera", WRONG)
            assert response.status_code in (401, 403), n
            clock.shift(int(response.headers.get("Retry-After", "0")))
        account = state.throttle_state("account", "vera")
        assert account is not None and account.failures == 40 and account.locked_until is None
        assert account.next_allowed_at - time.time() <= policy.account_max_delay_seconds
        clock.shift(policy.account_max_delay_seconds)
        assert post_login(client_from(app, "10.0.0.7"), "vera", PASSWORD).status_code == 302
    # Administrators are told about the account under attack.
    alert = state.audit_entries(action_prefix="login.alert", limit=1)[0]
    assert (alert.target, alert.details) == (
        "vera",
        {"by": "account", "failures": policy.account_alert_after},
    )


def test_unknown_names_are_answered_like_known_ones(settings: Settings) -> None:
    app, state, _ = make_app(settings)
    with time_machine.travel(START, tick=False):
        known = post_login(app.server.test_client(), "vera", WRONG)
        unknown = post_login(app.server.test_client(), "nobody-here", WRONG)
        # Both count against their name, so guessing names is throttled too.
        bucket = state.unknown_name_key("nobody-here")
        assert state.throttle_state("account", bucket) is not None
        assert state.throttle_state("pair", f"127.0.0.1|{bucket}") is not None
    assert known.status_code == unknown.status_code == 401
    message = "Wrong user name or password."
    assert message in known.get_data(as_text=True)
    assert message in unknown.get_data(as_text=True)


def test_unknown_names_add_a_bounded_number_of_throttle_rows(settings: Settings) -> None:
    """Issue 11.15: every unknown user name used to add a row of its own."""
    app, state, _ = make_app(settings)
    names = [f"guess{i}" for i in range(3 * state.policy.unknown_name_buckets)]
    with time_machine.travel(START, tick=False) as clock:
        for n, name in enumerate(names):
            # A fresh address every time, so no delay gets in the way.
            response = post_login(client_from(app, f"10.1.{n // 250}.{n % 250}"), name, WRONG)
            assert response.status_code == 401
            clock.shift(1)
        rows = state.throttled_keys()
    accounts = [t for t in rows if t.kind == "account"]
    assert len(accounts) <= state.policy.unknown_name_buckets
    assert all(t.key.startswith("?") for t in accounts)
    assert sum(t.failures for t in accounts) == len(names)


def test_behind_one_address_a_guesser_does_not_block_colleagues(settings: Settings) -> None:
    """Issue 11.12: behind one NAT, one user's failures used to refuse everyone's password."""
    policy = ThrottlePolicy(address_free_failures=20, address_lockout_after=30)
    app, state, _ = make_app(settings, policy=policy)
    office = "10.0.0.66"
    with time_machine.travel(START, tick=False) as clock:
        client = client_from(app, office)
        for _ in range(policy.lockout_after):
            clock.shift(policy.max_delay_seconds)
            post_login(client, "vera", WRONG)
        assert post_login(client, "vera", PASSWORD).status_code == 403  # vera, from here
        # A colleague at the same address signs in at once with the right password.
        assert post_login(client_from(app, office), "anna", PASSWORD).status_code == 302
        # Spraying many names from that address reaches the address ceiling, which locks it
        # for everybody there, but only for a while.
        statuses = []
        for i in range(policy.address_lockout_after - policy.lockout_after):
            clock.shift(policy.max_delay_seconds)
            statuses.append(post_login(client, f"guess{i}", WRONG).status_code)
        assert statuses[-1] == 403 and set(statuses[:-1]) <= {401}
        lock = state.throttle_state("address", office)
        assert lock is not None and lock.is_locked_at(time.time())
        assert post_login(client_from(app, office), "anna", PASSWORD).status_code == 403
        # ...while the same account signs in from elsewhere...
        assert post_login(client_from(app, "10.0.0.7"), "anna", PASSWORD).status_code == 302
        # ...and from the office again once the lock has ended.
        clock.shift(policy.lock_seconds)
        assert post_login(client_from(app, office), "anna", PASSWORD).status_code == 302
        # An administrator may lift an address lock early.
        for i in range(policy.address_lockout_after):
            clock.shift(policy.max_delay_seconds)
            post_login(client, f"again{i}", WRONG)
        assert post_login(client_from(app, office), "anna", PASSWORD).status_code == 403
        selected = [{"kind": "address", "key": office}]
        assert _admin_action(app, UNLOCK_SELECTED, None, selected) == f"{office}: unlocked."
        assert post_login(client_from(app, office), "anna", PASSWORD).status_code == 302
    entry = state.audit_entries(action_prefix="address.unlock", limit=1)[0]
    assert (entry.user_name, entry.target, entry.remote_addr) == ("adam", office, "127.0.0.1")
    lockouts = state.audit_entries(action_prefix="login.lockout", limit=1000)
    assert {(e.target, e.details["by"]) for e in lockouts} >= {
        (office, "address"),
        ("vera", "pair"),
    }


def test_successful_login_resets_the_failure_count(settings: Settings) -> None:
    app, state, _ = make_app(settings)
    with time_machine.travel(START, tick=False):
        client = app.server.test_client()
        assert post_login(client, "anna", WRONG).status_code == 401
        assert post_login(client, "anna", WRONG).status_code == 401
        assert post_login(client, "anna", PASSWORD).status_code == 302
        assert state.throttle_state("account", "anna") is None
        assert state.throttle_state("pair", "127.0.0.1|anna") is None
        # The address keeps its count: a valid account of one's own does not reset the ceiling.
        address = state.throttle_state("address", "127.0.0.1")
        assert address is not None and address.failures == 2


def test_disabled_accounts_cannot_sign_in_and_lose_their_sessions(settings: Settings) -> None:
    app, state, _ = make_app(settings)
    vera = login(app, "vera")
    assert call(vera, app, SHELL_OUTPUT, ["/"]).status_code == 200
    assert _admin_action(app, DISABLE, "vera") == ("vera is disabled; their sessions have ended.")
    refused = call(vera, app, SHELL_OUTPUT, ["/"])
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "session expired"
    response = post_login(app.server.test_client(), "vera", PASSWORD)
    assert response.status_code == 403
    assert "This account is disabled" in response.get_data(as_text=True)
    assert _admin_action(app, ENABLE, "vera") == "vera is enabled."
    assert post_login(app.server.test_client(), "vera", PASSWORD).status_code == 302
    actions = audit_actions(state, "user.")
    assert actions == ["user.disable", "user.enable"]


def test_role_change_applies_on_the_next_request_and_is_audited(settings: Settings) -> None:
    app, state, _ = make_app(settings)
    vera = login(app, "vera")
    assert vera.get("/admin/users").status_code == 403
    body = _press_as_admin(app, SET_ROLE, ["vera", "admin", None, 3])
    assert body["admin-result"]["children"] == "vera: role viewer → admin."
    assert body["admin-version"]["data"] == 4
    assert vera.get("/admin/users").status_code == 200
    entry = state.audit_entries(action_prefix="user.role_change", limit=1)[0]
    assert (entry.user_name, entry.target, entry.details) == (
        "adam",
        "vera",
        {"from": "viewer", "to": "admin"},
    )
    assert state.get_user("vera").role is Role.ADMIN


@pytest.mark.parametrize(
    ("target", "button", "message"),
    [
        ("adam", DISABLE, "You cannot change or disable your own account here."),
        ("adam", SET_ROLE, "You cannot change or disable your own account here."),
        (None, DISABLE, "Choose a user first."),
    ],
)
def test_admin_cannot_lock_themselves_out(
    settings: Settings, target: str | None, button: str, message: str
) -> None:
    app, state, _ = make_app(settings)
    result = _press_as_admin(app, button, [target, "viewer", None, 0])["admin-result"]
    assert result["children"] == message
    assert "error" in result["className"]
    assert state.get_user("adam").role is Role.ADMIN
    assert not state.get_user("adam").is_disabled


def test_login_and_logout_are_audited_with_address(settings: Settings) -> None:
    app, state, _ = make_app(settings)
    client = app.server.test_client()
    assert post_login(client, "anna", WRONG).status_code == 401
    assert post_login(client, "anna", PASSWORD, next_path="/clearance").headers["Location"] == (
        "/clearance"
    )
    token = client.get_cookie("_csrf_token")
    assert token is not None
    out = client.post("/logout", data={"csrf_token": token.value})
    assert out.status_code == 302 and out.headers["Location"] == "/login?signed_out=1"
    entries = list(reversed(state.audit_entries(limit=10)))
    assert [(e.action, e.user_name, e.remote_addr) for e in entries] == [
        ("login.failure", "anna", "127.0.0.1"),
        ("login.success", "anna", "127.0.0.1"),
        ("logout", "anna", "127.0.0.1"),
    ]
    assert entries[0].details == {"failures": 1, "reason": "bad credentials"}
    assert entries[1].role == "analyst" and entries[1].details == {"role": "analyst"}
    # The signed-out browser is anonymous again.
    assert call(client, app, SHELL_OUTPUT, ["/"]).status_code == 401
    assert state.get_user("anna").last_login_at is not None


def test_next_parameter_only_goes_to_local_paths(settings: Settings) -> None:
    app, _, _ = make_app(settings)
    for target, expected in [
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("/profiles?office=DKR", "/profiles?office=DKR"),
        ("/logout", "/"),
    ]:
        response = post_login(app.server.test_client(), "anna", PASSWORD, next_path=target)
        assert response.headers["Location"] == expected, target


def test_the_login_page_has_no_scripts_and_only_local_css(settings: Settings) -> None:
    app, _, _ = make_app(settings)
    html = app.server.test_client().get("/login?expired=1").get_data(as_text=True)
    assert "<script" not in html
    assert 'href="/assets/app.css"' in html
    assert "http://" not in html and "https://" not in html
    assert "Your session has ended. Please sign in again." in html


def test_app_state_is_shared_by_two_apps_on_one_database(settings: Settings) -> None:
    """Two web processes on one HOME: a session made by one is valid in the other."""
    first, state, _ = make_app(settings)
    second, _, _ = make_app(settings, users={})
    client = login(first, "anna")
    cookie = client.get_cookie("customs_kpi_session")
    assert cookie is not None
    other = second.server.test_client()
    other.set_cookie("customs_kpi_session", cookie.value)
    other.set_cookie("_csrf_token", client.get_cookie("_csrf_token").value)  # type: ignore[union-attr]
    assert call(other, second, SHELL_OUTPUT, ["/"]).status_code == 200
    # Logging out in one ends the session in the other.
    token = client.get_cookie("_csrf_token")
    assert token is not None
    client.post("/logout", data={"csrf_token": token.value})
    assert call(other, second, SHELL_OUTPUT, ["/"]).status_code == 401
    assert audit_actions(state)[-2:] == ["login.success", "logout"]


def test_client_address_behind_a_trusted_proxy(settings: Settings) -> None:
    """With proxy_hops=1 the address the proxy saw counts; without it the header is ignored."""
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    for hops, expected in ((0, "127.0.0.1"), (1, "203.0.113.9")):
        home = replace(settings, home=settings.home / f"hops{hops}", proxy_hops=hops)
        app, state, _ = make_app(home)
        client = client_from(app)
        client.get("/login", headers=forwarded)
        token = form_token(client)
        client.post(
            "/login",
            data={"username": "anna", "password": WRONG, "csrf_token": token},
            headers=forwarded,
        )
        entry = state.audit_entries(action_prefix="login.failure", limit=1)[0]
        assert entry.remote_addr == expected
        assert state.throttle_state("address", expected) is not None


def test_admin_ends_a_users_sessions(settings: Settings) -> None:
    app, state, _ = make_app(settings)
    laptop, desktop = login(app, "anna"), login(app, "anna", address="10.0.0.8")
    assert call(laptop, app, SHELL_OUTPUT, ["/"]).status_code == 200
    assert _admin_action(app, END_SESSIONS, "anna") == "anna: 2 sessions ended."
    for browser in (laptop, desktop):
        refused = call(browser, app, SHELL_OUTPUT, ["/"])
        assert refused.status_code == 401
        assert refused.get_json()["error"] == "session expired"
    entry = state.audit_entries(action_prefix="user.sessions_ended", limit=1)[0]
    assert (entry.user_name, entry.target, entry.details) == ("adam", "anna", {"sessions": 2})
    assert _admin_action(app, END_SESSIONS, "adam") == "Use Sign out to end your own session."

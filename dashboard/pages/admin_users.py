"""Users and audit trail (administrators only).

Lists users with role, office scope, state and lock-outs; adds a user, resets a password (a
random one, shown once on the page and never stored in clear, kept in no store or URL and never
logged or audited), changes a role or an office scope, disables or enables an account, lifts
lock-outs (of an account or of an address); shows the audit trail with filters. A password
handed out here must be replaced at its user's first sign-in. Every callback needs the admin
role (the page's ``min_role`` for the request guard, ``require_role`` inside) and every change
is audited like its CLI equivalent.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import dash
import dash_ag_grid as dag
from dash import Input, Output, State, callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from appstate import AppState, users
from appstate.db import AppStateError
from appstate.passwords import generate_password
from appstate.roles import Role
from appstate.throttle import UNKNOWN_NAME_PREFIX
from appstate.users import state_label
from dashboard.access import require_role, user_may
from dashboard.audit import request_actor
from dashboard.components.format import format_stamp
from dashboard.context import current_passwords, current_state

log = logging.getLogger(__name__)

dash.register_page(
    __name__,
    path="/admin/users",
    name="Users",
    title="Users · Customs KPI",
    order=100,
    min_role=Role.ADMIN.value,
)

# Component ids.
VERSION_ID = "admin-version"  # bumped after every change: the tables re-read the database
USERS_GRID_ID = "admin-users-grid"
LOCKS_GRID_ID = "admin-locks-grid"
AUDIT_GRID_ID = "admin-audit-grid"
USER_PICK_ID = "admin-user-pick"
ROLE_PICK_ID = "admin-role-pick"
SET_ROLE_ID = "admin-set-role"
DISABLE_ID = "admin-disable"
ENABLE_ID = "admin-enable"
UNLOCK_ID = "admin-unlock"
END_SESSIONS_ID = "admin-end-sessions"
UNLOCK_ADDRESS_ID = "admin-unlock-address"
LOCK_NOTICE_ID = "admin-lock-notice"  # lock-outs of the last day: how administrators are told
RESULT_ID = "admin-result"
AUDIT_USER_ID = "admin-audit-user"
AUDIT_ACTION_ID = "admin-audit-action"
AUDIT_SINCE_ID = "admin-audit-since"
OFFICES_EDIT_ID = "admin-offices"
SET_OFFICES_ID = "admin-set-offices"
RESET_PASSWORD_ID = "admin-reset-password"
RESET_CONFIRM_ID = "admin-reset-confirm"  # the reset happens when this dialog is confirmed
NEW_NAME_ID = "admin-new-name"
NEW_ROLE_ID = "admin-new-role"
NEW_OFFICES_ID = "admin-new-offices"
ADD_USER_ID = "admin-add-user"
PASSWORD_ONCE_ID = "admin-password-once"  # the one place a new password is shown
AUDIT_LIMIT = 500
# The buttons of the changes that show no password (apply_change), in its input order.
CHANGE_BUTTON_INPUTS = [
    Input(button, "n_clicks")
    for button in (
        SET_ROLE_ID,
        DISABLE_ID,
        ENABLE_ID,
        UNLOCK_ID,
        UNLOCK_ADDRESS_ID,
        END_SESSIONS_ID,
    )
]

RESULT_OK = "ck-admin-result ck-admin-result-ok"
RESULT_ERROR = "ck-admin-result ck-admin-result-error"

ROLE_OPTIONS = [{"label": r.value, "value": r.value} for r in Role]
GRID_DEFAULTS = {"sortable": True, "filter": True, "resizable": True}

USER_COLUMNS: list[dict[str, Any]] = [
    {"field": "name", "headerName": "User", "pinned": "left"},
    {"field": "role", "headerName": "Role", "width": 110},
    {"field": "offices", "headerName": "Offices"},
    {"field": "state", "headerName": "State", "minWidth": 240},
    {"field": "sessions", "headerName": "Open sessions", "type": "numericColumn", "width": 140},
    {"field": "last_login_at", "headerName": "Last sign-in"},
    {"field": "created_at", "headerName": "Created"},
]
LOCK_COLUMNS: list[dict[str, Any]] = [
    {"field": "by", "headerName": "By", "width": 190},
    {"field": "shown", "headerName": "Account or address", "minWidth": 220},
    {"field": "failures", "headerName": "Failures", "type": "numericColumn", "width": 120},
    {"field": "state", "headerName": "State"},
    {"field": "last_failure_at", "headerName": "Last failure"},
]
AUDIT_COLUMNS: list[dict[str, Any]] = [
    {"field": "at", "headerName": "When", "width": 210, "sort": "desc"},
    {"field": "user_name", "headerName": "User", "width": 140},
    {"field": "role", "headerName": "Role", "width": 100},
    {"field": "remote_addr", "headerName": "From", "width": 140},
    {"field": "action", "headerName": "Action", "width": 170},
    {"field": "target", "headerName": "Target"},
    {"field": "details", "headerName": "Details", "flex": 1},
]


# --- Data for the tables (pure functions of the state) -------------------------------------------
def _utc_text(epoch: float) -> str:
    """Epoch seconds in the administration's zone, with its abbreviation."""
    return format_stamp(epoch, "%Y-%m-%d %H:%M:%S")


def _iso_text(stamp: str | None, *, seconds: bool = False) -> str:
    """'2026-11-27T15:21:15.330+00:00' → '2026-11-27 18:21 +03' in Asia/Riyadh (stored UTC,
    shown in the administration's zone)."""
    if not stamp:
        return ""
    return format_stamp(stamp, "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def user_rows(state: AppState) -> list[dict[str, Any]]:
    locked = state.locked_accounts()
    rows = []
    for user in state.list_users():
        rows.append(
            {
                "name": user.name,
                "role": user.role.value,
                "offices": ", ".join(user.offices) or "all",
                "state": state_label(user, locked),
                "sessions": state.active_session_count(user.user_id),
                "last_login_at": _iso_text(user.last_login_at) or "never",
                "created_at": _iso_text(user.created_at),
            }
        )
    return rows


KIND_LABELS = {"pair": "account from address", "account": "account", "address": "address"}


def _key_text(key: str) -> str:
    """'?17' (a bucket of unknown names) → 'unknown names #17'; pairs as 'account from address'."""
    if "|" in key:
        address, account = key.split("|", 1)
        return f"{_key_text(account)} from {address}"
    if key.startswith(UNKNOWN_NAME_PREFIX):
        return f"unknown names #{key[len(UNKNOWN_NAME_PREFIX) :]}"
    return key


def lock_rows(state: AppState, now: float | None = None) -> list[dict[str, Any]]:
    """Keys with failures on record: locked (until when: locks end by themselves), delayed, or
    counting. ``kind`` and ``key`` are what the unlock button acts on."""
    now = time.time() if now is None else now
    rows = []
    for t in state.throttled_keys(now):
        if t.is_locked_at(now) and t.locked_until is not None:
            status = f"locked out until {_utc_text(t.locked_until)}"
        elif t.next_allowed_at > now:
            status = f"delayed until {_utc_text(t.next_allowed_at)}"
        else:
            status = "failures on record"
        rows.append(
            {
                "kind": t.kind,
                "key": t.key,
                "by": KIND_LABELS.get(t.kind, t.kind),
                "shown": _key_text(t.key),
                "failures": t.failures,
                "state": status,
                "last_failure_at": _utc_text(t.last_failure_at),
            }
        )
    return rows


NOTICE_HOURS = 24


def lock_notice(state: AppState, now: float | None = None) -> str:
    """What administrators are told on this page: lock-outs and alerts of the last day (the
    locks end by themselves, so one that has ended is still reported here)."""
    now = time.time() if now is None else now
    since = datetime.fromtimestamp(now - NOTICE_HOURS * 3600, UTC).isoformat(
        timespec="milliseconds"
    )
    entries = [
        e
        for e in state.audit_entries(since=since, action_prefix="login.", limit=AUDIT_LIMIT)
        if e.action in ("login.lockout", "login.alert")
    ]
    if not entries:
        return f"No sign-in lock-outs in the last {NOTICE_HOURS} hours."
    latest = entries[0]
    what = "locked" if latest.action == "login.lockout" else "failing from many addresses"
    by = KIND_LABELS.get(str(latest.details.get("by")), "")
    return (
        f"{len(entries)} sign-in lock-out{'s' if len(entries) != 1 else ''} or alert"
        f"{'s' if len(entries) != 1 else ''} in the last {NOTICE_HOURS} hours; latest: "
        f"{_key_text(latest.target or '')} ({by}) {what} after "
        f"{latest.details.get('failures')} failures, from {latest.remote_addr}, at "
        f"{_iso_text(latest.at)}. Locks end by themselves; see the audit trail "
        "(action 'login.')."
    )


def audit_rows(
    state: AppState, user_name: str | None, action: str | None, since: str | None
) -> list[dict[str, Any]]:
    entries = state.audit_entries(
        since=since or None,
        user_name=(user_name or "").strip() or None,
        action_prefix=(action or "").strip() or None,
        limit=AUDIT_LIMIT,
    )
    return [
        {
            "at": _iso_text(e.at, seconds=True),
            "user_name": e.user_name or "",
            "role": e.role or "",
            "remote_addr": e.remote_addr or "",
            "action": e.action,
            "target": e.target or "",
            "details": ", ".join(f"{k}={v}" for k, v in sorted(e.details.items())),
        }
        for e in entries
    ]


# --- Changes (the rules and the audit rows: appstate.users) --------------------------------------
class ChangeRefused(ValueError):
    """A request the page refuses before asking for a change (nothing chosen)."""


def change_role(state: AppState, name: str, role: str) -> str:
    change = users.change_role(state, request_actor(), name, role)
    before, after = change.before.role.value, change.after.role.value
    if not change.changed:
        return f"{change.before.name} already has the role {before}."
    return f"{change.before.name}: role {before} → {after}."


def set_disabled(state: AppState, name: str, disabled: bool) -> str:
    change = users.set_disabled(state, request_actor(), name, disabled)
    user = change.before.name
    if not change.changed:
        return f"{user} is already {'disabled' if disabled else 'enabled'}."
    if disabled:
        return f"{user} is disabled; their sessions have ended."
    return f"{user} is enabled."


def unlock_account(state: AppState, name: str) -> str:
    user = state.get_user(name)
    lifted = users.unlock_account(state, request_actor(), user.name)
    return f"{user.name}: {'sign-in unlocked' if lifted else 'was not locked'}."


def _sessions(count: int) -> str:
    return f"{count} session{'s' if count != 1 else ''}"


def end_sessions(state: AppState, name: str) -> str:
    ended = users.end_sessions(state, request_actor(), name)
    return f"{state.get_user(name).name}: {_sessions(ended)} ended."


def change_offices(state: AppState, name: str, offices_text: str | None) -> str:
    change = users.change_offices(state, request_actor(), name, users.split_offices(offices_text))
    before = ", ".join(change.before.offices) or "all"
    if not change.changed:
        return f"{change.before.name} already has the offices {before}."
    return f"{change.before.name}: offices {before} → {', '.join(change.after.offices) or 'all'}."


class IssuedPassword(NamedTuple):
    """A password an administrator hands out: shown once on the page, never kept.

    (A NamedTuple: Dash executes page modules before they are in ``sys.modules``, which a
    dataclass with postponed annotations needs.)"""

    user_name: str
    password: str
    message: str


def _new_password_hash() -> tuple[str, str]:
    """A random password and its hash (hashed like the CLI's, by the app's hasher)."""
    password = generate_password()
    return password, current_passwords().hash(password)


def create_user(
    state: AppState, name: str | None, role: str | None, offices_text: str | None
) -> IssuedPassword:
    """A new user with a random password to be replaced at the first sign-in."""
    password, password_hash = _new_password_hash()
    user = users.create_user(
        state,
        request_actor(),
        name,
        role,
        users.split_offices(offices_text),
        password_hash,
        must_change_password=True,
    )
    scope = ", ".join(user.offices) or "all offices"
    return IssuedPassword(user.name, password, f"Created {user.name} ({user.role.value}, {scope}).")


def reset_password(state: AppState, name: str) -> IssuedPassword:
    """Like ``customs-kpi users reset-password``: new random password, sessions ended,
    lock-out lifted; the user must replace the password at the next sign-in."""
    password, password_hash = _new_password_hash()
    reset = users.reset_password(
        state, request_actor(), name, password_hash, must_change_password=True
    )
    message = f"{reset.user.name}: password reset, {_sessions(reset.sessions_ended)} ended."
    if reset.user.is_disabled:
        message += " The account is still disabled: enable it to let them sign in."
    return IssuedPassword(reset.user.name, password, message)


def password_notice(issued: IssuedPassword) -> html.Div:
    """The one showing of a new password, with how to hand it over."""
    return html.Div(
        [
            html.Span(f"Password for {issued.user_name}: "),
            html.Code(issued.password, className="ck-admin-password-value"),
            html.P(
                "Shown once: it is not stored in clear and cannot be shown again. Hand it over "
                f"securely (in person or by phone, never with the user name in one e-mail or "
                f"chat). {issued.user_name} must choose a new password at the first sign-in."
            ),
        ],
        className="ck-admin-password",
    )


# --- Layout -------------------------------------------------------------------------------------
def _grid(grid_id: str, columns: list[dict[str, Any]], height: str, **extra: Any) -> dag.AgGrid:
    return dag.AgGrid(
        id=grid_id,
        rowData=[],
        columnDefs=columns,
        defaultColDef=GRID_DEFAULTS,
        columnSize="responsiveSizeToFit",
        className="ag-theme-quartz",
        style={"height": height},
        **extra,
    )


def _field(label: str, control: Any, min_width: str | None = None) -> html.Div:
    return html.Div(
        [html.Label(label, htmlFor=control.id), control],
        style={"minWidth": min_width} if min_width else None,
    )


def _offices_input(component_id: str) -> dcc.Input:
    return dcc.Input(
        id=component_id,
        type="text",
        placeholder="e.g. DKR01, THS (empty = all)",
        autoComplete="off",
        maxLength=500,
    )


def layout(**_query: Any) -> html.Div:
    # The guard refuses this page to lower roles; this is the second line (the page router
    # renders layouts through a callback).
    if not user_may(Role.ADMIN):
        return html.Div(
            [html.H1("Not available"), html.P("Your role does not give access to this page.")],
            className="ck-admin",
        )
    return html.Div(
        [
            dcc.Store(id=VERSION_ID, data=0),
            html.H1("Users"),
            html.P(
                "Roles: viewer (KPI pages, report downloads), analyst (also profile review and "
                "declaration drill-down), admin (also users, data details, loads). Offices: "
                "codes separated by commas or spaces; empty = every office. A new user or a "
                "reset password gets a random password, shown here once, that its user must "
                "replace at the first sign-in. Every change is in the audit trail below.",
                className="ck-admin-intro",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            html.Label("User", htmlFor=USER_PICK_ID),
                            dcc.Dropdown(id=USER_PICK_ID, options=[], clearable=False),
                        ],
                        style={"minWidth": "220px"},
                    ),
                    html.Div(
                        [
                            html.Label("Role", htmlFor=ROLE_PICK_ID),
                            dcc.Dropdown(id=ROLE_PICK_ID, options=ROLE_OPTIONS, clearable=False),
                        ],
                        style={"minWidth": "160px"},
                    ),
                    html.Button("Change role", id=SET_ROLE_ID, n_clicks=0),
                    html.Button("Disable", id=DISABLE_ID, n_clicks=0),
                    html.Button("Enable", id=ENABLE_ID, n_clicks=0),
                    html.Button("Unlock sign-in", id=UNLOCK_ID, n_clicks=0),
                    html.Button("End sessions", id=END_SESSIONS_ID, n_clicks=0),
                    html.Button("Reset password", id=RESET_PASSWORD_ID, n_clicks=0),
                    dcc.ConfirmDialog(id=RESET_CONFIRM_ID),
                ],
                className="ck-admin-actions",
            ),
            html.Div(
                [
                    _field("Offices of the user", _offices_input(OFFICES_EDIT_ID), "260px"),
                    html.Button("Set offices", id=SET_OFFICES_ID, n_clicks=0),
                ],
                className="ck-admin-actions",
            ),
            html.H2("Add a user"),
            html.Div(
                [
                    _field(
                        "Name",
                        dcc.Input(
                            id=NEW_NAME_ID,
                            type="text",
                            placeholder="e.g. a.diallo",
                            autoComplete="off",
                            maxLength=64,
                        ),
                        "200px",
                    ),
                    _field(
                        "Role",
                        dcc.Dropdown(
                            id=NEW_ROLE_ID,
                            options=ROLE_OPTIONS,
                            value=Role.VIEWER.value,
                            clearable=False,
                        ),
                        "160px",
                    ),
                    _field("Offices", _offices_input(NEW_OFFICES_ID), "260px"),
                    html.Button("Add user", id=ADD_USER_ID, n_clicks=0),
                ],
                className="ck-admin-actions",
            ),
            html.Div(id=RESULT_ID, className="ck-admin-result", role="status"),
            html.Div(id=PASSWORD_ONCE_ID, role="alert"),
            _grid(USERS_GRID_ID, USER_COLUMNS, "320px", getRowId="params.data.name"),
            html.H2("Sign-in lock-outs and delays"),
            html.P(id=LOCK_NOTICE_ID, className="ck-admin-notice", role="status"),
            html.Div(
                [html.Button("Unlock selected", id=UNLOCK_ADDRESS_ID, n_clicks=0)],
                className="ck-admin-actions",
            ),
            _grid(
                LOCKS_GRID_ID,
                LOCK_COLUMNS,
                "220px",
                getRowId="params.data.kind + ':' + params.data.key",
                dashGridOptions={"rowSelection": {"mode": "singleRow"}},
            ),
            html.H2("Audit trail"),
            html.Div(
                [
                    dcc.Input(id=AUDIT_USER_ID, placeholder="user", debounce=True, type="text"),
                    dcc.Input(
                        id=AUDIT_ACTION_ID,
                        placeholder="action starts with (e.g. login)",
                        debounce=True,
                        type="text",
                    ),
                    dcc.DatePickerSingle(
                        id=AUDIT_SINCE_ID, placeholder="since", display_format="YYYY-MM-DD"
                    ),
                ],
                className="ck-admin-actions",
            ),
            _grid(AUDIT_GRID_ID, AUDIT_COLUMNS, "480px"),
        ],
        className="ck-admin",
    )


# --- Callbacks ----------------------------------------------------------------------------------
@callback(
    Output(USERS_GRID_ID, "rowData"),
    Output(LOCKS_GRID_ID, "rowData"),
    Output(USER_PICK_ID, "options"),
    Input(VERSION_ID, "data"),
)
@require_role(Role.ADMIN)
def refresh_tables(_version: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    state = current_state()
    accounts = user_rows(state)
    return accounts, lock_rows(state), [row["name"] for row in accounts]


@callback(Output(LOCK_NOTICE_ID, "children"), Input(VERSION_ID, "data"))
@require_role(Role.ADMIN)
def refresh_lock_notice(_version: int) -> str:
    return lock_notice(current_state())


@callback(Output(ROLE_PICK_ID, "value"), Input(USER_PICK_ID, "value"))
@require_role(Role.ADMIN)
def show_role(name: str | None) -> str:
    if not name:
        raise PreventUpdate
    user = current_state().find_user(name)
    if user is None:
        raise PreventUpdate
    return user.role.value


@callback(
    Output(RESULT_ID, "children"),
    Output(RESULT_ID, "className"),
    Output(VERSION_ID, "data"),
    *CHANGE_BUTTON_INPUTS,
    State(USER_PICK_ID, "value"),
    State(ROLE_PICK_ID, "value"),
    State(LOCKS_GRID_ID, "selectedRows"),
    State(VERSION_ID, "data"),
    prevent_initial_call=True,
)
@require_role(Role.ADMIN)
def apply_change(
    _set_role: int,
    _disable: int,
    _enable: int,
    _unlock: int,
    _unlock_selected: int,
    _end_sessions: int,
    name: str | None,
    role: str | None,
    selected_locks: list[dict[str, Any]] | None,
    version: int | None,
) -> tuple[str, str, int]:
    trigger = ctx.triggered_id
    state = current_state()
    try:
        message = _dispatch(state, trigger, name, role, selected_locks)
    except (ChangeRefused, AppStateError, ValueError) as exc:
        return str(exc), RESULT_ERROR, (version or 0) + 1
    return message, RESULT_OK, (version or 0) + 1


def _dispatch(
    state: AppState,
    trigger: Any,
    name: str | None,
    role: str | None,
    selected_locks: list[dict[str, Any]] | None,
) -> str:
    if trigger == UNLOCK_ADDRESS_ID:
        if not selected_locks:
            raise ChangeRefused("Select a lock-out in the table first.")
        row = selected_locks[0]
        key = str(row.get("key"))
        if row.get("kind") in ("account", "pair"):
            unlock = users.unlock_account if row.get("kind") == "account" else users.unlock_pair
            lifted = unlock(state, request_actor(), key)
            return f"{_key_text(key)}: {'sign-in unlocked' if lifted else 'was not locked'}."
        lifted = users.unlock_address(state, request_actor(), key)
        return f"{key}: {'unlocked' if lifted else 'was not locked'}."
    if not name:
        raise ChangeRefused("Choose a user first.")
    if trigger == SET_ROLE_ID:
        if not role:
            raise ChangeRefused("Choose a role first.")
        return change_role(state, name, role)
    if trigger == DISABLE_ID:
        return set_disabled(state, name, True)
    if trigger == ENABLE_ID:
        return set_disabled(state, name, False)
    if trigger == UNLOCK_ID:
        return unlock_account(state, name)
    if trigger == END_SESSIONS_ID:
        return end_sessions(state, name)
    raise PreventUpdate


@callback(
    Output(AUDIT_GRID_ID, "rowData"),
    Input(AUDIT_USER_ID, "value"),
    Input(AUDIT_ACTION_ID, "value"),
    Input(AUDIT_SINCE_ID, "date"),
    Input(VERSION_ID, "data"),
)
@require_role(Role.ADMIN)
def refresh_audit(
    user_name: str | None, action: str | None, since: str | None, _version: int
) -> list[dict[str, Any]]:
    if since:
        try:
            since = date.fromisoformat(since[:10]).isoformat()
        except ValueError:
            since = None
    return audit_rows(current_state(), user_name, action, since)


@callback(Output(OFFICES_EDIT_ID, "value"), Input(USER_PICK_ID, "value"))
@require_role(Role.ADMIN)
def show_offices(name: str | None) -> str:
    user = current_state().find_user(name) if name else None
    if user is None:
        raise PreventUpdate
    return ", ".join(user.offices)


@callback(
    Output(PASSWORD_ONCE_ID, "children"),
    Output(NEW_NAME_ID, "value"),
    Output(RESULT_ID, "children", allow_duplicate=True),
    Output(RESULT_ID, "className", allow_duplicate=True),
    Output(VERSION_ID, "data", allow_duplicate=True),
    Input(ADD_USER_ID, "n_clicks"),
    Input(RESET_CONFIRM_ID, "submit_n_clicks"),
    Input(SET_OFFICES_ID, "n_clicks"),
    State(NEW_NAME_ID, "value"),
    State(NEW_ROLE_ID, "value"),
    State(NEW_OFFICES_ID, "value"),
    State(USER_PICK_ID, "value"),
    State(OFFICES_EDIT_ID, "value"),
    State(VERSION_ID, "data"),
    prevent_initial_call=True,
)
@require_role(Role.ADMIN)
def apply_account_change(
    _add: int | None,
    _reset: int | None,
    _set_offices: int | None,
    new_name: str | None,
    new_role: str | None,
    new_offices: str | None,
    name: str | None,
    offices: str | None,
    version: int | None,
) -> tuple[Any, Any, str, str, int]:
    """Add a user, reset a password (both show a new password once) or set a user's offices."""
    trigger = ctx.triggered_id
    state = current_state()
    bumped = (version or 0) + 1
    try:
        if trigger == ADD_USER_ID:
            issued = create_user(state, new_name, new_role, new_offices)
            return password_notice(issued), "", issued.message, RESULT_OK, bumped
        if not name:
            raise ChangeRefused("Choose a user first.")
        if trigger == RESET_CONFIRM_ID:
            issued = reset_password(state, name)
            return password_notice(issued), no_update, issued.message, RESULT_OK, bumped
        if trigger == SET_OFFICES_ID:
            return None, no_update, change_offices(state, name, offices), RESULT_OK, bumped
    except (ChangeRefused, AppStateError, ValueError) as exc:
        return None, no_update, str(exc), RESULT_ERROR, bumped
    raise PreventUpdate


@callback(
    Output(RESET_CONFIRM_ID, "displayed"),
    Output(RESET_CONFIRM_ID, "message"),
    Output(RESULT_ID, "children", allow_duplicate=True),
    Output(RESULT_ID, "className", allow_duplicate=True),
    Input(RESET_PASSWORD_ID, "n_clicks"),
    State(USER_PICK_ID, "value"),
    prevent_initial_call=True,
)
@require_role(Role.ADMIN)
def confirm_reset(_reset: int | None, name: str | None) -> tuple[bool, Any, Any, Any]:
    """Reset password asks first: the old password stops working at once."""
    if not name:
        return False, no_update, "Choose a user first.", RESULT_ERROR
    message = (
        f"Reset the password of {name}? The old password stops working at once and their "
        "sessions end. The new one is shown once, here."
    )
    return True, message, no_update, no_update


@callback(
    Output(PASSWORD_ONCE_ID, "children", allow_duplicate=True),
    *CHANGE_BUTTON_INPUTS,
    prevent_initial_call=True,
)
@require_role(Role.ADMIN)
def hide_password(*_clicks: int | None) -> None:
    """A password shown once goes away at the administrator's next action on the page."""
    return None

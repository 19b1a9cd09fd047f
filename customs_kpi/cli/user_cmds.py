"""Access control: ``users add|list|set-role|disable|enable|unlock|reset-password|demo``, ``audit``.

Every change is written to the audit trail with the operating-system account that ran the
command as the actor, so changes made on the server's console are traceable like UI changes.
"""

from __future__ import annotations

import getpass
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from customs_kpi.cli.common import HomeOption, app, console, fail, settings_for

if TYPE_CHECKING:
    from dashboard.appstate import AppState

users_app = typer.Typer(
    help="Dashboard users: roles (viewer, analyst, admin), office scopes, passwords, lock-outs.",
    no_args_is_help=True,
)
app.add_typer(users_app, name="users")

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input instead of generating "
        "a random one.",
    ),
]


def _state(home: Path | None) -> AppState:
    from dashboard.appstate import AppState

    return AppState(settings_for(home).app_db_path)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # getuser raises when no user name can be found (containers)
        return "cli"


def _audit(
    state: AppState, action: str, target: str, details: dict[str, Any] | None = None
) -> None:
    state.record_audit(
        action, user_name=_actor(), role=None, remote_addr="cli", target=target, details=details
    )


def _read_password_stdin() -> str:
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def _hash_or_fail(password: str) -> str:
    from dashboard.auth.passwords import Passwords

    try:
        return Passwords().hash(password)
    except ValueError as exc:
        raise fail(str(exc)) from None


def _new_password(generated: bool) -> str:
    from dashboard.auth.passwords import generate_password

    return generate_password() if generated else _read_password_stdin()


def _print_once(name: str, password: str) -> None:
    console.print(
        f"password for [bold]{name}[/]: [bold]{password}[/]  (shown once; not stored in clear; "
        "to be changed at first sign-in)",
        highlight=False,
        soft_wrap=True,
    )


@users_app.command("add")
def add_user(
    name: Annotated[str, typer.Argument(help="Login name (letters, digits, . _ @ -).")],
    role: Annotated[str, typer.Option("--role", help="viewer, analyst or admin.")],
    office: Annotated[
        list[str] | None,
        typer.Option("--office", help="Limit the user to this office (repeat for several)."),
    ] = None,
    password_stdin: PasswordStdin = False,
    home: HomeOption = None,
) -> None:
    """Create a user. Without --password-stdin a random password is generated and printed once,
    and the user must replace it at their first sign-in."""
    from dashboard.appstate import AppStateError

    state = _state(home)
    generated = not password_stdin
    password = _new_password(generated)
    password_hash = _hash_or_fail(password)
    try:
        user = state.add_user(
            name, role, password_hash, office or (), must_change_password=generated
        )
    except (AppStateError, ValueError) as exc:
        raise fail(str(exc)) from None
    _audit(
        state,
        "user.create",
        user.name,
        {
            "role": user.role.value,
            "offices": list(user.offices),
            "must_change_password": user.must_change_password,
        },
    )
    scope = ", ".join(user.offices) if user.offices else "all offices"
    console.print(f"created {user.name} ({user.role.value}, {scope})", highlight=False)
    if generated:
        _print_once(user.name, password)


@users_app.command("list")
def list_users(home: HomeOption = None) -> None:
    """Every user with role, office scope, state and last login."""
    from rich.table import Table

    from dashboard.appstate import state_label

    state = _state(home)
    locked = state.locked_accounts()
    table = Table("name", "role", "offices", "state", "last login", "created")
    for user in state.list_users():
        table.add_row(
            user.name,
            user.role.value,
            ", ".join(user.offices) or "all",
            state_label(user, locked),
            user.last_login_at or "never",
            user.created_at,
        )
    console.print(table)


@users_app.command("set-role")
def set_role(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[str, typer.Argument(help="viewer, analyst or admin.")],
    home: HomeOption = None,
) -> None:
    """Change a user's role (effective on their next request)."""
    from dashboard.appstate import AppStateError

    state = _state(home)
    try:
        before = state.get_user(name)
        user = state.set_role(name, role)
    except (AppStateError, ValueError) as exc:
        raise fail(str(exc)) from None
    _audit(state, "user.role_change", user.name, {"from": before.role.value, "to": user.role.value})
    console.print(f"{user.name}: {before.role.value} → {user.role.value}", highlight=False)


@users_app.command("set-offices")
def set_offices(
    name: Annotated[str, typer.Argument(help="Login name.")],
    office: Annotated[
        list[str] | None,
        typer.Option("--office", help="Office the user may see (repeat); none = all offices."),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Replace a user's office scope (no --office: every office)."""
    from dashboard.appstate import AppStateError

    state = _state(home)
    try:
        before = state.get_user(name)
        user = state.set_offices(name, office or ())
    except AppStateError as exc:
        raise fail(str(exc)) from None
    _audit(
        state,
        "user.scope_change",
        user.name,
        {"from": list(before.offices), "to": list(user.offices)},
    )
    console.print(f"{user.name}: offices {', '.join(user.offices) or 'all'}", highlight=False)


def _set_disabled(name: str, disabled: bool, home: Path | None) -> None:
    from dashboard.appstate import AppStateError

    state = _state(home)
    try:
        user = state.set_disabled(name, disabled)
    except AppStateError as exc:
        raise fail(str(exc)) from None
    _audit(state, "user.disable" if disabled else "user.enable", user.name)
    console.print(f"{user.name}: {'disabled' if disabled else 'enabled'}", highlight=False)


@users_app.command("disable")
def disable_user(
    name: Annotated[str, typer.Argument(help="Login name.")], home: HomeOption = None
) -> None:
    """Disable a user and end their sessions at once."""
    _set_disabled(name, True, home)


@users_app.command("enable")
def enable_user(
    name: Annotated[str, typer.Argument(help="Login name.")], home: HomeOption = None
) -> None:
    """Enable a disabled user again."""
    _set_disabled(name, False, home)


@users_app.command("unlock")
def unlock(
    name: Annotated[
        str | None, typer.Argument(help="Login name whose lock-out is lifted.", show_default=False)
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Lift the lock-out of this remote address.")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Lift a lock-out or delay after repeated failed logins, before it ends by itself: of an
    account (from every address), or of an address (its ceiling and every account tried from
    it)."""
    from dashboard.appstate import normalise_name

    if not name and not address:
        raise fail("give a user NAME or --address ADDR")
    state = _state(home)
    if name:
        lifted = state.unlock_account(normalise_name(name))
        _audit(state, "user.unlock", name, {"had_failures": lifted})
        console.print(f"{name}: {'unlocked' if lifted else 'was not locked'}", highlight=False)
    if address:
        lifted = state.unlock_address(address.strip())
        _audit(state, "address.unlock", address, {"had_failures": lifted})
        console.print(f"{address}: {'unlocked' if lifted else 'was not locked'}", highlight=False)


@users_app.command("reset-password")
def reset_password(
    name: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: PasswordStdin = False,
    home: HomeOption = None,
) -> None:
    """Set a new password (random and printed once, or from stdin); ends the user's sessions and
    lifts their lock-out. A random one must be replaced at the user's next sign-in."""
    from dashboard.appstate import AppStateError

    state = _state(home)
    generated = not password_stdin
    password = _new_password(generated)
    password_hash = _hash_or_fail(password)
    try:
        reset = state.reset_password(name, password_hash, must_change_password=generated)
    except AppStateError as exc:
        raise fail(str(exc)) from None
    _audit(
        state,
        "user.password_reset",
        reset.user.name,
        {
            "sessions_ended": reset.sessions_ended,
            "lockout_cleared": reset.lockout_cleared,
            "must_change_password": generated,
        },
    )
    console.print(f"{reset.user.name}: password reset, sessions ended", highlight=False)
    if generated:
        _print_once(reset.user.name, password)


# The demo accounts `make run` creates. The office-scoped analyst sees one office only.
DEMO_USERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("viewer", "viewer", ()),
    ("analyst", "analyst", ()),
    ("admin", "admin", ()),
    ("analyst-office", "analyst", ("DKR01",)),
)


def _first_published_office(home: Path | None) -> str | None:
    """An office that exists in the published data, so the scoped demo user sees something."""
    try:
        from customs_kpi.published import current_snapshot

        snapshot = current_snapshot(settings_for(home))
        if snapshot is None:
            return None
        offices = snapshot.table("cube_declarations").get_column("office_code").unique().sort()
        return str(offices[0]) if len(offices) else None
    except Exception:  # no or unreadable snapshot: fall back to the default office
        return None


@users_app.command("demo")
def demo_users(
    office: Annotated[
        str | None,
        typer.Option(
            "--office",
            help="Office of the office-scoped demo analyst (default: the first office of the "
            "published data, else DKR01).",
        ),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Create the demo accounts that are missing, with random passwords printed once."""
    from dashboard.auth.passwords import generate_password

    state = _state(home)
    office = office or _first_published_office(home)
    created: list[tuple[str, str, str, str]] = []
    for name, role, offices in DEMO_USERS:
        if state.find_user(name) is not None:
            continue
        scope = (office,) if (offices and office) else offices
        password = generate_password()
        # Demo passwords are for trying the app at once: no forced change at first sign-in.
        user = state.add_user(
            name, role, _hash_or_fail(password), scope, must_change_password=False
        )
        _audit(
            state,
            "user.create",
            user.name,
            {"role": user.role.value, "offices": list(user.offices), "demo": True},
        )
        created.append((user.name, user.role.value, ", ".join(user.offices) or "all", password))
    if not created:
        console.print(
            "demo accounts already exist (reset a password with "
            "`customs-kpi users reset-password NAME`)",
            highlight=False,
        )
        return
    from rich.table import Table

    table = Table("user", "role", "offices", "password (shown once)", title="Demo accounts")
    for row in created:
        table.add_row(*row)
    console.print(table)


@app.command("audit")
def show_audit(
    since: Annotated[
        str | None, typer.Option("--since", help="Only entries on or after this date (YYYY-MM-DD).")
    ] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only this user's entries.")] = None,
    action: Annotated[
        str | None, typer.Option("--action", help="Only actions starting with this (e.g. login).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many entries.")] = 100,
    home: HomeOption = None,
) -> None:
    """The audit trail, newest first: who did what, when, from where."""
    import json

    from rich.table import Table

    if since is not None:
        try:
            date.fromisoformat(since)
        except ValueError:
            raise fail(f"--since {since!r}: expected YYYY-MM-DD") from None
    state = _state(home)
    entries = state.audit_entries(since=since, user_name=user, action_prefix=action, limit=limit)
    table = Table("when (UTC)", "user", "role", "from", "action", "target", "details")
    for e in entries:
        table.add_row(
            e.at,
            e.user_name or "",
            e.role or "",
            e.remote_addr or "",
            e.action,
            e.target or "",
            json.dumps(e.details, sort_keys=True) if e.details else "",
        )
    console.print(table)
    if not entries:
        console.print("no audit entries match", highlight=False)

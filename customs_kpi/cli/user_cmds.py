"""Access control: ``users add|list|set-role|set-offices|disable|enable|unlock|reset-password``,
``users demo``, ``audit``.

The changes go through the user-admin rules of ``appstate.users``, which the Users page applies
too (for example: never demote or disable the last active administrator). Every change is
written to the audit trail with the operating-system account that ran the command as the actor
(``appstate.audit.console_actor``), so changes made on the server's console are traceable like
UI changes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from customs_kpi.cli.common import HomeOption, app, console, fail, settings_for

if TYPE_CHECKING:
    from appstate import AppState

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
    from appstate import AppState

    return AppState(settings_for(home).app_db_path)


@contextmanager
def _refusals() -> Iterator[None]:
    """A change the app state refuses (rules, unknown user, invalid value): its reason, exit 1."""
    try:
        yield
    except ValueError as exc:  # appstate.db.AppStateError (and users.AdminRefused) are ones
        raise fail(str(exc)) from None


def _read_password_stdin() -> str:
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def _hash_or_fail(password: str) -> str:
    from appstate.passwords import Passwords

    with _refusals():
        return Passwords().hash(password)


def _new_password(generated: bool) -> str:
    from appstate.passwords import generate_password

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
    from appstate import users
    from appstate.audit import console_actor

    state = _state(home)
    generated = not password_stdin
    password = _new_password(generated)
    password_hash = _hash_or_fail(password)
    with _refusals():
        user = users.create_user(
            state,
            console_actor(),
            name,
            role,
            office or (),
            password_hash,
            must_change_password=generated,
        )
    scope = ", ".join(user.offices) if user.offices else "all offices"
    console.print(f"created {user.name} ({user.role.value}, {scope})", highlight=False)
    if generated:
        _print_once(user.name, password)


@users_app.command("list")
def list_users(home: HomeOption = None) -> None:
    """Every user with role, office scope, state and last login."""
    from rich.table import Table

    from appstate.users import state_label

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
    """Change a user's role (effective on their next request). The last active administrator
    keeps the role."""
    from appstate import users
    from appstate.audit import console_actor

    with _refusals():
        change = users.change_role(_state(home), console_actor(), name, role)
    before, after = change.before.role.value, change.after.role.value
    if not change.changed:
        console.print(f"{change.before.name} already has the role {before}", highlight=False)
        return
    console.print(f"{change.before.name}: {before} → {after}", highlight=False)


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
    from appstate import users
    from appstate.audit import console_actor

    with _refusals():
        change = users.change_offices(_state(home), console_actor(), name, office or ())
    offices = ", ".join(change.after.offices) or "all"
    if not change.changed:
        console.print(f"{change.before.name} already has the offices {offices}", highlight=False)
        return
    console.print(f"{change.before.name}: offices {offices}", highlight=False)


def _set_disabled(name: str, disabled: bool, home: Path | None) -> None:
    from appstate import users
    from appstate.audit import console_actor

    with _refusals():
        change = users.set_disabled(_state(home), console_actor(), name, disabled)
    word = "disabled" if disabled else "enabled"
    if not change.changed:
        console.print(f"{change.before.name}: already {word}", highlight=False)
        return
    console.print(f"{change.before.name}: {word}", highlight=False)


@users_app.command("disable")
def disable_user(
    name: Annotated[str, typer.Argument(help="Login name.")], home: HomeOption = None
) -> None:
    """Disable a user and end their sessions at once (not the last active administrator)."""
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
    from appstate import users
    from appstate.audit import console_actor

    if not name and not address:
        raise fail("give a user NAME or --address ADDR")
    state = _state(home)
    if name:
        lifted = users.unlock_account(state, console_actor(), name)
        console.print(f"{name}: {'unlocked' if lifted else 'was not locked'}", highlight=False)
    if address:
        lifted = users.unlock_address(state, console_actor(), address.strip())
        console.print(f"{address}: {'unlocked' if lifted else 'was not locked'}", highlight=False)


@users_app.command("reset-password")
def reset_password(
    name: Annotated[str, typer.Argument(help="Login name.")],
    password_stdin: PasswordStdin = False,
    home: HomeOption = None,
) -> None:
    """Set a new password (random and printed once, or from stdin); ends the user's sessions and
    lifts their lock-out. A random one must be replaced at the user's next sign-in."""
    from appstate import users
    from appstate.audit import console_actor

    state = _state(home)
    generated = not password_stdin
    password = _new_password(generated)
    password_hash = _hash_or_fail(password)
    with _refusals():
        reset = users.reset_password(
            state, console_actor(), name, password_hash, must_change_password=generated
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
        from customs_kpi.published import current_version

        published = current_version(settings_for(home))
        if published is None:
            return None
        offices = published.table("cube_declarations").get_column("office_code").unique().sort()
        return str(offices[0]) if len(offices) else None
    except Exception:  # no or unreadable published version: fall back to the default office
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
    from appstate import users
    from appstate.audit import console_actor
    from appstate.passwords import generate_password

    state = _state(home)
    office = office or _first_published_office(home)
    created: list[tuple[str, str, str, str]] = []
    for name, role, offices in DEMO_USERS:
        if state.find_user(name) is not None:
            continue
        scope = (office,) if (offices and office) else offices
        password = generate_password()
        # Demo passwords are for trying the app at once: no forced change at first sign-in.
        user = users.create_user(
            state,
            console_actor(),
            name,
            role,
            scope,
            _hash_or_fail(password),
            must_change_password=False,
            demo=True,
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

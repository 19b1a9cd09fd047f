"""Users, their roles and office scopes, and the user-admin rules both the Users page and the
``customs-kpi users`` CLI apply.

:class:`UserStore` keeps the ``users`` and ``user_offices`` tables and enforces what must hold
whoever writes: valid names, roles and office codes, unique names (whatever their case), and
never demoting or disabling the last active administrator (checked inside the write
transaction). The functions after it are the administrators' changes: each checks the rules,
makes the change and writes the audit row, and the callers only word the outcome. ``actor``
is who makes the change: an administrator signed in on the web side may not change their own
account this way (the console's actor, ``cli:NAME``, never names a user).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from appstate.audit import Actor
from appstate.db import AppStateError, Database, utc_now_iso
from appstate.roles import Role, parse_role
from appstate.sessions import end_user_sessions_in
from appstate.throttle import clear_account, normalise_name

if TYPE_CHECKING:
    from appstate import AppState

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
OFFICE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


class AdminRefused(AppStateError):
    """A user-admin change the rules refuse; the message says why, for the administrator."""


@dataclass(frozen=True)
class User:
    user_id: int
    name: str
    role: Role
    offices: tuple[str, ...]  # empty = every office
    is_disabled: bool
    created_at: str
    last_login_at: str | None
    password_hash: str
    must_change_password: bool = False  # set by an administrator: replace it at next sign-in

    @property
    def scope(self) -> frozenset[str] | None:
        """Offices this user may see; None = all."""
        return frozenset(self.offices) if self.offices else None


@dataclass(frozen=True)
class PasswordReset:
    user: User
    sessions_ended: int
    lockout_cleared: bool


def state_label(user: User, locked_accounts: Collection[str]) -> str:
    """'active', 'disabled, locked out', 'active, must change password' … (lists and the UI)."""
    parts = ["disabled" if user.is_disabled else "active"]
    if normalise_name(user.name) in locked_accounts:
        parts.append("locked out")
    if user.must_change_password:
        parts.append("must change password")
    return ", ".join(parts)


def validate_name(name: str) -> str:
    name = name.strip()
    if not NAME_PATTERN.match(name):
        raise AppStateError(
            f"invalid user name {name!r}: 1-64 letters, digits, '.', '_', '@' or '-'"
        )
    return name


def validate_offices(offices: Iterable[str]) -> tuple[str, ...]:
    cleaned = sorted({o.strip() for o in offices if o.strip()})
    for code in cleaned:
        if not OFFICE_PATTERN.match(code):
            raise AppStateError(f"invalid office code {code!r}")
    return tuple(cleaned)


def split_offices(text: str | None) -> list[str]:
    """The office codes typed in one field ('DKR01, THS' or 'DKR01 THS'), not yet checked."""
    return re.split(r"[\s,;]+", text or "")


def _last_admin(name: str) -> AdminRefused:
    return AdminRefused(
        f"{name} is the last active administrator: make another user an administrator first."
    )


class UserStore(Database):
    """The ``users`` and ``user_offices`` tables (a part of :class:`appstate.AppState`)."""

    def _user_from_row(self, con: sqlite3.Connection, row: sqlite3.Row) -> User:
        offices = tuple(
            r[0]
            for r in con.execute(
                "SELECT office_code FROM user_offices WHERE user_id = ? ORDER BY office_code",
                (row["user_id"],),
            )
        )
        return User(
            user_id=row["user_id"],
            name=row["name"],
            role=Role(row["role"]),
            offices=offices,
            is_disabled=bool(row["is_disabled"]),
            created_at=row["created_at"],
            last_login_at=row["last_login_at"],
            password_hash=row["password_hash"],
            must_change_password=bool(row["must_change_password"]),
        )

    def add_user(
        self,
        name: str,
        role: Role | str,
        password_hash: str,
        offices: Iterable[str] = (),
        *,
        must_change_password: bool = False,
    ) -> User:
        """A new user. ``must_change_password``: the password was handed out by an administrator
        (the user must replace it at their next sign-in)."""
        name = validate_name(name)
        role = parse_role(role)
        codes = validate_offices(offices)
        now = utc_now_iso()
        with self._write() as con:
            if con.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise AppStateError(f"user {name!r} already exists")
            cur = con.execute(
                "INSERT INTO users (name, role, password_hash, created_at, updated_at, "
                "password_changed_at, must_change_password) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, role.value, password_hash, now, now, now, int(must_change_password)),
            )
            con.executemany(
                "INSERT INTO user_offices (user_id, office_code) VALUES (?, ?)",
                [(cur.lastrowid, code) for code in codes],
            )
        return self.get_user(name)

    def find_user(self, name: str) -> User | None:
        with self._read() as con:
            row = con.execute("SELECT * FROM users WHERE name = ?", (name.strip(),)).fetchone()
            return self._user_from_row(con, row) if row else None

    def get_user(self, name: str) -> User:
        user = self.find_user(name)
        if user is None:
            raise AppStateError(f"no user named {name!r}")
        return user

    def user_by_id(self, user_id: int) -> User | None:
        with self._read() as con:
            row = con.execute("SELECT * FROM users WHERE user_id = ?", (user_id,)).fetchone()
            return self._user_from_row(con, row) if row else None

    def list_users(self) -> list[User]:
        with self._read() as con:
            rows = con.execute("SELECT * FROM users ORDER BY name COLLATE NOCASE").fetchall()
            return [self._user_from_row(con, row) for row in rows]

    def _update_user(
        self,
        name: str,
        assignments: str,
        params: tuple[Any, ...],
        *,
        ends_admin: bool = False,
        end_sessions: str | None = None,
    ) -> User:
        """One UPDATE of a user. ``ends_admin``: the change makes the user no active
        administrator (refused when they are the last one). ``end_sessions``: also end their
        sessions, with this reason."""
        with self._write() as con:
            row = con.execute(
                "SELECT user_id, name, role, is_disabled FROM users WHERE name = ?",
                (name.strip(),),
            ).fetchone()
            if row is None:
                raise AppStateError(f"no user named {name!r}")
            if ends_admin and row["role"] == Role.ADMIN.value and not row["is_disabled"]:
                others = con.execute(
                    "SELECT count(*) FROM users WHERE role = ? AND is_disabled = 0 "
                    "AND user_id != ?",
                    (Role.ADMIN.value, row["user_id"]),
                ).fetchone()[0]
                if not others:
                    raise _last_admin(row["name"])
            con.execute(
                f"UPDATE users SET {assignments}, updated_at = ? WHERE user_id = ?",
                (*params, utc_now_iso(), row["user_id"]),
            )
            if end_sessions:
                end_user_sessions_in(con, row["user_id"], end_sessions)
        return self.get_user(name)

    def set_role(self, name: str, role: Role | str) -> User:
        """A new role; refused for a demotion of the last active administrator."""
        new_role = parse_role(role)
        return self._update_user(
            name, "role = ?", (new_role.value,), ends_admin=new_role is not Role.ADMIN
        )

    def set_disabled(self, name: str, disabled: bool) -> User:
        """Disable (ending every session; refused for the last active administrator) or
        enable a user."""
        return self._update_user(
            name,
            "is_disabled = ?",
            (1 if disabled else 0,),
            ends_admin=disabled,
            end_sessions="user disabled" if disabled else None,
        )

    def set_password_hash(
        self, name: str, password_hash: str, *, must_change_password: bool
    ) -> User:
        """A new password hash (the user's own change, or a rehash at sign-in; an administrator's
        reset is :meth:`reset_password`); ``must_change_password`` as for :meth:`add_user`."""
        return self._update_user(
            name,
            "password_hash = ?, password_changed_at = ?, must_change_password = ?",
            (password_hash, utc_now_iso(), int(must_change_password)),
        )

    def reset_password(
        self, name: str, password_hash: str, *, must_change_password: bool
    ) -> PasswordReset:
        """An administrator's reset, in one transaction: the new hash, every session of the
        user ended, the account's sign-in lock-out lifted."""
        user = self.get_user(name)
        now = utc_now_iso()
        with self._write() as con:
            con.execute(
                "UPDATE users SET password_hash = ?, password_changed_at = ?, updated_at = ?, "
                "must_change_password = ? WHERE user_id = ?",
                (password_hash, now, now, int(must_change_password), user.user_id),
            )
            ended = end_user_sessions_in(con, user.user_id, "password reset")
            unlocked = clear_account(con, normalise_name(user.name), time.time())
        return PasswordReset(self.get_user(user.name), ended, unlocked)

    def set_offices(self, name: str, offices: Iterable[str]) -> User:
        codes = validate_offices(offices)
        user = self.get_user(name)
        with self._write() as con:
            con.execute("DELETE FROM user_offices WHERE user_id = ?", (user.user_id,))
            con.executemany(
                "INSERT INTO user_offices (user_id, office_code) VALUES (?, ?)",
                [(user.user_id, code) for code in codes],
            )
            con.execute(
                "UPDATE users SET updated_at = ? WHERE user_id = ?", (utc_now_iso(), user.user_id)
            )
        return self.get_user(name)

    def record_login(self, user_id: int) -> None:
        with self._write() as con:
            con.execute(
                "UPDATE users SET last_login_at = ? WHERE user_id = ?", (utc_now_iso(), user_id)
            )


# --- The administrators' changes (Users page and CLI) ------------------------------------------
@dataclass(frozen=True)
class UserChange:
    """A change asked for: the user before and after; ``changed`` False when there was
    nothing to do (it is then neither written nor audited)."""

    before: User
    after: User
    changed: bool


def _refuse_own(user: User, actor: Actor, message: str) -> None:
    if actor.name and normalise_name(user.name) == normalise_name(actor.name):
        raise AdminRefused(message)


def create_user(
    state: AppState,
    actor: Actor,
    name: str | None,
    role: str | Role | None,
    offices: Iterable[str],
    password_hash: str,
    *,
    must_change_password: bool,
    demo: bool = False,
) -> User:
    """A new user, audited (``demo``: one of the demo accounts)."""
    if not (name or "").strip():
        raise AdminRefused("Enter the new user's name.")
    if not role:
        raise AdminRefused("Choose the new user's role.")
    checked_name, checked_role = validate_name(name or ""), parse_role(role)
    codes = validate_offices(offices)
    if state.find_user(checked_name) is not None:
        raise AdminRefused(f"A user named {checked_name} already exists.")
    user = state.add_user(
        checked_name, checked_role, password_hash, codes, must_change_password=must_change_password
    )
    details: dict[str, Any] = {
        "role": user.role.value,
        "offices": list(user.offices),
        "must_change_password": user.must_change_password,
    }
    if demo:
        details["demo"] = True
    state.record_audit("user.create", actor, user.name, details)
    return user


def change_role(state: AppState, actor: Actor, name: str, role: str | Role) -> UserChange:
    user = state.get_user(name)
    new_role = parse_role(role)
    if new_role is user.role:
        return UserChange(user, user, changed=False)
    if user.role is Role.ADMIN:
        _refuse_own(user, actor, "You cannot change or disable your own account here.")
    else:
        _refuse_own(user, actor, "You cannot change your own role.")
    after = state.set_role(user.name, new_role)
    state.record_audit(
        "user.role_change", actor, user.name, {"from": user.role.value, "to": new_role.value}
    )
    return UserChange(user, after, changed=True)


def set_disabled(state: AppState, actor: Actor, name: str, disabled: bool) -> UserChange:
    """Disable (their sessions end; the last active administrator: refused by the store) or
    enable a user."""
    user = state.get_user(name)
    if disabled:
        _refuse_own(user, actor, "You cannot change or disable your own account here.")
    if user.is_disabled == disabled:
        return UserChange(user, user, changed=False)
    after = state.set_disabled(user.name, disabled)
    state.record_audit("user.disable" if disabled else "user.enable", actor, user.name)
    return UserChange(user, after, changed=True)


def change_offices(state: AppState, actor: Actor, name: str, offices: Iterable[str]) -> UserChange:
    """A new office scope (none = every office)."""
    user = state.get_user(name)
    _refuse_own(user, actor, "You cannot change your own office scope.")
    codes = validate_offices(offices)
    if codes == user.offices:
        return UserChange(user, user, changed=False)
    after = state.set_offices(user.name, codes)
    state.record_audit(
        "user.scope_change", actor, user.name, {"from": list(user.offices), "to": list(codes)}
    )
    return UserChange(user, after, changed=True)


def end_sessions(state: AppState, actor: Actor, name: str) -> int:
    """Sign a user out everywhere (a lost laptop, a shared PC left signed in); how many."""
    user = state.get_user(name)
    _refuse_own(user, actor, "Use Sign out to end your own session.")
    ended = state.end_user_sessions(user.user_id, "ended by an administrator")
    state.record_audit("user.sessions_ended", actor, user.name, {"sessions": ended})
    return ended


def reset_password(
    state: AppState, actor: Actor, name: str, password_hash: str, *, must_change_password: bool
) -> PasswordReset:
    """A new password: the user's sessions end and their lock-out is lifted."""
    user = state.get_user(name)
    _refuse_own(user, actor, "Change your own password with Password, top right.")
    reset = state.reset_password(
        user.name, password_hash, must_change_password=must_change_password
    )
    state.record_audit(
        "user.password_reset",
        actor,
        user.name,
        {
            "sessions_ended": reset.sessions_ended,
            "lockout_cleared": reset.lockout_cleared,
            "must_change_password": must_change_password,
        },
    )
    return reset


def unlock_account(state: AppState, actor: Actor, account: str) -> bool:
    """Lift an account's sign-in lock-out and delays (from every address); whether it had
    any. ``account``: a user name, or the key of a bucket of unknown names."""
    lifted = state.unlock_account(normalise_name(account))
    state.record_audit("user.unlock", actor, account, {"had_failures": lifted})
    return lifted


def unlock_pair(state: AppState, actor: Actor, key: str) -> bool:
    """Lift the lock-out of one account from one address (a ``pair_key``)."""
    lifted = state.clear_login_failures("pair", key)
    state.record_audit("user.unlock", actor, key, {"had_failures": lifted})
    return lifted


def unlock_address(state: AppState, actor: Actor, address: str) -> bool:
    """Lift an address's ceiling and the lock-outs of every account tried from it."""
    lifted = state.unlock_address(address)
    state.record_audit("address.unlock", actor, address, {"had_failures": lifted})
    return lifted

"""Sign-in throttling: failures per (address, account) pair, per account and per address;
growing delays and locks that end by themselves (the rules: :class:`ThrottlePolicy`)."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appstate.db import Database

UNKNOWN_NAME_PREFIX = "?"  # account keys of unknown names ('?' is never part of a user name)


def normalise_name(name: str) -> str:
    """A user name as throttling and name comparisons key it."""
    return name.strip().lower()


def pair_key(address: str, account_key: str) -> str:
    """The throttle key of one account tried from one address."""
    return f"{address}|{account_key}"


@dataclass(frozen=True)
class ThrottleState:
    kind: str  # 'pair' (address|account), 'account' or 'address'
    key: str
    failures: int
    last_failure_at: float
    next_allowed_at: float
    locked_at: float | None
    locked_until: float | None = None

    def is_locked_at(self, now: float) -> bool:
        """Locked at ``now`` (a lock ends by itself at ``locked_until``)."""
        return self.locked_until is not None and now < self.locked_until

    @property
    def account(self) -> str | None:
        """The account key of a 'pair' or 'account' row."""
        if self.kind == "account":
            return self.key
        if self.kind == "pair":
            return self.key.split("|", 1)[1]
        return None


@dataclass(frozen=True)
class ThrottlePolicy:
    """Sign-in throttling (OWASP ASVS 2.2): slows guessing, never locks a user out for good.

    * Per (address, account): no delay for the first ``free_failures`` failures, then
      ``base_delay_seconds`` doubling (2, 4, 8 … s) up to ``max_delay_seconds``; at
      ``lockout_after`` failures the pair is locked for ``lock_seconds`` (it ends by itself;
      each further failure locks it again). Other accounts from that address are not affected.
    * Per account (every address together, against guessing from many addresses): delays after
      ``account_free_failures`` failures, capped at ``account_max_delay_seconds``, so a real user
      waits a minute at most; administrators are told at ``account_alert_after`` failures.
    * Per address (every account together, against spraying one password over many names):
      delays after ``address_free_failures`` failures, capped at ``address_max_delay_seconds``
      (colleagues behind one NAT wait a minute at most), and a lock of ``lock_seconds`` at
      ``address_lockout_after`` — a ceiling well above what an office mistypes in an hour.
    * Failures are forgotten ``forget_after_seconds`` after the last one; a successful sign-in
      clears the pair and the account (never the address ceiling).
    * Unknown user names share ``unknown_name_buckets`` salted buckets, so guessing names adds
      a bounded number of rows.
    """

    free_failures: int = 3
    base_delay_seconds: float = 2.0
    max_delay_seconds: float = 900.0
    lockout_after: int = 10
    lock_seconds: float = 900.0
    account_free_failures: int = 10
    account_max_delay_seconds: float = 60.0
    account_alert_after: int = 20
    address_free_failures: int = 30
    address_max_delay_seconds: float = 60.0
    address_lockout_after: int = 100
    forget_after_seconds: float = 3600.0
    unknown_name_buckets: int = 64

    def delay_after(self, failures: int, kind: str = "pair") -> float:
        """Seconds to wait after the ``failures``-th failure: for a pair 0, 0, 2, 4, 8 …"""
        free, cap = {
            "pair": (self.free_failures, self.max_delay_seconds),
            "account": (self.account_free_failures, self.account_max_delay_seconds),
            "address": (self.address_free_failures, self.address_max_delay_seconds),
        }[kind]
        if failures < free:
            return 0.0
        exponent = min(failures - free, 30)
        return min(cap, self.base_delay_seconds * 2.0**exponent)

    def lockout_after_for(self, kind: str) -> int | None:
        """Failures that lock the key for ``lock_seconds`` (None: this kind is never locked)."""
        return {"pair": self.lockout_after, "address": self.address_lockout_after}.get(kind)


class ThrottleStore(Database):
    """The ``login_throttle`` table (a part of :class:`appstate.AppState`)."""

    def __init__(self, path: Path | str, policy: ThrottlePolicy | None = None) -> None:
        self.policy = policy or ThrottlePolicy()
        self._meta_cache: dict[str, str] = {}
        super().__init__(path)

    def unknown_name_key(self, name: str) -> str:
        """The shared account key of an unknown user name: one of the policy's buckets, salted
        per database so nobody can tell from outside which names share one."""
        salt = self._meta("throttle_salt")
        digest = hashlib.sha256(f"{salt}:{normalise_name(name)}".encode()).digest()
        bucket = int.from_bytes(digest[:8], "big") % max(1, self.policy.unknown_name_buckets)
        return f"{UNKNOWN_NAME_PREFIX}{bucket}"

    def _meta(self, key: str) -> str:
        cached = self._meta_cache.get(key)
        if cached is None:
            with self._read() as con:
                row = con.execute("SELECT value FROM app_meta WHERE key = ?", (key,)).fetchone()
            cached = str(row[0]) if row else ""
            self._meta_cache[key] = cached
        return cached

    def throttle_state(self, kind: str, key: str, now: float | None = None) -> ThrottleState | None:
        """The key's failures on record; None when there are none, or when they are older than
        the policy forgets (``now`` defaults to the clock)."""
        now = time.time() if now is None else now
        with self._read() as con:
            row = con.execute(
                "SELECT * FROM login_throttle WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
        if row is None:
            return None
        state = ThrottleState(**dict(row))
        return None if self._forgotten(state, now) else state

    def _forgotten(self, state: ThrottleState, now: float) -> bool:
        return now - state.last_failure_at > self.policy.forget_after_seconds and not (
            state.is_locked_at(now)
        )

    def record_login_failure(self, kind: str, key: str, now: float) -> tuple[ThrottleState, bool]:
        """Count one more failure; returns the new state and whether it just locked the key
        (for 'account': whether it just reached the alert threshold)."""
        policy = self.policy
        with self._write() as con:
            # Forgotten failures go (and with them the rows of one-off typos and name guesses).
            con.execute(
                "DELETE FROM login_throttle WHERE last_failure_at < ? "
                "AND (locked_until IS NULL OR locked_until <= ?)",
                (now - policy.forget_after_seconds, now),
            )
            row = con.execute(
                "SELECT failures, locked_at, locked_until FROM login_throttle "
                "WHERE kind = ? AND key = ?",
                (kind, key),
            ).fetchone()
            failures = (row["failures"] if row else 0) + 1
            locked_at = row["locked_at"] if row else None
            locked_until = row["locked_until"] if row else None
            next_allowed = now + policy.delay_after(failures, kind)
            threshold = policy.lockout_after_for(kind)
            just_locked = False
            if threshold is not None and failures >= threshold:
                if locked_until is None or locked_until <= now:
                    locked_at, just_locked = now, True
                locked_until = max(locked_until or 0.0, now + policy.lock_seconds)
                next_allowed = max(next_allowed, locked_until)
            elif kind == "account":
                just_locked = failures == policy.account_alert_after
            con.execute(
                "INSERT INTO login_throttle (kind, key, failures, last_failure_at, "
                "next_allowed_at, locked_at, locked_until) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (kind, key) DO UPDATE SET failures = excluded.failures, "
                "last_failure_at = excluded.last_failure_at, "
                "next_allowed_at = excluded.next_allowed_at, locked_at = excluded.locked_at, "
                "locked_until = excluded.locked_until",
                (kind, key, failures, now, next_allowed, locked_at, locked_until),
            )
        state = ThrottleState(kind, key, failures, now, next_allowed, locked_at, locked_until)
        return state, just_locked

    def clear_login_failures(self, kind: str, key: str) -> bool:
        """Forget one key's failures and lift its lock (a successful sign-in, an admin)."""
        with self._write() as con:
            cur = con.execute("DELETE FROM login_throttle WHERE kind = ? AND key = ?", (kind, key))
            return cur.rowcount > 0

    def unlock_account(self, account_key: str) -> bool:
        """An administrator's unlock of an account: its own delays and those of every address
        it was tried from; True when it was locked or delayed."""
        with self._write() as con:
            return clear_account(con, account_key, time.time())

    def unlock_address(self, address: str) -> bool:
        """An administrator's unlock of an address: its ceiling and its pairs."""
        now = time.time()
        with self._write() as con:
            live = _live_rows(
                con,
                "(kind = 'address' AND key = ?) OR (kind = 'pair' AND "
                "substr(key, 1, instr(key, '|') - 1) = ?)",
                (address, address),
                now,
            )
            con.execute(
                "DELETE FROM login_throttle WHERE (kind = 'address' AND key = ?) OR "
                "(kind = 'pair' AND substr(key, 1, instr(key, '|') - 1) = ?)",
                (address, address),
            )
        return live

    def locked_accounts(self, now: float | None = None) -> frozenset[str]:
        """Normalised names of the accounts locked now from some address (the lock ends by
        itself, or when an administrator lifts it)."""
        now = time.time() if now is None else now
        return frozenset(
            t.account
            for t in self.throttled_keys(now)
            if t.kind == "pair" and t.is_locked_at(now) and t.account
        )

    def throttled_keys(self, now: float | None = None) -> list[ThrottleState]:
        """Every key with failures the policy still remembers, locked ones first."""
        now = time.time() if now is None else now
        with self._read() as con:
            rows = con.execute(
                "SELECT * FROM login_throttle "
                "ORDER BY coalesce(locked_until, 0) <= ?, last_failure_at DESC",
                (now,),
            ).fetchall()
        states = [ThrottleState(**dict(r)) for r in rows]
        return [t for t in states if not self._forgotten(t, now)]


_ACCOUNT_ROWS = (
    "(kind = 'account' AND key = ?) OR (kind = 'pair' AND substr(key, instr(key, '|') + 1) = ?)"
)


def _live_rows(con: sqlite3.Connection, where: str, params: tuple[Any, ...], now: float) -> bool:
    """Whether the rows ``where`` selects hold a lock or a delay that is still running."""
    row = con.execute(
        f"SELECT count(*) FROM login_throttle WHERE ({where}) "
        "AND (next_allowed_at > ? OR coalesce(locked_until, 0) > ?)",
        (*params, now, now),
    ).fetchone()
    return bool(row[0])


def clear_account(con: sqlite3.Connection, account_key: str, now: float) -> bool:
    """Delete an account's throttle rows (its own and its pairs); True when one was live."""
    live = _live_rows(con, _ACCOUNT_ROWS, (account_key, account_key), now)
    con.execute(f"DELETE FROM login_throttle WHERE {_ACCOUNT_ROWS}", (account_key, account_key))
    return live

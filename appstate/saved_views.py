"""Saved views per user: a name and an in-app link (path and query string) to a view of the
dashboard, kept in the app-state database (table ``saved_views``, migration 4 → 5).

A saved view is a link and nothing more: opening it goes through the same pages, role checks
and office scope as typing the link, so it never shows more than its user may see. Saving
also drops any office outside the user's scope from the link (see
:func:`dashboard.filters.scoped_url`), and every save and delete is audited in the same
transaction. A user sees and deletes only their own views.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from appstate.audit import Actor, insert_audit
from appstate.db import Database, per_database, utc_now_iso

MAX_NAME = 80
MAX_URL = 2000
MAX_VIEWS = 50  # per user


class SavedViewError(ValueError):
    """A save or delete the store refuses (the message says why, for the user)."""


@dataclass(frozen=True)
class SavedView:
    view_id: int
    name: str
    url: str
    created_at: str


def clean_name(name: object) -> str:
    text = " ".join(str(name or "").split())
    if not text:
        raise SavedViewError("give the view a name")
    if len(text) > MAX_NAME:
        raise SavedViewError(f"a view's name has at most {MAX_NAME} characters")
    return text


def clean_url(url: object) -> str:
    """An in-app link only: a path starting with one ``/`` and an optional query string
    (no scheme, host or fragment), so a saved view can never lead off the app."""
    text = str(url or "").strip()
    parts = urlsplit(text)
    if (
        not text
        or len(text) > MAX_URL
        or parts.scheme
        or parts.netloc
        or parts.fragment
        or not parts.path.startswith("/")
        or parts.path.startswith("//")
        or "\\" in text
        or any(ord(ch) < 32 for ch in text)
    ):
        raise SavedViewError("only a link inside the dashboard can be saved")
    return parts.path + (f"?{parts.query}" if parts.query else "")


class SavedViewStore(Database):
    """The ``saved_views`` table; safe across threads and processes."""

    def _user_id(self, con: object, user_name: str) -> int:
        row = con.execute(  # type: ignore[attr-defined]
            "SELECT user_id FROM users WHERE name = ?", (user_name,)
        ).fetchone()
        if row is None:
            raise SavedViewError(f"unknown user {user_name!r}")
        return int(row["user_id"])

    def list_views(self, user_name: str) -> list[SavedView]:
        """The user's own views, by name."""
        with self._read() as con:
            rows = con.execute(
                "SELECT v.view_id, v.name, v.url, v.created_at FROM saved_views v "
                "JOIN users u ON u.user_id = v.user_id WHERE u.name = ? "
                "ORDER BY v.name COLLATE NOCASE",
                (user_name,),
            ).fetchall()
        return [SavedView(r["view_id"], r["name"], r["url"], r["created_at"]) for r in rows]

    def save_view(self, actor: Actor, name: object, url: object) -> SavedView:
        """Save (or replace, same name) one of ``actor``'s views; audited ``view.save``."""
        if not actor.name:
            raise SavedViewError("sign in to save a view")
        title, link = clean_name(name), clean_url(url)
        now = utc_now_iso()
        with self._write() as con:
            user_id = self._user_id(con, actor.name)
            count = con.execute(
                "SELECT COUNT(*) FROM saved_views WHERE user_id = ? AND name != ?",
                (user_id, title),
            ).fetchone()[0]
            if count >= MAX_VIEWS:
                raise SavedViewError(f"at most {MAX_VIEWS} saved views: delete one first")
            con.execute(
                "INSERT INTO saved_views (user_id, name, url, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (user_id, name) DO UPDATE SET url = excluded.url, "
                "created_at = excluded.created_at",
                (user_id, title, link, now),
            )
            row = con.execute(
                "SELECT view_id FROM saved_views WHERE user_id = ? AND name = ?",
                (user_id, title),
            ).fetchone()
            insert_audit(con, "view.save", actor, title, {"url": link}, now)
        return SavedView(int(row["view_id"]), title, link, now)

    def delete_view(self, actor: Actor, view_id: int) -> bool:
        """Delete one of ``actor``'s own views (another user's id deletes nothing); audited
        ``view.delete``. True when a view was deleted."""
        if not actor.name:
            return False
        now = utc_now_iso()
        with self._write() as con:
            user_id = self._user_id(con, actor.name)
            row = con.execute(
                "SELECT name, url FROM saved_views WHERE view_id = ? AND user_id = ?",
                (int(view_id), user_id),
            ).fetchone()
            if row is None:
                return False
            con.execute("DELETE FROM saved_views WHERE view_id = ?", (int(view_id),))
            insert_audit(con, "view.delete", actor, row["name"], {"url": row["url"]}, now)
        return True


# The saved-view store of an app-state database, created once per process.
views_for = per_database(SavedViewStore)

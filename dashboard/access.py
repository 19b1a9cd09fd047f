"""Authorisation API for page authors: roles of pages and callbacks, the user's office scope.

How a page declares who may use it::

    dash.register_page(__name__, path="/profiles", name="Profiles", order=20,
                       min_role="analyst")          # default "viewer"; nav=False hides the link

Every callback defined in that page module then needs at least that role: the request guard
answers 403 before the callback runs when a lower role calls it (see :func:`callback_role`).
A callback that needs more than its page (an analyst action on a viewer page) says so::

    @callback(Output(...), Input(...))
    @require_role(Role.ANALYST)
    def review_profile(...): ...

Every data query applies the user's office scope on the server, whatever the browser sent:
pages read through ``dashboard.data.request_context()``, whose cube is cut to
:func:`current_viewer`'s offices (``dashboard.data.scope_cube``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import dash
from flask import abort, has_request_context
from flask_login import current_user

from appstate.roles import Role, parse_role
from dashboard.context import current_settings

if TYPE_CHECKING:
    from customs_kpi.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

# Attribute carrying a function's minimum role. functools.wraps copies __dict__, so it survives
# Dash's own wrapping of the callback.
ROLE_ATTRIBUTE = "__customs_kpi_min_role__"


# --- Who is asking -------------------------------------------------------------------------------
def current_role() -> Role | None:
    """The logged-in user's role; None when nobody is logged in (or outside a request)."""
    if not has_request_context() or not current_user.is_authenticated:
        return None
    role: Role = current_user.role
    return role


def user_may(required: Role | str) -> bool:
    """True when the current user's role covers ``required``."""
    role = current_role()
    return role is not None and role.covers(parse_role(required))


def app_settings() -> Settings:
    """The settings of the serving app (inside a request or callback)."""
    return current_settings()


def current_viewer() -> Any:
    """The current user as the pages' ``dashboard.data.Viewer`` (offices None = every office).

    Refuses (401) when nobody is logged in, so a query cannot silently run unscoped."""
    from dashboard.data import Viewer  # the pages' read-side type; imported late (no cycle)

    if not has_request_context() or not current_user.is_authenticated:
        abort(401)
    scope = current_user.scope
    return Viewer(
        name=current_user.name,
        role=current_user.role,
        offices=tuple(sorted(scope)) if scope is not None else None,
    )


# --- Roles of callbacks and pages ---------------------------------------------------------------
def mark_role(func: Callable[..., Any], min_role: Role | str) -> None:
    """Record that ``func`` (a callback or Flask view) needs ``min_role``; the guard enforces it."""
    setattr(func, ROLE_ATTRIBUTE, parse_role(min_role))


def require_role(min_role: Role | str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator for callbacks and Flask views: refuse (403) users below ``min_role``.

    Put it *under* ``@callback`` so Dash registers the checked function. The request guard
    refuses a callback POST before the function runs; the check inside is a second line for
    code that calls the function some other way.
    """
    required = parse_role(min_role)

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            if not user_may(required):
                abort(403)
            return func(*args, **kwargs)

        mark_role(checked, required)
        return checked

    return decorate


def page_entry(path: str) -> dict[str, Any] | None:
    """The page registry entry serving ``path`` (exact path, or a path template's pattern)."""
    path = "/" + path.strip("/") if path not in ("", "/") else "/"
    for page in dash.page_registry.values():
        if page.get("path") == path:
            return dict(page)
    for page in dash.page_registry.values():
        template = page.get("path_template")
        if template and _matches_template(template, path):
            return dict(page)
    return None


def page_role(path: str) -> Role:
    """The role a page needs (its ``min_role``, default viewer; unknown paths: viewer)."""
    page = page_entry(path)
    return parse_role(page.get("min_role") or Role.VIEWER) if page else Role.VIEWER


def module_role(module: str | None) -> Role:
    """The role of the page a module registers (viewer when it registers none)."""
    page = dash.page_registry.get(module or "")
    return parse_role(page.get("min_role") or Role.VIEWER) if page else Role.VIEWER


def function_role(func: Callable[..., Any] | None) -> Role:
    """The role a callback function needs: the higher of its own mark and its page's role."""
    if func is None:
        return Role.VIEWER
    explicit = getattr(func, ROLE_ATTRIBUTE, None)
    original = inspect.unwrap(func)
    role = module_role(getattr(original, "__module__", None))
    if explicit is not None and parse_role(explicit).covers(role):
        role = parse_role(explicit)
    return role


def callback_role(app: dash.Dash, output_key: str) -> Role | None:
    """The role needed to call the server callback registered for ``output_key``.

    None when no such callback exists (the guard refuses those requests outright).
    """
    entry = app.callback_map.get(output_key)
    if entry is None:
        return None
    return function_role(entry.get("callback"))


def _matches_template(template: str, path: str) -> bool:
    t_parts = template.strip("/").split("/")
    p_parts = path.strip("/").split("/")
    if len(t_parts) != len(p_parts):
        return False
    return all(
        (t.startswith("<") and t.endswith(">")) or t == p
        for t, p in zip(t_parts, p_parts, strict=True)
    )

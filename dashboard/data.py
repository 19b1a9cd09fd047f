"""Read-side glue between a request and the numbers: who is asking, which published version,
which offices they may see, and the cube frames cut to that scope.

Every callback goes through :func:`guarded`: it checks the role, builds a :class:`PageContext`
whose cube frames are already filtered to the user's offices on the server (whatever the
browser sent), and turns any error into a readable message with a logged reference instead of
a blank page.
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, ParamSpec, Protocol, TypeVar

import polars as pl
from dash.exceptions import PreventUpdate
from flask import abort

from appstate.roles import Role
from customs_kpi.settings import Settings
from dashboard import access
from dashboard.components import states
from dashboard.filters import PageFilters, resolve
from kpis import catalogue, formatting
from kpis.cube import CubeFrames, Filters

log = logging.getLogger(__name__)


class PublishedLike(Protocol):
    """What the pages need from ``customs_kpi.published.PublishedVersion``."""

    data_as_of: datetime | None

    def table(self, name: str) -> pl.DataFrame: ...

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame: ...

    def months(self) -> list[date]: ...


@dataclass(frozen=True)
class Viewer:
    """The user a request runs for. ``offices`` None = every office (no office scope)."""

    name: str
    role: Role
    offices: tuple[str, ...] | None = None

    def may(self, required: Role) -> bool:
        return self.role.covers(required)


def scope_cube(cube: CubeFrames, offices: tuple[str, ...] | None) -> CubeFrames:
    """Cut the cube to ``offices`` (None = every office). Pure, so it is tested directly.

    The profile register and change log have no office and stay whole; profile pairs have no
    office either, so a scoped user gets none (national co-occurrence counts would leak other
    offices' activity) and the profile page computes overlap from the scoped facts instead."""
    if offices is None:
        return cube

    def cut(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(pl.col("office_code").is_in(list(offices)))

    return CubeFrames(
        declarations=cut(cube.declarations),
        profiles=cut(cube.profiles),
        time_hist=cut(cube.time_hist),
        profile_pairs=cube.profile_pairs.clear(),
        register=cube.register,
        changes=cube.changes,
    )


def cube_months(cube: CubeFrames) -> list[date]:
    if cube.declarations.is_empty():
        return []
    return sorted(cube.declarations["lodged_month"].unique().to_list())


def cube_offices(cube: CubeFrames) -> list[str]:
    if cube.declarations.is_empty():
        return []
    return sorted(cube.declarations["office_code"].unique().to_list())


class _ScopedCubeCache:
    """Scoped frames per (published, scope): a filter over a few million cube rows is cheap but
    not free, and the same user reloads the same scope on every callback. Entries die with
    their published version (keyed by object identity, bounded LRU)."""

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._items: OrderedDict[tuple[int, tuple[str, ...] | None], tuple[object, CubeFrames]]
        self._items = OrderedDict()
        self._lock = threading.Lock()

    def get(self, published: PublishedLike, offices: tuple[str, ...] | None) -> CubeFrames:
        key = (id(published), offices)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None and hit[0] is published:
                self._items.move_to_end(key)
                return hit[1]
        # Scoped cubes are cut from the (cached) whole one: normalising the published version's
        # tables happens once per version, not once per scope.
        whole = (
            CubeFrames.from_published(published) if offices is None else self.get(published, None)
        )
        frames = scope_cube(whole, offices)
        with self._lock:
            self._items[key] = (published, frames)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return frames


_CACHE = _ScopedCubeCache()


@dataclass(frozen=True)
class PageContext:
    """Everything a callback needs, already scoped to the user."""

    settings: Settings
    viewer: Viewer
    published_version: PublishedLike | None
    cube: CubeFrames | None

    @property
    def published(self) -> bool:
        return self.published_version is not None and self.cube is not None

    @property
    def data_as_of(self) -> datetime | None:
        return self.published_version.data_as_of if self.published_version is not None else None

    def months(self) -> list[date]:
        return cube_months(self.cube) if self.cube is not None else []

    def offices(self) -> list[str]:
        """Offices the user may pick in the filter bar."""
        if self.cube is None:
            return []
        present = cube_offices(self.cube)
        if self.viewer.offices is None:
            return present
        return sorted(set(self.viewer.offices))

    def resolve(self, filters: PageFilters, default_months: int | None = None) -> PageFilters:
        """Valid filters; no period → the app's one default period
        (``CUSTOMS_KPI_DEFAULT_PERIOD_MONTHS`` ending with the latest month of data)."""
        months = default_months or self.settings.default_period_months
        return resolve(filters, self.months(), self.offices(), months)

    def office_filter(self, filters: PageFilters) -> tuple[str, ...] | None:
        """Offices to filter on: the user's pick, within their scope (None = no filter)."""
        if filters.offices:
            allowed = set(self.offices())
            return tuple(o for o in filters.offices if o in allowed) or None
        return None

    def kpi_filters(self, filters: PageFilters, **extra: tuple[str, ...]) -> Filters:
        """The engine's filters for the user's pick (the cube is already cut to their scope)."""
        channels = (filters.channel.value,) if filters.channel is not None else ()
        return Filters(
            offices=self.office_filter(filters) or (),
            channels=extra.pop("channels", channels),
            **extra,
        )

    def compute(
        self,
        kpi_id: str,
        filters: PageFilters,
        *,
        by: Sequence[str] = (),
        period: tuple[date, date] | bool | None = True,
        **extra: tuple[str, ...],
    ) -> pl.DataFrame:
        """One catalogue KPI at a grain, through the engine: the only way pages get numbers.

        ``period`` True = the filters' period, None = all history, or an explicit range.
        ``extra`` adds engine filters (``profiles=(...)``, ``selection_sources=(...)``,
        ``channels=(...)`` to override the page's channel)."""
        from kpis import engine

        if self.cube is None:
            raise LookupError("nothing is published")
        span = filters.period if period is True else period
        return engine.compute(
            catalogue.get(kpi_id),
            self.cube,
            by=list(by),
            filters=self.kpi_filters(filters, **extra),
            period=span or None,
            min_sample=self.settings.min_sample,
        )

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        """A query over the published version's fact views; callers add the office scope through
        :meth:`office_clause` so a scoped user never reads other offices' rows."""
        if self.published_version is None:
            raise LookupError("nothing is published")
        return self.published_version.query(sql, list(params or []))

    def office_clause(
        self, filters: PageFilters, column: str = "office_code"
    ) -> tuple[str, list[Any]]:
        """SQL condition and parameters restricting rows to the user's scope and pick."""
        picked = self.office_filter(filters)
        if picked is not None:
            offices: tuple[str, ...] | None = picked
        else:
            offices = self.viewer.offices
        if offices is None:
            return "TRUE", []
        if not offices:
            return "FALSE", []
        return f"{column} IN ({', '.join('?' for _ in offices)})", list(offices)


def build_context(
    settings: Settings, viewer: Viewer, published_version: PublishedLike | None
) -> PageContext:
    version = published_version
    cube = _CACHE.get(version, viewer.offices) if version is not None else None
    return PageContext(settings=settings, viewer=viewer, published_version=version, cube=cube)


# --- Request plumbing (the app shell owns login, roles and the published-version reader) -------


def request_context() -> PageContext:
    """The context of the current Flask request."""
    from customs_kpi.published import current_version
    from dashboard import access  # late: the app shell module imports flask-login machinery

    settings = access.app_settings()
    viewer = access.current_viewer()
    # Every amount this request formats carries the revenue currency.
    formatting.CURRENCY.set(settings.currency)
    return build_context(settings, viewer, current_version(settings))


P = ParamSpec("P")
R = TypeVar("R")


def guarded(
    required: Role = Role.VIEWER, *, on_error: Callable[[str], Any] | None = None
) -> Callable[[Callable[..., R]], Callable[..., Any]]:
    """Wrap a callback body ``fn(ctx, *inputs)``: role check, scoped context, readable errors.

    The wrapped function keeps the Dash signature ``(*inputs)``; the body receives the
    :class:`PageContext` first, so tests call the body with a hand-built context.
    ``on_error(reference)`` builds what to show instead of the output when the body fails.
    """

    def decorate(body: Callable[..., R]) -> Callable[..., Any]:
        @functools.wraps(body)
        def callback(*inputs: Any) -> Any:
            ctx = request_context()
            if not ctx.viewer.may(required):
                # The app's request guard refuses first (it reads the role mark set below);
                # this is the second line for any other way in.
                log.warning(
                    "refused %s to %s (%s)", body.__name__, ctx.viewer.name, ctx.viewer.role
                )
                abort(403)
            try:
                return body(ctx, *inputs)
            except PreventUpdate:
                raise
            except Exception:
                reference = uuid.uuid4().hex[:8]
                log.exception("callback %s failed (reference %s)", body.__name__, reference)
                return (on_error or states.error_message)(reference)

        callback.body = body  # type: ignore[attr-defined]
        access.mark_role(callback, required)
        return callback

    return decorate

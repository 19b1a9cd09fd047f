"""Global filters (period, offices, channel), kept in the URL query string so a view can be shared.

The URL is the source of truth: a page's ``layout(**query)`` parses the query string into
:class:`PageFilters`, builds the filter bar with those values, and every content callback takes the
filter controls as inputs. When a control changes, a client-side function (assets/dashboard.js)
rewrites the query string with ``history.pushState`` so the address bar always shows a link to
the current view and the browser's back button returns to the previous one, without
re-rendering the page.

Query string format (every key optional)::

    ?from=2025-01&to=2026-10&office=DKR,THS&channel=red
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from dash import ALL, ClientsideFunction, Input, Output, State, clientside_callback, dcc, html

from kpis.domain import Channel

# Component ids (shared by every page: only one page is on screen at a time).
FROM_ID = "filter-from"
TO_ID = "filter-to"
OFFICES_ID = "filter-offices"
CHANNEL_ID = "filter-channel"
BAR_ID = "filter-bar"
URL_SYNC_ID = "filter-url-sync"
VIEW_PARAM = "view-param"  # pattern-matching id {"type": VIEW_PARAM, "key": url_key}
PRESET_BUTTON = "period-preset"
# A chart that filters the page when a point is clicked (cross-filtering):
# {"type": CROSS_FILTER, "dim": "office" | "channel", "field": where the point holds the value
# ("text", "x", "y" or "customdata"), "name": the chart}.
CROSS_FILTER = "cross-filter"  # pattern-matching id {"type": PRESET_BUTTON, "months": n}

FILTER_INPUT_IDS: tuple[str, ...] = (FROM_ID, TO_ID, OFFICES_ID, CHANNEL_ID)

# How far back the period starts when nothing says otherwise (the app's default comes from
# the setting CUSTOMS_KPI_DEFAULT_PERIOD_MONTHS, the same on every page).
DEFAULT_TREND_MONTHS = 12
# The filter bar's period presets: (months ending with the latest month of data, label).
PRESETS: tuple[tuple[int, str], ...] = (
    (1, "Last month"),
    (3, "3 months"),
    (12, "12 months"),
    (24, "24 months"),
)
ALL_CHANNELS = "all"


@dataclass(frozen=True)
class PageFilters:
    """What the user selected. ``end`` is "the selected month" of the Overview cards."""

    start: date | None = None  # first day of the first month of the period
    end: date | None = None  # first day of the last month of the period
    offices: tuple[str, ...] = ()  # empty = every office the user may see
    channel: Channel | None = None  # None = every channel

    @property
    def period(self) -> tuple[date, date] | None:
        if self.start is None or self.end is None:
            return None
        return (self.start, self.end)


def parse_month(raw: object) -> date | None:
    """``2026-10`` or ``2026-10-01`` → date(2026, 10, 1); anything else → None (never raises:
    a hand-edited or stale link must still open the page)."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    try:
        if len(text) == 7:
            return date(int(text[:4]), int(text[5:7]), 1)
        if len(text) == 10:
            return date.fromisoformat(text).replace(day=1)
    except ValueError:
        return None
    return None


def month_key(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def _as_list(raw: object) -> list[str]:
    """Offices arrive as ``a,b`` or, when a link repeats the key, as a list."""
    if raw is None:
        return []
    items: Sequence[object] = raw if isinstance(raw, list | tuple) else [raw]
    out: list[str] = []
    for item in items:
        if isinstance(item, str):
            out.extend(part.strip() for part in item.split(",") if part.strip())
    return out


def parse_channel(raw: object) -> Channel | None:
    if not isinstance(raw, str) or raw in ("", ALL_CHANNELS):
        return None
    try:
        return Channel(raw.strip().lower())
    except ValueError:
        return None


def parse_query(query: Mapping[str, object]) -> PageFilters:
    """The page filters from the keyword arguments Dash passes to ``layout(**query)``."""
    start = parse_month(query.get("from"))
    end = parse_month(query.get("to"))
    offices = tuple(dict.fromkeys(_as_list(query.get("office"))))
    return PageFilters(
        start=start, end=end, offices=offices, channel=parse_channel(query.get("channel"))
    )


def from_controls(start: object, end: object, offices: object, channel: object) -> PageFilters:
    """The page filters from the values of the filter-bar controls (callback inputs)."""
    return parse_query({"from": start, "to": end, "office": offices, "channel": channel})


def to_query(filters: PageFilters) -> str:
    """``?from=…&to=…&office=…&channel=…`` (empty string when nothing is set)."""
    params: list[tuple[str, str]] = []
    if filters.start is not None:
        params.append(("from", month_key(filters.start)))
    if filters.end is not None:
        params.append(("to", month_key(filters.end)))
    if filters.offices:
        params.append(("office", ",".join(filters.offices)))
    if filters.channel is not None:
        params.append(("channel", filters.channel.value))
    return "?" + urlencode(params, safe=",") if params else ""


def scoped_url(url: str, allowed_offices: set[str] | None) -> str:
    """``url`` with every office outside ``allowed_offices`` (None = no scope) dropped from
    its ``office`` key: a saved or shared link never names offices its user may not see."""
    parts = urlsplit(url)
    if allowed_offices is None or not parts.query:
        return url
    params: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "office":
            kept = [o for o in _as_list(value) if o in allowed_offices]
            if kept:
                params.append((key, ",".join(kept)))
        else:
            params.append((key, value))
    query = urlencode(params, safe=",")
    return parts.path + (f"?{query}" if query else "")


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def resolve(
    filters: PageFilters,
    months: Sequence[date],
    offices: Sequence[str],
    default_months: int = DEFAULT_TREND_MONTHS,
) -> PageFilters:
    """Make the filters valid for what is published and what the user may see.

    * no end month, or one outside the data → the latest published month;
    * no start → ``default_months`` back from the end; start after end → swapped;
    * offices the user may not see (or that do not exist) are dropped, never trusted.
    """
    available = sorted(set(months))
    if not available:
        return replace(filters, start=None, end=None, offices=())
    first, last = available[0], available[-1]
    end = filters.end if filters.end is not None and first <= filters.end <= last else last
    start = filters.start
    if start is None or not first <= start <= last:
        start = max(first, add_months(end, -(default_months - 1)))
    if start > end:
        start, end = end, start
    allowed = set(offices)
    kept = tuple(o for o in filters.offices if o in allowed)
    return PageFilters(start=start, end=end, offices=kept, channel=filters.channel)


def html_attrs(values: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes Dash takes as keywords but Python names cannot spell (``aria-*``,
    ``data-*``), typed for the components' keyword arguments."""
    return dict(values)


def preset_period(months: Sequence[date], n: int) -> tuple[date, date] | None:
    """The period of the preset ``n``: ``n`` months ending with the latest month of data (no
    earlier than the first). The same arithmetic as the browser's (assets/dashboard.js)."""
    if not months:
        return None
    first, last = min(months), max(months)
    return max(first, add_months(last, -(n - 1))), last


def active_preset(filters: PageFilters, months: Sequence[date]) -> int | None:
    """The preset the period is (None when it is another period)."""
    for n, _label in PRESETS:
        if filters.period is not None and filters.period == preset_period(months, n):
            return n
    return None


def preset_buttons(filters: PageFilters, months: Sequence[date]) -> html.Div:
    active = active_preset(filters, months)
    return html.Div(
        [
            html.Span("Period", className="filter-label"),
            html.Div(
                [
                    html.Button(
                        label,
                        id={"type": PRESET_BUTTON, "months": n},
                        n_clicks=0,
                        type="button",
                        className="preset-button" + (" preset-active" if n == active else ""),
                        title=f"The last {n} month{'s' if n > 1 else ''} of data",
                        **html_attrs({"aria-pressed": "true" if n == active else "false"}),
                    )
                    for n, label in PRESETS
                ],
                className="preset-buttons",
            ),
        ],
        className="filter-item filter-presets",
        role="group",
        **html_attrs({"aria-label": "Period presets"}),
    )


def cross_filter_id(dim: str, name: str, field: str = "customdata") -> dict[str, str]:
    """The id of a chart whose clicked point filters the page to its office or lane
    (``dim``); ``field`` says where the point holds the office code or lane."""
    return {"type": CROSS_FILTER, "dim": dim, "field": field, "name": name}


def tag_lanes(figure: Any) -> Any:
    """Each trace of one lane (its name starts with the lane: ``red``, ``red median``) gets the
    lane as its points' customdata, for a ``cross_filter_id("channel", …)`` chart."""
    lanes = {c.value for c in Channel}
    for trace in figure.data:
        name = str(getattr(trace, "name", "") or "").split(" ")[0].lower()
        if name in lanes and getattr(trace, "customdata", None) is None:
            count = len(trace.x) if getattr(trace, "x", None) is not None else 0
            trace.customdata = [name] * count
    return figure


def labelled(label: str, control: Any, width_class: str = "") -> html.Label:
    """``control`` with its label, laid out as an item of the filter bar (pages use it for
    their own controls too); ``width_class`` sizes it (``filter-month``, ``filter-offices``)."""
    return html.Label(
        [html.Span(label, className="filter-label"), control],
        className=f"filter-item {width_class}" if width_class else "filter-item",
    )


def filter_bar(
    filters: PageFilters,
    months: Sequence[date],
    offices: Sequence[str],
    *,
    show_channel: bool = True,
    default_period: tuple[date, date] | None = None,
) -> html.Div:
    """The filter controls, initialised from ``filters`` (already :func:`resolve`-d).

    ``offices`` are only those the user may see, so a scoped user is never offered others.
    """
    month_options = [
        {"label": m.strftime("%b %Y"), "value": month_key(m)} for m in sorted(months, reverse=True)
    ]
    channel_options = [{"label": "All channels", "value": ALL_CHANNELS}] + [
        {"label": c.value.capitalize(), "value": c.value} for c in Channel
    ]

    def month_picker(label: str, picker_id: str, month: date | None) -> html.Label:
        picker = dcc.Dropdown(
            id=picker_id,
            options=month_options,
            clearable=False,
            searchable=False,
            value=month_key(month) if month else None,
        )
        return labelled(label, picker, "filter-month")

    items: list[Any] = [
        preset_buttons(filters, months),
        month_picker("From", FROM_ID, filters.start),
        month_picker("To (selected month)", TO_ID, filters.end),
        labelled(
            "Offices",
            dcc.Dropdown(
                id=OFFICES_ID,
                options=[{"label": o, "value": o} for o in offices],
                multi=True,
                value=list(filters.offices),
                placeholder="All offices",
            ),
            "filter-offices",
        ),
    ]
    channel_control = dcc.Dropdown(
        id=CHANNEL_ID,
        options=channel_options,
        clearable=False,
        searchable=False,
        value=filters.channel.value if filters.channel else ALL_CHANNELS,
    )
    if show_channel:
        items.append(labelled("Channel", channel_control, "filter-channel"))
    else:
        # Kept in the layout (hidden) so the URL keeps the channel when moving between pages.
        items.append(html.Div(channel_control, hidden=True))
    items.append(html.Div(id=URL_SYNC_ID, hidden=True))
    # The period a link without from/to opens with: the browser restores it when the back
    # button returns to such a link (assets/dashboard.js).
    defaults: dict[str, Any] = (
        {
            "data-default-from": month_key(default_period[0]),
            "data-default-to": month_key(default_period[1]),
        }
        if default_period
        else {}
    )
    return html.Div(items, id=BAR_ID, className="filter-bar", role="search", **defaults)


def register_url_sync() -> None:
    """Register the client-side function that writes the filters into the address bar.

    Called by one page module (home.py) at import: Dash re-imports page modules for every app
    it builds, so each app gets exactly one copy of this callback (a module imported once, like
    this one, would give it to the first app only).
    """
    clientside_callback(
        ClientsideFunction(namespace="customsKpi", function_name="syncFilters"),
        Output(URL_SYNC_ID, "children"),
        *(Input(i, "value") for i in FILTER_INPUT_IDS),
        # Only the user's changes go into the address bar, not the defaults a page opens with
        # (they would follow the user to other pages as if chosen).
        prevent_initial_call=True,
    )
    # A preset sets From and To in the browser (no data involved): n months ending with the
    # latest month the To picker offers; the filters' usual path then redraws and syncs the URL.
    clientside_callback(
        ClientsideFunction(namespace="customsKpi", function_name="applyPreset"),
        Output(FROM_ID, "value"),
        Output(TO_ID, "value"),
        Input({"type": PRESET_BUTTON, "months": ALL}, "n_clicks"),
        State(TO_ID, "options"),
        prevent_initial_call=True,
    )
    # Cross-filtering: a click on an office or a lane in a tagged chart (cross_filter_id) picks
    # it in the filter bar, so the page and the URL show it; the filter bar's chip (✕) or the
    # browser's back button return to the view before.
    clientside_callback(
        ClientsideFunction(namespace="customsKpi", function_name="crossFilter"),
        Output(OFFICES_ID, "value"),
        Output(CHANNEL_ID, "value"),
        Input({"type": CROSS_FILTER, "dim": ALL, "field": ALL, "name": ALL}, "clickData"),
        State(OFFICES_ID, "options"),
        prevent_initial_call=True,
    )
    # Which preset is pressed follows the period, however it was chosen.
    clientside_callback(
        ClientsideFunction(namespace="customsKpi", function_name="markPreset"),
        Output({"type": PRESET_BUTTON, "months": ALL}, "className"),
        Input(FROM_ID, "value"),
        Input(TO_ID, "value"),
        State(TO_ID, "options"),
        State({"type": PRESET_BUTTON, "months": ALL}, "id"),
        prevent_initial_call=True,
    )


# --- Page view choices in the URL ---------------------------------------------------------------
# Beyond the global filters, each page keeps its own view choices (the Overview's trend KPI, the
# What-if scenario, the Profiles grid's sort and filters, toggles) in the query string under
# keys of its own: ``layout(**query)`` reads them back, so a reload or a shared link restores
# the view. Only the global filter keys follow the user to other pages.


def view_param(key: str, default: Any = None) -> dcc.Store:
    """The hidden marker :func:`sync_view_param` writes ``key`` through (put it in the page's
    layout); a value equal to ``default`` is left out of the URL."""
    return dcc.Store(id={"type": VIEW_PARAM, "key": key}, data={"key": key, "default": default})


def sync_view_param(key: str, component_id: Any, prop: str, function: str = "syncParam") -> None:
    """Write ``component_id.prop`` into the URL's ``key`` when the user changes it (lists are
    joined with ``,``, objects JSON-encoded; ``function="syncGridSort"`` for a grid's
    ``columnState``: its sort as ``col:asc,col2:desc``). Called by the page module at import."""
    clientside_callback(
        ClientsideFunction(namespace="customsKpi", function_name=function),
        Output({"type": VIEW_PARAM, "key": key}, "data"),
        Input(component_id, prop),
        State({"type": VIEW_PARAM, "key": key}, "data"),
        prevent_initial_call=True,
    )


def json_param(raw: object, kind: type = dict) -> Any:
    """A JSON-encoded URL value (a grid's filter model, its sort) or None when absent or not
    valid JSON of ``kind``: a hand-edited link still opens the page."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 4000:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, kind) else None


def choice_param(raw: object, allowed: Sequence[str], default: str) -> str:
    """A URL value that must be one of ``allowed`` (else ``default``)."""
    return raw if isinstance(raw, str) and raw in allowed else default


def parse_sort(raw: object) -> list[tuple[str, str]]:
    """``col:asc,col2:desc`` (a grid's sort in the URL) → [(col, asc), (col2, desc)]."""
    out: list[tuple[str, str]] = []
    for item in _as_list(raw):
        col, _, direction = item.partition(":")
        if col and direction in ("asc", "desc") and len(col) <= 64:
            out.append((col, direction))
    return out


def sorted_columns(columns: Sequence[Mapping[str, Any]], raw: object) -> list[dict[str, Any]]:
    """Grid column definitions with the URL's sort (:func:`parse_sort`) applied (unknown
    columns ignored); without one in the URL, the definitions' own sort."""
    sort = parse_sort(raw)
    if not sort:
        return [dict(c) for c in columns]
    order = {col: (direction, i) for i, (col, direction) in enumerate(sort)}
    out = []
    for column in columns:
        c = {k: v for k, v in column.items() if k not in ("sort", "sortIndex")}
        key = c.get("colId") or c.get("field")
        if key in order:
            c["sort"], c["sortIndex"] = order[key]
        out.append(c)
    return out


# --- What is filtered (for empty states) ----------------------------------------------------------
# The filters of the content being drawn and the months published: set by the content callback
# (dashboard.pages._frame) so an empty state says what is actually filtered.
SHOWN: ContextVar[tuple[PageFilters, tuple[date, ...]] | None] = ContextVar(
    "customs_kpi_shown_filters", default=None
)


def _month_text(month: date) -> str:
    return month.strftime("%b %Y")


def empty_hint(filters: PageFilters | None = None, months: Sequence[date] = ()) -> str:
    """What an empty state suggests, from what is filtered: only the narrowing actually
    chosen is named (a shorter period than the data, offices, a channel); nothing filtered
    says so instead of "widen the period"."""
    if filters is None:
        shown = SHOWN.get()
        if shown is None:
            return "Widen the period, or choose other offices or channels."
        filters, months = shown
    parts: list[str] = []
    if filters.period is not None and months:
        first, last = min(months), max(months)
        start, end = filters.period
        if (start, end) != (first, last):
            span = (
                _month_text(start) if start == end else f"{_month_text(start)} – {_month_text(end)}"
            )
            parts.append(
                f"the period {span} (the data runs {_month_text(first)} – "
                f"{_month_text(last)}: try a longer period)"
            )
    if filters.offices:
        parts.append(
            f"office{'s' if len(filters.offices) > 1 else ''} "
            f"{', '.join(filters.offices)} (clear them for every office)"
        )
    if filters.channel is not None:
        parts.append(f"the {filters.channel.value} channel (choose All channels)")
    if not parts:
        return "Nothing is filtered out: the published data holds nothing for this view."
    return "Filtered to " + "; ".join(parts) + "."

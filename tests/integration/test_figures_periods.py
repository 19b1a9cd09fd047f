"""Every figure of every page, for a one-month, a three-month and a 24-month period, on a
published version (24 months of known declarations), plus empty and all-zero data: ticks and
ranges must look right (issue 13, point 2).

Checked on each figure: a date axis is a monthly axis (month/quarter/year ticks, never a time
of day) whose range holds every point; count axes have integer ticks from zero; explicit ticks
read differently; annotations and event lines sit inside the x range; values are not clipped.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from types import ModuleType
from typing import Any

import pages_published
import plotly.graph_objects as go
import polars as pl
import pytest
from argon2 import PasswordHasher

from appstate.passwords import Passwords
from appstate.roles import Role
from customs_kpi.published import current_version
from customs_kpi.settings import load_settings
from dashboard import filters as flt
from dashboard.components import figures
from dashboard.data import PageContext, Viewer, build_context
from kpis.definitions import Unit
from kpis.grain import add_months

PAGES = ("home", "profile_detail", "clearance", "offices", "overlap", "changes", "whatif")
MONTHS = 24
FIRST = pages_published.FIRST_MONTH
LAST = add_months(FIRST, MONTHS - 1)
SUB_DAY = ("%H", "%M", "%S", "%L", "%f")


# --- What a figure must satisfy ---------------------------------------------------------------
def _fmt(value: float, tickformat: str) -> str:
    """The tick label d3 would print for the formats the helpers use."""
    if tickformat.endswith("%"):
        decimals = int(tickformat.strip(".,%") or 0)
        return f"{value * 100:.{decimals}f}%"
    if tickformat in (",d", ".0f", ",.0f"):
        return f"{round(value):,}"
    decimals = int(tickformat.strip(",.f") or 0)
    return f"{value:,.{decimals}f}"


def _day(value: Any) -> date:
    return date.fromisoformat(str(value)[:10])


def _axes(fig: go.Figure, letter: str) -> dict[str, Any]:
    layout = fig.layout.to_plotly_json()
    return {key: layout[key] for key in layout if key.startswith(f"{letter}axis")}


def _ref(name: str) -> str:
    """ "xaxis2" → "x2" (a trace's and an annotation's axis reference)."""
    return name[0] + name[5:]


def check_figure(fig: go.Figure, where: str) -> None:
    xaxes = _axes(fig, "x")
    for name, axis in xaxes.items():
        if axis.get("type") != "date":
            continue
        assert axis.get("dtick") in ("M1", "M3", "M12"), (where, name, axis.get("dtick"))
        assert not any(code in axis.get("tickformat", "") for code in SUB_DAY), (where, axis)
        low, high = (_day(v) for v in axis["range"])
        assert low.day == 1 and high.day == 1 and low < high, (where, axis["range"])
        for trace in fig.data:
            if (getattr(trace, "xaxis", None) or "x") != _ref(name) or trace.x is None:
                continue
            for x in trace.x:
                if x is not None and not isinstance(x, str | int | float):
                    assert low <= _day(x) < high, (where, trace.name, x, axis["range"])
        for annotation in fig.layout.annotations:
            if annotation.xref == _ref(name):
                assert low <= _day(annotation.x) < high, (where, annotation.text)
        for shape in fig.layout.shapes:
            if shape.xref == _ref(name):
                assert low <= _day(shape.x0) < high, (where, shape.x0)
    for name, axis in {**xaxes, **_axes(fig, "y")}.items():
        ticks = axis.get("tickvals")
        if ticks is None:
            continue
        fmt = axis.get("tickformat", "")
        labels = [_fmt(t, fmt) for t in ticks]
        assert len(set(labels)) == len(labels), (where, name, labels)
        if fmt == ",d":  # a count axis: integers from zero
            assert all(float(t).is_integer() and t >= 0 for t in ticks), (where, name, ticks)
            assert axis["range"][0] == 0, (where, name, axis["range"])
        low, high = axis["range"]
        letter = name[0]
        for trace in fig.data:
            if (getattr(trace, f"{letter}axis", None) or letter) != _ref(name):
                continue
            if trace.type == "bar" and fig.layout.barmode == "stack":
                continue  # stacked: the helper fits the axis to the stack totals
            if trace.type == "bar" and (trace.orientation == "h") != (letter == "x"):
                continue
            if (trace.type == "scatter" and trace.fill == "toself") or trace.type == "heatmap":
                continue
            values = getattr(trace, letter)
            for v in values if values is not None else ():
                if isinstance(v, int | float):
                    assert low - 1e-9 <= v <= high + 1e-9, (where, name, trace.name, v, axis)
    for trace in fig.data:
        colorbar = getattr(getattr(trace, "colorbar", None), "tickvals", None)
        if colorbar is not None:
            labels = [_fmt(t, trace.colorbar.tickformat) for t in colorbar]
            assert len(set(labels)) == len(labels), (where, labels)


def graphs(component: Any) -> Iterator[go.Figure]:
    """The figures of every dcc.Graph in a Dash component tree."""
    if isinstance(component, list | tuple):
        for child in component:
            yield from graphs(child)
        return
    figure = getattr(component, "figure", None)
    if figure is not None:
        yield figure if isinstance(figure, go.Figure) else go.Figure(figure)
    children = getattr(component, "children", None)
    if children is not None and not isinstance(children, str | int | float):
        yield from graphs(children)


# --- Fixtures -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModuleType]:
    from dashboard.app import create_app

    settings = load_settings(environ={}, home=tmp_path_factory.mktemp("figures-modules"))
    create_app(
        settings, passwords=Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    )
    return {name: sys.modules[f"dashboard.pages.{name}"] for name in PAGES}


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> PageContext:
    settings = load_settings(environ={}, home=tmp_path_factory.mktemp("figures-home"))
    settings.ensure_home()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pages_published, "MONTHS", MONTHS)
        original = pages_published.make_declarations
        patch.setattr(pages_published, "make_declarations", lambda: original(per_month=240))
        pages_published.build(settings)
    return build_context(settings, Viewer("tester", Role.ADMIN, None), current_version(settings))


PERIODS = {"1-month": 1, "3-months": 3, "24-months": 24}


def _page_figures(
    pages: dict[str, ModuleType], ctx: PageContext, filters: flt.PageFilters
) -> Iterator[tuple[str, go.Figure]]:
    from kpis.whatif import Action

    contents = {
        "home": lambda: pages["home"].content(ctx, filters),
        "profile_detail": lambda: pages["profile_detail"].content(ctx, filters, "P-MID"),
        "clearance": lambda: pages["clearance"].content(ctx, filters, "release"),
        "offices": lambda: pages["offices"].content(ctx, filters),
        "overlap": lambda: pages["overlap"].content(ctx, filters, 1),
        "changes": lambda: pages["changes"].content(ctx, filters, 6, ["change_log", "decision"]),
        "whatif": lambda: pages["whatif"].content(
            ctx, filters, pages["whatif"].scenario_for(("P-POOR",), Action.RETIRE.value, 50)
        ),
    }
    for page, build in contents.items():
        for i, fig in enumerate(graphs(build())):
            yield f"{page}#{i}", fig


@pytest.mark.parametrize("period", PERIODS)
def test_every_page_figure_for_each_period(
    pages: dict[str, ModuleType], ctx: PageContext, period: str
) -> None:
    months = PERIODS[period]
    filters = ctx.resolve(replace(flt.PageFilters(), start=add_months(LAST, 1 - months), end=LAST))
    seen = 0
    dticks = set()
    for where, fig in _page_figures(pages, ctx, filters):
        check_figure(fig, f"{period} {where}")
        seen += 1
        dticks |= {a.get("dtick") for a in _axes(fig, "x").values() if a.get("type") == "date"}
    assert seen >= 12
    assert dticks == {figures.month_dtick(months)}


def test_every_page_figure_with_no_data(pages: dict[str, ModuleType], ctx: PageContext) -> None:
    """A lane with nothing in it (blue: post-clearance audit, none in the known data) and a
    channel filter: empty and all-zero frames everywhere."""
    from kpis.domain import Channel

    filters = ctx.resolve(
        replace(flt.PageFilters(), start=add_months(LAST, -2), end=LAST, channel=Channel.GREEN)
    )
    for where, fig in _page_figures(pages, ctx, filters):
        check_figure(fig, f"green {where}")


# --- Hand-made frames: one point, all zero, empty, long labels -----------------------------------
def _monthly(values: list[float | None], **extra: list[Any]) -> pl.DataFrame:
    months = [add_months(FIRST, i) for i in range(len(values))]
    return pl.DataFrame({"month": months, "value": values, **extra})


def test_one_month_trend_is_a_marker_with_whiskers_on_a_month_axis() -> None:
    frame = _monthly([0.2], ci_low=[0.1], ci_high=[0.3], sufficient=[True])
    fig = figures.trend_figure(frame, unit=Unit.PERCENT, x="month", band=True)
    check_figure(fig, "one month")
    (trace,) = fig.data  # no band polygon of loose dots
    assert trace.mode == "markers" and trace.error_y.array == pytest.approx((0.1,))
    assert fig.layout.xaxis.range == ("2025-01-01", "2025-02-01")
    assert fig.layout.xaxis.tickformat == "%b %Y"


@pytest.mark.parametrize(("months", "dtick"), [(1, "M1"), (3, "M1"), (14, "M1"), (24, "M3"),
                                                (60, "M12")])  # fmt: skip
def test_month_ticks_by_span(months: int, dtick: str) -> None:
    frame = _monthly([1.0] * months)
    fig = figures.trend_figure(frame, unit=Unit.COUNT, x="month")
    check_figure(fig, f"{months} months")
    assert fig.layout.xaxis.dtick == dtick


def test_all_zero_counts_give_a_zero_to_one_integer_axis() -> None:
    frame = pl.DataFrame(
        {"month": [FIRST, FIRST], "source": ["profile", "random"], "numerator": [0, 0]}
    )
    fig = figures.stacked_bars(frame, x="month", series="source", y="numerator", unit=Unit.COUNT)
    check_figure(fig, "zero")
    assert fig.layout.yaxis.tickvals == (0, 1) and fig.layout.yaxis.tickformat == ",d"


@pytest.mark.parametrize(
    ("high", "ticks"),
    [(1.6, [0, 1, 2]), (109_901, [0, 20_000, 40_000, 60_000, 80_000, 100_000, 120_000]),
     (4, [0, 1, 2, 3, 4])],
)  # fmt: skip
def test_count_ticks_are_round_integers(high: float, ticks: list[int]) -> None:
    assert figures.value_ticks(Unit.COUNT, [0, high])["tickvals"] == ticks


def test_percent_ticks_have_the_decimals_their_step_needs() -> None:
    small = figures.value_ticks(Unit.PERCENT, [0.0, 0.012])
    labels = [_fmt(t, small["tickformat"]) for t in small["tickvals"]]
    assert len(set(labels)) == len(labels) and labels[-1] in ("1.2%", "1.4%", "1.25%")
    assert figures.value_ticks(Unit.PERCENT, [0.0, 0.6])["tickformat"] == ".0%"


def test_an_event_after_the_period_is_drawn_at_the_edge() -> None:
    frame = _monthly([0.1, 0.2, 0.3])
    fig = figures.trend_figure(frame, unit=Unit.PERCENT, x="month")
    rationale = "decision: retire <b>because</b> " + "the hit rate stayed low " * 5
    figures.add_events(fig, [(date(2030, 1, 5), rationale), (date(2025, 2, 10), "modified")])
    check_figure(fig, "events")
    edge, inside = fig.layout.annotations
    assert edge.x == "2025-03-31" and edge.text.endswith("→") and "2030-01-05" in edge.text
    assert len(edge.text) < 80 and "&lt;b&gt;" in edge.hovertext and "<b>" not in edge.text
    assert inside.x.startswith("2025-02-10") and len(fig.layout.shapes) == 1


def test_scatter_names_only_the_largest_and_fits_its_axes() -> None:
    frame = pl.DataFrame(
        {
            "office": [f"OFF{i:02d}" for i in range(20)],
            "inspection_rate": [0.80 + i * 0.005 for i in range(20)],
            "hit_rate": [0.30 + i * 0.002 for i in range(20)],
            "declarations": list(range(100, 2100, 100)),
        }
    )
    fig = figures.scatter_figure(frame, x="inspection_rate", y="hit_rate", label="office",
                                 size="declarations", x_unit=Unit.PERCENT, y_unit=Unit.PERCENT,
                                 x_title="inspection", y_title="hit rate")  # fmt: skip
    check_figure(fig, "scatter")
    named = [t for t in fig.data[0].text if t]
    assert len(named) == figures.SCATTER_LABELS and "OFF19" in named and "OFF00" not in named
    assert fig.layout.xaxis.range[0] > 0.7 and fig.layout.yaxis.range[0] > 0.25


def test_long_labels_are_shortened_and_escaped() -> None:
    label = figures.short_label("<script>" + "x " * 50, 20)
    assert len(label) <= 30 and label.endswith("…") and "<script>" not in label
    wrapped = figures.wrap_label("one two three four five six seven eight", 10, 2)
    assert wrapped.count("<br>") == 1 and wrapped.endswith("…")


def test_histogram_percentiles_are_rounded_to_the_bucket_resolution() -> None:
    assert figures.histogram_round(12.34) == 12
    assert figures.histogram_round(1.234) == 1.2
    assert figures.histogram_round(131.0) == 130
    assert figures.histogram_round(None) is None and figures.histogram_round(0.0) == 0.0


def test_lane_order_and_a_stage_palette_apart_from_lanes() -> None:
    from dashboard.components import palette

    assert palette.CHANNEL_ORDER == ("green", "yellow", "red", "blue")
    lanes = set(palette.CHANNEL_COLOURS.values())
    assert not lanes & set(palette.STAGE_SEQUENCE)


def test_zero_hit_sparkline_is_the_lowest_bar() -> None:
    from dashboard.components.sparkline import BARS, spark_text

    assert spark_text([0.0, 0.0, 0.0]) == BARS[0] * 3
    assert spark_text([0.2, 0.2]) == BARS[len(BARS) // 2] * 2

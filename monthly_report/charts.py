"""Charts of the PDF: plotly figures built from the report tables, rendered offline to SVG.

Rendering uses kaleido 1.x, which drives the local Chromium (Debian's /usr/bin/chromium); no
network. One kaleido server is started for all the figures of a report (starting Chromium per
image costs seconds each). When Chromium is missing or fails, the report is still produced: the
PDF says the charts could not be drawn and the same numbers are in its tables.
"""

from __future__ import annotations

import base64
import logging
import threading
import warnings

import plotly.graph_objects as go
import polars as pl

from kpis.formatting import plot_text, plot_texts
from monthly_report.content import ReportContent

log = logging.getLogger(__name__)

# Okabe–Ito palette (colour-blind safe); channels keep their conventional hue.
CHANNEL_COLOURS = {"green": "#009E73", "yellow": "#E69F00", "red": "#D55E00", "blue": "#0072B2"}
SERIES = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#56B4E9", "#E69F00")
FONT = "DejaVu Sans"
WIDTH, HEIGHT = 760, 330

# kaleido's sync server is a process-wide singleton: one report renders at a time.
_render_lock = threading.Lock()


def _layout(fig: go.Figure, title: str, y_title: str, percent: bool = False) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 15}},
        font={"family": FONT, "size": 11, "color": "#222"},
        margin={"l": 60, "r": 20, "t": 45, "b": 45},
        plot_bgcolor="white",
        paper_bgcolor="white",
        legend={"orientation": "h", "y": -0.18},
        yaxis={"title": y_title, "gridcolor": "#e5e5e5", "zeroline": False},
    )
    if percent:
        fig.update_yaxes(tickformat=".1%")
    return fig


def _rows(frame: pl.DataFrame, kpi_id: str) -> pl.DataFrame:
    return frame.filter(pl.col("kpi_id") == kpi_id)


def build_figures(content: ReportContent) -> dict[str, go.Figure]:
    """Name → figure; every figure plots a table that is also in the workbook. Text from the
    tables (channels, KPI labels) is escaped (:func:`kpis.formatting.plot_text`): Plotly
    renders a subset of HTML, links included."""
    figs: dict[str, go.Figure] = {}
    trend = content.tables["trend_12_months"]
    fig = go.Figure()
    for i, kpi_id in enumerate(("physical_inspection_rate", "hit_rate")):
        rows = _rows(trend, kpi_id)
        if rows.height:
            fig.add_trace(
                go.Scatter(
                    x=rows["month"].to_list(),
                    y=rows["value"].to_list(),
                    name=plot_text(rows["kpi"][0]),
                    mode="lines+markers",
                    line={"color": SERIES[i], "width": 2},
                )
            )
    figs["trend"] = _layout(fig, "Inspection rate and hit rate, last 12 months", "", True)

    by_channel = content.tables["kpis_by_channel"]
    mix = _rows(by_channel, "channel_rates")
    figs["channel_mix"] = _layout(
        go.Figure(
            go.Bar(
                x=plot_texts(mix["channel"].to_list()),
                y=mix["value"].to_list(),
                marker_color=[CHANNEL_COLOURS.get(c, "#999") for c in mix["channel"]],
                text=[f"{v:.1%}" if v is not None else "" for v in mix["value"]],
                textposition="outside",
            )
        ),
        "Share of declarations per control channel",
        "share",
        True,
    )

    hits = _rows(by_channel, "hit_rate").filter(pl.col("value").is_not_null())
    figs["hit_rate_by_channel"] = _layout(
        go.Figure(
            go.Bar(
                x=plot_texts(hits["channel"].to_list()),
                y=hits["value"].to_list(),
                marker_color=[CHANNEL_COLOURS.get(c, "#999") for c in hits["channel"]],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": (hits["ci_high"] - hits["value"]).to_list(),
                    "arrayminus": (hits["value"] - hits["ci_low"]).to_list(),
                },
            )
        ),
        "Hit rate per channel (Wilson 95 % interval)",
        "hit rate",
        True,
    )

    times = content.tables["clearance_times"].filter(pl.col("metric") == "release")
    fig = go.Figure()
    for i, (col, name) in enumerate((("median_hours", "median"), ("p90_hours", "90th pct."))):
        fig.add_trace(
            go.Bar(
                x=plot_texts(times["channel"].to_list()),
                y=times[col].to_list(),
                name=name,
                marker_color=SERIES[i],
            )
        )
    fig.update_layout(barmode="group")
    figs["release_times"] = _layout(fig, "Release time per channel (lodgement → release)", "hours")
    return figs


RENDER_ATTEMPTS = 3


def _transient(exc: Exception) -> bool:
    """A failure worth another attempt: not a missing Chromium (that stays missing)."""
    return "no chromium" not in str(exc).lower()


def render_svgs(figures: dict[str, go.Figure]) -> tuple[dict[str, str], str]:
    """Name → ``data:`` URI of the SVG, and a note for the manifest ("rendered" or why not)."""
    if not figures:
        return {}, "no chart"
    try:
        import kaleido
    except ImportError as exc:  # pragma: no cover - kaleido is a dependency
        return {}, f"not rendered: kaleido unavailable ({exc})"
    out: dict[str, str] = {}
    with _render_lock, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kaleido warns that kopts are ignored with a server
        # On a busy machine kaleido's page can answer before its scripts are ready
        # ("ReferenceError: kaleido_scopes is not defined"): a failed attempt restarts the
        # server and renders what is left, up to RENDER_ATTEMPTS times.
        for attempt in range(1, RENDER_ATTEMPTS + 1):
            try:
                kaleido.start_sync_server(silence_warnings=True)
                try:
                    for name, fig in figures.items():
                        if name not in out:
                            svg = fig.to_image(format="svg", width=WIDTH, height=HEIGHT)
                            out[name] = (
                                "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
                            )
                finally:
                    kaleido.stop_sync_server(silence_warnings=True)
                break
            except Exception as exc:  # Chromium missing or crashed: the report goes on without
                if attempt < RENDER_ATTEMPTS and _transient(exc):
                    log.info("chart rendering failed (attempt %d), retrying: %s", attempt, exc)
                    continue
                log.warning("charts not rendered: %s", exc)
                return {}, f"not rendered: {type(exc).__name__}: {exc}"
    return out, f"rendered locally with kaleido {getattr(kaleido, '__version__', '')}".strip()

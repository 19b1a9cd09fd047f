"""The report's PDF report: HTML laid out here, rendered offline by WeasyPrint.

Every number is formatted from the report tables with :mod:`kpis.formatting`, the functions
the pages use, so the report reads exactly like the dashboard ("insufficient data" below the
minimum sample, never 0 % or 100 %). Fonts are the DejaVu family installed by the project's
setup (``make browser-deps``); nothing is fetched from the network.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from customs_kpi.clock import local_text
from kpis import catalogue
from kpis.definitions import KPI, Unit
from kpis.durations import DURATIONS
from kpis.formatting import INSUFFICIENT, NO_DATA, format_interval, format_number, format_value
from kpis.summary import lift_text, summary_sentences
from kpis.targets import TargetStatus, status_label
from monthly_report.charts import build_figures, render_svgs
from monthly_report.content import ReportContent
from monthly_report.workbook import SHEETS

CHART_CAPTIONS = {
    "trend": "Physical-inspection rate and hit rate over the last 12 months (sheet "
    "trend_12_months).",
    "channel_mix": "Share of declarations per control channel (sheet kpis_by_channel).",
    "hit_rate_by_channel": "Hit rate per channel with its Wilson 95 % interval (sheet "
    "kpis_by_channel).",
    "release_times": "Median and 90th percentile of the release time per channel (sheet "
    "clearance_times).",
}
# CSS class of a headline status (the content carries the words of kpis.targets).
STATUS_CLASSES: dict[str, str] = {
    status_label(TargetStatus.ON): "on",
    status_label(TargetStatus.NEAR): "near",
    status_label(TargetStatus.OFF): "off",
}
# Wide office table of the report: KPI id → column header.
OFFICE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("declarations", "Declarations"),
    ("physical_inspection_rate", "% inspected"),
    ("hit_rate", "Hit rate"),
    ("seizure_rate", "Seizure rate"),
    ("revenue_total", "Revenue"),
    ("revenue_per_control", "Revenue / control"),
    ("rerouting_rate", "Rerouting"),
    ("release_time_median", "Median release"),
    ("release_time_p90", "P90 release"),
    ("released_within_1h", "Released ≤ 1 h"),
)
CHANNEL_COLUMNS: tuple[tuple[str, str], ...] = (
    ("declarations", "Declarations"),
    ("channel_rates", "Share"),
    ("hit_rate", "Hit rate"),
    ("seizure_rate", "Seizure rate"),
    ("revenue_total", "Revenue"),
    ("revenue_per_control", "Revenue / control"),
    ("release_time", "Mean release"),
    ("release_time_median", "Median release"),
    ("release_time_p90", "P90 release"),
)

CSS = """
@page { size: A4 landscape; margin: 15mm 15mm 15mm 15mm; font-family: "DejaVu Sans", sans-serif;
  @bottom-left { content: string(doc-title); font-size: 8pt; color: #555; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 8pt;
                  color: #555; } }
@page :first { @bottom-left { content: none; } }
body { font-family: "DejaVu Sans", sans-serif; font-size: 9pt; color: #222; }
h1 { font-size: 22pt; margin: 0 0 6mm 0; string-set: doc-title content(); }
h2 { font-size: 14pt; margin: 0 0 3mm 0; border-bottom: 1px solid #8899aa; }
h3 { font-size: 11pt; margin: 5mm 0 2mm 0; }
section { page-break-before: always; }
.cover { padding-top: 12mm; }
.cover p.summary { font-size: 11pt; line-height: 1.45; margin: 4mm 0 6mm 0; max-width: 240mm; }
table.headline td:first-child, table.headline th:first-child { width: 70mm; }
.cover dl { display: grid; grid-template-columns: 45mm auto; row-gap: 2mm; font-size: 11pt; }
.cover dt { font-weight: bold; }
.status { display: inline-block; padding: 1mm 3mm; border: 1px solid #333; font-weight: bold; }
.notice { margin-top: 10mm; padding: 4mm; border: 2px solid #D55E00; background: #fff4ec;
          font-size: 11pt; }
table { border-collapse: collapse; width: 100%; margin-bottom: 4mm; }
thead { display: table-header-group; }
tr { page-break-inside: avoid; }
th { background: #DDE4EE; text-align: left; padding: 1.2mm 1.5mm; font-size: 8pt; }
td { border-bottom: 0.5pt solid #ccc; padding: 1mm 1.5mm; vertical-align: top; }
td.n { text-align: right; white-space: nowrap; }
td.ins { text-align: right; color: #777; font-size: 7pt; }
section.wide table { font-size: 8pt; }
.on { color: #006b4f; } .near { color: #8f6100; } .off { color: #b34700; font-weight: bold; }
.muted { color: #666; }
figure { margin: 0 0 5mm 0; page-break-inside: avoid; }
figure img { width: 100%; }
figcaption { font-size: 8pt; color: #555; }
p.small, .small td { font-size: 8pt; }
"""


# A hyphen before a digit that starts a number ("-0.4", "z = -3.21"), not one inside a date,
# an id or a range ("2025-12", "P-03", "2-3"): the report prints one minus sign, U+2212.
_HYPHEN_MINUS = re.compile(r"(?<![\w.)\]])-(?=\d)")
MINUS = "\u2212"


def typeset(text: str) -> str:
    """``text`` with its minus signs as U+2212 (the one minus sign of the report)."""
    return _HYPHEN_MINUS.sub(MINUS, text)


def esc(value: Any) -> str:
    return html.escape(typeset("" if value is None else str(value)))


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[bool] | None = None
) -> str:
    """An HTML table; cells are already-formatted text (escaped here)."""
    numeric = numeric or [False] * len(headers)
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="{_num_class(c)}">{esc(c)}</td>' if n else f"<td>{esc(c)}</td>"
            for c, n in zip(row, numeric, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _num_class(text: str) -> str:
    # "insufficient data" may wrap (a numeric cell may not): it keeps wide tables on the page.
    return "ins" if text == INSUFFICIENT else "n"


def _cell(kpi: KPI, row: dict[str, Any] | None) -> str:
    if row is None:
        return NO_DATA
    return format_value(row.get("value"), kpi.unit, sufficient=row.get("sufficient"))


def _signed(kpi: KPI, change: float | None) -> str:
    """A change as the Overview prints it: "+1.2 pp", "−1,050", "±0.0 pp" when it rounds to
    nothing (never "-0.0"); percentages in percentage points."""
    if change is None:
        return NO_DATA
    if kpi.unit is Unit.PERCENT:
        text = f"{abs(change) * 100:.1f} pp"
    else:
        text = format_number(kpi.unit, abs(change))
    if not any(ch in "123456789" for ch in text):
        return "±" + text
    return ("+" if change > 0 else MINUS) + text


def headline_html(content: ReportContent) -> str:
    rows = []
    for r in content.headline.iter_rows(named=True):
        kpi = catalogue.get(r["kpi_id"])
        value = format_value(r["value"], kpi.unit, sufficient=r["sufficient"])
        parts = ""
        if r["denominator"] is not None and kpi.unit is Unit.PERCENT:
            parts = f"{r['numerator']:,.0f} / {r['denominator']:,.0f}"
        target = format_number(kpi.unit, r["target"]) if r["target"] is not None else NO_DATA
        status_cls = STATUS_CLASSES.get(r["status"], "muted")
        interval = format_interval(r["ci_low"], r["ci_high"], kpi.unit, missing="")
        rows.append(
            "<tr>"
            f"<td>{esc(kpi.label)}</td>"
            f'<td class="n"><b>{esc(value)}</b></td>'
            f'<td class="n">{esc(parts)}</td>'
            f'<td class="n">{esc(interval)}</td>'
            f'<td class="n">{esc(target)}</td>'
            f'<td class="{status_cls}">{esc(r["status"])}</td>'
            f'<td class="n">{esc(_signed(kpi, r["change_vs_previous_month"]))}</td>'
            f'<td class="n">{esc(_signed(kpi, r["change_vs_last_year"]))}</td>'
            "</tr>"
        )
    head = "<th>KPI</th>" + "".join(
        f"<th>{h}</th>"
        for h in (
            "Value",
            "Parts",
            "95 % interval",
            "Target",
            "Against target",
            "vs previous month",
            "vs same month last year",
        )
    )
    body = "".join(rows)
    table = f'<table class="headline"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    if content.summary is None:
        return table
    return table + (
        f"<p><b>Lift of profile selection over random:</b> {esc(lift_text(content.summary))}"
        ". The interval is Katz's 95 % interval of the ratio, the random lane's own "
        "uncertainty included.</p>"
    )


def cover_summary_html(content: ReportContent) -> str:
    """The month's summary in a paragraph: the Overview band's sentences (kpis.summary)."""
    if content.summary is None:
        return ""
    text = " ".join(summary_sentences(content.summary))
    n = 0 if content.decisions is None else content.decisions.height
    decided = (
        f"The review committee recorded {n} decision{'s' if n != 1 else ''} this month "
        "(listed with their rationale under “Review decisions of the month”)."
        if n
        else "The review committee recorded no decision this month."
    )
    return f'<p class="summary"><b>The month in brief.</b> {esc(text)} {esc(decided)}</p>'


def decisions_html(content: ReportContent) -> str:
    """The committee's review decisions of the month, with their rationale."""
    frame = content.decisions
    if frame is None or frame.is_empty():
        return "<p>No review decision was recorded this month.</p>"
    rows = [
        [
            "" if r["decided_at"] is None else f"{r['decided_at']:%Y-%m-%d}",
            r["profile_id"] or "",
            r["decision"] or "",
            r["rationale"] or "",
            r["decided_by"] or "",
        ]
        for r in frame.iter_rows(named=True)
    ]
    return _table(["Date (UTC)", "Profile", "Decision", "Rationale", "Decided by"], rows)


def _wide(frame: pl.DataFrame, key: str, columns: Sequence[tuple[str, str]]) -> list[list[str]]:
    """Long (key, kpi_id, value) rows → one formatted row per key, in key order."""
    by_key: dict[str, dict[str, dict[str, Any]]] = {}
    for r in frame.iter_rows(named=True):
        by_key.setdefault(r[key], {})[r["kpi_id"]] = r
    out = []
    for k in sorted(by_key):
        cells = [k]
        for kpi_id, _ in columns:
            cells.append(_cell(catalogue.get(kpi_id), by_key[k].get(kpi_id)))
        out.append(cells)
    return out


def channel_html(content: ReportContent) -> str:
    rows = _wide(content.tables["kpis_by_channel"], "channel", CHANNEL_COLUMNS)
    headers = ["Channel", *[h for _, h in CHANNEL_COLUMNS]]
    return _table(headers, rows, [False] + [True] * len(CHANNEL_COLUMNS))


def office_html(content: ReportContent) -> str:
    rows = _wide(content.tables["kpis_by_office"], "office", OFFICE_COLUMNS)
    headers = ["Office", *[h for _, h in OFFICE_COLUMNS]]
    return _table(headers, rows, [False] + [True] * len(OFFICE_COLUMNS))


def clearance_html(content: ReportContent) -> str:
    hours = catalogue.get("release_time_median")
    rows = []
    for r in content.tables["clearance_times"].iter_rows(named=True):
        if not r["count"] and not r["open"]:
            continue  # e.g. no physical inspection in the green channel: nothing to report
        ok = r["sufficient"] is not False

        def h(v: float | None, ok: bool = ok) -> str:
            return format_number(hours.unit, v) if ok else INSUFFICIENT

        rows.append(
            [
                r["interval"],
                r["channel"],
                f"{r['count']:,}",
                h(r["mean_hours"]),
                h(r["median_hours"]),
                h(r["p90_hours"]),
                NO_DATA if r["open"] is None else f"{r['open']:,}",
            ]
        )
    headers = ["Interval", "Channel", "Completed", "Mean", "Median", "90th pct.", "Open"]
    return _table(headers, rows, [False, False, True, True, True, True, True])


def profiles_html(content: ReportContent) -> str:
    hit = catalogue.get("hit_rate")
    lift = catalogue.get("lift")
    cur = catalogue.get("revenue_per_control")
    rows = []
    for r in content.tables["profiles"].iter_rows(named=True):
        ok = bool(r["sufficient"])
        rows.append(
            [
                r["profile_id"],
                r["name"] or "",
                r["status"],
                f"{r['declarations']:,}",
                f"{r['controlled']:,}",
                f"{r['irregular']:,}",
                format_value(r["hit_rate"], hit.unit, sufficient=ok),
                format_interval(r["ci_low"], r["ci_high"], hit.unit, missing="") if ok else "",
                format_value(r["lift"], lift.unit, sufficient=ok),
                format_value(r["revenue_per_control"], cur.unit, sufficient=ok),
            ]
        )
    headers = [
        "Profile",
        "Name",
        "Status",
        "Declarations",
        "Controls",
        "Hits",
        "Hit rate",
        "95 % interval",
        "Lift",
        "Revenue / control",
    ]
    return _table(headers, rows, [False] * 3 + [True] * 7)


def underperforming_html(content: ReportContent) -> str:
    frame = content.tables["underperforming_profiles"]
    if frame.is_empty():
        return "<p>No profile is flagged by the rules in this window.</p>"
    rows = [
        [
            r["profile_id"],
            r["name"] or "",
            r["status"],
            "" if r["severity"] is None else f"{r['severity']:,.0f}",
            r["rule"].replace("_", " "),
            r["reason"],
        ]
        for r in frame.iter_rows(named=True)
    ]
    headers = ["Profile", "Name", "Status", "Wasted inspections", "Rule",
               "Reason (with the numbers)"]  # fmt: skip
    return _table(headers, rows, [False, False, False, True, False, False])


def definitions_html(content: ReportContent) -> str:
    rows = []
    for r in content.tables["definitions"].iter_rows(named=True):
        kpi = catalogue.get(r["kpi_id"])
        target = NO_DATA if r["target"] is None else format_number(kpi.unit, r["target"])
        rows.append(
            [
                f"{r['kpi']} ({r['kpi_id']})",
                r["description"],
                r["formula"],
                f"{r['unit']}, {r['better']} is better",
                target + (f" ({r['target_note']})" if r["target_note"] else ""),
                r["source"],
                f"v{r['definition_version']}",
            ]
        )
    headers = ["KPI", "Definition", "Formula", "Unit", "Target", "Source", "Version"]
    return f'<div class="small">{_table(headers, rows)}</div>'


def methodology_html(content: ReportContent) -> str:
    config = content.flags
    rules = "; ".join(
        f"<b>{esc(rule.value.replace('_', ' '))}</b>: {esc(text)}"
        for rule, text in config.rule_descriptions()
    )
    times = ", ".join(d.interval for d in DURATIONS)
    sheets = "".join(f"<li><b>{esc(n)}</b>: {esc(c)}</li>" for n, c in SHEETS.items())
    return f"""
<p>Every figure is computed by the product's KPI engine from the published data version
<b>{esc(content.published_version)}</b>, the same computation the dashboard shows. Declarations
belong to the month in which they were lodged ({esc(content.period[0])} to
{esc(content.period[1])}).</p>
<ul>
<li>Rates are sums of numerators divided by sums of denominators at the grain shown, never
averages of rates, so office, channel and national figures agree.</li>
<li>Every rate carries a Wilson 95 % interval. A rate, quotient or percentile whose denominator is
below {content.min_sample} is reported as "{INSUFFICIENT}", never as 0 % or 100 %.</li>
<li>Time intervals ({esc(times)}) count only completed intervals; declarations not yet
released are counted as open. Medians and 90th percentiles come from the release-time histogram
of the aggregate cube.</li>
<li>Controls whose result was not yet recorded when the data was extracted are pending: they are
not counted as controls, so later deliveries can change the month's figures. A later version of
this report records any such change with its reason.</li>
<li>Underperforming profiles: the risk unit's rule set ({esc(config.describe())}), judged
over the {config.window_months} months ending with this month, ranked by severity (inspections
the profile alone spent in the last {config.recent_months} months beyond what its findings
needed at {config.min_lift:g}× the random hit rate): {rules}.</li>
<li>Month-on-month and year-on-year changes compare with the same KPI computed for the previous
month and for the same month one year earlier (percent KPIs: percentage points).</li>
</ul>
<h3>Files of this report</h3>
<p>The Excel workbook holds the full-precision values of every table below; each table is also a
CSV file; <code>manifest.json</code> lists every file with its SHA-256.</p>
<ul>{sheets}</ul>"""


def _charts_html(svgs: dict[str, str], note: str) -> str:
    if not svgs:
        return (
            f'<p class="notice">The charts could not be drawn on this machine ({esc(note)}). '
            "The same figures are in the tables of this report and in the workbook.</p>"
        )
    return "".join(
        f'<figure><img src="{uri}" alt="{esc(name)}"/>'
        f"<figcaption>{esc(CHART_CAPTIONS.get(name, ''))}</figcaption></figure>"
        for name, uri in svgs.items()
    )


def build_html(
    content: ReportContent,
    version: int,
    status: str,
    reason: str,
    svgs: dict[str, str],
    charts_note: str,
) -> str:
    """The whole report as one HTML document (WeasyPrint paginates it)."""
    month_name = content.month.strftime("%B %Y")
    as_of = (
        local_text(content.data_as_of, content.zone, "%Y-%m-%d %H:%M")
        if content.data_as_of
        else "no successful load recorded"
    )
    generated = local_text(content.generated_at, content.zone, "%Y-%m-%d %H:%M")
    pending = ""
    if content.pending_controls:
        pending = (
            f'<div class="notice"><b>Controls still pending.</b> {content.pending_controls:,} '
            "control(s) of this month had no recorded result when the data was extracted. The "
            "effectiveness figures (hit rate, seizures, revenue) may still change when their "
            "results arrive.</div>"
        )
    status_text = "FINAL" if status == "final" else "DRAFT: the month is not over yet"
    sections: list[tuple[str, str, Callable[[ReportContent], str] | str]] = [
        ("Headline KPIs against targets", "", headline_html),
        ("Charts", "", _charts_html(svgs, charts_note)),
        ("KPIs by control channel", "wide", channel_html),
        ("Release and inspection times", "", clearance_html),
        ("KPIs by customs office", "wide", office_html),
        ("Risk profiles that fired in the month", "wide", profiles_html),
        ("Underperforming profiles", "wide", underperforming_html),
        ("Review decisions of the month", "", decisions_html),
        ("Methodology", "", methodology_html),
        ("Appendix: KPI definitions", "wide", definitions_html),
    ]
    body = []
    for title, cls, render in sections:
        inner = render if isinstance(render, str) else render(content)
        body.append(f'<section class="{cls}"><h2>{esc(title)}</h2>{inner}</section>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Risk-management performance report {esc(content.label)}</title>
<style>{CSS}</style></head><body>
<div class="cover">
<h1>Risk-management performance report</h1>
<p style="font-size:16pt">{esc(month_name)}</p>
<p><span class="status">{esc(status_text)}</span></p>
{cover_summary_html(content)}
<dl>
<dt>Month</dt><dd>{esc(content.label)} ({esc(content.period[0])} to {esc(content.period[1])})</dd>
<dt>Version</dt><dd>v{version}: {esc(reason)}</dd>
<dt>Data as of</dt><dd>{esc(as_of)}</dd>
<dt>Generated at</dt><dd>{esc(generated)}</dd>
<dt>Published version</dt><dd>{esc(content.published_version)}</dd>
<dt>Controls pending</dt><dd>{content.pending_controls:,}</dd>
</dl>
{pending}
</div>
{"".join(body)}
</body></html>"""


def write_pdf(content: ReportContent, path: Path, version: int, status: str, reason: str) -> str:
    """Render the report to ``path``; returns the charts note recorded in the manifest."""
    from weasyprint import HTML

    svgs, note = render_svgs(build_figures(content))
    document = build_html(content, version, status, reason, svgs, note)
    HTML(string=document, base_url=str(path.parent)).write_pdf(str(path))
    return note

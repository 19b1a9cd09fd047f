"""``docs/kpis.md``, the KPI reference, generated from the catalogue.

For every entry of :data:`kpis.catalogue.CATALOGUE`: definition, formula, measures, unit,
direction, target, source, version; the function that computes it and the ``kpis`` functions
that take it by id; the pages and monthly report sheets showing it (:mod:`kpis.surfaces`); the
test files whose source names its id. Pure: the caller passes the sources (the CLI reads them:
``customs-kpi kpis doc --out docs/kpis.md``); ``tests/unit/test_kpis_reference.py`` fails when the
committed file is out of date.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from kpis import surfaces
from kpis.catalogue import CATALOGUE, HEADLINE_KPIS, PUBLIC_IDS
from kpis.definitions import GRAINS, KPI, Category, Kind, Unit
from kpis.domain import Channel, SelectionSource
from kpis.durations import DURATIONS
from kpis.formatting import INSUFFICIENT, format_number
from kpis.measures import MEASURES, SOLE_MEASURES

DOC_PATH = "docs/kpis.md"  # in the repository
COMMAND = f"customs-kpi kpis doc --out {DOC_PATH}"

# Modules that declare ids rather than compute with them (not listed as "read by").
_DECLARING = {"catalogue", "surfaces", "durations", "reference", "validation"}

_CHANNEL_MEANINGS = {
    Channel.GREEN: "released without control",
    Channel.YELLOW: "documentary check",
    Channel.RED: "physical examination",
    Channel.BLUE: "post-clearance audit",
}

_INTRO = """\
Sources are named so that each definition can be traced. The seed report is the COMCEC study
*Facilitating Trade: Improving Customs Risk Management Systems in the OIC Member States*
(2018): its monitoring-and-review chapter asks that every indicator carry a **target, a period
(month or year), a unit, a measurement method and a data source**, and that its definition
**stay the same from year to year**. So each KPI below has those fields and a definition
version; published monthly reports record the version they were computed with. A filtered
variant (`hit_rate_red`) is a catalogue entry of its own, not new code."""

_STATISTICS = f"""\
* Rates are sums of numerators divided by sums of denominators at the grain shown, never
  averages of rates, so office, channel and national figures agree (`kpis/additive.py`).
* Every rate shows its numerator and denominator; every proportion and share has a **Wilson
  95 % interval**. Below the minimum sample (`CUSTOMS_KPI_MIN_SAMPLE`, default 30) a rate,
  quotient or percentile reads "{INSUFFICIENT}", never 0 % or 100 %.
* Lift is tested against the random baseline of the same period and office scope with a
  two-proportion test (Fisher's exact test for small counts) (`kpis/lift.py`, `kpis/stats.py`).
* Durations: mean (exact, from sums) **and** median and 90th percentile (mergeable histogram,
  within 1 % relative error), split by channel: red-lane tails dominate a mean. Undelivered
  releases (no `released_at`) are counted as open, not dropped (`kpis/timecalc.py`).
* Trends: month-on-month and year-on-year deltas, and a least-squares slope over the last 6
  months (`kpis/trends.py`)."""

_UNDERPERFORMING = """\
No published source fixes numeric thresholds, so these are defaults the risk unit can change
(`CUSTOMS_KPI_FLAG_*` settings; rule set `kpis/flags.py`). The question a rule answers is *does
this profile earn its inspections?* A random-like profile (no better than random selection)
wastes them as surely as a zero-hit one, and it is never significantly *worse* than random, so
the rules test for evidence of being **better**: (a) *no evidence of beating random*: over a
window long enough to decide (default 12 months, at least `n_min` controls), the lower bound of
the lift's 95 % interval is at or below 1; (b) *deteriorating*: a significant downward trend,
or a recent window significantly below the profile's own earlier level; (c) *worse after a
change*: the before/after test of the latest change shows a significant drop; (d) *zero hits*;
(e) *below target*, where the target is meaningful (a hit-rate target below the random hit rate
is reported as such, not used to pass profiles); (f) *low yield*: revenue per control below a
configured cost of a control; (g) *expired or review overdue*. Where the evidence is not enough,
the flag says how many more controls would decide. Each flag names its rule and its numbers.
Severity = inspections spent beyond what the profile found relative to random (controls ×
(1 − 1/lift)); queues sort by it."""

_TUNING = """\
Selection percentage of a profile, its target lane, narrowing or widening its conditions, value
bands, validity period, the random rate, retirement (`kpis/whatif.py`). Retiring or suspending a
profile is estimated from history: inspections saved = controls where only that profile fired;
detections at risk = irregular controls where only that profile fired (others would still have
caught the rest)."""


def _computing_function(kpi: KPI) -> Callable[..., object]:
    from kpis import additive, engine, lift, register, timecalc

    match kpi.kind:
        case Kind.PERCENTILE:
            return timecalc.compute_percentile
        case Kind.LIFT:
            return lift.compute_lift
        case Kind.REGISTER:
            return register.compute_register
        case Kind.COMPOSITE:
            return engine.compute
        case _:
            return additive.compute_additive


def _name(fn: Callable[..., object]) -> str:
    return f"{fn.__module__}.{getattr(fn, '__qualname__', repr(fn))}"


def id_literal(kpi_id: str) -> re.Pattern[str]:
    """The id as a string literal in Python source (``"hit_rate"`` or ``'hit_rate'``)."""
    return re.compile(rf"[\"']{re.escape(kpi_id)}[\"']")


def _entry_taken(node: ast.AST) -> str | None:
    """The id in ``catalogue.get("id")`` / ``compute("id", ...)``, else None."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func, first = node.func, node.args[0]
    if isinstance(func, ast.Attribute):
        owner = func.value.id if isinstance(func.value, ast.Name) else ""
        taken = (owner, func.attr) == ("catalogue", "get") or func.attr == "compute"
    else:
        taken = isinstance(func, ast.Name) and func.id == "compute"
    if taken and isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def readers(modules: Mapping[str, str]) -> dict[str, list[str]]:
    """id → functions (module.function, or the module for module level) that take the catalogue
    entry by its literal id (``catalogue.get("hit_rate")``, ``compute("lift", ...)``), from
    ``modules``: dotted module name → source."""
    found: dict[str, list[str]] = {}
    for module, source in sorted(modules.items()):
        if module.rsplit(".", 1)[-1] in _DECLARING:
            continue
        tree = ast.parse(source)
        scopes: list[tuple[str, ast.AST]] = [(module, tree)]
        scopes += [
            (f"{module}.{node.name}", node)
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        ]
        for where, scope in scopes:
            for node in ast.walk(scope):
                kpi_id = _entry_taken(node)
                if kpi_id is None:
                    continue
                names = found.setdefault(kpi_id, [])
                # A function's own name is more precise than its module's.
                if where not in names and not any(n.startswith(f"{where}.") for n in names):
                    names.append(where)
    return {
        k: [n for n in v if not any(m.startswith(f"{n}.") for m in v)] for k, v in found.items()
    }


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code_list(items: Iterable[str]) -> str:
    return ", ".join(f"`{i}`" for i in items) or "—"


def _measure_text(name: str | None) -> str:
    if name is None:
        return ""
    definitions = {m.name: m.definition for m in (*MEASURES, *SOLE_MEASURES)}
    return f"{name} ({definitions.get(name, 'unknown measure')})"


def definition_lines(kpi: KPI) -> list[tuple[str, str]]:
    """(field, text) pairs describing a catalogue entry completely: ``kpis explain ID`` prints
    them, the reference lists them under each entry."""
    lines = [
        ("id", kpi.id),
        ("label", kpi.label),
        ("description", kpi.description),
        ("formula", kpi.formula),
        ("category", kpi.category.value),
        ("unit", kpi.unit.value + (" (stored as a fraction)" if kpi.unit is Unit.PERCENT else "")),
        ("better", kpi.direction.value),
        ("kind", kpi.kind.value),
    ]
    if kpi.numerator:
        numerator = _measure_text(kpi.numerator)
        if kpi.numerator_subtract:
            numerator += f" minus {_measure_text(kpi.numerator_subtract)}"
        lines.append(("numerator", numerator))
    if kpi.denominator:
        lines.append(("denominator", _measure_text(kpi.denominator)))
    if kpi.filters:
        lines.append(("filter", "; ".join(f.describe() for f in kpi.filters)))
    if kpi.numerator_filters:
        lines.append(("numerator filter", "; ".join(f.describe() for f in kpi.numerator_filters)))
    if kpi.share_dimension:
        lines.append(("share of", f"all values of {kpi.share_dimension}"))
    if kpi.hist_metric:
        lines.append(("histogram", f"{kpi.hist_metric}, quantile {kpi.quantile}"))
    if kpi.parts:
        lines.append(("parts", ", ".join(kpi.parts)))
    table = kpi.table.value
    if kpi.table.value == "auto":
        table = "cube_declarations (cube_profiles when broken down or filtered by profile)"
    lines.append(("cube table", table))
    lines.append(("dimensions", ", ".join(kpi.allowed_dimensions) or "none"))
    if kpi.required_dimensions:
        lines.append(("always by", ", ".join(kpi.required_dimensions)))
    if kpi.is_rate:
        lines.append(("statistics", "Wilson 95 % interval; insufficient below the minimum sample"))
    if kpi.default_target is not None:
        note = f" ({kpi.target_note})" if kpi.target_note else ""
        lines.append(("default target", format_number(kpi.unit, kpi.default_target) + note))
    elif kpi.target_note:
        lines.append(("default target", f"none ({kpi.target_note})"))
    if kpi.reference:
        lines.append(("reference values", kpi.reference))
    lines.append(("source", kpi.source))
    lines.append(("definition version", str(kpi.version)))
    return lines


def _surfaces(kpi: KPI) -> list[tuple[str, str]]:
    rows = [
        ("pages", _code_list(surfaces.pages_of(kpi.id))),
        ("monthly report sheets", _code_list(surfaces.sheets_of(kpi.id))),
    ]
    if kpi.id in surfaces.CLI_ONLY:
        rows.append(("CLI only", surfaces.CLI_ONLY[kpi.id]))
    return rows


def _entry(kpi: KPI, read_by: Sequence[str], tests: Sequence[str]) -> list[str]:
    public = " (public)" if kpi.id in PUBLIC_IDS else ""
    rows = [(n, t) for n, t in definition_lines(kpi) if n not in ("id", "label")]
    rows.append(("computed by", f"`kpis.engine.compute` → `{_name(_computing_function(kpi))}`"))
    if read_by:
        rows.append(("also takes it by id", _code_list(read_by)))
    rows += _surfaces(kpi)
    rows.append(("tests naming it", _code_list(tests)))
    lines = [f'<a id="{kpi.id}"></a>', "", f"### `{kpi.id}` — {kpi.label}{public}", ""]
    lines += ["| | |", "|---|---|"]
    lines += [f"| {name} | {_cell(text)} |" for name, text in rows]
    return [*lines, ""]


def _notation() -> list[str]:
    channels = "; ".join(f"`{c.value}` = {_CHANNEL_MEANINGS[c]}" for c in Channel)
    sources = ", ".join(f"`{s.value}`" for s in SelectionSource)
    lines = [
        "## Notation",
        "",
        f"Per declaration: its channel ({channels}); what selected it ({sources}); the set of "
        "profiles that fired; the control result; the additional revenue; the timestamps "
        "`arrived_at`, `lodged_at`, `channel_assigned_at`, `result_recorded_at`, `released_at`.",
        "",
        f"Grains: {', '.join(f'`{g}`' for g in GRAINS)} (month, quarter and year by lodgement "
        "month). A profile's figures count every declaration on which that profile fired (a "
        "declaration hit by three profiles counts for each); overlap between profiles is itself "
        "shown (Overlap page).",
        "",
        "Measures of the cube (`kpis/measures.py`, built by `etl/cube.py`; per declaration, "
        "summed over the declarations of a cell):",
        "",
        "| measure | per declaration |",
        "|---|---|",
        *(f"| `{m.name}` | {_cell(m.definition)} |" for m in (*MEASURES, *SOLE_MEASURES)),
        "",
        "Every SQL over declaration rows (the ETL's cube, the pages' fact queries, overlap, "
        "what-if, benchmarks) spells `controlled`, `irregular`, `seizure` and `pending` with "
        "`kpis.measures.controlled_sql`, `irregular_sql`, `seizure_sql`, `pending_sql`.",
        "",
        "Durations (`kpis/durations.py`):",
        "",
        "| histogram metric | interval | mean | median | 90th percentile |",
        "|---|---|---|---|---|",
        *(
            f"| `{d.name}` | {d.interval} | `{d.mean_kpi}` | `{d.median_kpi}` | `{d.p90_kpi}` |"
            for d in DURATIONS
        ),
        "",
    ]
    return lines


def _index() -> list[str]:
    lines = [
        "## Public KPIs",
        "",
        "Headline KPIs of a month (Overview cards and the monthly report's summary): "
        f"{_code_list(HEADLINE_KPIS)}.",
        "",
        "| id | KPI | unit | better | target | pages | report sheets |",
        "|---|---|---|---|---|---|---|",
    ]
    by_id = {k.id: k for k in CATALOGUE}
    for kpi_id in PUBLIC_IDS:
        k = by_id[kpi_id]
        target = format_number(k.unit, k.default_target) if k.default_target is not None else ""
        pages = surfaces.pages_of(kpi_id)
        sheets = surfaces.sheets_of(kpi_id)
        where = _code_list(pages) if pages or sheets else "CLI only"
        lines.append(
            f"| [`{kpi_id}`](#{kpi_id}) | {_cell(k.label)} | {k.unit.value} | "
            f"{k.direction.value} | {target} | {where} | {_code_list(sheets)} |"
        )
    return [*lines, ""]


def render(tests: Mapping[str, str], modules: Mapping[str, str]) -> str:
    """The whole of ``docs/kpis.md``. ``tests``: test file path (``tests/test_x.py``) → source;
    ``modules``: the ``kpis`` modules, dotted name → source."""
    named = readers(modules)
    lines = [
        "# KPI reference",
        "",
        f"<!-- Generated from kpis/catalogue.py by `{COMMAND}`. Do not edit by hand: "
        "tests/unit/test_kpis_reference.py fails when this file is out of date. -->",
        "",
        _INTRO,
        "",
        *_notation(),
        "## Statistics the numbers need",
        "",
        _STATISTICS,
        "",
        *_index(),
    ]
    for category in Category:
        lines += [f"## {category.value.capitalize()}", ""]
        for kpi in (k for k in CATALOGUE if k.category is category):
            pattern = id_literal(kpi.id)
            named_by = [name for name, text in sorted(tests.items()) if pattern.search(text)]
            lines += _entry(kpi, named.get(kpi.id, []), named_by)
    lines += [
        '## "Underperforming profile" (default rule set; thresholds configurable)',
        "",
        _UNDERPERFORMING,
        "",
        "## Tuning levers the risk unit uses (what a what-if models)",
        "",
        _TUNING,
    ]
    return "\n".join(lines) + "\n"

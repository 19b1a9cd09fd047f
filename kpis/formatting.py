"""How a KPI value reads on screen: number format from the unit, "insufficient data" below the
minimum sample, and whether a change is good news from the direction. Shared by the pages,
the exports and the CLI so they all print a number the same way."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from html import escape

import polars as pl

from kpis.definitions import Unit

INSUFFICIENT = "insufficient data"
NO_DATA = "–"

# Decimals :func:`format_number` prints per unit (percent: of the value × 100).
DECIMALS: dict[Unit, int] = {
    Unit.PERCENT: 1,
    Unit.COUNT: 0,
    Unit.CURRENCY: 2,
    Unit.HOURS: 1,
    Unit.RATIO: 2,
}


# The revenue currency (ISO 4217 code, ``settings.currency``) amounts are shown in: set for
# each request by the dashboard and around a report's rendering (:func:`using_currency`), so
# every amount, wherever formatted, carries the same code. Empty = no code.
CURRENCY: ContextVar[str] = ContextVar("customs_kpi_currency", default="")


@contextmanager
def using_currency(code: str) -> Iterator[None]:
    """Amounts formatted inside the block carry ``code``."""
    token = CURRENCY.set(code or "")
    try:
        yield
    finally:
        CURRENCY.reset(token)


def with_currency(text: str) -> str:
    """``text`` (a formatted amount) followed by the current currency code, if any."""
    code = CURRENCY.get()
    return f"{text} {code}" if code and text not in (NO_DATA, INSUFFICIENT) else text


def currency_header(name: str, code: str | None = None) -> str:
    """A CSV/XLSX column name of amounts with its currency: ``additional_revenue (XOF)``."""
    code = CURRENCY.get() if code is None else code
    return f"{name} ({code})" if code else name


def currency_headers(frame: pl.DataFrame, code: str | None = None) -> pl.DataFrame:
    """The frame with each amount column (its name mentions revenue) named with the currency
    (:func:`currency_header`): every CSV export and the report's CSVs and workbook say which
    currency their amounts are in."""
    code = CURRENCY.get() if code is None else code
    if not code:
        return frame
    return frame.rename(
        {n: currency_header(n, code) for n in frame.columns if "revenue" in n.lower()}
    )


def displayed(unit: Unit, value: float) -> float:
    """The number :func:`format_number` prints, as a float in the printed scale (percent ×
    100): ``displayed(PERCENT, 0.03371) == 3.4``. Rounded by the same formatting code as the
    text, so two values that print alike are equal here (verdicts compare these)."""
    scale = 100.0 if unit is Unit.PERCENT else 1.0
    return float(f"{value * scale:.{DECIMALS[unit]}f}")


def format_number(unit: Unit, value: float | None) -> str:
    """``value`` in ``unit``: percent as ``3.4 %`` (values are fractions), counts with
    thousands separators, currency with two decimals, hours with one, ratios with two."""
    if value is None:
        return NO_DATA
    match unit:
        case Unit.PERCENT:
            return f"{value * 100:.1f} %"
        case Unit.COUNT:
            return f"{value:,.0f}"
        case Unit.CURRENCY:
            return with_currency(f"{value:,.2f}")
        case Unit.HOURS:
            return f"{value:,.1f} h"
        case Unit.RATIO:
            return f"{value:.2f}×"


def is_missing(value: float | int | None) -> bool:
    """None, NaN or infinite: shown as :data:`NO_DATA`."""
    return value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value)))


def compact_number(value: float | int) -> str:
    """A large count or amount shortened where space is short: 1.23 M, 45.6 k."""
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:.2f} M"
    if abs(value) >= 10_000:
        return f"{value / 1_000:.1f} k"
    return f"{round(value):,}"


def format_value(
    value: float | int | None,
    unit: Unit,
    *,
    sufficient: bool | None = None,
    compact: bool = False,
) -> str:
    """A KPI value as the pages, the monthly report and the CLI show it: :data:`NO_DATA` when
    missing, :data:`INSUFFICIENT` when ``sufficient`` is False (never 0 % or 100 % on too small
    a sample), else :func:`format_number`; ``compact`` shortens large counts and amounts."""
    if is_missing(value):
        return NO_DATA
    assert value is not None
    if sufficient is False:
        return INSUFFICIENT
    if compact and unit in (Unit.COUNT, Unit.CURRENCY) and abs(value) >= 10_000:
        text = compact_number(value)
        return with_currency(text) if unit is Unit.CURRENCY else text
    return format_number(unit, float(value))


def format_interval(
    low: float | None, high: float | None, unit: Unit, *, missing: str = NO_DATA
) -> str:
    """``low – high`` in ``unit``; ``missing`` when either bound is missing."""
    if is_missing(low) or is_missing(high):
        return missing
    assert low is not None and high is not None
    if unit is Unit.CURRENCY:  # the code once, after the interval
        with using_currency(""):
            text = f"{format_number(unit, float(low))} – {format_number(unit, float(high))}"
        return with_currency(text)
    return f"{format_number(unit, float(low))} – {format_number(unit, float(high))}"


def format_key(value: object) -> str:
    """A grain value: months as ``2026-03``, the rest as text."""
    if isinstance(value, date):
        return value.strftime("%Y-%m")
    return "" if value is None else str(value)


# Characters that make a spreadsheet read a text cell as a formula (OWASP "CSV injection"):
# ``=``, ``+``, ``-``, ``@``, tab and carriage return at the start of the cell.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_PATTERN = r"^[=+\-@\t\r]"

# xlsxwriter options of every workbook written (report, review-queue export): a string is
# written as text, never turned into a formula, a link or a number. Strings go through
# ``write_string`` as well.
WORKBOOK_OPTIONS: dict[str, bool] = {
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}


def formula_safe_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with every text cell a spreadsheet shows as the text it is: a leading formula
    character gets a ``'`` in front (``=HYPERLINK(...)`` → ``'=HYPERLINK(...)``, ``-2+3`` →
    ``'-2+3``) in every text column (String, Categorical, Enum; these become String). Numeric,
    date and boolean columns are left as they are, so a negative number stays a number. Every
    CSV writer (dashboard downloads, report CSVs) passes its frame through this."""
    text = [
        name
        for name, dtype in frame.schema.items()
        if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)
    ]
    if not text:
        return frame
    return frame.with_columns(
        pl.when(pl.col(name).cast(pl.String).str.contains(_FORMULA_PATTERN))
        .then(pl.lit("'") + pl.col(name).cast(pl.String))
        .otherwise(pl.col(name).cast(pl.String))
        .alias(name)
        for name in text
    )


def plot_text(value: object) -> str:
    """Text from the data (office codes, profile ids and names, offence types, change-log
    summaries, review rationale) as a Plotly figure must get it: escaped. Plotly renders a
    subset of HTML in trace names, text, hover labels, annotations, tick labels and legend
    entries, so ``<a href="http://evil">x</a>`` would become a clickable external link;
    escaped, ``&``, ``<`` and ``>`` show as the characters they are (Plotly decodes the
    entities into plain text). Every figure builder (dashboard, report charts) passes data
    text through this."""
    return escape("" if value is None else str(value), quote=False)


def plot_texts(values: Sequence[object]) -> list[str | None]:
    """:func:`plot_text` of each value; missing values stay missing (gaps, not "None")."""
    return [None if v is None else plot_text(v) for v in values]

"""KPI catalogue and values: kpis list | explain | doc | show.

``show`` computes with the same engine call the dashboard makes, on the current published
version, so the terminal prints the numbers the pages show.
"""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Column, Table

from customs_kpi.cli.common import HomeOption, app, console, fail, settings_for
from kpis.definitions import GRAINS as GRAIN_NAMES
from kpis.definitions import Unit
from kpis.formatting import formula_safe_frame

if TYPE_CHECKING:
    import polars as pl

    from kpis.definitions import KPI

kpis_app = typer.Typer(
    name="kpis",
    help="The KPI catalogue: list, explain a definition, show values from the published data.",
    no_args_is_help=True,
)
app.add_typer(kpis_app, name="kpis")


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="table (formatted), csv or json (raw).")
]


def _records_json(frame: pl.DataFrame) -> str:
    def default(value: Any) -> Any:
        return value.isoformat() if isinstance(value, date) else str(value)

    return json.dumps(frame.to_dicts(), default=default, ensure_ascii=False, indent=2)


def _emit_raw(frame: pl.DataFrame, fmt: OutputFormat) -> None:
    """The computed frame itself (fractions, not percentages): for spreadsheets and scripts."""
    if fmt is OutputFormat.CSV:
        typer.echo(formula_safe_frame(frame).write_csv(), nl=False)  # text never a formula
    else:
        typer.echo(_records_json(frame))


@kpis_app.command("list")
def list_kpis(
    category: Annotated[
        str | None,
        typer.Option(
            help="Only this category (selection, effectiveness, time, profile management)."
        ),
    ] = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Every KPI of the catalogue: id, label, unit, direction, kind, default target."""
    import polars as pl

    from kpis.catalogue import CATALOGUE
    from kpis.formatting import format_number

    entries = [k for k in CATALOGUE if category is None or k.category.value == category]
    if not entries:
        raise fail(f"no KPI in category {category!r}")
    if fmt is not OutputFormat.TABLE:
        frame = pl.DataFrame(
            [
                {
                    "id": k.id, "label": k.label, "category": k.category.value,
                    "unit": k.unit.value, "direction": k.direction.value, "kind": k.kind.value,
                    "default_target": k.default_target, "version": k.version,
                }
                for k in entries
            ]
        )  # fmt: skip
        _emit_raw(frame, fmt)
        return
    table = Table("label", "unit", "better", "target")
    table.columns.insert(0, Column("id", no_wrap=True, style="bold"))
    for i, k in enumerate(entries):
        target = format_number(k.unit, k.default_target) if k.default_target is not None else ""
        last_of_category = i + 1 == len(entries) or entries[i + 1].category != k.category
        table.add_row(
            k.id, k.label, k.unit.value, k.direction.value, target, end_section=last_of_category
        )
    console.print(table)


@kpis_app.command("explain")
def explain(kpi_id: Annotated[str, typer.Argument(metavar="ID", help="KPI id.")]) -> None:
    """Everything about one KPI: definition, formula, measures, filters, target, source."""
    from kpis.catalogue import UnknownKPI, get
    from kpis.reference import definition_lines

    try:
        kpi = get(kpi_id)
    except UnknownKPI as exc:
        raise fail(str(exc.args[0])) from None
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for name, text in definition_lines(kpi):
        table.add_row(name, text)
    console.print(table)


def repository_root() -> Path:
    """The repository this package runs from (the KPI reference reads its tests and kpis/)."""
    import kpis

    return Path(kpis.__file__).resolve().parents[1]


def reference_text(root: Path | None = None) -> str:
    """docs/kpis.md as :func:`kpis.reference.render` writes it from the repository's sources."""
    from kpis.reference import render

    root = root or repository_root()
    tests = {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted((root / "tests").rglob("test_*.py"))
    }
    modules = {
        f"kpis.{p.stem}": p.read_text(encoding="utf-8")
        for p in sorted((root / "kpis").glob("*.py"))
    }
    return render(tests, modules)


@kpis_app.command("doc")
def doc(
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write here (docs/kpis.md in the repository); else print."),
    ] = None,
) -> None:
    """The KPI reference (docs/kpis.md) generated from the catalogue: definitions, where each
    KPI is computed and shown, which tests name it."""
    text = reference_text()
    if out is None:
        typer.echo(text, nl=False)
        return
    if out.exists() and out.read_text(encoding="utf-8") == text:
        console.print(f"{out}: already up to date")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    console.print(f"{out}: written")


def parse_month(text: str, *, end: bool) -> date:
    """``YYYY-MM`` → first day of the month (or its last day when ``end``)."""
    from kpis.grain import period_end_day

    try:
        year, month = (int(part) for part in text.split("-"))
        first = date(year, month, 1)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a month YYYY-MM") from None
    return period_end_day(first) if end else first


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v.strip() for item in values or [] for v in item.split(",") if v.strip())


@kpis_app.command("show")
def show(
    kpi_id: Annotated[str, typer.Argument(metavar="ID", help="KPI id (see `kpis list`).")],
    by: Annotated[
        str,
        typer.Option(
            help="Grain, comma-separated: month, quarter, year, office, channel, "
            "selection_source, profile."
        ),
    ] = "",
    from_month: Annotated[str | None, typer.Option("--from", help="First month, YYYY-MM.")] = None,
    to_month: Annotated[str | None, typer.Option("--to", help="Last month, YYYY-MM.")] = None,
    office: Annotated[list[str] | None, typer.Option(help="Only these offices.")] = None,
    profile: Annotated[list[str] | None, typer.Option(help="Only these profiles.")] = None,
    channel: Annotated[list[str] | None, typer.Option(help="Only these channels.")] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only these selection sources.")
    ] = None,
    min_sample: Annotated[
        int | None, typer.Option(help="Minimum sample (default: the min_sample setting).")
    ] = None,
    today: Annotated[
        str | None,
        typer.Option(
            help="Date for profile-management KPIs, YYYY-MM-DD (default: the last day of the "
            "period, or of the latest month: the date the dashboard uses)."
        ),
    ] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    home: HomeOption = None,
) -> None:
    """Values of one KPI from the current published version, as the dashboard shows them."""
    from customs_kpi.published import PublishedVersionError, current_version
    from kpis.catalogue import UnknownKPI, get
    from kpis.cube import CubeFrames, Filters
    from kpis.domain import Channel, SelectionSource
    from kpis.engine import compute

    try:
        kpi = get(kpi_id)
    except UnknownKPI as exc:
        raise fail(str(exc.args[0])) from None
    for value in _split(channel):
        if value not in {c.value for c in Channel}:
            raise fail(f"unknown channel {value!r}; one of {', '.join(c.value for c in Channel)}")
    for value in _split(source):
        if value not in {s.value for s in SelectionSource}:
            choices = ", ".join(s.value for s in SelectionSource)
            raise fail(f"unknown selection source {value!r}; one of {choices}")
    settings = settings_for(home)
    start = parse_month(from_month, end=False) if from_month else None
    stop = parse_month(to_month, end=True) if to_month else None
    try:
        published = current_version(settings)
    except PublishedVersionError as exc:
        raise fail(str(exc)) from None
    if published is None:
        raise fail(f"nothing published yet in {settings.published_dir}: load data first")
    cube = CubeFrames.from_published(published)
    span = cube.span()
    period = None
    if start or stop:
        if span is None and not (start and stop):
            raise fail("no data yet: give both --from and --to")
        first = start or (span[0] if span else start)
        last = stop or (parse_month(span[1].strftime("%Y-%m"), end=True) if span else stop)
        assert first is not None and last is not None
        if first > last:
            raise fail("--from is after --to")
        period = (first, last)
    filters = Filters(
        offices=_split(office),
        channels=_split(channel),
        selection_sources=_split(source),
        profiles=_split(profile),
    )
    # No --today: the engine's own default (the period's last day), as the pages compute.
    try:
        as_of = date.fromisoformat(today) if today else None
    except ValueError:
        raise fail(f"--today {today!r} is not a date YYYY-MM-DD") from None
    grain = [g.strip() for g in by.split(",") if g.strip()]
    try:
        frame = compute(
            kpi, cube, grain, filters, period,
            settings.min_sample if min_sample is None else min_sample, today=as_of,
        )  # fmt: skip
    except ValueError as exc:
        raise fail(str(exc)) from None
    frame = with_verdicts(kpi, frame)
    if fmt is not OutputFormat.TABLE:
        _emit_raw(frame, fmt)
        return
    _print_values(kpi, frame, published.version)


def with_verdicts(kpi: KPI, frame: pl.DataFrame) -> pl.DataFrame:
    """The computed frame with ``target`` and ``status`` (the words of
    :func:`kpis.targets.kpi_status`, as on the Overview cards and in the monthly report) per
    row; a composite's rows are judged by their part's own target."""
    import polars as pl

    from kpis.catalogue import get
    from kpis.targets import kpi_status, status_label

    targets: list[float | None] = []
    statuses: list[str] = []
    for row in frame.iter_rows(named=True):
        judged = get(row["component"]) if "component" in row else kpi
        targets.append(judged.default_target)
        statuses.append(status_label(kpi_status(judged, row["value"], row.get("sufficient"))))
    return frame.with_columns(
        pl.Series("target", targets, dtype=pl.Float64), pl.Series("status", statuses, pl.String)
    )


KEY_COLUMNS = (*GRAIN_NAMES, "component", "change_type")


def _count(value: float | None) -> str:
    return "" if value is None else f"{value:,.0f}"


def _print_values(kpi: KPI, frame: pl.DataFrame, version: str) -> None:
    """A formatted table: grain keys, the value as the pages show it ("insufficient data"
    below the minimum sample), the parts of quotients, intervals of rates, lift p-values, the
    target and the verdict against it (:func:`with_verdicts`)."""
    from kpis.definitions import Kind
    from kpis.formatting import format_interval, format_key, format_number, format_value

    keys = [c for c in frame.columns if c in KEY_COLUMNS]
    table = Table(*keys, title=f"{kpi.label} ({kpi.id})", caption=f"published version {version}")
    table.add_column("value", justify="right")
    quotient = kpi.is_quotient and kpi.kind is not Kind.PERCENTILE
    if quotient:
        table.add_column("numerator", justify="right")
        table.add_column("denominator", justify="right")
    elif kpi.kind is Kind.PERCENTILE:
        table.add_column("observations", justify="right")
    if kpi.is_rate:
        table.add_column("95 % interval")
    if kpi.kind is Kind.LIFT:
        table.add_column("hit rate", justify="right")
        table.add_column("random hit rate", justify="right")
        table.add_column("p-value", justify="right")
    if "open" in frame.columns:
        table.add_column("open", justify="right")
    table.add_column("target", justify="right")
    table.add_column("status")
    for row in frame.iter_rows(named=True):
        cells = [format_key(row[k]) for k in keys]
        cells.append(format_value(row["value"], kpi.unit, sufficient=row.get("sufficient")))
        if quotient:
            numerator = row["numerator"]
            is_amount = kpi.kind is Kind.MEAN or kpi.numerator == "revenue"
            cells.append(f"{numerator:,.1f}" if is_amount and numerator is not None
                         else _count(numerator))  # fmt: skip
            cells.append(_count(row["denominator"]))
        elif kpi.kind is Kind.PERCENTILE:
            cells.append(_count(row["denominator"]))
        if kpi.is_rate:
            cells.append(
                format_interval(row.get("ci_low"), row.get("ci_high"), kpi.unit, missing="")
            )
        if kpi.kind is Kind.LIFT:
            cells.append(format_number(Unit.PERCENT, row["hit_rate"]))
            cells.append(format_number(Unit.PERCENT, row["baseline_rate"]))
            p_value = row["p_value"]
            cells.append("" if p_value is None else f"{p_value:.3g} ({row['test']})")
        if "open" in frame.columns:
            cells.append(_count(row["open"]))
        target = row["target"]
        cells.append("" if target is None else format_number(kpi.unit, target))
        cells.append(row["status"])
        table.add_row(*cells)
    console.print(table)

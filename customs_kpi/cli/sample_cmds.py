"""Demo data: sample."""

from __future__ import annotations

import re
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from customs_kpi.cli.common import HomeOption, app, console, fail


class FileFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


def default_start(months: int, today: date) -> date:
    """First month of a history of ``months`` months ending with the last complete month."""
    last_complete = today.replace(day=1) - timedelta(days=1)
    index = last_complete.year * 12 + last_complete.month - 1 - (months - 1)
    return date(index // 12, index % 12 + 1, 1)


def parse_month(value: str) -> date:
    """``YYYY-MM`` → first day of that month (typer callback, so errors name the option)."""
    if not re.fullmatch(r"\d{4}-\d{2}", value.strip()):
        raise typer.BadParameter(f"{value!r} is not a month: use YYYY-MM, e.g. 2024-01")
    year, month = (int(part) for part in value.strip().split("-"))
    if not 1 <= month <= 12:
        raise typer.BadParameter(f"{value!r}: month must be 01..12")
    return date(year, month, 1)


@app.command("sample")
def sample(
    out: Annotated[
        Path,
        typer.Option("--out", help="Folder to write the delivery files and ground_truth.json to."),
    ],
    declarations: Annotated[
        int, typer.Option("--declarations", min=1, help="Number of declarations to generate.")
    ] = 300_000,
    months: Annotated[int, typer.Option("--months", min=1, help="Months of history.")] = 24,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same files.")] = 42,
    start: Annotated[
        str | None,
        typer.Option(
            "--start",
            help="First month, YYYY-MM (default: the history ends with the last complete month).",
            show_default=False,
        ),
    ] = None,
    file_format: Annotated[
        FileFormat,
        typer.Option("--format", help="Format of the declaration files (registers are CSV)."),
    ] = FileFormat.CSV,
    home: HomeOption = None,
) -> None:
    """Write realistic demo deliveries with known ground truth (deterministic for a seed).

    Monthly files declarations_YYYY-MM, one later redelivery, profiles.csv,
    profile_changes.csv and ground_truth.json (the true parameters, for checking the product).
    """
    import time

    import polars as pl

    from customs_kpi.settings import load_settings
    from etl.sample import generate_sample, write_sample

    load_settings(home=home)  # validates CUSTOMS_KPI_* like every command; nothing is written
    first = parse_month(start) if start is not None else default_start(months, date.today())
    end_index = first.year * 12 + first.month - 1 + months
    if date(end_index // 12, end_index % 12 + 1, 1) > date.today():
        console.print(
            "[yellow]warning:[/] the history runs past today: the ETL quarantines declarations "
            "lodged in the future.",
            highlight=False,
        )
    started = time.perf_counter()
    with console.status(f"Generating {declarations:,} declarations over {months} months…"):
        generated = generate_sample(declarations, months, seed, first)
    with console.status(f"Writing files to {out}…"):
        try:
            paths = write_sample(generated, out, file_format.value)
        except OSError as exc:
            raise fail(f"cannot write to {out}: {exc}") from exc
    elapsed = time.perf_counter() - started

    truth = generated.ground_truth
    shares = (
        generated.declarations.group_by("channel")
        .len()
        .with_columns(share=pl.col("len") / generated.declarations.height)
        .sort("channel")
    )
    channel_text = ", ".join(
        f"{row['channel']} {row['share']:.1%}" for row in shares.iter_rows(named=True)
    )
    console.print(
        f"Wrote [bold]{len(paths)}[/] files to {out} in {elapsed:.1f} s: "
        f"{declarations:,} declarations {truth['start']} → {truth['end']} (seed {seed}), "
        f"{generated.redelivery.height:,} redelivered on {truth['redelivery']['delivered_at']}, "
        f"{generated.profiles.height} profiles.",
        highlight=False,
    )
    console.print(
        f"Channels: {channel_text}. True prevalence {truth['prevalence']:.1%}; "
        "every true parameter is in ground_truth.json.",
        highlight=False,
    )

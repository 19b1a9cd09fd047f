"""Shared pieces of the CLI: the root app, the ``--home`` option every command takes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from customs_kpi.settings import Settings, load_settings

app = typer.Typer(
    name="customs-kpi",
    help="Customs risk-management KPIs: load inspection outcomes, compute KPIs, serve the "
    "dashboard, produce monthly snapshots.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Piped or logged output (make run, CI) gets 80 columns from rich by default, which truncates
# the summary tables; a terminal keeps its own width.
_WIDTH = None if sys.stdout.isatty() else 150
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        envvar="CUSTOMS_KPI_HOME",
        help="Folder holding warehouse, published snapshots, inbox, quarantine and exports "
        "(default ./var).",
        show_default=False,
    ),
]


def settings_for(home: Path | None, **overrides: Any) -> Settings:
    """Settings from the environment, with ``--home`` and other flags on top; HOME is created."""
    try:
        settings = load_settings(home=home, **overrides)
    except ValueError as exc:
        raise fail(f"settings: {exc}") from None
    settings.ensure_home()
    return settings


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error on stderr and return the Exit to raise (``raise fail(...)``)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


@app.callback()
def _root() -> None:
    """Customs risk-management KPIs: load inspection outcomes, compute KPIs, serve the dashboard,
    produce monthly snapshots. Every command takes --home DIR (env CUSTOMS_KPI_HOME)."""

"""Shared pieces of the CLI: the root app, the ``--home`` option every command takes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from customs_kpi.settings import Settings, load_settings


class _Group(TyperGroup):
    """The root command: an operating-system or database error that escapes a command (a
    read-only or full HOME, a missing permission) ends it with one line naming the path and
    the cause, exit 1, not a traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            message = environment_problem(exc)
            if message is None:
                raise
            raise fail(message) from None


def environment_problem(exc: BaseException) -> str | None:
    """One line for an error of the environment (file system, database files), None for
    anything else (a bug: its traceback is kept)."""
    import sqlite3

    import duckdb

    environment = isinstance(exc, OSError | sqlite3.OperationalError | duckdb.IOException)
    if not environment and not (isinstance(exc, duckdb.Error) and _is_disk_problem(str(exc))):
        return None
    from etl.publish import describe_error

    cause = describe_error(exc)
    if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc).lower():
        cause = f"read-only ({exc})"
    return f"{cause} (HOME must be writable and have free space)"


def _is_disk_problem(text: str) -> bool:
    lowered = text.lower()
    return any(
        s in lowered for s in ("no space left", "read-only", "readonly", "permission denied")
    )


app = typer.Typer(
    cls=_Group,
    name="customs-kpi",
    help="Customs risk-management KPIs: load inspection outcomes, compute KPIs, serve the "
    "dashboard, produce monthly reports.",
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
        help="Folder holding warehouse, published versions, inbox, quarantine and exports "
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
    produce monthly reports. Every command takes --home DIR (env CUSTOMS_KPI_HOME)."""

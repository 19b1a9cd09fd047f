"""``customs-kpi``: the one command-line entry point, a thin layer over the packages.

Each command group lives in its own module and registers itself on :data:`app` when imported;
implementations are imported inside the commands so ``customs-kpi --help`` stays fast.
"""

from __future__ import annotations

from customs_kpi.cli import (  # noqa: F401  (imported for their command registrations)
    etl_cmds,
    kpi_cmds,
    publish_cmds,
    sample_cmds,
    user_cmds,
    web_cmds,
    worker_cmds,
)
from customs_kpi.cli.common import HomeOption, app, console, settings_for


@app.command("settings")
def show_settings(home: HomeOption = None) -> None:
    """Print every setting, its environment variable, its value and what it does."""
    from rich.table import Table

    from customs_kpi.settings import settings_help

    current = settings_for(home)
    table = Table("setting", "environment variable", "value", "help")
    for name, env, _default, help_text in settings_help():
        table.add_row(name, env, str(getattr(current, name)), help_text)
    console.print(table)


def main() -> None:
    app()


__all__ = ["app", "main"]

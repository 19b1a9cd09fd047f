"""Every command, setting and public KPI is documented in README.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from customs_kpi.cli import app
from customs_kpi.settings import settings_help
from kpis import catalogue

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(group: Any, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        names.append(full)
        if hasattr(command, "commands"):
            names += _commands(command, prefix=f"{full} ")
    return names


def test_every_command_is_in_the_readme() -> None:
    root = typer.main.get_command(app)
    commands = _commands(root)
    assert {"load", "kpis show", "users add", "worker", "report"} <= set(commands)
    missing = []
    for name in commands:
        _, _, sub = name.partition(" ")
        # a sub-command may be listed as `customs-kpi GROUP SUB` or as `/ SUB` after its group
        if f"customs-kpi {name}" not in README and f"`{sub}`" not in README:
            missing.append(name)
    assert missing == []


def test_every_setting_is_in_the_readme() -> None:
    missing = [env for _, env, _, _ in settings_help() if f"`{env}`" not in README]
    assert missing == []


def test_every_public_kpi_is_in_the_readme() -> None:
    missing = [kpi_id for kpi_id in catalogue.PUBLIC_IDS if f"`{kpi_id}`" not in README]
    assert missing == []


def test_readme_starts_with_the_two_commands() -> None:
    top = README[:600]
    assert "make run" in top and "make test" in top

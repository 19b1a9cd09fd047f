"""Every command, setting and public KPI is documented in README.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from customs_kpi.cli import app
from customs_kpi.settings import settings_help
from kpis import catalogue

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


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


ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def test_the_docs_live_in_the_repository() -> None:
    for name in ("architecture.md", "data-contract.md", "kpis.md", "style.md"):
        assert (DOCS / name).is_file(), name


def test_nothing_points_outside_the_repository() -> None:
    """A clone is complete: no document, docstring or test refers to ``../shared``."""
    paths = [ROOT / "README.md", ROOT / "DEVELOPING.md", *DOCS.glob("*.md")]
    for package in ("customs_kpi", "etl", "kpis", "dashboard", "bench", "tests"):
        paths += (ROOT / package).rglob("*.py")
    offenders = []
    for path in paths:
        if path.name == Path(__file__).name:
            continue
        text = path.read_text(encoding="utf-8")
        if "../shared" in text or '"shared" / "design"' in text or "shared/design" in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_data_contract_names_every_column_and_mapping_key() -> None:
    from etl import mapping
    from etl.contract import CANONICAL, PROFILE_CHANGE_COLUMNS, PROFILE_COLUMNS

    text = (DOCS / "data-contract.md").read_text(encoding="utf-8")
    columns = [c.name for c in (*CANONICAL, *PROFILE_COLUMNS, *PROFILE_CHANGE_COLUMNS)]
    missing = [c for c in columns if f"`{c}`" not in text]
    missing += [f"[{s}]" for s in mapping._SECTIONS if f"`{s}`" not in text]
    missing += [f"source.{k}" for k in mapping._SOURCE_KEYS if f"`{k}`" not in text]
    assert missing == []


def test_the_architecture_names_every_package() -> None:
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    packages = sorted(
        p.name
        for p in ROOT.iterdir()
        if p.is_dir() and (p / "__init__.py").is_file() and p.name not in {"tests"}
    )
    assert "kpis" in packages
    assert [p for p in packages if f"`{p}/`" not in text] == []

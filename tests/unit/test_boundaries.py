"""Import boundaries of docs/architecture.md, checked on the source (AST, every import statement,
including imports inside functions and under TYPE_CHECKING):

* kpis imports polars and the standard library only;
* the dashboard uses only the worker's state files (worker.jobs, worker.queue) and the report
  listing (monthly_report.listing), which import the standard library and customs_kpi core only.

The forbidden imports between packages (etl never imports dashboard and vice versa, appstate
imports no side that uses it, the monthly report never the warehouse...) are import-linter
contracts in pyproject.toml, run here and by `make lint`.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imported_modules(path: Path, root: Path = ROOT) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in a file; relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield node.lineno, module


def top_level(module: str) -> str:
    return module.split(".", 1)[0]


def violations(
    package: str, allowed: frozenset[str] | None, forbidden: frozenset[str]
) -> list[str]:
    found = []
    for path in python_files(package):
        for line, module in imported_modules(path):
            top = top_level(module)
            bad = top in forbidden or (allowed is not None and top not in allowed)
            if bad:
                found.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return found


def test_the_packages_exist() -> None:
    for package in ("kpis", "etl", "appstate", "dashboard", "monthly_report"):
        assert python_files(package), package


def test_kpis_imports_only_polars_and_the_standard_library() -> None:
    allowed = frozenset({"polars", "kpis", "__future__"}) | frozenset(sys.stdlib_module_names)
    assert violations("kpis", allowed, frozenset()) == []


# What the web app may use of the worker: its state files, never the scheduler.
WORKER_SHARED = frozenset({"worker.jobs", "worker.queue"})
# Shared with the web app too, like them standard library and core only.
REPORT_LISTING = "monthly_report.listing"


def test_the_shared_state_files_import_only_the_standard_library_and_core() -> None:
    shared = {*WORKER_SHARED, REPORT_LISTING}
    allowed = frozenset({"__future__", "customs_kpi.clock", "customs_kpi.settings", *shared})
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in (ROOT / f"{name.replace('.', '/')}.py" for name in shared)
        for line, module in imported_modules(path)
        if module not in allowed and top_level(module) not in sys.stdlib_module_names
    ]
    assert found == []


def test_the_layering_contracts_hold() -> None:
    """The import-linter contracts of pyproject.toml (docs/architecture.md's table): forbidden
    imports between the packages, indirect chains included."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_layering_contracts_catch_a_forbidden_import(tmp_path: Path) -> None:
    """The contracts are not vacuous: run on a copy of the layout with empty packages, where
    one dashboard module imports etl, they report that contract broken."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    config = text[text.index("[tool.importlinter]") :]
    (tmp_path / "pyproject.toml").write_text(config, encoding="utf-8")
    for package in tomllib.loads(config)["tool"]["importlinter"]["root_packages"]:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("", encoding="utf-8")
    for module in (
        "customs_kpi/settings",
        "customs_kpi/clock",
        "customs_kpi/published",
        "customs_kpi/cli",
        "worker/jobs",
        "worker/queue",
        "worker/scheduler",
        "worker/housekeeping",
        "etl/load",
    ):
        (tmp_path / f"{module}.py").write_text("", encoding="utf-8")
    (tmp_path / "dashboard" / "page.py").write_text("import etl.load\n", encoding="utf-8")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0, result.stdout
    assert "the dashboard never touches the warehouse or runs the worker BROKEN" in result.stdout
    assert "dashboard.page -> etl.load" in result.stdout


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import numpy as np\n", "numpy"),
        ("from scipy.stats import norm\n", "scipy.stats"),
        ("def f():\n    import duckdb\n", "duckdb"),
        ("from ..etl import load\n", "etl"),
    ],
)
def test_the_scanner_sees_every_import(tmp_path: Path, source: str, module: str) -> None:
    probe = tmp_path / "kpis" / "probe.py"
    probe.parent.mkdir()
    probe.write_text(source, encoding="utf-8")
    assert module in [m for _, m in imported_modules(probe, root=tmp_path)]

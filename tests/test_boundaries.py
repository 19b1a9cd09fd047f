"""Import boundaries of ARCHITECTURE.md, checked on the source (AST, every import statement,
including imports inside functions and under TYPE_CHECKING):

* kpis imports polars and the standard library only;
* etl never imports dashboard; dashboard never imports etl;
* the dashboard uses only the worker's state files (worker.jobs, worker.queue) and the report
  listing (monthly_report.listing), which import the standard library and customs_kpi core only;
* monthly_report reads the published version, never the warehouse: it imports neither etl nor
  the web side, the worker or the app state;
* appstate (the app-state database) never imports dashboard, etl, worker or monthly_report,
  and etl never imports appstate.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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


def test_etl_never_imports_dashboard() -> None:
    assert violations("etl", None, frozenset({"dashboard"})) == []


def test_dashboard_never_imports_etl() -> None:
    assert violations("dashboard", None, frozenset({"etl"})) == []


# What the web app may use of the worker: its state files, never the scheduler.
WORKER_SHARED = frozenset({"worker.jobs", "worker.queue"})
# Shared with the web app too, like them standard library and core only.
REPORT_LISTING = "monthly_report.listing"


def test_monthly_report_never_imports_etl_the_web_side_or_the_worker() -> None:
    forbidden = frozenset({"etl", "dashboard", "worker", "appstate"})
    assert violations("monthly_report", None, forbidden) == []


def test_the_dashboard_uses_only_the_worker_state_files() -> None:
    found = []
    for path in python_files("dashboard"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module == "worker":
                names = [f"worker.{alias.name}" for alias in node.names]  # from worker import x
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno} imports {name}"
                for name in names
                if top_level(name) == "worker"
                and ".".join(name.split(".")[:2]) not in WORKER_SHARED
            ]
    assert found == []


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


def test_appstate_imports_no_side_that_uses_it() -> None:
    forbidden = frozenset({"dashboard", "etl", "worker", "monthly_report"})
    assert violations("appstate", None, forbidden) == []


def test_etl_never_imports_appstate() -> None:
    assert violations("etl", None, frozenset({"appstate"})) == []


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

"""KPI ids are greppable: no f-string or concatenation anywhere in the code builds one, so every
place that uses a KPI names it literally (docs/style.md, "Names you can grep")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from kpis import catalogue

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kpis", "etl", "customs_kpi", "appstate", "dashboard", "monthly_report", "worker")
IDS = tuple(k.id for k in catalogue.CATALOGUE)
# Built strings that look like ids but are not: (file, line text) -> why.
NOT_IDS = {
    ("kpis/beforeafter.py", 'f"hit_rate_{prefix}"'): "before/after columns, prefix before|after",
    ("kpis/beforeafter.py", 'f"revenue_{prefix}"'): "before/after columns, prefix before|after",
}


def _pattern(node: ast.JoinedStr | ast.BinOp) -> re.Pattern[str] | None:
    """A regex for what a built string can be: literal parts kept, other parts any text.
    None when no literal part is long enough to point at a KPI id."""
    parts: list[ast.expr] = []

    def flatten(n: ast.expr) -> None:
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Add):
            flatten(n.left)
            flatten(n.right)
        elif isinstance(n, ast.JoinedStr):
            parts.extend(n.values)
        else:
            parts.append(n)

    flatten(node)
    literals = [p.value for p in parts if isinstance(p, ast.Constant) and isinstance(p.value, str)]
    if not literals or max(len(t) for t in literals) < 3 or len(literals) == len(parts):
        return None
    regex = "".join(
        re.escape(p.value) if isinstance(p, ast.Constant) and isinstance(p.value, str) else ".+"
        for p in parts
    )
    return re.compile(regex)


def built_ids(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        is_concat = (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Add)
            and any(
                isinstance(s, ast.Constant) and isinstance(s.value, str) for s in ast.walk(node)
            )
        )
        if not (isinstance(node, ast.JoinedStr) or is_concat):
            continue
        pattern = _pattern(node)  # type: ignore[arg-type]
        if pattern is None:
            continue
        hits = [kpi_id for kpi_id in IDS if pattern.fullmatch(kpi_id)]
        if hits and (filename, ast.get_source_segment(source, node)) not in NOT_IDS:
            found.append(f"{filename}:{node.lineno} can build {', '.join(hits)}")
    return found


def test_no_code_builds_a_kpi_id() -> None:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found += built_ids(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert found == []


def test_the_scan_sees_built_ids() -> None:
    source = 'a = f"hit_rate_{lane}"\nb = "release_time" + suffix\nc = f"{x}"\nd = "hit_rate"\n'
    found = built_ids(source, "probe.py")
    assert [line.split(" can build ")[0] for line in found] == ["probe.py:1", "probe.py:2"]
    assert "hit_rate_red" in found[0] and "release_time_p90" in found[1]

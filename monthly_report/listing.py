"""The produced monthly reports: ``HOME/reports/YYYY-MM/vN/manifest.json``, read back.

Stdlib and core only (no rendering library): the dashboard's Reports page, the CLI and the worker
list and serve reports through here; :mod:`monthly_report.producer` writes them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from customs_kpi.clock import MONTH_RE, parse_month
from customs_kpi.settings import Settings

VERSION_RE = re.compile(r"^v(\d+)$")


@dataclass(frozen=True)
class ReportFile:
    name: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class ReportVersion:
    """One produced version of a monthly report (its manifest, summarised)."""

    month: str  # YYYY-MM
    version: int
    path: Path
    status: str  # final | draft
    reason: str
    created_at: str
    data_as_of: str | None
    published_version: str | None
    pending_controls: int
    files: tuple[ReportFile, ...]

    @property
    def label(self) -> str:
        return f"{self.month} v{self.version}"


def _read_manifest(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing or corrupt: the version is not listed (a page must not break)


def list_reports(settings: Settings, month: str | None = None) -> list[ReportVersion]:
    """Every complete report version (newest month first, then newest version first).

    A version folder without a manifest is an interrupted run (the producer writes the manifest
    last, then renames the folder), so it is not listed.
    """
    root = settings.reports_dir
    if not root.is_dir():
        return []
    out: list[ReportVersion] = []
    for month_dir in root.iterdir():
        if not month_dir.is_dir() or not MONTH_RE.match(month_dir.name):
            continue
        if month is not None and month_dir.name != month:
            continue
        for vdir in month_dir.iterdir():
            vm = VERSION_RE.match(vdir.name)
            if not vm or not vdir.is_dir():
                continue
            manifest = _read_manifest(vdir / "manifest.json")
            if not isinstance(manifest, dict):
                continue
            out.append(
                ReportVersion(
                    month=month_dir.name,
                    version=int(vm.group(1)),
                    path=vdir,
                    status=str(manifest.get("status", "final")),
                    reason=str(manifest.get("reason", "")),
                    created_at=str(manifest.get("created_at", "")),
                    data_as_of=manifest.get("data_as_of"),
                    published_version=manifest.get("published_version"),
                    pending_controls=int(manifest.get("pending_controls") or 0),
                    files=tuple(
                        ReportFile(f["name"], int(f["bytes"]), f["sha256"])
                        for f in manifest.get("files", [])
                    ),
                )
            )
    out.sort(key=lambda s: (s.month, s.version), reverse=True)
    return out


def report_file(settings: Settings, month: str, version: int, name: str) -> Path | None:
    """The path of one file of a report version, only if its manifest lists it.

    Downloads go through here so that a crafted name (``../../app.db``) can never leave the
    reports folder: only names recorded in the manifest are served.
    """
    try:
        parse_month(month)
    except ValueError:
        return None
    for report in list_reports(settings, month):
        if report.version == version:
            if any(f.name == name for f in report.files) or name == "manifest.json":
                path = report.path / name
                return path if path.is_file() else None
            return None
    return None


def months_with_final_report(settings: Settings) -> set[str]:
    return {s.month for s in list_reports(settings) if s.status == "final"}

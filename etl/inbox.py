"""The drop folder HOME/inbox: load every new delivery, then move it to done/ or failed/.

Layout::

    HOME/inbox/<file>                      canonical deliveries
    HOME/inbox/<source>/mapping.toml       one folder per source with its own mapping...
    HOME/inbox/<source>/<file>             ...for the files dropped there
    HOME/inbox/done/, HOME/inbox/failed/   processed files (failed ones with <file>.error.txt)

Producers should write a file under a temporary name (a leading dot, or ``.part``/``.tmp``)
and rename it when complete: such names are never picked up half-written.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from customs_kpi.settings import Settings
from etl.load import LoadResult, Progress, load_files

DONE = "done"
FAILED = "failed"
MAPPING_NAME = "mapping.toml"
_IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload", ".toml")


def _deliveries(folder: Path) -> list[Path]:
    files = [
        p
        for p in folder.iterdir()
        if p.is_file()
        and not p.name.startswith(".")
        and not p.name.lower().endswith(_IN_PROGRESS_SUFFIXES)
        and not p.name.endswith(".error.txt")
    ]
    return files


def pending_deliveries(settings: Settings) -> list[tuple[Path, Path | None]]:
    """(file, mapping or None) for every delivery waiting in the inbox, oldest first."""
    inbox = settings.inbox_dir
    inbox.mkdir(parents=True, exist_ok=True)
    found: list[tuple[Path, Path | None]] = [(p, None) for p in _deliveries(inbox)]
    for folder in sorted(p for p in inbox.iterdir() if p.is_dir()):
        if folder.name in (DONE, FAILED) or folder.name.startswith("."):
            continue
        mapping = folder / MAPPING_NAME
        found += [(p, mapping if mapping.exists() else None) for p in _deliveries(folder)]
    # Oldest first across all sources: a later delivery must replace an earlier one.
    return sorted(found, key=lambda item: (item[0].stat().st_mtime, item[0].name))


def _move(path: Path, folder: Path) -> Path:
    """Move into ``folder`` without overwriting an earlier file of the same name."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        target = folder / f"{datetime.now():%Y%m%dT%H%M%S%f}-{path.name}"
    os.replace(path, target)
    return target


def process_inbox(settings: Settings, *, progress: Progress | None = None) -> list[LoadResult]:
    """Load every pending delivery (each its own transaction), move it to done/ or failed/."""
    results: list[LoadResult] = []
    for path, mapping in pending_deliveries(settings):
        result = load_files(settings, [path], mapping, progress=progress)[0]
        results.append(result)
        if result.status == "failed":
            moved = _move(path, settings.inbox_dir / FAILED)
            moved.with_name(moved.name + ".error.txt").write_text(
                result.message + "\n", encoding="utf-8"
            )
        else:
            _move(path, settings.inbox_dir / DONE)
    return results

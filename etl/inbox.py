"""The drop folder HOME/inbox: load every new delivery, then move it to done/ or failed/.

Layout::

    HOME/inbox/<file>                      canonical deliveries
    HOME/inbox/<source>/mapping.toml       one folder per source with its own mapping...
    HOME/inbox/<source>/<file>             ...for the files dropped there
    HOME/inbox/done/, HOME/inbox/failed/   processed files (failed ones with <file>.error.txt)

Producers should write a file under a temporary name (a leading dot, or ``.part``/``.tmp``)
and rename it when complete: such names are never picked up half-written.

A file copied in under its final name is taken only once it is quiet: nothing has written to
it for :data:`QUIET_SECONDS` (its modification time), or its size and modification time stayed
the same across polls that far apart (a modification time ahead of this clock), and they are the
same just before it is loaded as when it was listed. A file that still changed while it was
being loaded (or vanished) is left where it is and not moved: the next poll loads it again
whole (a later load of the same declarations replaces the earlier rows).

Only regular files inside the inbox are read: symbolic links (files, source folders,
mapping.toml, done/ or failed/) are refused, never followed, and nothing is written through a
link (error files are created with ``O_EXCL | O_NOFOLLOW``).
"""

from __future__ import annotations

import logging
import os
import stat
import time
from datetime import UTC, datetime
from pathlib import Path

from customs_kpi.published import RunStatus
from customs_kpi.settings import Settings
from etl.load import LoadResult, Progress, load_files

log = logging.getLogger("customs_kpi.inbox")

DONE = "done"
FAILED = "failed"
MAPPING_NAME = "mapping.toml"
_IN_PROGRESS_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload", ".toml")
# Seconds without a write before a delivery is loaded (the worker polls every 60 s by default).
QUIET_SECONDS = 10.0


class InboxError(RuntimeError):
    """The inbox itself is unsafe to use (done/ or failed/ is not a real folder)."""


def _candidates(folder: Path) -> list[Path]:
    """Names that look like deliveries (whatever their type: checked with lstat)."""
    return [
        p
        for p in folder.iterdir()
        if not p.name.startswith(".")
        and not p.name.lower().endswith(_IN_PROGRESS_SUFFIXES)
        and not p.name.endswith(".error.txt")
    ]


def _refusal(path: Path, st: os.stat_result) -> str | None:
    """Why a delivery candidate is refused (None: a regular file, read normally)."""
    if stat.S_ISLNK(st.st_mode):
        return "refused: a symbolic link (the inbox takes regular files only; nothing was read)"
    if not stat.S_ISREG(st.st_mode):
        return "refused: not a regular file (nothing was read)"
    return None


def _deliveries(folder: Path) -> list[Path]:
    """Regular files (not links) waiting in ``folder``."""
    out = []
    for p in _candidates(folder):
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            out.append(p)
    return out


def _source_folders(inbox: Path) -> list[Path]:
    folders = []
    for p in sorted(inbox.iterdir()):
        if p.name in (DONE, FAILED) or p.name.startswith("."):
            continue
        if p.is_symlink():
            if p.is_dir():
                log.warning("inbox: %s is a symbolic link to a folder: ignored", p)
            continue
        if p.is_dir():
            folders.append(p)
    return folders


def _mapping(folder: Path) -> tuple[bool, Path | None]:
    """(usable, mapping or None): a mapping.toml that is a link or not a file makes the
    whole folder unusable (its files are never loaded with the wrong mapping)."""
    mapping = folder / MAPPING_NAME
    try:
        st = os.lstat(mapping)
    except FileNotFoundError:
        return True, None
    return (True, mapping) if stat.S_ISREG(st.st_mode) else (False, None)


def pending_deliveries(settings: Settings) -> list[tuple[Path, Path | None]]:
    """(file, mapping or None) for every delivery waiting in the inbox, oldest first (quiet
    or not: :func:`process_inbox` decides when each is loaded)."""
    inbox = settings.inbox_dir
    inbox.mkdir(parents=True, exist_ok=True)
    found: list[tuple[Path, Path | None]] = [(p, None) for p in _deliveries(inbox)]
    for folder in _source_folders(inbox):
        usable, mapping = _mapping(folder)
        if not usable:
            log.warning("inbox: %s is not a regular file: folder ignored", folder / MAPPING_NAME)
            continue
        found += [(p, mapping) for p in _deliveries(folder)]
    # Oldest first across all sources: a later delivery must replace an earlier one.
    return sorted(found, key=lambda item: (_mtime(item[0]), item[0].name))


def _mtime(path: Path) -> float:
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0.0


def refused_entries(settings: Settings) -> list[tuple[Path, str]]:
    """Links and other non-regular files dropped where deliveries go, with the reason."""
    inbox = settings.inbox_dir
    folders = [inbox] + [f for f in _source_folders(inbox) if _mapping(f)[0]]
    out = []
    for folder in folders:
        for p in _candidates(folder):
            if folder == inbox and p.name in (DONE, FAILED):
                continue
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                continue  # source folders (handled above)
            reason = _refusal(p, st)
            if reason is not None:
                out.append((p, reason))
    return out


def _safe_folder(settings: Settings, name: str) -> Path:
    """done/ or failed/, created as a real folder; a link there is an error, never followed."""
    folder = settings.inbox_dir / name
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
        st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode):
        raise InboxError(
            f"{folder} is not a folder (a symbolic link or a file): remove it; the inbox "
            "writes nothing through links"
        )
    return folder


def _move(path: Path, folder: Path) -> Path:
    """Move into ``folder`` without overwriting an earlier file of the same name (the entry
    itself is moved: a link stays a link, its target is never touched)."""
    target = folder / path.name
    if os.path.lexists(target) or os.path.lexists(f"{target}.error.txt"):
        target = folder / f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{path.name}"
    os.replace(path, target)
    return target


def _write_error(moved: Path, message: str) -> None:
    """``<file>.error.txt`` next to the failed file: a new file, never through a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    path = moved.with_name(moved.name + ".error.txt")
    try:
        fd = os.open(path, flags, 0o644)
    except FileExistsError:
        path = moved.with_name(f"{moved.name}.{time.time_ns()}.error.txt")
        fd = os.open(path, flags, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(message + "\n")


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


# path -> (signature, when first seen with it): a file whose modification time lies ahead of
# this clock (a file server's clock running fast) is still taken once it has stayed the same
# for QUIET_SECONDS across polls.
_seen: dict[Path, tuple[tuple[int, int, int], float]] = {}


def _quiet(path: Path, signature: tuple[int, int, int], clock: float) -> bool:
    previous = _seen.get(path)
    if previous is None or previous[0] != signature:
        _seen[path] = (signature, clock)
        previous = _seen[path]
    if clock - signature[1] / 1e9 >= QUIET_SECONDS or clock - previous[1] >= QUIET_SECONDS:
        _seen.pop(path, None)
        return True
    return False


def _fail_entry(settings: Settings, path: Path, reason: str) -> LoadResult:
    result = LoadResult(run_id=None, status=RunStatus.FAILED, file_name=path.name)
    result.message = f"{path.name}: {reason}"
    moved = _move(path, _safe_folder(settings, FAILED))
    _write_error(moved, result.message)
    log.warning("inbox: %s", result.message)
    return result


def process_inbox(
    settings: Settings, *, progress: Progress | None = None, now: float | None = None
) -> list[LoadResult]:
    """Load every quiet delivery (each its own transaction), move it to done/ or failed/.

    ``now`` (seconds since the epoch, default the clock) decides which files are quiet.
    Refused entries (links, devices) are moved to failed/ with their reason, unread.
    """
    results: list[LoadResult] = []
    done_dir, failed_dir = _safe_folder(settings, DONE), _safe_folder(settings, FAILED)
    for path, reason in refused_entries(settings):
        results.append(_fail_entry(settings, path, reason))
    clock = time.time() if now is None else now
    pending = pending_deliveries(settings)
    for gone in set(_seen) - {path for path, _ in pending}:
        _seen.pop(gone, None)
    for path, mapping in pending:
        before = _signature(path)
        if before is None:
            continue  # gone (or replaced by a link: refused at the next poll)
        if not _quiet(path, before, clock):
            log.info("inbox: %s was written less than %s s ago: loaded later", path, QUIET_SECONDS)
            continue
        result = load_files(settings, [path], mapping, progress=progress)[0]
        results.append(result)
        after = _signature(path)
        if after != before:
            # Still being written (or removed) while it was read: what was loaded may be a part
            # of it. Leave it: the next poll loads the whole file again.
            what = "vanished" if after is None else "changed"
            result.message += f"; the file {what} while it was being loaded: " + (
                "nothing more to do"
                if after is None
                else "it stays in the inbox and is loaded again"
            )
            if after is not None and result.status != RunStatus.FAILED:
                result.status = RunStatus.FAILED
            continue
        if result.status == RunStatus.FAILED:
            moved = _move(path, failed_dir)
            _write_error(moved, result.message)
        else:
            _move(path, done_dir)
    return results

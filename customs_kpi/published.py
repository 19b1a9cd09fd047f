"""Read side of published versions: what the dashboard, the KPI CLI and exports read.

Never opens the warehouse file (DuckDB allows one writer *or* many readers, and a reader would
block the ETL). A published version (see etl/publish.py for the writer and DEVELOPING.md for the
layout) is immutable, so everything read from it can be cached for as long as the version is
alive: small tables are read once per version, facts are queried through an in-memory DuckDB
database per version with one cursor per thread. A reader keeps the :class:`PublishedVersion` it
opened even when a newer version becomes current; housekeeping waits a grace period before
removing it.

Safe in several processes (nothing shared but read-only files) and threads (locks around the
caches, one DuckDB cursor per thread).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from customs_kpi.clock import as_utc, utc_now
from customs_kpi.settings import Settings

# --- Layout shared with the writer (etl.publish imports these) ---------------------------------
CURRENT_FILE = "CURRENT"
MANIFEST_FILE = "manifest.json"
PUBLISH_FAILURE_FILE = ".publish_failed.json"  # written by etl.publish, removed on success
FACT_TABLES: tuple[str, ...] = ("declarations", "profile_hits")
PARTITION_COLUMN = "lodged_month"


class RunStatus(StrEnum):
    """A run's ``status`` in the run log (table ``runs``, written by :mod:`etl.runs` only, read
    here as the published ``runs`` table) and in ``etl.load.LoadResult``."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # the same bytes were loaded before


# current_version() re-reads CURRENT at most this often per process.
CURRENT_CHECK_SECONDS = 1.0
# PublishedVersion objects kept per process: the current one and a few it replaced, for readers that
# still hold them (they keep their own reference anyway; this only avoids re-reading).
_CACHED_VERSIONS = 4


# Version folder names: v<sequence>-<UTC time>, e.g. v000042-20261127T145501.
VERSION_RE = re.compile(r"^v(\d{6,})-(\d{8}T\d{6})$")


class PublishedVersionError(RuntimeError):
    """A published version is missing or unreadable."""


def version_seq(name: str) -> int | None:
    """Sequence number of a version folder name, None when it is not one."""
    match = VERSION_RE.match(name)
    return int(match.group(1)) if match else None


def list_versions(published_dir: Path) -> list[str]:
    """Published version folder names, oldest first (temp folders excluded)."""
    try:
        entries = list(published_dir.iterdir())
    except OSError:
        return []
    names = [p.name for p in entries if version_seq(p.name) and p.is_dir() and not p.is_symlink()]
    return sorted(names, key=lambda n: (version_seq(n) or 0, n))


def file_sha256(path: Path) -> str:
    """SHA-256 of a file: a published file (recorded in the manifest, checked before it is
    linked) or a delivery (``etl.load``: loaded once by content)."""
    digest = hashlib.sha256()
    # One reused buffer, unbuffered reads: no copy and no allocation per chunk (a 2 GB file
    # hashes in 1.5 s instead of 1.9 s).
    buffer = bytearray(1 << 24)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as fh:
        while size := fh.readinto(buffer):
            digest.update(view[:size])
    return digest.hexdigest()


def version_problems(version_dir: Path, *, deep: bool = True) -> list[str]:
    """What is wrong with a published version (empty = valid).

    Always: the manifest is readable and every file it lists exists with the recorded size.
    ``deep``: also each file's SHA-256 and row count (reads every byte: ``customs-kpi verify``).
    Manifests older than checksums (no ``file_checks``) are checked for presence only.
    """
    try:
        manifest = read_manifest(version_dir)
    except (OSError, ValueError) as exc:
        return [f"{version_dir / MANIFEST_FILE}: unreadable ({exc})"]
    checks: dict[str, dict[str, Any]] = manifest.get("file_checks") or {}
    files = [f for info in (manifest.get("tables") or {}).values() for f in info.get("files", [])]
    problems: list[str] = []
    database: duckdb.DuckDBPyConnection | None = None
    try:
        for rel in files:
            path = version_dir / rel
            expected = checks.get(rel)
            try:
                size = path.stat().st_size
            except OSError as exc:
                problems.append(f"{path}: missing ({exc.strerror or exc})")
                continue
            if expected is None:
                continue
            if size != expected.get("bytes"):
                problems.append(f"{path}: {size} bytes, the manifest says {expected.get('bytes')}")
                continue
            if not deep:
                continue
            try:
                if file_sha256(path) != expected.get("sha256"):
                    problems.append(f"{path}: checksum differs from the manifest (damaged)")
                    continue
                database = database or duckdb.connect(":memory:")
                rows = database.sql(
                    "SELECT num_rows FROM parquet_file_metadata($1)", params=[str(path)]
                ).fetchall()[0][0]
            except (OSError, duckdb.Error) as exc:
                problems.append(f"{path}: unreadable ({exc})")
                continue
            if int(rows) != expected.get("rows"):
                problems.append(f"{path}: {rows} rows, the manifest says {expected.get('rows')}")
    finally:
        if database is not None:
            database.close()
    return problems


def read_current(published_dir: Path) -> str | None:
    """The current version's folder name, None when nothing has been published."""
    try:
        raw = (published_dir / CURRENT_FILE).read_bytes()
    except OSError:
        return None  # missing or unreadable: readers fall back (current_version)
    # A garbled pointer is returned as it is (not a version name): readers fall back too.
    name = raw.decode("utf-8", errors="replace").strip()
    return name or None


@dataclass(frozen=True)
class PublishFailure:
    """The last publish that failed (the dashboard shows an older version than the
    warehouse holds until a publish succeeds)."""

    at: datetime | None
    run_id: int | None
    message: str

    @property
    def text(self) -> str:
        when = f" at {self.at:%Y-%m-%d %H:%M} UTC" if self.at else ""
        run = f" (run {self.run_id})" if self.run_id is not None else ""
        return (
            f"The last publish failed{when}{run}: {self.message}. The dashboard shows the "
            "previous version; the next load, publish or worker poll publishes again."
        )


def publish_failure(settings: Settings) -> PublishFailure | None:
    """The last publish failure, None when the last publish succeeded (for a banner)."""
    try:
        raw = json.loads((settings.published_dir / PUBLISH_FAILURE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    at = raw.get("at")
    try:
        when = datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        when = None
    run = raw.get("run_id")
    return PublishFailure(
        at=when, run_id=run if isinstance(run, int) else None, message=str(raw.get("message"))
    )


def read_manifest(version_dir: Path) -> dict[str, Any]:
    """The manifest.json of a version folder."""
    with (version_dir / MANIFEST_FILE).open(encoding="utf-8") as fh:
        manifest: dict[str, Any] = json.load(fh)
    return manifest


def _parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class PublishedVersion:
    """One immutable published version.

    ``version``: folder name; ``path``: the folder; ``manifest``: manifest.json as a dict;
    ``data_as_of``: when the latest successful load finished (None before any load).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.version = path.name
        try:
            self.manifest: dict[str, Any] = read_manifest(path)
        except (OSError, ValueError) as exc:
            raise PublishedVersionError(f"published version {path} is unreadable: {exc}") from exc
        self.data_as_of: datetime | None = _parse_datetime(self.manifest.get("data_as_of"))
        # Set by current_version() when this version is served because CURRENT is broken (a
        # sentence for a banner: "showing the newest valid version …"), None otherwise.
        self.notice: str | None = None
        self._tables: dict[str, pl.DataFrame] = {}
        self._lock = threading.Lock()
        self._database: duckdb.DuckDBPyConnection | None = None
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"PublishedVersion({self.version!r})"

    @property
    def created_at(self) -> datetime | None:
        return _parse_datetime(self.manifest.get("created_at"))

    @property
    def table_names(self) -> list[str]:
        return sorted(self.manifest.get("tables", {}))

    def months(self) -> list[date]:
        """The lodged_months holding declarations, oldest first."""
        return [date.fromisoformat(m) for m in self.manifest.get("months", [])]

    def _table_info(self, name: str) -> dict[str, Any]:
        tables: dict[str, dict[str, Any]] = self.manifest.get("tables", {})
        if name not in tables:
            raise KeyError(f"no table {name!r} in published version {self.version}")
        return tables[name]

    # --- Small tables, in memory ---------------------------------------------------------------
    def table(self, name: str) -> pl.DataFrame:
        """A whole small or cube table (cube_*, profiles, profile_changes, runs, quarantine),
        read once per version and cached. Facts are too big for this: use :meth:`query`."""
        if name in FACT_TABLES:
            raise ValueError(f"{name} is a fact table: query it with PublishedVersion.query()")
        cached = self._tables.get(name)
        if cached is not None:
            return cached
        info = self._table_info(name)
        with self._lock:
            cached = self._tables.get(name)
            if cached is None:
                cached = pl.read_parquet(self.path / info["files"][0])
                self._tables[name] = cached
        return cached

    # --- SQL over everything -------------------------------------------------------------------
    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Run a SELECT over this version: every table is a view (``declarations``,
        ``profile_hits`` hive-partitioned on lodged_month, so a filter on lodged_month reads only
        those months). ``params`` bind ``?`` / ``$1`` placeholders."""
        cursor = self._cursor()
        relation = cursor.sql(sql, params=params) if params else cursor.sql(sql)
        if relation is None:
            return pl.DataFrame()
        return relation.pl()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._open_database().cursor()
            self._local.cursor = cursor
        return cursor

    def _open_database(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._database is None:
                database = duckdb.connect(":memory:")
                for name in self.table_names:
                    database.sql(f"CREATE VIEW {_quote_ident(name)} AS {self._view_sql(name)}")
                self._database = database
            return self._database

    def _view_sql(self, name: str) -> str:
        info = self._table_info(name)
        columns: dict[str, str] = info["columns"]
        files = [str(self.path / f) for f in info["files"]]
        select = ", ".join(_quote_ident(c) for c in columns)
        if not files:
            # No partition yet (empty warehouse): an empty relation with the published schema.
            typed = ", ".join(f"NULL::{t} AS {_quote_ident(c)}" for c, t in columns.items())
            return f"SELECT {typed} WHERE false"
        file_list = "[" + ", ".join(_quote_literal(f) for f in files) + "]"
        if name in FACT_TABLES:
            # Partition value from the folder name (not stored in the files, as Spark/Trino
            # expect); columns listed explicitly to keep the warehouse's column order.
            source = (
                f"read_parquet({file_list}, hive_partitioning = true, "
                f"hive_types = {{'{PARTITION_COLUMN}': DATE}})"
            )
        else:
            source = f"read_parquet({file_list})"
        return f"SELECT {select} FROM {source}"

    def close(self) -> None:
        """Close the in-memory database (cursors of other threads become unusable)."""
        with self._lock:
            if self._database is not None:
                self._database.close()
                self._database = None
            self._local = threading.local()


# --- The current version, per process ------------------------------------------------------------
_lock = threading.Lock()
_pid = os.getpid()
_versions: OrderedDict[Path, PublishedVersion] = OrderedDict()
_checked: dict[Path, tuple[float, str | None]] = {}  # published_dir -> (monotonic, version)
_fallbacks: dict[Path, tuple[float, Path | None]] = {}  # published_dir -> (monotonic, version)


def _reset_after_fork() -> None:
    # DuckDB connections must not cross a fork: a forked worker starts with empty caches.
    global _pid
    if os.getpid() != _pid:
        _pid = os.getpid()
        _versions.clear()
        _checked.clear()
        _fallbacks.clear()


def open_version(path: Path) -> PublishedVersion:
    """The PublishedVersion of a version folder (an absolute path), shared within the process."""
    with _lock:
        _reset_after_fork()
        published = _versions.get(path)
        if published is None:
            published = PublishedVersion(path)
            _versions[path] = published
            while len(_versions) > _CACHED_VERSIONS:
                _versions.popitem(last=False)
        else:
            _versions.move_to_end(path)
        return published


def current_version(settings: Settings) -> PublishedVersion | None:
    """The current published version, None when nothing is published yet.

    Cheap: CURRENT is re-read at most every :data:`CURRENT_CHECK_SECONDS` and PublishedVersion
    objects are cached per version, so a call costs a dict lookup most of the time.

    When CURRENT is missing, garbled or names a missing or unreadable version, the newest valid
    version is served instead and ``PublishedVersion.notice`` says so (the app shell shows it as a
    banner; the next publish repairs CURRENT). :class:`PublishedVersionError` only when no valid
    version is left.
    """
    published_dir = settings.published_dir.resolve()
    now = time.monotonic()
    with _lock:
        _reset_after_fork()
        checked = _checked.get(published_dir)
    if checked is not None and now - checked[0] < CURRENT_CHECK_SECONDS:
        version = checked[1]
    else:
        version = read_current(published_dir)
        with _lock:
            _checked[published_dir] = (now, version)
    problem: str | None = None
    if version is not None and version_seq(version):
        try:
            published = open_version(published_dir / version)
        except PublishedVersionError as exc:
            problem = str(exc)
        else:
            if published.path.is_dir():
                published.notice = None
                return published
            problem = f"published version {published.path} was removed"
            _forget(published.path)
    elif version is not None:
        problem = f"{published_dir / CURRENT_FILE} names no version ({version[:40]!r})"
    fallback = _cached_fallback(published_dir, now)
    if fallback is None:
        if version is None:
            return None
        raise PublishedVersionError(problem or f"published version {version} is unreadable")
    published = open_version(fallback)
    published.notice = (
        f"The published data pointer is broken ({problem or 'CURRENT is missing'}): showing "
        f"the newest valid version, {published.version}. The next load or publish repairs it."
    )
    return published


def _cached_fallback(published_dir: Path, now: float) -> Path | None:
    # Checked at most every CURRENT_CHECK_SECONDS too: a broken pointer must not cost every
    # request a walk over all versions.
    with _lock:
        cached = _fallbacks.get(published_dir)
    if cached is not None and now - cached[0] < CURRENT_CHECK_SECONDS:
        return cached[1]
    found = newest_valid_version(published_dir)
    with _lock:
        _fallbacks[published_dir] = (now, found)
    return found


def newest_valid_version(published_dir: Path) -> Path | None:
    """The newest version folder whose manifest is readable and whose files are all there."""
    for name in reversed(list_versions(published_dir)):
        if not version_problems(published_dir / name, deep=False):
            return published_dir / name
    return None


def _forget(path: Path) -> None:
    with _lock:
        _versions.pop(path, None)


def hours_since(moment: datetime | None, now: datetime | None = None) -> float | None:
    """Hours from ``moment`` (naive = UTC, as published times are) to ``now`` (default: now)."""
    if moment is None:
        return None
    return ((now or utc_now()) - as_utc(moment)).total_seconds() / 3600.0


@dataclass(frozen=True)
class Freshness:
    """How fresh the data is: the one verdict the page header, the app shell, the Data page
    and the worker's housekeeping all show (:func:`freshness`)."""

    age_hours: float | None  # since the last successful load; None before any load
    limit_hours: float

    @property
    def loaded(self) -> bool:
        return self.age_hours is not None

    @property
    def stale(self) -> bool:
        """Older than the limit, compared at the precision the Data page prints the age (one
        decimal): "24.0 hours ago (warning after 24 hours)" is still fresh. Never stale
        before a first load (there is nothing to be stale: surfaces say "no data loaded")."""
        return self.age_hours is not None and round(self.age_hours, 1) > self.limit_hours

    @property
    def age_text(self) -> str:
        """The age as surfaces print it ("24.3"), empty before any load."""
        return "" if self.age_hours is None else f"{self.age_hours:,.1f}"


def freshness(
    data_as_of: datetime | None, limit_hours: float, now: datetime | None = None
) -> Freshness:
    """Freshness of data last loaded at ``data_as_of`` (naive = UTC) against the settings'
    ``freshness_hours``."""
    return Freshness(hours_since(data_as_of, now), limit_hours)

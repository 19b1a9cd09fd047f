"""Publishing: an immutable, uniquely named read-only copy of what the web side reads.

Layout (DEVELOPING.md "Published version")::

    HOME/published/CURRENT                      one line: the current version's folder name
    HOME/published/v000042-20261127T145501/
        manifest.json
        declarations/lodged_month=YYYY-MM-01/data.parquet
        profile_hits/lodged_month=YYYY-MM-01/data.parquet
        cube_*.parquet profiles.parquet profile_changes.parquet runs.parquet quarantine.parquet

Why this shape: DuckDB allows one read-write process *or* many readers on a file, so the web
processes never open the warehouse. A version is written into a hidden temp folder, renamed into
place (readers never see half a version), then CURRENT is switched with ``os.replace`` (atomic).
Fact months that did not change are hard-linked from the previous version, so the cost of a
publish grows with the delivery, not with history. Superseded versions are removed by
:func:`housekeeping` once they have been superseded for longer than the grace period, so readers
still working on them finish undisturbed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
from filelock import FileLock

from customs_kpi.published import (
    CURRENT_FILE,
    FACT_TABLES,
    MANIFEST_FILE,
    PUBLISH_FAILURE_FILE,
    RunStatus,
    file_sha256,
    list_versions,
    newest_valid_version,
    read_current,
    read_manifest,
    version_seq,
)

__all__ = [
    "PublishFailed",
    "describe_versions",
    "housekeeping",
    "list_versions",
    "publish",
    "rebuild_and_publish",
    "version_seq",
]
from customs_kpi.settings import Settings
from etl.cube import CUBE_TABLES, rebuild_cube
from etl.runs import finish_run, next_run_id, start_run
from etl.warehouse import open_warehouse

WHOLE_TABLES: tuple[str, ...] = (
    *CUBE_TABLES,
    "profiles",
    "profile_changes",
    "runs",
    "quarantine",
)
PARTITION_FILE = "data.parquet"
# 2: every file's size, row count and SHA-256 in "file_checks" (checked before a file is linked
# into the next version; a format-1 previous version is rewritten once).
MANIFEST_FORMAT = 2
LOCK_FILE = ".publish.lock"
TMP_PREFIX = ".tmp-"
# The highest version number ever handed out: numbering never restarts, even when every version
# folder is gone.
SEQUENCE_FILE = ".sequence"
# {version: ISO time CURRENT moved off it}: where the grace period of a superseded version
# starts (not when the next publish started: a long publish would eat into the grace).
SUPERSEDED_FILE = ".superseded.json"
# The last publish failure (removed by the next successful publish): see
# customs_kpi.published.publish_failure.
FAILURE_FILE = PUBLISH_FAILURE_FILE
_PARQUET = "FORMAT parquet, COMPRESSION zstd"
# DuckDB's buffer limit while writing a version: with the load's own limit (etl.load) it keeps a
# load-and-publish process under its 2 GB target at 10 M declarations.
MEMORY_LIMIT = "1400MB"


# --- Version folders ----------------------------------------------------------------------------
def _highest_seq(published_dir: Path) -> int:
    """The highest version number in use or ever used: folders (readable or not), CURRENT,
    the manifests' own and previous names, and the sequence file."""
    seqs: list[int] = []
    with suppress(OSError):
        seqs += [seq for p in published_dir.iterdir() if (seq := _seq_of(p.name))]
    current = read_current(published_dir)
    if current:
        seqs.append(_seq_of(current))
    for name in list_versions(published_dir):
        try:
            manifest = read_manifest(published_dir / name)
        except (OSError, ValueError):
            continue
        for key in ("version", "previous_version"):
            value = manifest.get(key)
            if isinstance(value, str):
                seqs.append(_seq_of(value))
    with suppress(OSError, ValueError):
        seqs.append(int((published_dir / SEQUENCE_FILE).read_text(encoding="utf-8").strip()))
    return max(seqs, default=0)


def _seq_of(name: str) -> int:
    # Also the temp folder of a publish that died (".tmp-v000043-…"): its number was handed out.
    return version_seq(name.removeprefix(TMP_PREFIX)) or 0


def _new_version_name(published_dir: Path, now: datetime) -> str:
    seq = _highest_seq(published_dir) + 1
    _write_atomically(published_dir / SEQUENCE_FILE, f"{seq}\n")
    return f"v{seq:06d}-{now.strftime('%Y%m%dT%H%M%S')}"


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_superseded(published_dir: Path) -> dict[str, datetime]:
    """When CURRENT moved off each superseded version (versions superseded before this was
    recorded are missing: :func:`describe_versions` falls back to the next one's creation)."""
    try:
        raw = json.loads((published_dir / SUPERSEDED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {name: when for name, text in raw.items() if (when := _parse_time(text)) is not None}


def _record_superseded(
    published_dir: Path, version: str | None, when: datetime, keep: Iterable[str]
) -> None:
    """Note that CURRENT moved off ``version`` at ``when`` (entries of removed versions go)."""
    known = set(keep)
    entries = {n: t.isoformat() for n, t in read_superseded(published_dir).items() if n in known}
    if version is not None and version in known and version not in entries:
        entries[version] = when.isoformat()
    _write_atomically(published_dir / SUPERSEDED_FILE, json.dumps(entries, indent=2) + "\n")


def _switch_current(published_dir: Path, version: str) -> None:
    # Write a temp file, flush it to disk, then rename over CURRENT: a reader sees either the old
    # or the new name, never a partial line.
    tmp = published_dir / f".{CURRENT_FILE}.{os.getpid()}.tmp"
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(version + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, published_dir / CURRENT_FILE)
    _fsync_dir(published_dir)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot fsync a directory; the rename is still atomic
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Flush a finished version to disk before it is renamed into place and made current, so a
    power cut cannot leave CURRENT naming a version whose files were never written."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(folder))


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        # No hard links here (another device, an odd file system): copying is slower, never wrong.
        shutil.copy2(src, dst)


# --- Reading the warehouse ----------------------------------------------------------------------
def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.sql(f"DESCRIBE {table}").fetchall()
    return {str(r[0]): str(r[1]) for r in rows}


def _month_stats(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, dict[str, int]]:
    """Rows (and, for declarations, the newest delivering run) per lodged_month.

    Comparing these with the previous manifest catches months changed by a load whose publish
    never happened (crash between commit and publish), so they are rewritten, not linked stale.
    """
    extra = ", max(run_id)" if table == "declarations" else ", NULL"
    rows = con.sql(f"SELECT lodged_month, count(*){extra} FROM {table} GROUP BY 1").fetchall()
    stats: dict[str, dict[str, int]] = {}
    for month, count, max_run in rows:
        entry = {"rows": int(count)}
        if max_run is not None:
            entry["max_run_id"] = int(max_run)
        stats[month.isoformat()] = entry
    return stats


def _warehouse_id(con: duckdb.DuckDBPyConnection) -> str | None:
    """When the warehouse was created (its first migration): tells a recreated warehouse from
    the one the previous version was published from."""
    return _iso(_scalar(con, "SELECT min(applied_at) FROM schema_migrations WHERE version = 1"))


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    rows = con.sql(sql).fetchall()
    return rows[0][0] if rows else None


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# --- Writing a version --------------------------------------------------------------------------
@dataclass(frozen=True)
class _FactPlan:
    write: list[str]  # months (ISO) written from the warehouse
    link: list[str]  # months hard-linked from the previous version


def _dirty_months(
    stats: dict[str, dict[str, dict[str, int]]],
    touched: set[str] | None,
    previous_manifest: dict[str, Any] | None,
) -> set[str] | None:
    """Months to write for every fact table (None = all): the touched ones, plus any whose
    rows or newest delivering run differ from the previous version in any fact table, so a
    declaration's profile hits are never linked stale next to its rewritten month."""
    if touched is None or previous_manifest is None:
        return None
    previous = previous_manifest.get("partitions", {})
    dirty = set(touched)
    for table, months in stats.items():
        before = previous.get(table, {})
        dirty |= {m for m, entry in months.items() if before.get(m) != entry}
    return dirty


def _same_layout(previous_manifest: dict[str, Any], columns: dict[str, dict[str, str]]) -> bool:
    if previous_manifest.get("format") != MANIFEST_FORMAT:
        return False
    tables = previous_manifest.get("tables", {})
    return all(tables.get(t, {}).get("columns") == cols for t, cols in columns.items())


def _plan_fact(
    con: duckdb.DuckDBPyConnection,
    table: str,
    stats: dict[str, dict[str, int]],
    dirty: set[str] | None,
    previous_dir: Path | None,
    previous_manifest: dict[str, Any] | None,
) -> _FactPlan:
    if dirty is None or previous_dir is None or previous_manifest is None:
        return _FactPlan(write=sorted(stats), link=[])
    checks: dict[str, dict[str, Any]] = previous_manifest.get("file_checks") or {}
    write: list[str] = []
    link: list[str] = []
    for month in sorted(stats):
        rel = _fact_file(table, month)
        if month in dirty or not _intact(con, previous_dir / rel, checks.get(rel), stats[month]):
            write.append(month)
        else:
            link.append(month)
    return _FactPlan(write=write, link=link)


def _fact_file(table: str, month: str) -> str:
    return f"{table}/lodged_month={month}/{PARTITION_FILE}"


def _intact(
    con: duckdb.DuckDBPyConnection,
    source: Path,
    check: dict[str, Any] | None,
    stats: dict[str, int],
) -> bool:
    """Whether a previous version's partition may be hard-linked: its size, row count and
    SHA-256 are those its manifest recorded, and the rows those the warehouse holds. Anything
    else (damaged, truncated, replaced, no checksum recorded) is rewritten from the warehouse,
    so damage never spreads into later versions."""
    if check is None or check.get("rows") != stats["rows"]:
        return False
    try:
        if not source.is_file() or source.is_symlink():
            return False
        if source.stat().st_size != check.get("bytes"):
            return False
        # Unchanged since its checksum was taken less than REHASH_SECONDS ago (same inode,
        # size, mtime and ctime: any write, truncation, replacement or touch changes the
        # ctime): its content is the one hashed. Otherwise it is hashed again, so damage
        # without any write (a bad disk block) is caught within a day; `customs-kpi verify`
        # always hashes.
        fresh = time.time() - float(check.get("hashed_at") or 0) < REHASH_SECONDS
        if not (fresh and check.get("stat") == _identity(source)):
            if file_sha256(source) != check.get("sha256"):
                return False
            check["hashed_at"] = time.time()  # carried into the next manifest with the link
        rows = _scalar_params(con, "SELECT num_rows FROM parquet_file_metadata($1)", str(source))
    except (OSError, duckdb.Error):
        return False
    return rows == stats["rows"]


def _scalar_params(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> Any:
    rows = con.sql(sql, params=list(params)).fetchall()
    return rows[0][0] if rows else None


def _file_checks(
    target: Path,
    rows: dict[str, int],
    previous: dict[str, dict[str, Any]],
    linked: set[str],
) -> dict[str, dict[str, Any]]:
    """Size, row count and SHA-256 of every file of the version being written (linked files:
    the previous manifest's entry, verified before linking)."""
    out: dict[str, dict[str, Any]] = {}
    for rel, count in sorted(rows.items()):
        path = target / rel
        if rel in linked and rel in previous:
            # Verified before linking; the link itself changes the inode's ctime, so the file's
            # identity is taken again now.
            out[rel] = {**previous[rel], "stat": _identity(path)}
            continue
        out[rel] = {
            "bytes": path.stat().st_size,
            "rows": count,
            "sha256": file_sha256(path),
            "hashed_at": time.time(),
            "stat": _identity(path),
        }
    return out


# A linked partition's content is hashed again when its last hash is older than this.
REHASH_SECONDS = 24 * 3600


def _identity(path: Path) -> list[int]:
    """What changes whenever a file's content can have changed: inode, size, mtime, ctime."""
    st = path.stat()
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _write_fact(
    con: duckdb.DuckDBPyConnection,
    table: str,
    plan: _FactPlan,
    target: Path,
    previous_dir: Path | None,
) -> None:
    table_dir = target / table
    table_dir.mkdir(parents=True, exist_ok=True)
    if plan.write:
        # One partitioned COPY (one scan of the table) for all months to write. DuckDB names the
        # files data<N>.parquet; they are renamed to the documented data.parquet below.
        staging = target / f".staging-{table}"
        months = ", ".join(f"DATE '{m}'" for m in plan.write)
        con.sql(
            f"COPY (SELECT * FROM {table} WHERE lodged_month IN ({months})) "
            f"TO {_sql_literal(str(staging))} "
            f"({_PARQUET}, PARTITION_BY (lodged_month), FILENAME_PATTERN 'data{{i}}')"
        )
        for month in plan.write:
            part = f"lodged_month={month}"
            files = sorted((staging / part).glob("*.parquet"))
            (table_dir / part).mkdir()
            if len(files) == 1:
                files[0].rename(table_dir / part / PARTITION_FILE)
            else:
                # DuckDB split a big partition across files: write that month as one file.
                path = _sql_literal(str(table_dir / part / PARTITION_FILE))
                con.sql(
                    f"COPY (SELECT * EXCLUDE (lodged_month) FROM {table} "
                    f"WHERE lodged_month = DATE '{month}') TO {path} ({_PARQUET})"
                )
        shutil.rmtree(staging)
    for month in plan.link:
        part = f"lodged_month={month}"
        assert previous_dir is not None
        source = previous_dir / table / part / PARTITION_FILE
        _link_or_copy(source, table_dir / part / PARTITION_FILE)


def _normalise_months(months: Iterable[date | datetime] | None) -> set[str] | None:
    if months is None:
        return None
    out: set[str] = set()
    for m in months:
        day = m.date() if isinstance(m, datetime) else m
        out.add(day.replace(day=1).isoformat())
    return out


@contextmanager
def _memory_capped(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB's buffers limited to :data:`MEMORY_LIMIT` while a version is written (like a load,
    etl.load, the connection returns to the default limit afterwards).

    A partitioned COPY of every month keeps a buffer per month; by default DuckDB lets those
    grow to most of the machine's memory (5 GB for a first publish of 10 M declarations), while
    under the limit it flushes them sooner, for a little more time.
    """
    con.sql(f"SET memory_limit = '{MEMORY_LIMIT}'")
    try:
        yield
    except BaseException:
        # Inside an aborted transaction DuckDB refuses even a RESET: the caller's rollback
        # matters, and the error being raised must not be replaced by that refusal.
        with suppress(duckdb.Error):
            con.sql("RESET memory_limit")
        raise
    con.sql("RESET memory_limit")


def publish(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    touched_months: set[date] | None,
    run_id: int,
) -> str:
    """Write a new published version from the warehouse and make it current; return its name.

    ``touched_months``: the lodged_months the run changed (fact partitions rewritten); every other
    month is hard-linked from the current version when it is unchanged there. None rewrites all.
    Call it with the warehouse open (the caller holds the warehouse lock); it may run inside or
    after the load's transaction. Ends with :func:`housekeeping`.
    """
    published_dir = settings.published_dir
    published_dir.mkdir(parents=True, exist_ok=True)
    try:
        version = _publish_locked(con, settings, touched_months, run_id)
    except Exception as exc:
        # Said where the web side can see it (customs_kpi.published.publish_failure) until
        # a publish succeeds; the caller records a failed run and exits non-zero.
        with suppress(OSError):
            _write_atomically(
                published_dir / FAILURE_FILE,
                json.dumps(
                    {
                        "at": datetime.now(UTC).isoformat(),
                        "run_id": run_id,
                        "message": describe_error(exc),
                    }
                )
                + "\n",
            )
        raise
    (published_dir / FAILURE_FILE).unlink(missing_ok=True)
    return version


class PublishFailed(RuntimeError):
    """The cube was rebuilt and committed but publishing failed (the message is the cause):
    the dashboard still shows the previous version."""


def rebuild_and_publish(settings: Settings) -> tuple[int, str]:
    """Rebuild the cube for every month and publish a new version (`customs-kpi publish`), as a
    ``publish`` run in the run log; (run id, version). Raises :class:`PublishFailed`, and
    ``WarehouseBusy`` when another process holds the warehouse."""
    started = time.perf_counter()
    with open_warehouse(settings) as con:
        run_id = next_run_id(con)
        con.begin()
        try:
            start_run(con, run_id, "publish", "rebuild cube and publish")
            rebuild_cube(con, None)
            # Recorded as succeeded before publishing so the published run log says so; set
            # back to failed below if publishing does not complete.
            finish_run(con, run_id, RunStatus.SUCCEEDED, started, "cube rebuilt, publishing")
            con.commit()
        except Exception:
            con.rollback()
            raise
        try:
            version = publish(con, settings, None, run_id)
        except Exception as exc:
            cause = describe_error(exc)
            with suppress(Exception):  # the run log may be on the same full disk
                finish_run(con, run_id, RunStatus.FAILED, started, f"publish failed: {cause}")
            raise PublishFailed(cause) from exc
        finish_run(con, run_id, RunStatus.SUCCEEDED, started, f"published {version}")
    return run_id, version


def describe_error(exc: BaseException) -> str:
    """One line naming the cause: "disk full", "read-only" or the system's own words, and
    the path when the error has one."""
    import errno

    if isinstance(exc, OSError):
        cause = {
            errno.ENOSPC: "disk full",
            errno.EDQUOT: "disk quota exceeded",
            errno.EROFS: "read-only file system",
            errno.EACCES: "permission denied (read-only?)",
            errno.EPERM: "permission denied (read-only?)",
        }.get(exc.errno or 0, exc.strerror or str(exc))
        return f"{cause}: {exc.filename}" if exc.filename else cause
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    lowered = text.lower()
    if "no space left" in lowered:
        return f"disk full ({text})"
    if "read-only" in lowered and not lowered.startswith("read-only"):
        return f"read-only ({text})"
    return text


def _publish_locked(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    touched_months: set[date] | None,
    run_id: int,
) -> str:
    published_dir = settings.published_dir
    touched = _normalise_months(touched_months)
    with FileLock(str(published_dir / LOCK_FILE)):
        now = datetime.now(UTC)
        version = _new_version_name(published_dir, now)
        tmp_dir = published_dir / f"{TMP_PREFIX}{version}"
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir)
        tmp_dir.mkdir()
        try:
            with _memory_capped(con):
                manifest = _write_version(
                    con, tmp_dir, version, now, touched, run_id, published_dir
                )
            with (tmp_dir / MANIFEST_FILE).open("w", encoding="utf-8") as fh:
                json.dump(manifest, fh, indent=2)  # key order kept: columns are in table order
                fh.write("\n")
            _fsync_tree(tmp_dir)
            os.rename(tmp_dir, published_dir / version)
        except BaseException:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
        _fsync_dir(published_dir)
        superseded = read_current(published_dir)
        _switch_current(published_dir, version)
        # The grace period of the version CURRENT just moved off starts now.
        _record_superseded(
            published_dir, superseded, datetime.now(UTC), list_versions(published_dir)
        )
        _housekeeping_locked(settings)
    return version


def _write_version(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    version: str,
    now: datetime,
    touched: set[str] | None,
    run_id: int,
    published_dir: Path,
) -> dict[str, Any]:
    started = time.perf_counter()
    previous = read_current(published_dir)
    previous_dir = published_dir / previous if previous else None
    previous_manifest: dict[str, Any] | None = None
    if previous_dir is not None:
        try:
            previous_manifest = read_manifest(previous_dir)
        except (OSError, ValueError):
            previous_dir = None  # unreadable previous version: write everything afresh

    tables: dict[str, dict[str, Any]] = {}
    written: dict[str, list[str]] = {}
    linked: dict[str, list[str]] = {}
    partitions = {table: _month_stats(con, table) for table in FACT_TABLES}
    columns = {table: _columns(con, table) for table in FACT_TABLES}
    warehouse_id = _warehouse_id(con)
    if previous_manifest is not None and (
        not _same_layout(previous_manifest, columns)
        or previous_manifest.get("warehouse_id") != warehouse_id
    ):
        # A migration changed a fact table, the layout changed, or the warehouse was recreated
        # (run ids start again, so per-month statistics could match by chance): old partitions
        # cannot be trusted, so everything is written afresh once.
        previous_manifest = None
    dirty = _dirty_months(partitions, touched, previous_manifest)
    file_rows: dict[str, int] = {}
    linked_files: set[str] = set()
    for table in FACT_TABLES:
        stats = partitions[table]
        plan = _plan_fact(con, table, stats, dirty, previous_dir, previous_manifest)
        _write_fact(con, table, plan, target, previous_dir)
        written[table] = plan.write
        linked[table] = plan.link
        linked_files |= {_fact_file(table, m) for m in plan.link}
        file_rows.update({_fact_file(table, m): e["rows"] for m, e in stats.items()})
        tables[table] = {
            "rows": sum(e["rows"] for e in stats.values()),
            "columns": columns[table],
            "files": [_fact_file(table, m) for m in sorted(stats)],
        }
    for table in WHOLE_TABLES:
        path = target / f"{table}.parquet"
        # Small cube tables sorted by their dimensions: smaller files and row-group pruning.
        # Not the time histogram: it can hold millions of rows and sorting it would dominate
        # the cost of every publish (about 4x its write time at 10 M declarations).
        order = " ORDER BY ALL" if table in CUBE_TABLES and table != "cube_time_hist" else ""
        con.sql(f"COPY (SELECT * FROM {table}{order}) TO {_sql_literal(str(path))} ({_PARQUET})")
        tables[table] = {
            "rows": int(_scalar(con, f"SELECT count(*) FROM {table}")),
            "columns": _columns(con, table),
            "files": [path.name],
        }
        file_rows[path.name] = tables[table]["rows"]
    previous_checks = (previous_manifest or {}).get("file_checks") or {}
    file_checks = _file_checks(target, file_rows, previous_checks, linked_files)

    months = sorted(partitions["declarations"])
    data_as_of = _scalar_params(
        con,
        "SELECT max(finished_at) FROM runs WHERE kind = 'load' AND status = $1",
        RunStatus.SUCCEEDED,
    )
    return {
        "format": MANIFEST_FORMAT,
        "version": version,
        "created_at": now.isoformat(),
        "run_id": run_id,
        "data_as_of": _iso(data_as_of),
        "months": months,
        "month_range": [months[0], months[-1]] if months else None,
        "schema_version": int(_scalar(con, "SELECT max(version) FROM schema_migrations") or 0),
        "warehouse_id": warehouse_id,
        "tables": tables,
        "file_checks": file_checks,
        "partitions": partitions,
        "written_months": written,
        "linked_months": linked,
        "previous_version": previous,
        "publish_seconds": round(time.perf_counter() - started, 3),
    }


# --- Housekeeping -------------------------------------------------------------------------------
@dataclass(frozen=True)
class VersionInfo:
    """A published version as listed by ``customs-kpi published``."""

    name: str
    current: bool
    created_at: datetime | None
    superseded_at: datetime | None  # when the next version was created; None for the newest
    manifest: dict[str, Any] | None  # None when unreadable


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _created_at(version_dir: Path, manifest: dict[str, Any] | None) -> datetime | None:
    created = _parse_time(manifest.get("created_at")) if manifest else None
    if created is None:
        try:
            created = datetime.fromtimestamp(version_dir.stat().st_mtime, UTC)
        except OSError:
            return None
    return created


def describe_versions(published_dir: Path) -> list[VersionInfo]:
    """Every published version, oldest first, with when it was superseded: when CURRENT moved
    off it (recorded at the switch), for versions superseded before that was recorded when the
    next version was created."""
    names = list_versions(published_dir)
    current = read_current(published_dir)
    switched = read_superseded(published_dir)
    manifests: dict[str, dict[str, Any] | None] = {}
    created: dict[str, datetime | None] = {}
    for name in names:
        try:
            manifests[name] = read_manifest(published_dir / name)
        except (OSError, ValueError):
            manifests[name] = None
        created[name] = _created_at(published_dir / name, manifests[name])
    out: list[VersionInfo] = []
    for i, name in enumerate(names):
        following = [c for n in names[i + 1 :] if (c := created[n]) is not None]
        superseded = switched.get(name) or (min(following) if following else None)
        out.append(
            VersionInfo(
                name=name,
                current=name == current,
                created_at=created[name],
                superseded_at=None if name == current else superseded,
                manifest=manifests[name],
            )
        )
    return out


def newest_valid(published_dir: Path) -> str | None:
    """The newest version whose manifest is readable and whose files are all there."""
    found = newest_valid_version(published_dir)
    return found.name if found else None


def housekeeping(settings: Settings, now: datetime | None = None) -> list[str]:
    """Remove versions that are not current and were superseded more than
    ``settings.publish_grace_seconds`` ago (plus abandoned temp folders); return their names.

    Never removed, whatever their age: the version CURRENT names and the newest valid version
    (so a broken CURRENT never leaves readers with nothing)."""
    published_dir = settings.published_dir
    if not published_dir.is_dir():
        return []
    with FileLock(str(published_dir / LOCK_FILE)):
        return _housekeeping_locked(settings, now)


def _housekeeping_locked(settings: Settings, now: datetime | None = None) -> list[str]:
    published_dir = settings.published_dir
    now = now or datetime.now(UTC)
    grace = settings.publish_grace_seconds
    current = read_current(published_dir)
    current_seq = version_seq(current) if current else None
    keep = {current, newest_valid(published_dir)}
    removed: list[str] = []
    for info in describe_versions(published_dir):
        if info.current or info.name in keep:
            continue
        seq = version_seq(info.name) or 0
        if current_seq is not None and seq > current_seq:
            # Newer than CURRENT: a publish that died before switching. Never served to anyone,
            # but it may still be in the middle of being switched: wait out the grace period.
            since = info.created_at
        else:
            since = info.superseded_at or info.created_at
        if since is not None and (now - since).total_seconds() > grace:
            shutil.rmtree(published_dir / info.name, ignore_errors=True)
            removed.append(info.name)
    # Temp folders of publishes that crashed (the lock is held, so none is being written now).
    for tmp in published_dir.glob(f"{TMP_PREFIX}*"):
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp.name)
    for stale in published_dir.glob(".*.tmp"):
        stale.unlink(missing_ok=True)
    if removed:
        _record_superseded(published_dir, None, now, list_versions(published_dir))
    return removed

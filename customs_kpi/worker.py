"""State shared by the worker process, the CLI and the web app: stdlib only.

The scheduler itself lives in :mod:`etl.scheduler` (it runs loads, so it belongs to the ETL). The
web app must never import ``etl``, yet it shows the jobs (Data page), lists monthly snapshots and
asks for a draft (Reports page). Everything those pages need goes through files in HOME, read and
written by this module:

* ``HOME/jobs.json``: the worker (pid, host, heartbeat) and each job's last run, outcome and next
  run. Written atomically (temp file + ``os.replace``) by the worker only.
* ``HOME/snapshots/YYYY-MM/vN/manifest.json``: one per produced snapshot version (written by
  :mod:`etl.snapshot`); :func:`list_snapshots` reads them.
* ``HOME/requests/pending/*.json``: snapshot requests from the web app; the worker's
  ``requests`` job picks them up within seconds and moves each to ``HOME/requests/done/`` with its
  outcome. A file queue needs no extra service, survives restarts and works with any number of
  web processes.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from customs_kpi.clock import utc_now
from customs_kpi.settings import Settings

JOBS_FILE = "jobs.json"
WORKER_LOCK_FILE = "worker.lock"
# The worker rewrites its heartbeat this often; a heartbeat older than 3 periods = not running.
HEARTBEAT_SECONDS = 30
MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
VERSION_RE = re.compile(r"^v(\d+)$")


# --- small helpers --------------------------------------------------------------------------


def iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat(timespec="seconds")


def parse_iso(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text)


def parse_month(text: str) -> date:
    """``YYYY-MM`` → first day of that month; ValueError with a readable message otherwise."""
    m = MONTH_RE.match(text.strip())
    if not m:
        raise ValueError(f"not a month: {text!r} (expected YYYY-MM, e.g. 2026-10)")
    return date(int(m.group(1)), int(m.group(2)), 1)


def month_label(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def write_json_atomic(path: Path, payload: Any) -> None:
    """Readers in other processes see the old file or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, ensure_ascii=False, default=str)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        # A corrupt file must not break a page: treat it as absent (the worker rewrites it).
        return None


# --- job states -----------------------------------------------------------------------------
def jobs_path(settings: Settings) -> Path:
    return settings.home / JOBS_FILE


def worker_lock_path(settings: Settings) -> Path:
    return settings.home / WORKER_LOCK_FILE


@dataclass
class JobState:
    """What `customs-kpi jobs` and the Data page show for one scheduled job."""

    id: str
    name: str
    schedule: str  # human description of the trigger
    next_run_at: str | None = None
    last_started_at: str | None = None
    last_finished_at: str | None = None
    last_outcome: str | None = None  # succeeded | failed | skipped | missed
    last_message: str = ""
    last_duration_seconds: float | None = None
    running: bool = False
    runs: int = 0
    failures: int = 0


@dataclass
class WorkerInfo:
    pid: int | None = None
    host: str | None = None
    started_at: str | None = None
    heartbeat_at: str | None = None
    stopped_at: str | None = None

    def is_alive(self, now: datetime | None = None) -> bool:
        """True while the worker runs: it beats every HEARTBEAT_SECONDS and clears on stop."""
        beat = parse_iso(self.heartbeat_at)
        if beat is None or self.stopped_at:
            return False
        age = ((now or utc_now()) - beat).total_seconds()
        return age <= 3 * HEARTBEAT_SECONDS


@dataclass
class JobsFile:
    worker: WorkerInfo = field(default_factory=WorkerInfo)
    jobs: dict[str, JobState] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "worker": asdict(self.worker),
            "jobs": {k: asdict(v) for k, v in self.jobs.items()},
        }


def read_jobs(settings: Settings) -> JobsFile:
    """The worker's last written state (empty when no worker ever ran in this HOME)."""
    raw = _read_json(jobs_path(settings))
    if not isinstance(raw, dict):
        return JobsFile()
    known_w = WorkerInfo.__dataclass_fields__
    known_j = JobState.__dataclass_fields__
    worker = WorkerInfo(**{k: v for k, v in (raw.get("worker") or {}).items() if k in known_w})
    jobs = {
        jid: JobState(**{k: v for k, v in state.items() if k in known_j})
        for jid, state in (raw.get("jobs") or {}).items()
        if isinstance(state, dict) and "id" in state and "name" in state and "schedule" in state
    }
    return JobsFile(worker=worker, jobs=jobs)


def write_jobs(settings: Settings, state: JobsFile) -> None:
    write_json_atomic(jobs_path(settings), state.to_json())


# --- snapshot listing -----------------------------------------------------------------------
@dataclass(frozen=True)
class SnapshotFile:
    name: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class SnapshotVersion:
    """One produced version of a monthly snapshot (its manifest, summarised)."""

    month: str  # YYYY-MM
    version: int
    path: Path
    status: str  # final | draft
    reason: str
    created_at: str
    data_as_of: str | None
    published_version: str | None
    pending_controls: int
    files: tuple[SnapshotFile, ...]

    @property
    def label(self) -> str:
        return f"{self.month} v{self.version}"


def snapshot_versions_dir(settings: Settings, month: str) -> Path:
    parse_month(month)  # validates: never build a path from an unchecked string
    return settings.snapshots_dir / month


def list_snapshots(settings: Settings, month: str | None = None) -> list[SnapshotVersion]:
    """Every complete snapshot version (newest month first, then newest version first).

    A version folder without a manifest is an interrupted run (the producer writes the manifest
    last, then renames the folder), so it is not listed.
    """
    root = settings.snapshots_dir
    if not root.is_dir():
        return []
    out: list[SnapshotVersion] = []
    for month_dir in root.iterdir():
        if not month_dir.is_dir() or not MONTH_RE.match(month_dir.name):
            continue
        if month is not None and month_dir.name != month:
            continue
        for vdir in month_dir.iterdir():
            vm = VERSION_RE.match(vdir.name)
            if not vm or not vdir.is_dir():
                continue
            manifest = _read_json(vdir / "manifest.json")
            if not isinstance(manifest, dict):
                continue
            out.append(
                SnapshotVersion(
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
                        SnapshotFile(f["name"], int(f["bytes"]), f["sha256"])
                        for f in manifest.get("files", [])
                    ),
                )
            )
    out.sort(key=lambda s: (s.month, s.version), reverse=True)
    return out


def snapshot_file(settings: Settings, month: str, version: int, name: str) -> Path | None:
    """The path of one file of a snapshot version, only if its manifest lists it.

    Downloads go through here so that a crafted name (``../../app.db``) can never leave the
    snapshot folder: only names recorded in the manifest are served.
    """
    try:
        parse_month(month)
    except ValueError:
        return None
    for snap in list_snapshots(settings, month):
        if snap.version == version:
            if any(f.name == name for f in snap.files) or name == "manifest.json":
                path = snap.path / name
                return path if path.is_file() else None
            return None
    return None


def months_with_final_snapshot(settings: Settings) -> set[str]:
    return {s.month for s in list_snapshots(settings) if s.status == "final"}


# --- snapshot requests (web app → worker) ---------------------------------------------------
def requests_dir(settings: Settings) -> Path:
    return settings.home / "requests"


@dataclass
class SnapshotRequest:
    id: str
    month: str
    reason: str
    requested_by: str
    requested_at: str
    status: str = "pending"  # pending | succeeded | failed
    finished_at: str | None = None
    message: str = ""
    version: int | None = None


def request_snapshot(
    settings: Settings, month: str, reason: str, requested_by: str, now: datetime | None = None
) -> SnapshotRequest:
    """Queue a snapshot for the worker (the web app calls this; it never renders itself)."""
    parse_month(month)
    when = now or utc_now()
    req = SnapshotRequest(
        id=f"{when.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}",
        month=month,
        reason=reason,
        requested_by=requested_by,
        requested_at=iso(when) or "",
    )
    write_json_atomic(requests_dir(settings) / "pending" / f"{req.id}.json", asdict(req))
    return req


def load_requests_dir(settings: Settings) -> Path:
    return requests_dir(settings) / "load"


def request_inbox_load(settings: Settings, requested_by: str, now: datetime | None = None) -> str:
    """Ask the worker to load the inbox now (admins, from the Data page); returns the request id.

    The web app never opens the warehouse itself: the worker picks the request up within
    seconds and runs the same inbox job as its schedule does."""
    when = now or utc_now()
    req_id = f"{when.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"
    write_json_atomic(
        load_requests_dir(settings) / "pending" / f"{req_id}.json",
        {"id": req_id, "requested_by": requested_by, "requested_at": iso(when) or ""},
    )
    return req_id


def pending_load_requests(settings: Settings) -> list[tuple[Path, dict[str, Any]]]:
    """Queued inbox-load requests, oldest first, with their file."""
    folder = load_requests_dir(settings) / "pending"
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        raw = _read_json(path)
        if isinstance(raw, dict) and "id" in raw:
            out.append((path, raw))
    return out


def finish_load_request(
    settings: Settings,
    path: Path,
    request: dict[str, Any],
    status: str,
    message: str,
    now: datetime,
) -> None:
    """Record the outcome under requests/load/done, then drop the pending file (worker side)."""
    done = {**request, "status": status, "message": message, "finished_at": iso(now)}
    write_json_atomic(load_requests_dir(settings) / "done" / path.name, done)
    path.unlink(missing_ok=True)


def recent_load_requests(settings: Settings, limit: int = 10) -> list[dict[str, Any]]:
    """Pending and finished inbox-load requests, newest first."""
    rows = []
    for state_name in ("pending", "done"):
        folder = load_requests_dir(settings) / state_name
        for path in folder.glob("*.json") if folder.is_dir() else []:
            raw = _read_json(path)
            if isinstance(raw, dict) and "id" in raw:
                rows.append({"status": "pending", **raw})
    rows.sort(key=lambda r: str(r.get("requested_at", "")), reverse=True)
    return rows[:limit]


def _load_requests(folder: Path) -> list[tuple[Path, SnapshotRequest]]:
    if not folder.is_dir():
        return []
    known = SnapshotRequest.__dataclass_fields__
    out = []
    for path in sorted(folder.glob("*.json")):
        raw = _read_json(path)
        if isinstance(raw, dict) and {"id", "month", "requested_by"} <= raw.keys():
            raw.setdefault("reason", "")
            raw.setdefault("requested_at", "")
            out.append((path, SnapshotRequest(**{k: v for k, v in raw.items() if k in known})))
    return out


def pending_requests(settings: Settings) -> list[tuple[Path, SnapshotRequest]]:
    """Queued requests, oldest first, with their file (the worker removes it when done)."""
    return _load_requests(requests_dir(settings) / "pending")


def finish_request(settings: Settings, path: Path, req: SnapshotRequest) -> None:
    """Record the outcome under requests/done, then drop the pending file (worker side)."""
    write_json_atomic(requests_dir(settings) / "done" / f"{req.id}.json", asdict(req))
    path.unlink(missing_ok=True)


def recent_requests(settings: Settings, limit: int = 20) -> list[SnapshotRequest]:
    """Pending and finished requests, newest first (for the Reports page)."""
    reqs = [r for _, r in pending_requests(settings)]
    reqs += [r for _, r in _load_requests(requests_dir(settings) / "done")]
    reqs.sort(key=lambda r: r.requested_at, reverse=True)
    return reqs[:limit]


# --- display (the Data page and `customs-kpi jobs`) ---------------------------------------------
def _short(text: str | None) -> str:
    moment = parse_iso(text)
    return "–" if moment is None else moment.strftime("%d %b %Y %H:%M")


def worker_status(jobs: JobsFile, now: datetime | None = None) -> tuple[bool, str]:
    """(running?, one sentence) about the worker, for a banner or a status line."""
    w = jobs.worker
    if w.pid is None:
        return False, "No worker has run yet: start one with `customs-kpi worker` (or `make run`)."
    if w.is_alive(now):
        return True, (
            f"Worker running: pid {w.pid} on {w.host} since {_short(w.started_at)}, "
            f"last heartbeat {_short(w.heartbeat_at)}."
        )
    ended = f"stopped {_short(w.stopped_at)}" if w.stopped_at else "stopped unexpectedly"
    return False, (
        f"Worker not running ({ended}; last heartbeat {_short(w.heartbeat_at)}): no load, "
        "housekeeping or snapshot runs until it starts again."
    )


def job_rows(jobs: JobsFile) -> list[dict[str, str]]:
    """One row of text per job: schedule, last run, outcome and message, next run."""
    return [
        {
            "Job": job.name,
            "Schedule": job.schedule,
            "Last run": _short(job.last_started_at),
            "Outcome": "running" if job.running else (job.last_outcome or "never run"),
            "Message": job.last_message,
            "Next run": _short(job.next_run_at),
            "Runs": str(job.runs),
            "Failures": str(job.failures),
        }
        for job in jobs.jobs.values()
    ]

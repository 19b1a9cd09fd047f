"""The worker's job states (``HOME/jobs.json``): stdlib and ``customs_kpi`` core only.

The worker (pid, host, heartbeat) and each job's last run, outcome and next run, written
atomically (temp file + ``os.replace``) by the worker only (:mod:`worker.scheduler`), read by
`customs-kpi jobs` and the Data page. Also the small JSON-file helpers :mod:`worker.queue` uses.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from customs_kpi.clock import utc_now
from customs_kpi.settings import Settings

JOBS_FILE = "jobs.json"
WORKER_LOCK_FILE = "worker.lock"
# The worker rewrites its heartbeat this often; a heartbeat older than 3 periods = not running.
HEARTBEAT_SECONDS = 30


# --- small helpers --------------------------------------------------------------------------


def iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat(timespec="seconds")


def parse_iso(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text)


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


def read_json(path: Path) -> Any:
    """The file's JSON, None when it is missing or corrupt (a page must not break on it: the
    worker rewrites it)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# --- job states -----------------------------------------------------------------------------
def jobs_path(settings: Settings) -> Path:
    return settings.home / JOBS_FILE


def worker_lock_path(settings: Settings) -> Path:
    return settings.home / WORKER_LOCK_FILE


class JobOutcome(StrEnum):
    """How a job's last run ended (``JobState.last_outcome``)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # nothing to do, or it could not run now (worker.scheduler.JobSkipped)


@dataclass
class JobState:
    """What `customs-kpi jobs` and the Data page show for one scheduled job."""

    id: str
    name: str
    schedule: str  # human description of the trigger
    next_run_at: str | None = None
    last_started_at: str | None = None
    last_finished_at: str | None = None
    last_outcome: JobOutcome | None = None
    last_message: str = ""
    last_duration_seconds: float | None = None
    running: bool = False
    runs: int = 0
    failures: int = 0

    def __post_init__(self) -> None:
        if self.last_outcome is not None:
            self.last_outcome = JobOutcome(self.last_outcome)

    @property
    def outcome_text(self) -> str:
        """What the Data page and `customs-kpi jobs` show as the outcome."""
        return "running" if self.running else (self.last_outcome or "never run")


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
    raw = read_json(jobs_path(settings))
    if not isinstance(raw, dict):
        return JobsFile()
    known_w = WorkerInfo.__dataclass_fields__
    known_j = JobState.__dataclass_fields__
    worker = WorkerInfo(**{k: v for k, v in (raw.get("worker") or {}).items() if k in known_w})
    jobs = {}
    for jid, state in (raw.get("jobs") or {}).items():
        if isinstance(state, dict) and "id" in state and "name" in state and "schedule" in state:
            try:
                jobs[jid] = JobState(**{k: v for k, v in state.items() if k in known_j})
            except ValueError:  # an unknown outcome: a corrupt entry, rewritten by the worker
                continue
    return JobsFile(worker=worker, jobs=jobs)


def write_jobs(settings: Settings, state: JobsFile) -> None:
    write_json_atomic(jobs_path(settings), state.to_json())


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
        "housekeeping or report runs until it starts again."
    )


def job_rows(jobs: JobsFile) -> list[dict[str, str]]:
    """One row of text per job: schedule, last run, outcome and message, next run."""
    return [
        {
            "Job": job.name,
            "Schedule": job.schedule,
            "Last run": _short(job.last_started_at),
            "Outcome": job.outcome_text,
            "Message": job.last_message,
            "Next run": _short(job.next_run_at),
            "Runs": str(job.runs),
            "Failures": str(job.failures),
        }
        for job in jobs.jobs.values()
    ]

"""Requests from the web app to the worker: stdlib and ``customs_kpi`` core only.

The web app never renders a report nor opens the warehouse: it queues a :class:`Request` file,
the worker's ``requests`` job (:mod:`worker.scheduler`) picks it up within seconds and moves it
to ``done/`` with its outcome. A file queue needs no extra service, survives restarts and works
with any number of web processes. One queue per :class:`RequestKind`::

    HOME/requests/pending/*.json  done/*.json            monthly-report drafts (Reports page)
    HOME/requests/load/pending/*.json  load/done/*.json  inbox loads (Data page, admins)
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from customs_kpi.clock import parse_month, utc_now
from customs_kpi.settings import Settings
from worker.jobs import iso, read_json, write_json_atomic


class RequestKind(StrEnum):
    REPORT = "report"  # a monthly-report version of ``month`` (a draft while the month runs)
    LOAD = "load"  # load HOME/inbox now


class RequestStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# Each kind's folder under HOME/requests (report drafts were the first queue: at the top).
_FOLDERS = {RequestKind.REPORT: "", RequestKind.LOAD: "load"}


@dataclass
class Request:
    id: str
    kind: RequestKind
    requested_by: str
    requested_at: str
    status: RequestStatus = RequestStatus.PENDING
    finished_at: str | None = None
    message: str = ""
    # RequestKind.REPORT only: the month (YYYY-MM), why, and the version produced.
    month: str | None = None
    reason: str = ""
    version: int | None = None

    def __post_init__(self) -> None:
        self.kind, self.status = RequestKind(self.kind), RequestStatus(self.status)


def queue_dir(settings: Settings, kind: RequestKind) -> Path:
    return settings.home / "requests" / _FOLDERS[kind]


def submit(
    settings: Settings,
    kind: RequestKind,
    requested_by: str,
    *,
    month: str | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Request:
    """Queue a request for the worker (the web app calls this); a report names its month."""
    if kind is RequestKind.REPORT:
        parse_month(month or "")
    when = now or utc_now()
    req = Request(
        id=f"{when.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}",
        kind=kind,
        requested_by=requested_by,
        requested_at=iso(when) or "",
        month=month,
        reason=reason,
    )
    write_json_atomic(queue_dir(settings, kind) / "pending" / f"{req.id}.json", asdict(req))
    return req


def _read(settings: Settings, kind: RequestKind, state: str) -> list[tuple[Path, Request]]:
    folder = queue_dir(settings, kind) / state
    if not folder.is_dir():
        return []
    known = Request.__dataclass_fields__
    out = []
    for path in sorted(folder.glob("*.json")):
        raw = read_json(path)
        if not isinstance(raw, dict) or not {"id", "requested_by"} <= raw.keys():
            continue
        if kind is RequestKind.REPORT and "month" not in raw:
            continue
        fields = {k: v for k, v in raw.items() if k in known}
        fields.update(kind=kind, requested_at=str(raw.get("requested_at", "")))
        try:
            out.append((path, Request(**fields)))
        except (TypeError, ValueError):  # a corrupt file must not stop the queue
            continue
    return out


def pending(settings: Settings, kind: RequestKind) -> list[tuple[Path, Request]]:
    """Queued requests, oldest first, with their file (the worker removes it when done)."""
    return _read(settings, kind, "pending")


def finish(
    settings: Settings,
    path: Path,
    req: Request,
    status: RequestStatus,
    message: str,
    now: datetime,
) -> None:
    """Record the outcome under done/, then drop the pending file (worker side)."""
    req.status, req.message, req.finished_at = status, message, iso(now)
    write_json_atomic(queue_dir(settings, req.kind) / "done" / f"{req.id}.json", asdict(req))
    path.unlink(missing_ok=True)


def recent(settings: Settings, kind: RequestKind, limit: int = 20) -> list[Request]:
    """Pending and finished requests, newest first (Reports and Data pages)."""
    reqs = [r for _, r in pending(settings, kind)] + [r for _, r in _read(settings, kind, "done")]
    reqs.sort(key=lambda r: r.requested_at, reverse=True)
    return reqs[:limit]

"""The one scheduler (`customs-kpi worker`): inbox polling, housekeeping, monthly reports.

Exactly one worker runs per HOME: it holds ``HOME/worker.lock`` for its whole life, and a second
worker exits with a clear message instead of starting a second scheduler. Web processes never
schedule anything; they read ``HOME/jobs.json`` (:mod:`worker.jobs`) and queue requests
(:mod:`worker.queue`).

Jobs are plain functions ``(settings, now) -> message`` so tests call them with an injected clock;
the ETL and report functions they use are injected through :class:`Actions` (the defaults import
the ETL lazily).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    EVENT_JOB_REMOVED,
    EVENT_JOB_SUBMITTED,
    JobEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from filelock import FileLock, Timeout

from customs_kpi.clock import month_label, parse_month
from customs_kpi.published import RunStatus, current_version
from customs_kpi.settings import Settings
from monthly_report.listing import ReportVersion, months_with_final_report
from worker import jobs, queue
from worker.housekeeping import freshness_message, prune_audit, remove_superseded_versions
from worker.jobs import JobOutcome, iso
from worker.queue import RequestKind, RequestStatus

log = logging.getLogger(__name__)

REQUESTS_POLL_SECONDS = 5  # the Reports page promises a draft "within seconds"
# Outcomes of polls that found nothing: logged at DEBUG, or the log gets a line every 5 s.
NO_DELIVERY = "no new delivery"
NO_REQUEST = "no request"
IDLE_MESSAGES = frozenset({NO_DELIVERY, NO_REQUEST})
HOUSEKEEPING_AT = {"hour": 2, "minute": 30}
MONTHLY_AT = {"day": 1, "hour": 1, "minute": 0}


class WorkerAlreadyRunning(RuntimeError):
    """Another worker holds HOME/worker.lock."""


class JobSkipped(Exception):
    """Raised by a job that had nothing to do or could not run now; recorded as 'skipped'."""


# --- what the jobs call (injectable) ----------------------------------------------------------
def _default_process_inbox(settings: Settings) -> list[Any]:
    from etl.inbox import process_inbox

    return list(process_inbox(settings))


def _default_publish_if_behind(settings: Settings) -> str | None:
    from etl.load import publish_if_behind

    if not settings.warehouse_path.exists():
        return None
    return publish_if_behind(settings)


def review_decisions(settings: Settings) -> Any:
    """The review committee's decisions (app state), for the report to list: the report
    itself never reads the app state. None when there is no app-state database yet."""
    if not settings.app_db_path.exists():
        return None
    from appstate.review import store_for

    return store_for(settings.app_db_path).decisions_frame()


def _default_produce_report(
    settings: Settings, month: date, reason: str, now: datetime
) -> ReportVersion:
    from monthly_report.producer import produce_report

    return produce_report(
        settings, month, reason=reason, now=now, decisions=review_decisions(settings)
    )


def _default_published_months(settings: Settings) -> list[date]:
    published = current_version(settings)
    return [] if published is None else [_as_month(m) for m in published.months()]


def _default_last_successful_load(settings: Settings) -> datetime | None:
    published = current_version(settings)
    # data_as_of = when the latest successful load finished (customs_kpi.published).
    return None if published is None else published.data_as_of


@dataclass(frozen=True)
class Actions:
    """The outside world of the jobs: real ETL functions by default, fakes in tests."""

    process_inbox: Callable[[Settings], list[Any]] = _default_process_inbox
    # Publish when the warehouse is ahead of the published version (a publish was killed or
    # failed); the version published, None when nothing was behind.
    publish_if_behind: Callable[[Settings], str | None] = _default_publish_if_behind
    housekeeping: Callable[[Settings, datetime], str] = remove_superseded_versions
    produce_report: Callable[[Settings, date, str, datetime], ReportVersion] = (
        _default_produce_report
    )
    published_months: Callable[[Settings], list[date]] = _default_published_months
    last_successful_load: Callable[[Settings], datetime | None] = _default_last_successful_load
    prune_audit: Callable[[Settings, datetime], str] = prune_audit


def _as_month(value: Any) -> date:
    if isinstance(value, datetime):
        return date(value.year, value.month, 1)
    if isinstance(value, date):
        return value.replace(day=1)
    return parse_month(str(value)[:7])


# --- month arithmetic and catch-up ------------------------------------------------------------
def first_of_month(now: datetime) -> date:
    return date(now.year, now.month, 1)


def previous_month(now: datetime) -> date:
    first = first_of_month(now)
    return (first - timedelta(days=1)).replace(day=1)


def months_to_catch_up(
    data_months: Iterable[date], final_months: Iterable[str], now: datetime
) -> list[date]:
    """Completed months that should have a final report and do not, oldest first.

    A month is complete once ``now`` is past its end. Months before the first final report are
    history from before the product ran: back-filling them is an explicit decision
    (``customs-kpi report --month``), not something a restart does behind the operator's back.
    With no final report at all, only the latest completed month with data is produced.
    """
    current = first_of_month(now)
    complete = sorted({_as_month(m) for m in data_months if _as_month(m) < current})
    if not complete:
        return []
    finals = {parse_month(m) for m in final_months}
    start = min(finals) if finals else complete[-1]
    return [m for m in complete if m >= start and m not in finals]


# --- the jobs ------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobContext:
    settings: Settings
    actions: Actions


# The scheduled inbox job and a load requested from the Data page run on different executor
# threads; one inbox pass at a time keeps them from racing for the same delivery file.
_INBOX_LOCK = threading.Lock()


class JobFailed(RuntimeError):
    """A job that ran but whose work failed (a delivery or its publishing): recorded as
    'failed' with this message, so the Data page shows it."""


def job_inbox(ctx: JobContext, now: datetime) -> str:
    """Load every new delivery in HOME/inbox (the ETL moves or records what it has loaded);
    with none, publish if the warehouse is ahead of the published version. Fails (the job's
    outcome) when a delivery failed or could not be published."""
    from etl.warehouse import WarehouseBusy

    try:
        with _INBOX_LOCK:
            results = ctx.actions.process_inbox(ctx.settings)
            republished = None if results else ctx.actions.publish_if_behind(ctx.settings)
    except WarehouseBusy as exc:
        raise JobSkipped(f"warehouse busy, retried at the next poll: {exc}") from exc
    if not results:
        if republished:
            return (
                f"published {republished}: the dashboard was behind the warehouse (an earlier "
                "publish had not completed)"
            )
        return NO_DELIVERY
    message = f"{len(results)} deliver{'y' if len(results) == 1 else 'ies'}: " + "; ".join(
        _describe_load(r) for r in results
    )
    problems = [
        f"{getattr(r, 'file_name', 'file')}: {getattr(r, 'message', '')}"
        for r in results
        if getattr(r, "status", None) == RunStatus.FAILED or getattr(r, "publish_error", None)
    ]
    if problems:
        raise JobFailed(message + " — " + " | ".join(problems))
    return message


def _describe_load(result: Any) -> str:
    """One line per LoadResult without depending on its exact fields."""
    name = getattr(result, "file_name", None) or getattr(result, "path", None) or "file"
    parts = [str(getattr(name, "name", name))]
    for attr in ("status", "rows_inserted", "rows_replaced", "rows_quarantined"):
        value = getattr(result, attr, None)
        if value is not None:
            parts.append(f"{attr.removeprefix('rows_')}={value}")
    return " ".join(parts)


def job_housekeeping(ctx: JobContext, now: datetime) -> str:
    """Remove superseded published versions, apply the audit retention, check freshness
    (:mod:`worker.housekeeping`)."""
    settings, actions = ctx.settings, ctx.actions
    last = actions.last_successful_load(settings)
    return "; ".join(
        [
            f"housekeeping: {actions.housekeeping(settings, now)}",
            actions.prune_audit(settings, now),
            freshness_message(settings, last, now),
        ]
    )


def job_catch_up(ctx: JobContext, now: datetime) -> str:
    """At start: produce every completed month's missing final report."""
    return _produce_missing(ctx, now, scheduled=False)


def job_monthly(ctx: JobContext, now: datetime) -> str:
    """On the 1st: the previous month's report (and any month still missing)."""
    return _produce_missing(ctx, now, scheduled=True)


def _produce_missing(ctx: JobContext, now: datetime, *, scheduled: bool) -> str:
    data_months = ctx.actions.published_months(ctx.settings)
    if not data_months:
        raise JobSkipped("no published data yet")
    todo = months_to_catch_up(data_months, months_with_final_report(ctx.settings), now)
    if not todo:
        prev = previous_month(now)
        if prev not in {_as_month(m) for m in data_months}:
            raise JobSkipped(f"no published data for {month_label(prev)}")
        return "every completed month has its report"
    produced = []
    for month in todo:
        reason = (
            "scheduled monthly report"
            if scheduled and month == previous_month(now)
            else "catch-up: the scheduled run was missed (worker not running)"
        )
        report = ctx.actions.produce_report(ctx.settings, month, reason, now)
        produced.append(report.label)
        log.info("report %s produced (%s)", report.label, reason)
    return "produced " + ", ".join(produced)


def _load_requests(ctx: JobContext, now: datetime) -> list[str]:
    """Inbox loads asked for from the Data page: one inbox pass answers all pending requests."""
    pending = queue.pending(ctx.settings, RequestKind.LOAD)
    if not pending:
        return []
    try:
        status, message = RequestStatus.SUCCEEDED, job_inbox(ctx, now)
    except Exception as exc:
        log.exception("requested inbox load failed")
        status, message = RequestStatus.FAILED, f"{type(exc).__name__}: {exc}"
    for path, req in pending:
        queue.finish(ctx.settings, path, req, status, message, now)
    return [
        f"inbox load requested by {', '.join(r.requested_by for _, r in pending)}: "
        f"{status} ({message})"
    ]


def job_requests(ctx: JobContext, now: datetime) -> str:
    """Produce the reports queued from the Reports page; load the inbox when asked."""
    done = _load_requests(ctx, now)
    pending = queue.pending(ctx.settings, RequestKind.REPORT)
    if not pending:
        return "; ".join(done) or NO_REQUEST
    for path, req in pending:
        try:
            reason = f"{req.reason or 'draft requested'} (requested by {req.requested_by})"
            report = ctx.actions.produce_report(
                ctx.settings, parse_month(req.month or ""), reason, now
            )
        except Exception as exc:
            log.exception("report request %s failed", req.id)
            status, message = RequestStatus.FAILED, f"{type(exc).__name__}: {exc}"
        else:
            req.version = report.version
            status, message = RequestStatus.SUCCEEDED, f"produced {report.label} ({report.status})"
        queue.finish(ctx.settings, path, req, status, message, now)
        done.append(f"{req.month}: {req.status}")
    return "; ".join(done)


# --- job bookkeeping (HOME/jobs.json) ---------------------------------------------------------
@dataclass(frozen=True)
class JobSpec:
    id: str
    name: str
    func: Callable[[JobContext, datetime], str]
    trigger: BaseTrigger
    schedule: str
    # Also run once right at start (deliveries dropped while the worker was off load at once).
    at_start: bool = False


class JobBook:
    """Thread-safe owner of HOME/jobs.json inside the worker (jobs run on a thread pool)."""

    def __init__(self, settings: Settings, now: datetime) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._save_problem: str | None = None
        # Last outcomes survive a restart for the jobs registered again; a job no longer
        # scheduled (renamed or removed) is dropped rather than shown forever.
        self._previous = jobs.read_jobs(settings).jobs
        self._state = jobs.JobsFile(
            worker=jobs.WorkerInfo(
                pid=os.getpid(),
                host=socket.gethostname(),
                started_at=iso(now),
                heartbeat_at=iso(now),
            ),
        )

    def _save(self) -> None:
        # A full disk or a read-only HOME must not stop the jobs (nor turn each into a
        # traceback): one warning per problem, and the state is written again next time.
        try:
            jobs.write_jobs(self._settings, self._state)
        except OSError as exc:
            from etl.publish import describe_error

            problem = describe_error(exc)
            if problem != self._save_problem:
                log.warning("cannot write %s: %s", jobs.jobs_path(self._settings), problem)
            self._save_problem = problem
        else:
            self._save_problem = None

    def register(self, spec: JobSpec) -> None:
        with self._lock:
            old = self._state.jobs.get(spec.id) or self._previous.get(spec.id)
            job = old or jobs.JobState(id=spec.id, name=spec.name, schedule=spec.schedule)
            job.name, job.schedule, job.running = spec.name, spec.schedule, False
            self._state.jobs[spec.id] = job
            self._save()

    def started(self, job_id: str, when: datetime) -> None:
        with self._lock:
            job = self._state.jobs[job_id]
            job.running, job.last_started_at = True, iso(when)
            self._save()

    def finished(
        self, job_id: str, when: datetime, outcome: JobOutcome, message: str, seconds: float
    ) -> None:
        with self._lock:
            job = self._state.jobs[job_id]
            job.running = False
            job.last_finished_at = iso(when)
            job.last_outcome, job.last_message = outcome, message
            job.last_duration_seconds = round(seconds, 3)
            job.runs += 1
            job.failures += outcome is JobOutcome.FAILED
            self._save()

    def set_next_runs(self, next_runs: dict[str, datetime | None]) -> None:
        with self._lock:
            for job_id, job in self._state.jobs.items():
                job.next_run_at = iso(next_runs.get(job_id))
            self._save()

    def beat(self, when: datetime) -> None:
        with self._lock:
            self._state.worker.heartbeat_at = iso(when)
            self._save()

    def stopped(self, when: datetime) -> None:
        with self._lock:
            self._state.worker.stopped_at = iso(when)
            for job in self._state.jobs.values():
                job.next_run_at, job.running = None, False
            self._save()

    def current(self) -> jobs.JobsFile:
        with self._lock:
            return jobs.JobsFile(worker=self._state.worker, jobs=dict(self._state.jobs))


def run_job(
    spec: JobSpec, ctx: JobContext, book: JobBook, tz: tzinfo, now: datetime | None = None
) -> JobOutcome:
    """Run one job, record its outcome; never raises (a failed job must not stop the worker)."""
    started = now or datetime.now(tz)
    book.started(spec.id, started)
    t0 = time.monotonic()
    outcome: JobOutcome
    try:
        message, outcome = spec.func(ctx, started), JobOutcome.SUCCEEDED
    except JobSkipped as exc:
        message, outcome = str(exc), JobOutcome.SKIPPED
    except JobFailed as exc:
        log.warning("job %s failed: %s", spec.id, exc)
        message, outcome = str(exc), JobOutcome.FAILED
    except Exception as exc:
        log.exception("job %s failed", spec.id)
        message, outcome = f"{type(exc).__name__}: {exc}", JobOutcome.FAILED
    elapsed = time.monotonic() - t0
    finished = now or datetime.now(tz)
    book.finished(spec.id, finished, outcome, message, elapsed)
    level = logging.INFO
    if outcome is JobOutcome.FAILED:
        level = logging.WARNING
    elif message in IDLE_MESSAGES:
        level = logging.DEBUG
    log.log(
        level,
        "job %s %s: %s",
        spec.id,
        outcome,
        message,
    )
    return outcome


def job_specs(settings: Settings, tz: tzinfo, now: datetime) -> list[JobSpec]:
    poll = max(1, settings.inbox_poll_seconds)
    return [
        JobSpec(
            "catch_up",
            "Catch up missed monthly reports (at start)",
            job_catch_up,
            DateTrigger(run_date=now, timezone=tz),
            "once at worker start",
        ),
        JobSpec(
            "inbox",
            "Load new deliveries from HOME/inbox",
            job_inbox,
            IntervalTrigger(seconds=poll, start_date=now, timezone=tz),
            f"every {poll} s (and at start)",
            at_start=True,
        ),
        JobSpec(
            "requests",
            "Produce reports requested from the Reports page",
            job_requests,
            IntervalTrigger(seconds=REQUESTS_POLL_SECONDS, start_date=now, timezone=tz),
            f"every {REQUESTS_POLL_SECONDS} s",
        ),
        JobSpec(
            "housekeeping",
            "Remove old published versions; check data freshness",
            job_housekeeping,
            CronTrigger(**HOUSEKEEPING_AT, timezone=tz),
            "daily at {hour:02d}:{minute:02d}".format(**HOUSEKEEPING_AT),
        ),
        JobSpec(
            "monthly_report",
            "Produce the previous month's report",
            job_monthly,
            CronTrigger(**MONTHLY_AT, timezone=tz),
            "on the {day}st of each month at {hour:02d}:{minute:02d}".format(**MONTHLY_AT),
        ),
    ]


@dataclass
class Worker:
    """A configured (not yet started) scheduler with its jobs and its bookkeeping."""

    settings: Settings
    tz: tzinfo
    scheduler: BackgroundScheduler
    book: JobBook
    ctx: JobContext
    specs: dict[str, JobSpec] = field(default_factory=dict)
    # Set before shutdown: listeners and the heartbeat must then leave the scheduler alone,
    # because APScheduler's shutdown holds its job-store lock while it waits for executor
    # threads, and a listener calling get_jobs() from such a thread would deadlock it.
    stopping: threading.Event = field(default_factory=threading.Event)

    def run_now(self, job_id: str, now: datetime | None = None) -> JobOutcome:
        """Run a job synchronously, recorded like a scheduled run (the tests drive jobs so)."""
        return run_job(self.specs[job_id], self.ctx, self.book, self.tz, now)

    def sync_next_runs(self, _event: JobEvent | None = None) -> None:
        if self.stopping.is_set():
            return
        self.book.set_next_runs({j.id: j.next_run_time for j in self.scheduler.get_jobs()})

    def wait_idle(self, poll_seconds: float = 0.1) -> None:
        """Block until no job is running (as recorded by the job book)."""
        while any(job.running for job in self.book.current().jobs.values()):
            time.sleep(poll_seconds)

    def heartbeat(self) -> None:
        """Tell readers the worker is alive (see WorkerInfo.is_alive) and refresh next runs."""
        if self.stopping.is_set():
            return
        self.book.beat(datetime.now(self.tz))
        self.sync_next_runs()


def build_worker(
    settings: Settings,
    *,
    tz: tzinfo | None = None,
    now: datetime | None = None,
    actions: Actions | None = None,
) -> Worker:
    """Create the scheduler and register every job (call inside :func:`worker_lock`). Its
    clock is the administration's zone (CUSTOMS_KPI_TIMEZONE): the nightly housekeeping and the
    monthly report on the 1st follow local midnight, whatever the server's zone."""
    zone = tz or settings.zone
    start = now or datetime.now(zone)
    scheduler = BackgroundScheduler(
        timezone=zone,
        # Three threads: a long report render must not hold up inbox polling.
        executors={"default": ThreadPoolExecutor(max_workers=3)},
        job_defaults={
            # One instance per job; runs missed while busy or asleep collapse into one and still
            # run however late (None = no grace limit), so nothing is silently dropped.
            "max_instances": 1,
            "coalesce": True,
            "misfire_grace_time": None,
        },
    )
    book = JobBook(settings, start)
    ctx = JobContext(settings, actions or Actions())
    w = Worker(settings, zone, scheduler, book, ctx)
    for spec in job_specs(settings, zone, start):
        w.specs[spec.id] = spec
        book.register(spec)
        scheduler.add_job(
            run_job,
            spec.trigger,
            args=(spec, ctx, book, zone),
            id=spec.id,
            name=spec.name,
            replace_existing=True,
            **({"next_run_time": start} if spec.at_start else {}),
        )
    scheduler.add_job(
        w.heartbeat,
        IntervalTrigger(seconds=jobs.HEARTBEAT_SECONDS, timezone=zone),
        id="_heartbeat",
        name="heartbeat",
    )
    scheduler.add_listener(
        w.sync_next_runs,
        EVENT_JOB_SUBMITTED
        | EVENT_JOB_EXECUTED
        | EVENT_JOB_ERROR
        | EVENT_JOB_MISSED
        | EVENT_JOB_REMOVED,
    )
    return w


# --- the one-worker lock and the process lifecycle --------------------------------------------
@contextmanager
def worker_lock(settings: Settings) -> Iterator[None]:
    """Hold HOME/worker.lock, or raise WorkerAlreadyRunning naming the running worker."""
    settings.ensure_home()
    lock = FileLock(str(jobs.worker_lock_path(settings)))
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        info = jobs.read_jobs(settings).worker
        who = f" (pid {info.pid} on {info.host}, since {info.started_at})" if info.pid else ""
        raise WorkerAlreadyRunning(
            f"another worker is already running for {settings.home}{who}; "
            "only one scheduler may run per HOME, so this one exits"
        ) from exc
    try:
        yield
    finally:
        lock.release()


def run_worker(
    settings: Settings,
    *,
    stop: threading.Event | None = None,
    tz: tzinfo | None = None,
    actions: Actions | None = None,
) -> None:
    """Run the scheduler until SIGTERM/SIGINT (or ``stop`` is set); one per HOME."""
    stop = stop or threading.Event()
    with worker_lock(settings):
        w = build_worker(settings, tz=tz, actions=actions)
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
        w.scheduler.start()
        w.sync_next_runs()
        log.info("worker started for %s (pid %s)", settings.home, os.getpid())
        try:
            stop.wait()
        finally:
            # Let running jobs finish: a load is atomic anyway, and a report would otherwise
            # leave only a temporary folder behind. shutdown(wait=True) is not used: it waits
            # while holding the job-store lock (see Worker.stopping).
            w.stopping.set()
            w.scheduler.shutdown(wait=False)
            w.wait_idle()
            w.book.stopped(datetime.now(w.tz))
            log.info("worker stopped")

"""The worker: jobs with an injected clock, triggers, catch-up, the one-worker lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.date import DateTrigger
from typer.testing import CliRunner

from customs_kpi.clock import parse_month
from customs_kpi.published import RunStatus
from customs_kpi.settings import Settings
from monthly_report.listing import list_reports, months_with_final_report
from worker import queue
from worker.jobs import (
    JobOutcome,
    JobState,
    job_rows,
    jobs_path,
    read_jobs,
    worker_status,
    write_jobs,
    write_json_atomic,
)
from worker.queue import RequestKind, RequestStatus
from worker.scheduler import (
    Actions,
    WorkerAlreadyRunning,
    build_worker,
    months_to_catch_up,
    previous_month,
    run_worker,
    worker_lock,
)

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


@dataclass
class Fakes:
    """Stand-ins for the ETL and the report producer, recording how they were called."""

    settings: Settings
    months: list[date] = field(default_factory=list)
    produced: list[tuple[date, str]] = field(default_factory=list)
    inbox_calls: int = 0
    inbox_error: Exception | None = None
    last_load: datetime | None = None

    def produce(self, settings: Settings, month: date, reason: str, now: datetime):
        self.produced.append((month, reason))
        label = f"{month:%Y-%m}"
        version = len(list_reports(settings, label)) + 1
        folder = settings.reports_dir / label / f"v{version}"
        folder.mkdir(parents=True)
        status = "final" if now.date() >= _next_month(month) else "draft"
        write_json_atomic(
            folder / "manifest.json",
            {"status": status, "reason": reason, "created_at": now.isoformat(), "files": []},
        )
        return next(s for s in list_reports(settings, label) if s.version == version)

    def process_inbox(self, settings: Settings) -> list[object]:
        self.inbox_calls += 1
        if self.inbox_error:
            raise self.inbox_error
        return []

    def actions(self) -> Actions:
        return Actions(
            process_inbox=self.process_inbox,
            housekeeping=lambda s, now: "removed 0 superseded published version(s)",
            prune_audit=lambda s, now: "audit: kept",
            produce_report=self.produce,
            published_months=lambda s: list(self.months),
            last_successful_load=lambda s: self.last_load,
        )


def _next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


@pytest.fixture
def fakes(settings: Settings) -> Fakes:
    return Fakes(settings)


def _months(*labels: str) -> list[date]:
    return [parse_month(m) for m in labels]


# --- month logic ------------------------------------------------------------------------------
def test_previous_month_crosses_the_year() -> None:
    assert previous_month(datetime(2027, 1, 1, 1, 0, tzinfo=UTC)) == date(2026, 12, 1)
    assert previous_month(datetime(2026, 3, 31, 23, 59, tzinfo=UTC)) == date(2026, 2, 1)


def test_catch_up_covers_gaps_after_the_first_final_report() -> None:
    data = _months("2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11")
    # June predates the product's first report; November is not over yet.
    assert months_to_catch_up(data, {"2026-07", "2026-09"}, NOW) == _months("2026-08", "2026-10")


def test_catch_up_without_any_report_produces_only_the_latest_complete_month() -> None:
    data = _months("2026-06", "2026-07", "2026-08", "2026-11")
    assert months_to_catch_up(data, set(), NOW) == _months("2026-08")
    assert months_to_catch_up(_months("2026-11"), set(), NOW) == []


# --- triggers ----------------------------------------------------------------------------------
def test_monthly_job_fires_on_the_first_of_each_month(settings: Settings, fakes: Fakes) -> None:
    w = build_worker(settings, tz=UTC, now=NOW, actions=fakes.actions())
    trigger = w.specs["monthly_report"].trigger
    first = trigger.get_next_fire_time(None, NOW)
    assert first == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert trigger.get_next_fire_time(first, first + timedelta(seconds=1)) == datetime(
        2027, 1, 1, 1, 0, tzinfo=UTC
    )
    # Housekeeping nightly, inbox at the configured poll interval, catch-up right at start.
    hk = w.specs["housekeeping"].trigger
    assert hk.get_next_fire_time(None, NOW) == datetime(2026, 11, 28, 2, 30, tzinfo=UTC)
    inbox = w.specs["inbox"].trigger
    nxt = inbox.get_next_fire_time(NOW, NOW + timedelta(seconds=1))
    assert nxt == NOW + timedelta(seconds=settings.inbox_poll_seconds)
    # The inbox is also polled right at start: deliveries dropped while the worker was off.
    assert w.scheduler.get_job("inbox").next_run_time == NOW
    catch_up = w.specs["catch_up"].trigger
    assert isinstance(catch_up, DateTrigger)
    assert catch_up.get_next_fire_time(None, NOW) == NOW


def test_inbox_poll_interval_comes_from_settings(tmp_path: Path, fakes: Fakes) -> None:
    settings = Settings(home=tmp_path / "h", inbox_poll_seconds=15)
    w = build_worker(settings, tz=UTC, now=NOW, actions=fakes.actions())
    inbox = w.specs["inbox"].trigger
    assert inbox.get_next_fire_time(NOW, NOW + timedelta(seconds=1)) == NOW + timedelta(seconds=15)
    assert read_jobs(settings).jobs["inbox"].schedule == "every 15 s (and at start)"


# --- jobs with an injected clock -----------------------------------------------------------------
def test_monthly_job_on_the_first_produces_the_previous_month_once(
    settings: Settings, fakes: Fakes
) -> None:
    fakes.months = _months("2026-10", "2026-11", "2026-12")
    first_of_dec = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    w = build_worker(settings, tz=UTC, now=first_of_dec, actions=fakes.actions())

    assert w.run_now("monthly_report", now=first_of_dec) == JobOutcome.SUCCEEDED
    assert fakes.produced == [(date(2026, 11, 1), "scheduled monthly report")]
    assert [(s.month, s.version, s.status) for s in list_reports(settings)] == [
        ("2026-11", 1, "final")
    ]
    # Running again (e.g. a restart the same day) produces nothing new.
    assert (
        w.run_now("monthly_report", now=first_of_dec + timedelta(hours=2)) == JobOutcome.SUCCEEDED
    )
    assert len(fakes.produced) == 1
    job = read_jobs(settings).jobs["monthly_report"]
    assert (job.last_outcome, job.runs) == (JobOutcome.SUCCEEDED, 2)
    assert job.last_message == "every completed month has its report"


def test_missed_month_is_caught_up_on_start(settings: Settings, fakes: Fakes) -> None:
    # The worker produced August's report, then the machine was off on 1 Sept, 1 Oct, 1 Nov.
    fakes.months = _months("2026-07", "2026-08", "2026-09", "2026-10", "2026-11")
    fakes.produce(settings, date(2026, 8, 1), "scheduled monthly report", NOW)
    fakes.produced.clear()

    w = build_worker(settings, tz=UTC, now=NOW, actions=fakes.actions())
    assert w.run_now("catch_up", now=NOW) == JobOutcome.SUCCEEDED

    assert [m for m, _ in fakes.produced] == _months("2026-09", "2026-10")
    assert all("catch-up" in reason for _, reason in fakes.produced)
    finals = months_with_final_report(settings)
    assert finals == {"2026-08", "2026-09", "2026-10"}
    msg = read_jobs(settings).jobs["catch_up"].last_message
    assert msg == "produced 2026-09 v1, 2026-10 v1"


def test_catch_up_with_no_published_data_is_skipped(settings: Settings, fakes: Fakes) -> None:
    w = build_worker(settings, tz=UTC, now=NOW, actions=fakes.actions())
    assert w.run_now("catch_up", now=NOW) == JobOutcome.SKIPPED
    assert read_jobs(settings).jobs["catch_up"].last_message == "no published data yet"
    assert fakes.produced == []


def test_failed_job_is_recorded_and_does_not_raise(settings: Settings, fakes: Fakes) -> None:
    fakes.inbox_error = RuntimeError("disk full")
    w = build_worker(settings, tz=UTC, now=NOW, actions=fakes.actions())
    assert w.run_now("inbox", now=NOW) == JobOutcome.FAILED
    fakes.inbox_error = None
    assert w.run_now("inbox", now=NOW + timedelta(minutes=1)) == JobOutcome.SUCCEEDED
    job = read_jobs(settings).jobs["inbox"]
    assert (job.runs, job.failures, job.last_message) == (2, 1, "no new delivery")
    assert job.last_started_at == (NOW + timedelta(minutes=1)).isoformat()


def test_housekeeping_reports_stale_data(settings: Settings, fakes: Fakes) -> None:
    w = build_worker(settings, tz=UTC, now=NOW, actions=fakes.actions())
    fakes.last_load = NOW - timedelta(hours=72)
    w.run_now("housekeeping", now=NOW)
    msg = read_jobs(settings).jobs["housekeeping"].last_message
    assert "STALE" in msg and "72.0 h old (limit 48 h)" in msg
    fakes.last_load = (NOW - timedelta(hours=2)).replace(tzinfo=None)  # naive = UTC
    w.run_now("housekeeping", now=NOW)
    msg = read_jobs(settings).jobs["housekeeping"].last_message
    assert msg.endswith("freshness: ok, last successful load 2026-11-27 13:00")


def test_reports_page_request_is_produced_by_the_worker(settings: Settings, fakes: Fakes) -> None:
    req = queue.submit(
        settings,
        RequestKind.REPORT,
        "ana",
        month="2026-11",
        reason="draft for the committee",
        now=NOW,
    )
    assert [r.id for _, r in queue.pending(settings, RequestKind.REPORT)] == [req.id]
    w = build_worker(settings, tz=UTC, now=NOW, actions=fakes.actions())
    assert w.run_now("requests", now=NOW) == JobOutcome.SUCCEEDED
    assert fakes.produced == [(date(2026, 11, 1), "draft for the committee (requested by ana)")]
    assert queue.pending(settings, RequestKind.REPORT) == []
    done = queue.recent(settings, RequestKind.REPORT)
    assert [(r.id, r.status, r.version) for r in done] == [(req.id, RequestStatus.SUCCEEDED, 1)]
    assert list_reports(settings)[0].status == "draft"  # November is not over


def test_jobs_state_survives_a_restart(settings: Settings, fakes: Fakes) -> None:
    w = build_worker(settings, tz=UTC, now=NOW, actions=fakes.actions())
    w.run_now("inbox", now=NOW)
    build_worker(settings, tz=UTC, now=NOW + timedelta(hours=1), actions=fakes.actions())
    jobs = read_jobs(settings)
    assert jobs.jobs["inbox"].last_outcome == JobOutcome.SUCCEEDED
    assert jobs.worker.started_at == (NOW + timedelta(hours=1)).isoformat()


def test_a_job_no_longer_scheduled_leaves_the_jobs_file(settings: Settings, fakes: Fakes) -> None:
    w = build_worker(settings, tz=UTC, now=NOW, actions=fakes.actions())
    w.run_now("inbox", now=NOW)
    before = read_jobs(settings)
    before.jobs["retired"] = JobState(
        id="retired", name="A job of an older version", schedule="daily", last_outcome="succeeded"
    )
    write_jobs(settings, before)
    build_worker(settings, tz=UTC, now=NOW + timedelta(hours=1), actions=fakes.actions())
    jobs = read_jobs(settings).jobs
    assert "retired" not in jobs
    assert jobs["inbox"].last_outcome == JobOutcome.SUCCEEDED


def test_jobs_command_lists_jobs(settings: Settings, fakes: Fakes) -> None:
    from customs_kpi.cli import app

    w = build_worker(settings, tz=UTC, now=NOW, actions=fakes.actions())
    w.run_now("inbox", now=NOW)
    result = CliRunner().invoke(app, ["jobs", "--home", str(settings.home), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert sorted(data["jobs"]) == [
        "catch_up",
        "housekeeping",
        "inbox",
        "monthly_report",
        "requests",
    ]
    assert data["jobs"]["inbox"]["last_message"] == "no new delivery"


# --- exactly one worker ----------------------------------------------------------------------
def test_second_worker_does_not_start_a_scheduler(settings: Settings, fakes: Fakes) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            run_worker(settings, stop=stop, tz=UTC, actions=fakes.actions())
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        # Wait until the first worker holds the lock and has written its state: on the real
        # condition, with a bound generous enough for a busy machine (not a timing assertion).
        deadline = time.monotonic() + 120
        while read_jobs(settings).worker.pid is None and thread.is_alive():
            assert time.monotonic() < deadline, "the first worker never wrote its state"
            time.sleep(0.05)
        started = read_jobs(settings).worker.started_at
        assert started is not None
        with pytest.raises(WorkerAlreadyRunning, match="another worker is already running"):
            run_worker(settings, stop=threading.Event(), tz=UTC, actions=fakes.actions())
        # The refused worker did not touch the running worker's state.
        assert read_jobs(settings).worker.started_at == started
    finally:
        stop.set()
        thread.join(timeout=30)
    assert errors == []
    assert read_jobs(settings).worker.stopped_at is not None


def test_second_worker_process_exits_with_a_clear_message(settings: Settings) -> None:
    with worker_lock(settings):
        proc = subprocess.run(
            [
                str(Path(sys.executable).parent / "customs-kpi"),
                "worker",
                "--home",
                str(settings.home),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 1
    assert "another worker is already running" in proc.stderr
    assert not jobs_path(settings).exists()


# --- the real inbox job ------------------------------------------------------------------------
def test_inbox_job_loads_a_dropped_file_once(settings: Settings) -> None:
    """Real ETL behind the job: a delivery dropped in HOME/inbox is loaded and published once;
    the next polls find nothing to do."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from etl_helpers import query, row, write_csv

    from customs_kpi.published import current_version

    w = build_worker(settings, tz=UTC, now=NOW)  # default Actions: etl.inbox.process_inbox
    assert w.run_now("inbox", now=NOW) == JobOutcome.SUCCEEDED
    assert read_jobs(settings).jobs["inbox"].last_message == "no new delivery"

    dropped = write_csv(settings.inbox_dir / "march.csv", [row(i) for i in range(1, 41)])
    os.utime(dropped, (0, 0))  # written long ago: quiet (etl.inbox.QUIET_SECONDS)
    assert w.run_now("inbox", now=NOW + timedelta(minutes=1)) == JobOutcome.SUCCEEDED
    message = read_jobs(settings).jobs["inbox"].last_message
    assert message.startswith(f"1 delivery: march.csv status={RunStatus.SUCCEEDED} inserted=40")
    assert query(settings, "SELECT count(*) FROM declarations") == [(40,)]
    assert not (settings.inbox_dir / "march.csv").exists()
    assert [p.name for p in (settings.inbox_dir / "done").iterdir()] == ["march.csv"]
    snap = current_version(settings)
    assert snap is not None and snap.months() == [date(2024, 3, 1)]
    version = snap.version

    assert w.run_now("inbox", now=NOW + timedelta(minutes=2)) == JobOutcome.SUCCEEDED
    assert read_jobs(settings).jobs["inbox"].last_message == "no new delivery"
    assert query(settings, "SELECT count(*) FROM declarations") == [(40,)]
    again = current_version(settings)
    assert again is not None and again.version == version  # nothing republished
    assert read_jobs(settings).jobs["inbox"].runs == 3


def test_job_rows_and_worker_status_for_the_data_page(settings: Settings, fakes: Fakes) -> None:
    assert worker_status(read_jobs(settings), NOW) == (
        False,
        "No worker has run yet: start one with `customs-kpi worker` (or `make run`).",
    )
    w = build_worker(settings, tz=UTC, now=NOW, actions=fakes.actions())
    fakes.inbox_error = RuntimeError("disk full")
    w.run_now("inbox", now=NOW)
    jobs = read_jobs(settings)
    running, sentence = worker_status(jobs, NOW + timedelta(seconds=30))
    assert running and sentence.startswith("Worker running: pid ")
    assert worker_status(jobs, NOW + timedelta(minutes=5))[0] is False  # no heartbeat
    rows = {r["Job"]: r for r in job_rows(jobs)}
    inbox = rows["Load new deliveries from HOME/inbox"]
    assert inbox == {
        "Job": "Load new deliveries from HOME/inbox",
        "Schedule": "every 60 s (and at start)",
        "Last run": "27 Nov 2026 15:00",
        "Outcome": JobOutcome.FAILED,
        "Message": "RuntimeError: disk full",
        "Next run": "–",
        "Runs": "1",
        "Failures": "1",
    }


# --- stored states and the request queue ---------------------------------------------------------
def test_stored_state_strings_are_unchanged() -> None:
    """jobs.json, the request files and the run log keep the strings they always held."""
    assert [s.value for s in JobOutcome] == ["succeeded", "failed", "skipped"]
    assert [s.value for s in RequestStatus] == ["pending", "succeeded", "failed"]
    assert [s.value for s in RunStatus] == ["running", "succeeded", "failed", "skipped"]


def test_request_files_of_the_earlier_queues_are_read(settings: Settings) -> None:
    """Requests queued before the one Request type (no kind; loads without a status)."""
    at = "2026-11-27T12:00:00+00:00"
    load = {"id": "a", "requested_by": "adam", "requested_at": at}
    write_json_atomic(queue.queue_dir(settings, RequestKind.LOAD) / "pending" / "a.json", load)
    report = {"id": "b", "month": "2026-10", "reason": "", "requested_by": "ana",
              "requested_at": at, "status": "pending", "finished_at": None, "message": "",
              "version": None}  # fmt: skip
    write_json_atomic(settings.home / "requests" / "pending" / "b.json", report)
    [(_, got_load)] = queue.pending(settings, RequestKind.LOAD)
    assert (got_load.kind, got_load.status, got_load.requested_by) == (
        RequestKind.LOAD,
        RequestStatus.PENDING,
        "adam",
    )
    [(_, got_report)] = queue.pending(settings, RequestKind.REPORT)
    assert (got_report.kind, got_report.month, got_report.requested_by) == (
        RequestKind.REPORT,
        "2026-10",
        "ana",
    )


def test_a_report_request_names_a_month(settings: Settings) -> None:
    for month in (None, "2026-13", "../../app.db"):
        with pytest.raises(ValueError, match="not a month"):
            queue.submit(settings, RequestKind.REPORT, "ana", month=month)
    assert queue.pending(settings, RequestKind.REPORT) == []

"""The worker (:mod:`worker`): worker, jobs; monthly reports: report, reports."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from customs_kpi.cli.common import HomeOption, app, console, fail, settings_for


@app.command("worker")
def worker(
    home: HomeOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug messages.")] = False,
) -> None:
    """Run the one scheduler: polls HOME/inbox, nightly housekeeping (published versions, audit
    retention), monthly reports (with catch-up of months missed while it was not running).
    A second worker on the same HOME exits."""
    from worker.scheduler import WorkerAlreadyRunning, run_worker

    settings = settings_for(home)
    _configure_logging(settings.home / "logs" / "worker.log", verbose)
    try:
        run_worker(settings)
    except WorkerAlreadyRunning as exc:
        raise fail(str(exc)) from exc


def _configure_logging(path: Path, verbose: bool) -> None:
    from logging.handlers import RotatingFileHandler

    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for handler in (
        logging.StreamHandler(),
        RotatingFileHandler(path, maxBytes=5_000_000, backupCount=5),
    ):
        handler.setFormatter(fmt)
        root.addHandler(handler)
    # APScheduler logs every execution at INFO; our own job log says more.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose else logging.WARNING)
    # WeasyPrint, fontTools and kaleido (with its browser driver) log every step at INFO.
    for noisy in ("weasyprint", "fontTools", "kaleido", "choreographer", "logistro"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@app.command("jobs")
def jobs(
    home: HomeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print jobs.json as JSON.")] = False,
) -> None:
    """Show the worker and each scheduled job: last run, outcome, next run."""
    from rich.table import Table

    from worker.jobs import read_jobs

    settings = settings_for(home)
    current = read_jobs(settings)
    if as_json:
        typer.echo(json.dumps(current.to_json(), indent=2))
        return
    w = current.worker
    if w.pid is None:
        console.print("No worker has run in this HOME yet (start one with `customs-kpi worker`).")
        return
    if w.is_alive():
        console.print(
            f"Worker running: pid {w.pid} on {w.host}, started {w.started_at}, "
            f"last heartbeat {w.heartbeat_at}"
        )
    else:
        console.print(
            f"[yellow]Worker not running[/] (last: pid {w.pid} on {w.host}, "
            f"heartbeat {w.heartbeat_at}, stopped {w.stopped_at or 'unexpectedly'})"
        )
    table = Table("job", "schedule", "last run", "outcome", "message", "next run")
    for job in current.jobs.values():
        table.add_row(
            job.id,
            job.schedule,
            job.last_started_at or "—",
            job.outcome_text,
            job.last_message,
            job.next_run_at or "—",
        )
    console.print(table)


@app.command("report")
def report(
    month: Annotated[str, typer.Option("--month", help="Month to report on, YYYY-MM.")],
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            help="Why this version is produced (required when the month "
            "already has a report: versions are never overwritten).",
        ),
    ] = None,
    home: HomeOption = None,
) -> None:
    """Produce the monthly performance report in HOME/reports/YYYY-MM/vN (Excel, PDF, CSV,
    manifest with SHA-256 of every file). An existing version is never overwritten."""
    from customs_kpi.clock import parse_month
    from monthly_report.listing import list_reports
    from monthly_report.producer import ReportError, produce_report
    from worker.scheduler import review_decisions

    settings = settings_for(home)
    try:
        first = parse_month(month)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    label = f"{first:%Y-%m}"
    existing = list_reports(settings, label)
    if existing and not reason:
        raise fail(
            f"{label} already has {', '.join(f'v{s.version}' for s in existing)}; "
            "give --reason to produce a new version"
        )
    try:
        with console.status(f"Producing the {label} report…"):
            report = produce_report(
                settings,
                first,
                reason=reason or "first version",
                decisions=review_decisions(settings),
            )
    except ReportError as exc:
        raise fail(str(exc)) from exc
    console.print(f"[green]Report {report.label}[/] ({report.status}) written to {report.path}")
    for f in report.files:
        console.print(f"  {f.name:<40} {f.bytes:>10,} B  sha256 {f.sha256[:16]}…")


@app.command("reports")
def reports(
    month: Annotated[str | None, typer.Option("--month", help="Only this month (YYYY-MM).")] = None,
    home: HomeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List every produced report version with its status, reason and data-as-of."""
    from rich.table import Table

    from monthly_report.listing import list_reports

    settings = settings_for(home)
    found = list_reports(settings, month)
    if as_json:
        rows = [{**asdict(s), "path": str(s.path)} for s in found]
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    if not found:
        console.print("No report yet (`customs-kpi report --month YYYY-MM` produces one).")
        return
    table = Table(
        "month", "version", "status", "created", "data as of", "pending controls", "reason", "files"
    )
    for s in found:
        table.add_row(
            s.month,
            f"v{s.version}",
            s.status,
            s.created_at,
            s.data_as_of or "—",
            str(s.pending_controls),
            s.reason,
            str(len(s.files)),
        )
    console.print(table)

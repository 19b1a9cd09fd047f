"""Audit retention: the worker's nightly housekeeping deletes audit rows past the retention."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from appstate import AppState
from appstate.audit import Actor, prune_audit_trail
from customs_kpi.cli import app
from customs_kpi.settings import Settings
from worker.jobs import read_jobs
from worker.scheduler import Actions, build_worker

NOW = datetime(2026, 11, 27, 3, 30, tzinfo=UTC)
# With the default 1825 days the cut-off is 2021-11-28T03:30:00+00:00.
STAMPS = {
    # Written as the audit writes them (UTC, milliseconds).
    "a": "2019-05-01T10:00:00.000+00:00",  # gone
    "b": "2021-11-28T03:29:59.999+00:00",  # gone: just before the cut-off
    "c": "2021-11-28T03:30:00.000+00:00",  # kept: at the cut-off
    "d": "2026-11-26T12:00:00.000+00:00",  # kept
}


def _audit(settings: Settings) -> AppState:
    app_state = AppState(settings.app_db_path)
    for target in STAMPS:
        app_state.record_audit("test.event", Actor("x"), target)
    with sqlite3.connect(settings.app_db_path) as con:
        for target, at in STAMPS.items():
            con.execute("UPDATE audit SET at = ? WHERE target = ?", (at, target))
    return app_state


def _targets(settings: Settings) -> list[str]:
    with sqlite3.connect(settings.app_db_path) as con:
        return [t for (t,) in con.execute("SELECT target FROM audit ORDER BY target")]


def test_rows_older_than_the_retention_are_deleted(settings: Settings) -> None:
    _audit(settings)
    message = prune_audit_trail(settings, NOW)
    assert message == "audit: removed 2 row(s) recorded before 2021-11-28 (1825-day retention)"
    assert _targets(settings) == ["c", "d"]
    assert prune_audit_trail(settings, NOW).startswith("audit: removed 0 row(s)")


def test_zero_keeps_everything_and_no_database_is_no_error(settings: Settings) -> None:
    assert prune_audit_trail(settings, NOW) == "audit: no app-state database yet"
    assert not settings.app_db_path.exists()  # not created by the housekeeping
    _audit(settings)
    forever = replace(settings, audit_retention_days=0)
    assert prune_audit_trail(forever, NOW) == (
        "audit: kept forever (CUSTOMS_KPI_AUDIT_RETENTION_DAYS=0)"
    )
    assert _targets(settings) == ["a", "b", "c", "d"]
    one_day = replace(settings, audit_retention_days=1)
    assert prune_audit_trail(one_day, NOW).startswith("audit: removed 3 row(s)")
    assert _targets(settings) == ["d"]


def test_the_housekeeping_job_runs_it(settings: Settings) -> None:
    """The worker's own housekeeping (default actions) applies the retention."""
    _audit(settings)
    worker = build_worker(
        settings, tz=UTC, now=NOW, actions=Actions(last_successful_load=lambda s: NOW)
    )
    worker.run_now("housekeeping", now=NOW)
    message = read_jobs(settings).jobs["housekeeping"].last_message
    assert "audit: removed 2 row(s) recorded before 2021-11-28" in message
    assert _targets(settings) == ["c", "d"]


def test_the_worker_command_runs_the_worker_with_its_own_tasks(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def fake_run_worker(s: Settings, **kwargs: Any) -> None:
        seen.update(home=s.home, **kwargs)

    monkeypatch.setattr("worker.scheduler.run_worker", fake_run_worker)
    result = CliRunner().invoke(app, ["worker", "--home", str(settings.home)])
    assert result.exit_code == 0, result.output
    assert seen == {"home": settings.home}  # no actions: the defaults, audit retention included

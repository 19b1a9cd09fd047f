"""Issue 11, point 1: publishing recovers by itself. A load whose publish was killed or failed
leaves the warehouse ahead of CURRENT; the next load (even of the same file), `load --inbox`,
`publish` or a worker poll notices and publishes; a failed publish exits non-zero, is in the
run log and is exposed for the Data page."""

from __future__ import annotations

import errno
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from etl_helpers import query, row, write_csv
from typer.testing import CliRunner

import customs_kpi.published as published
from customs_kpi.cli import app
from customs_kpi.cli.common import console, err_console
from customs_kpi.published import RunStatus, current_version, publish_failure
from customs_kpi.settings import Settings
from etl import publish as publish_mod
from etl.load import load_file
from worker.jobs import JobOutcome, read_jobs
from worker.scheduler import build_worker

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_reader_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(published, "CURRENT_CHECK_SECONDS", 0.0)
    published._versions.clear()
    published._checked.clear()
    monkeypatch.setattr(console, "width", 200)
    monkeypatch.setattr(err_console, "width", 200)


def _disk_full(monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "/home/published/x.parquet")

    monkeypatch.setattr(publish_mod, "_write_fact", full)


def _rows(settings: Settings) -> int:
    snap = current_version(settings)
    assert snap is not None
    return int(snap.query("SELECT count(*) AS n FROM declarations")["n"].item())


def test_same_file_again_publishes_what_a_killed_publish_left_behind(
    settings: Settings, tmp_path: Path
) -> None:
    first = load_file(settings, write_csv(tmp_path / "a.csv", [row(i) for i in range(1, 6)]))
    path = write_csv(tmp_path / "b.csv", [row(i) for i in range(6, 9)])
    # Committed, then killed before publishing (what --no-publish leaves, as the kill test).
    killed = load_file(settings, path, publish=False)
    assert first.published and killed.status == RunStatus.SUCCEEDED and killed.published is None
    assert _rows(settings) == 5  # the dashboard is behind the warehouse
    again = load_file(settings, path)
    assert again.status == RunStatus.SKIPPED
    assert again.published is not None and "had not been published" in again.message
    assert _rows(settings) == 8
    # Nothing behind any more: the next identical run publishes nothing.
    assert load_file(settings, path).published is None


def test_failed_publish_exits_non_zero_is_logged_and_recovers(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    assert runner.invoke(app, ["load", str(write_csv(tmp_path / "a.csv", [row(1)])), *home])
    path = write_csv(tmp_path / "b.csv", [row(i) for i in range(2, 6)])
    with monkeypatch.context() as patch:
        _disk_full(patch)
        failed = runner.invoke(app, ["load", str(path), *home])
    assert failed.exit_code == 1
    assert "NOT PUBLISHED (disk full: /home/published/x.parquet)" in failed.output
    assert "Traceback" not in failed.output
    runs = query(settings, "SELECT kind, status, message FROM runs ORDER BY run_id")
    assert runs[-1][:2] == ("publish", RunStatus.FAILED) and "disk full" in runs[-1][2]
    failure = publish_failure(settings)
    assert failure is not None and "disk full" in failure.text
    assert _rows(settings) == 1

    # The disk has room again: re-running the same file publishes (and says so), exit 0.
    fixed = runner.invoke(app, ["load", str(path), *home])
    assert fixed.exit_code == 0, fixed.output
    assert "had not been published" in fixed.output
    assert _rows(settings) == 5 and publish_failure(settings) is None
    # The failed publish is in the published run log: the Data page lists it.
    snap = current_version(settings)
    assert snap is not None
    logged = snap.table("runs").filter(snap.table("runs")["kind"] == "publish")
    assert logged["status"].to_list() == [RunStatus.FAILED]


def test_publish_command_failure_is_one_line_and_non_zero(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_file(settings, write_csv(tmp_path / "a.csv", [row(1)]))
    _disk_full(monkeypatch)
    result = CliRunner().invoke(app, ["publish", "--home", str(settings.home)])
    assert result.exit_code == 1
    assert "NOT PUBLISHED (disk full: /home/published/x.parquet)" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_empty_inbox_load_publishes_when_behind(settings: Settings, tmp_path: Path) -> None:
    load_file(settings, write_csv(tmp_path / "a.csv", [row(1), row(2)]), publish=False)
    result = CliRunner().invoke(app, ["load", "--inbox", "--home", str(settings.home)])
    assert result.exit_code == 0, result.output
    assert "the dashboard was behind the warehouse" in result.output
    assert _rows(settings) == 2


def test_worker_poll_publishes_when_behind(settings: Settings, tmp_path: Path) -> None:
    load_file(settings, write_csv(tmp_path / "a.csv", [row(1), row(2), row(3)]), publish=False)
    assert current_version(settings) is None
    w = build_worker(settings, tz=UTC, now=NOW)
    assert w.run_now("inbox", now=NOW) == JobOutcome.SUCCEEDED
    assert read_jobs(settings).jobs["inbox"].last_message.startswith("published v")
    assert _rows(settings) == 3
    assert w.run_now("inbox", now=NOW) == JobOutcome.SUCCEEDED
    assert read_jobs(settings).jobs["inbox"].last_message == "no new delivery"


def test_worker_poll_whose_publish_fails_is_a_failed_job(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_file(settings, write_csv(tmp_path / "a.csv", [row(1)]), publish=False)
    _disk_full(monkeypatch)
    w = build_worker(settings, tz=UTC, now=NOW)
    assert w.run_now("inbox", now=NOW) == JobOutcome.FAILED
    assert "No space left" in read_jobs(settings).jobs["inbox"].last_message


def test_the_header_says_when_the_last_publish_failed(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard.app import data_as_of_text

    load_file(settings, write_csv(tmp_path / "a.csv", [row(1)]))
    assert "publish failed" not in data_as_of_text(settings)
    with monkeypatch.context() as patch:
        _disk_full(patch)
        load_file(settings, write_csv(tmp_path / "b.csv", [row(2)]))
    assert data_as_of_text(settings).endswith("· last publish failed: newer data not shown yet")
    load_file(settings, write_csv(tmp_path / "c.csv", [row(3)]))
    assert "publish failed" not in data_as_of_text(settings)


def test_load_killed_during_publish_is_published_by_the_next_run_of_the_same_file(
    settings: Settings, tmp_path: Path
) -> None:
    """A real SIGKILL in the middle of publishing (the new version is written, CURRENT not yet
    switched); re-running the same file says "already loaded" and publishes, exit 0."""
    import os
    import signal
    import subprocess
    import sys

    load_file(settings, write_csv(tmp_path / "a.csv", [row(1), row(2)]))
    path = write_csv(tmp_path / "b.csv", [row(i) for i in range(3, 9)])
    killer = (
        "import os, signal, sys\n"
        "import etl.publish as p\n"
        "p._switch_current = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
        "from customs_kpi.cli import app\n"
        "sys.argv = ['customs-kpi', *sys.argv[1:]]\n"
        "app()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", killer, "load", str(path), "--home", str(settings.home)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == -signal.SIGKILL, (proc.stdout, proc.stderr)
    assert _rows(settings) == 2  # committed, never switched: the dashboard is behind
    again = CliRunner().invoke(app, ["load", str(path), "--home", str(settings.home)])
    assert again.exit_code == 0, again.output
    assert "already loaded" in again.output and "had not been published" in again.output
    assert _rows(settings) == 8


def test_the_data_page_says_when_the_last_publish_failed(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Data page states the failure (cause, what is shown, what recovers it) until the next
    publish succeeds."""
    import sys

    from appstate.roles import Role
    from dashboard.app import create_app
    from dashboard.data import Viewer, build_context

    app = create_app(settings)
    data_page = sys.modules["dashboard.pages.data"]  # imported by the app, as Dash wants

    def banner() -> str:
        published = current_version(settings)
        ctx = build_context(settings, Viewer("a", Role.ADMIN, None), published)
        with app.server.app_context():
            return str(data_page._publish_banner(ctx))

    load_file(settings, write_csv(tmp_path / "a.csv", [row(1)]))
    assert banner() == "None"
    with monkeypatch.context() as patch:
        _disk_full(patch)
        load_file(settings, write_csv(tmp_path / "b.csv", [row(2)]))
    shown = banner()
    assert "The last publish failed" in shown and "disk full" in shown
    assert "the next load, publish or worker poll publishes again" in shown
    load_file(settings, write_csv(tmp_path / "c.csv", [row(3)]))
    assert banner() == "None"

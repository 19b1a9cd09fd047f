"""Issue 11, points 2 and 14: inbox files are loaded only when quiet and whole; outcomes are
true; links and other non-regular files are refused and nothing is written through a link."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from etl_helpers import query, row, write_csv

from customs_kpi.published import RunStatus
from customs_kpi.settings import Settings
from etl import inbox as inbox_mod
from etl.inbox import QUIET_SECONDS, InboxError, process_inbox
from worker.jobs import JobOutcome, read_jobs
from worker.scheduler import build_worker

LONG_AGO = 1_000_000.0  # an mtime well before any test's "now"
NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def _aged(path: Path, mtime: float = LONG_AGO) -> Path:
    os.utime(path, (mtime, mtime))
    return path


def _declarations(settings: Settings) -> int:
    if not settings.warehouse_path.exists():
        return 0
    return int(query(settings, "SELECT count(*) FROM declarations")[0][0])


# --- 2: stability ------------------------------------------------------------------------
def test_a_file_still_being_written_waits_until_it_is_quiet(settings: Settings) -> None:
    path = _aged(write_csv(settings.inbox_dir / "copying.csv", [row(i) for i in range(1, 6)]))
    mtime = path.stat().st_mtime
    # Just written (a copy in progress): neither loaded nor moved.
    assert process_inbox(settings, now=mtime + QUIET_SECONDS / 2) == []
    assert path.exists() and _declarations(settings) == 0
    [result] = process_inbox(settings, now=mtime + QUIET_SECONDS + 1)
    assert result.status == RunStatus.SUCCEEDED and result.rows_inserted == 5
    assert not path.exists()


def test_a_zero_byte_file_being_created_is_not_failed_as_empty(settings: Settings) -> None:
    path = settings.inbox_dir / "starting.csv"
    path.write_bytes(b"")
    assert process_inbox(settings, now=path.stat().st_mtime + 1) == []
    assert path.exists() and not (settings.inbox_dir / "failed" / "starting.csv").exists()


def test_a_file_that_grows_while_it_is_loaded_stays_and_is_loaded_whole(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [row(i) for i in range(1, 41)]
    path = _aged(write_csv(settings.inbox_dir / "big.csv", rows[:10]))
    real = inbox_mod.load_files
    writes: list[int] = []

    def load_while_the_copy_goes_on(*args: object, **kwargs: object) -> object:
        results = real(*args, **kwargs)  # type: ignore[arg-type]
        if not writes:  # the copy finishes after the load read the first part
            write_csv(path, rows)
            _aged(path, LONG_AGO + 10)
            writes.append(1)
        return results

    monkeypatch.setattr(inbox_mod, "load_files", load_while_the_copy_goes_on)
    [first] = process_inbox(settings, now=LONG_AGO + 1000)
    assert first.status == RunStatus.FAILED and "changed while it was being loaded" in first.message
    assert path.exists()  # not moved to done/ with only a part of it loaded
    [second] = process_inbox(settings, now=LONG_AGO + 1000)
    assert second.status == RunStatus.SUCCEEDED
    assert _declarations(settings) == 40
    assert (settings.inbox_dir / "done" / "big.csv").exists()


def test_a_file_deleted_while_it_is_loaded_does_not_crash(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _aged(write_csv(settings.inbox_dir / "gone.csv", [row(1), row(2)]))
    real = inbox_mod.load_files

    def load_then_delete(*args: object, **kwargs: object) -> object:
        results = real(*args, **kwargs)  # type: ignore[arg-type]
        path.unlink()
        return results

    monkeypatch.setattr(inbox_mod, "load_files", load_then_delete)
    [result] = process_inbox(settings, now=LONG_AGO + 1000)
    assert result.status == RunStatus.SUCCEEDED and "vanished" in result.message
    assert _declarations(settings) == 2


def test_an_inbox_job_whose_delivery_failed_is_recorded_failed(settings: Settings) -> None:
    bad = settings.inbox_dir / "empty.csv"
    bad.write_bytes(b"")
    _aged(bad)
    w = build_worker(settings, tz=UTC, now=NOW)
    assert w.run_now("inbox", now=NOW) == JobOutcome.FAILED
    job = read_jobs(settings).jobs["inbox"]
    assert job.last_outcome == JobOutcome.FAILED and "empty.csv: is empty" in job.last_message
    assert (settings.inbox_dir / "failed" / "empty.csv").exists()


# --- 14: links ---------------------------------------------------------------------------
def test_a_link_in_the_inbox_is_refused_and_its_target_untouched(
    settings: Settings, tmp_path: Path
) -> None:
    outside = write_csv(tmp_path / "outside.csv", [row(1), row(2)])
    before = outside.read_bytes()
    link = settings.inbox_dir / "planted.csv"
    link.symlink_to(outside)
    [result] = process_inbox(settings, now=LONG_AGO + 1000)
    assert result.status == RunStatus.FAILED and "symbolic link" in result.message
    assert _declarations(settings) == 0  # never read
    assert outside.read_bytes() == before  # still there, unchanged, not moved
    moved = settings.inbox_dir / "failed" / "planted.csv"
    assert moved.is_symlink()  # the link itself went to failed/, not its target
    assert "symbolic link" in (settings.inbox_dir / "failed" / "planted.csv.error.txt").read_text()


def test_no_error_file_is_written_through_a_planted_link(
    settings: Settings, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    failed = settings.inbox_dir / "failed"
    failed.mkdir()
    (failed / "bad.csv.error.txt").symlink_to(victim)
    bad = settings.inbox_dir / "bad.csv"
    bad.write_bytes(b"")
    _aged(bad)
    [result] = process_inbox(settings, now=LONG_AGO + 1000)
    assert result.status == RunStatus.FAILED
    assert victim.read_text() == "precious\n"
    errors = [p for p in failed.iterdir() if p.name.endswith(".error.txt") and not p.is_symlink()]
    assert len(errors) == 1 and "is empty" in errors[0].read_text()


def test_a_linked_failed_folder_is_refused(settings: Settings, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (settings.inbox_dir / "failed").symlink_to(elsewhere)
    bad = settings.inbox_dir / "bad.csv"
    bad.write_bytes(b"")
    _aged(bad)
    with pytest.raises(InboxError, match="symbolic link"):
        process_inbox(settings, now=LONG_AGO + 1000)
    assert list(elsewhere.iterdir()) == [] and bad.exists()


def test_a_linked_source_folder_is_refused_unread(settings: Settings, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    _aged(write_csv(outside / "x.csv", [row(1)]))
    (settings.inbox_dir / "src").symlink_to(outside, target_is_directory=True)
    [result] = process_inbox(settings, now=LONG_AGO + 1000)
    assert result.status == RunStatus.FAILED and "symbolic link" in result.message
    assert (outside / "x.csv").exists() and _declarations(settings) == 0
    assert (settings.inbox_dir / "failed" / "src").is_symlink()


def test_a_file_stamped_in_the_future_is_taken_once_unchanged_across_polls(
    settings: Settings,
) -> None:
    """A file server whose clock runs an hour fast: the modification time never looks quiet,
    the size and modification time staying the same across polls does."""
    path = write_csv(settings.inbox_dir / "skewed.csv", [row(1), row(2)])
    now = LONG_AGO + 5000
    _aged(path, now + 3600)
    assert process_inbox(settings, now=now) == []
    assert process_inbox(settings, now=now + QUIET_SECONDS / 2) == []
    [result] = process_inbox(settings, now=now + QUIET_SECONDS + 1)
    assert result.status == RunStatus.SUCCEEDED and _declarations(settings) == 2

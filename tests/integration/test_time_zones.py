"""Time zones: delivered times with an offset become the administration's local time; stamps
the product writes are UTC whatever the server's zone, and are shown in the administration's
zone (CUSTOMS_KPI_TIMEZONE)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from etl_helpers import query, read_warehouse, row, write_csv, write_mapping

from customs_kpi.clock import as_utc, local_text, utc_naive
from customs_kpi.published import RunStatus, current_version, freshness
from customs_kpi.settings import Settings, load_settings
from etl.load import load_file
from etl.mapping import MappingError, load_mapping

RIYADH = "Asia/Riyadh"  # UTC+3, no daylight saving


@pytest.fixture
def server_in_tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The server's own local zone is neither UTC nor the administration's."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _settings(tmp_path: Path, zone: str = RIYADH) -> Settings:
    settings = load_settings(environ={"CUSTOMS_KPI_TIMEZONE": zone}, home=tmp_path / "home")
    settings.ensure_home()
    return settings


def _lodged(settings: Settings) -> dict[str, tuple[datetime, date]]:
    rows = query(settings, "SELECT declaration_id, lodged_at, lodged_month FROM declarations")
    return {r[0]: (r[1], r[2]) for r in rows}


def test_offsets_are_converted_to_the_administrations_zone(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    delivery = write_csv(
        tmp_path / "d.csv",
        [
            row(1, lodged_at="2025-01-31 23:30:00", released_at=""),  # local, kept as it is
            row(2, lodged_at="2025-01-31T20:30:00Z", released_at=""),  # 23:30 in Riyadh
            row(3, lodged_at="2025-01-31 20:30:00+03:00", released_at=""),  # already local
            row(4, lodged_at="2025-01-31 20:30:00-05", released_at=""),  # 04:30 on 1 Feb
            row(5, lodged_at="2025-01-31 21:00:00+0000", released_at=""),  # 00:00 on 1 Feb
        ],
    )
    result = load_file(settings, delivery)
    assert result.status == RunStatus.SUCCEEDED, result.message
    lodged = _lodged(settings)
    january, february = date(2025, 1, 1), date(2025, 2, 1)
    assert lodged["D1"] == (datetime(2025, 1, 31, 23, 30), january)
    assert lodged["D2"] == (datetime(2025, 1, 31, 23, 30), january)
    assert lodged["D3"] == (datetime(2025, 1, 31, 20, 30), january)
    assert lodged["D4"] == (datetime(2025, 2, 1, 4, 30), february)
    assert lodged["D5"] == (datetime(2025, 2, 1, 0, 0), february)


def test_a_source_may_name_its_own_zone_and_offset_formats(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "UTC")
    mapping = write_mapping(
        tmp_path / "m.toml",
        '[source]\ntimezone = "Africa/Casablanca"\n'
        '[datetime_formats]\nlodged_at = ["%d/%m/%Y %H:%M %z", "%d/%m/%Y %H:%M"]\n',
    )
    assert load_mapping(mapping).timezone == "Africa/Casablanca"
    delivery = write_csv(
        tmp_path / "d.csv",
        [
            row(1, lodged_at="31/03/2025 10:00 +0000", released_at=""),
            row(2, lodged_at="31/03/2025 10:00", released_at=""),
        ],
    )
    result = load_file(settings, delivery, mapping)
    assert result.status == RunStatus.SUCCEEDED, result.message
    lodged = _lodged(settings)
    offset = ZoneInfo("Africa/Casablanca").utcoffset(datetime(2025, 3, 31, 10))
    assert offset is not None
    assert lodged["D1"][0] == datetime(2025, 3, 31, 10) + offset
    assert lodged["D2"][0] == datetime(2025, 3, 31, 10)


def test_unknown_zones_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CUSTOMS_KPI_TIMEZONE 'Mars/Olympus' is not a known"):
        load_settings(environ={"CUSTOMS_KPI_TIMEZONE": "Mars/Olympus"})
    bad = write_mapping(tmp_path / "m.toml", '[source]\ntimezone = "Riyadh"\n')
    with pytest.raises(MappingError, match=r"\[source\].timezone 'Riyadh' is not a known time"):
        load_mapping(bad)


def test_the_run_log_is_utc_whatever_the_servers_zone(
    tmp_path: Path, server_in_tokyo: None
) -> None:
    assert time.strftime("%Z") != "UTC"  # the process really runs in another local zone
    settings = _settings(tmp_path)
    before = datetime.now(UTC).replace(tzinfo=None)
    result = load_file(settings, write_csv(tmp_path / "d.csv", [row(1)]))
    after = datetime.now(UTC).replace(tzinfo=None)
    assert result.status == RunStatus.SUCCEEDED, result.message
    with read_warehouse(settings) as con:
        started, finished = con.sql("SELECT started_at, finished_at FROM runs").fetchall()[0]
        (loaded_at,) = con.sql("SELECT loaded_at FROM loaded_files").fetchall()[0]
    slack = timedelta(seconds=1)
    for stamp in (started, finished, loaded_at):
        assert before - slack <= stamp <= after + slack
    # Just loaded is fresh (a local-time stamp would be 9 hours "old" or "in the future").
    published = current_version(settings)
    assert published is not None and published.data_as_of is not None
    assert not freshness(published.data_as_of, 1, None).stale


def test_stamps_are_shown_in_the_administrations_zone(tmp_path: Path) -> None:
    from dashboard.components.format import format_stamp

    stamp = datetime(2026, 3, 31, 22, 5)  # stored: naive UTC
    zone = ZoneInfo(RIYADH)
    assert local_text(stamp, zone) == "01 Apr 2026 01:05 +03"
    assert local_text(stamp, ZoneInfo("UTC")) == "31 Mar 2026 22:05 UTC"
    assert as_utc(stamp) == datetime(2026, 3, 31, 22, 5, tzinfo=UTC)
    assert utc_naive(datetime(2026, 4, 1, 1, 5, tzinfo=zone)) == stamp
    assert format_stamp(stamp) == "31 Mar 2026 22:05 UTC"  # outside an app: UTC
    from dashboard.app import create_app

    app = create_app(_settings(tmp_path))
    with app.server.app_context():
        assert format_stamp(stamp) == "01 Apr 2026 01:05 +03"
        assert format_stamp("2026-03-31T22:05:00") == "01 Apr 2026 01:05 +03"


def test_the_worker_keeps_the_administrations_clock(tmp_path: Path) -> None:
    from worker.scheduler import build_worker

    worker = build_worker(_settings(tmp_path), now=datetime(2026, 3, 1, tzinfo=UTC))
    try:
        assert str(worker.scheduler.timezone) == RIYADH
    finally:
        worker.scheduler.shutdown(wait=False) if worker.scheduler.running else None


def test_users_page_and_review_history_show_the_administrations_zone(tmp_path: Path) -> None:
    from dashboard.app import create_app
    from dashboard.pages import admin_users, review

    app = create_app(_settings(tmp_path))
    with app.server.app_context():
        assert admin_users._iso_text("2026-11-27T15:21:15.330+00:00") == "2026-11-27 18:21 +03"
        assert admin_users._utc_text(0) == "1970-01-01 03:00:00 +03"
        assert review._when("2026-11-27T22:30:00.000+00:00") == "2026-11-28 01:30 +03"

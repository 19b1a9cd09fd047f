"""Profile register and change log loads."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from etl_helpers import Calls, assert_nothing_lost, install_stubs, query

from customs_kpi.published import RunStatus
from customs_kpi.settings import Settings
from etl.load import load_profiles


@pytest.fixture(autouse=True)
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    return install_stubs(monkeypatch)


REGISTER = (
    "profile_id,name,risk_area,target_channel,status,valid_from,valid_to,owner_unit,"
    "review_period_days,last_reviewed_at,description\n"
    "P1,Undervalued phones,valuation,red,active,2023-01-01,,Risk unit,90,2024-01-15,Cheap\n"
    """P2,Textile origin,origin,yellow,active,2023-06-01,2025-01-01,Risk unit,180,,
P1,Undervalued phones v2,valuation,red,suspended,2023-01-01,,Risk unit,90,2024-03-01,Narrowed
P3,Broken,valuation,red,sleeping,2023-01-01,,Risk unit,90,,
"""
)

CHANGES = """profile_id,changed_at,change_type,summary,changed_by
P1,2023-01-01 09:00:00,created,Created,anna
P1,2024-03-01 10:00:00,modified,Value band narrowed,anna
P1,2024-03-01 10:00:00,modified,Value band narrowed,anna
P2,2023-06-01 09:00:00,created,Created,ben
P2,not a date,reviewed,,ben
"""


def test_register_and_change_log(settings: Settings, tmp_path: Path, calls: Calls) -> None:
    register = tmp_path / "profiles.csv"
    register.write_text(REGISTER)
    changes = tmp_path / "profile_changes.csv"
    changes.write_text(CHANGES)
    result = load_profiles(settings, register, changes)
    assert result.status == RunStatus.SUCCEEDED, result.message
    # 4 register rows: P1 twice (the later row wins), P3 quarantined; 5 change rows: one
    # duplicate, one bad date.
    assert (result.rows_read, result.rows_inserted, result.rows_replaced) == (9, 5, 0)
    assert (result.rows_quarantined, result.rows_merged) == (2, 2)
    assert_nothing_lost(result)
    assert query(settings, "SELECT profile_id, name, status, valid_to, review_period_days, "
                 "last_reviewed_at FROM profiles ORDER BY 1") == [
        ("P1", "Undervalued phones v2", "suspended", None, 90, date(2024, 3, 1)),
        ("P2", "Textile origin", "active", date(2025, 1, 1), 180, None),
    ]  # fmt: skip
    assert query(settings, "SELECT profile_id, changed_at, change_type FROM profile_changes "
                 "ORDER BY 2") == [
        ("P1", datetime(2023, 1, 1, 9), "created"),
        ("P2", datetime(2023, 6, 1, 9), "created"),
        ("P1", datetime(2024, 3, 1, 10), "modified"),
    ]  # fmt: skip
    assert query(settings, "SELECT file_name, source_row, rule, reason FROM quarantine "
                 "ORDER BY 1, 2") == [
        ("profile_changes.csv", 5, "invalid:changed_at",
         "changed_at 'not a date' is not an ISO 8601 date/time (e.g. 2024-03-31 14:05:00)"),
        ("profiles.csv", 4, "invalid:status",
         "status 'sleeping' is not one of draft, active, suspended, expired, retired"),
    ]  # fmt: skip
    assert len(calls.publish) == 1

    # The same files again: skipped. A new register replaces profiles; known events stay once.
    assert load_profiles(settings, register, changes).status == RunStatus.SKIPPED
    register2 = tmp_path / "profiles2.csv"
    register2.write_text(
        REGISTER.splitlines()[0] + "\nP2,Textile origin,origin,yellow,retired,"
        "2023-06-01,2024-06-01,Risk unit,180,,\n"
    )
    changes2 = tmp_path / "changes2.csv"
    changes2.write_text(
        CHANGES.splitlines()[0] + "\nP2,2023-06-01 09:00:00,created,Created,ben"
        "\nP2,2024-06-01 09:00:00,retired,Retired,ben\n"
    )
    again = load_profiles(settings, register2, changes2)
    assert (again.rows_read, again.rows_inserted, again.rows_replaced, again.rows_merged) == (
        3, 1, 1, 1,
    )  # fmt: skip
    assert query(settings, "SELECT profile_id, status FROM profiles ORDER BY 1") == [
        ("P1", "suspended"),
        ("P2", "retired"),
    ]
    assert query(settings, "SELECT count(*) FROM profile_changes") == [(4,)]


def test_register_without_required_column(settings: Settings, tmp_path: Path) -> None:
    register = tmp_path / "profiles.csv"
    register.write_text("profile_id,name\nP1,x\n")
    result = load_profiles(settings, register)
    assert result.status == RunStatus.FAILED
    assert result.message == "profiles.csv: required column(s) missing: status"
    assert query(settings, "SELECT count(*) FROM profiles") == [(0,)]


def test_register_parquet_and_change_log_xlsx(settings: Settings, tmp_path: Path) -> None:
    import polars as pl

    pl.DataFrame(
        {
            "profile_id": ["P7"],
            "status": ["active"],
            "valid_from": [date(2024, 2, 1)],
            "review_period_days": [30],
        }
    ).write_parquet(tmp_path / "register.parquet")
    pl.DataFrame(
        {
            "profile_id": ["P7", "P7"],
            "changed_at": [datetime(2024, 2, 1, 9, 30), datetime(2024, 5, 2, 14, 0)],
            "change_type": ["created", "modified"],
        }
    ).write_excel(tmp_path / "changes.xlsx")
    result = load_profiles(settings, tmp_path / "register.parquet", tmp_path / "changes.xlsx")
    assert (result.status, result.rows_read, result.rows_inserted) == (RunStatus.SUCCEEDED, 3, 3)
    assert query(settings, "SELECT profile_id, valid_from, review_period_days FROM profiles") == [
        ("P7", date(2024, 2, 1), 30)
    ]
    assert query(settings, "SELECT changed_at, change_type FROM profile_changes ORDER BY 1") == [
        (datetime(2024, 2, 1, 9, 30), "created"),
        (datetime(2024, 5, 2, 14, 0), "modified"),
    ]

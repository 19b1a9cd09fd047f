"""Load semantics (DATA-CONTRACT.md): idempotent, later versions replace, atomic, item roll-up,
every delivery format, the ASYCUDA example, cube/publish hand-offs."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from etl_helpers import (
    Calls,
    assert_nothing_lost,
    contents,
    install_stubs,
    query,
    row,
    write_csv,
    write_mapping,
)

from customs_kpi.published import RunStatus
from customs_kpi.settings import Settings
from etl.load import load_file, load_files

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    return install_stubs(monkeypatch)


def test_canonical_load_values_and_lineage(settings: Settings, tmp_path: Path, calls: Calls):
    rows = [
        row(1),
        row(3, profile_ids=" P9 ; P1;P9;", additional_revenue="250.75", control_result="Seizure"),
        row(5, is_aeo="yes", arrived_at="2024-03-06T07:15:00", selection_source=""),
    ]
    result = load_file(settings, write_csv(tmp_path / "march.csv", rows))
    assert (result.status, result.rows_read, result.rows_inserted) == (RunStatus.SUCCEEDED, 3, 3)
    assert result.message == "march.csv: 3 rows read, 3 inserted, 0 replaced, 0 quarantined"
    got = query(
        settings,
        "SELECT declaration_id, lodged_month, channel, selection_source, profile_ids, "
        "control_result, additional_revenue, arrived_at::VARCHAR, is_aeo, source_name, "
        "source_file, source_row, run_id FROM declarations ORDER BY declaration_id",
    )
    assert got == [
        ("D1", date(2024, 3, 1), "green", "none", [], None, Decimal("0.00"), None, False,
         "canonical", "march.csv", 1, result.run_id),
        ("D3", date(2024, 3, 1), "red", "profile", ["P1", "P9"], "seizure", Decimal("250.75"),
         None, False, "canonical", "march.csv", 2, result.run_id),
        ("D5", date(2024, 3, 1), "green", "unknown", [], None, Decimal("0.00"),
         "2024-03-06 07:15:00", True, "canonical", "march.csv", 3, result.run_id),
    ]  # fmt: skip
    assert query(settings, "SELECT * FROM profile_hits ORDER BY 2") == [
        ("D3", "P1", date(2024, 3, 1)),
        ("D3", "P9", date(2024, 3, 1)),
    ]
    assert calls.cube == [[date(2024, 3, 1)]]
    assert calls.publish == [({date(2024, 3, 1)}, result.run_id)]
    assert result.published == "v000001"
    runs = query(settings, "SELECT kind, status, rows_read, rows_inserted, file_name FROM runs")
    assert runs == [("load", RunStatus.SUCCEEDED, 3, 3, "march.csv")]


def test_same_file_twice_changes_nothing(settings: Settings, tmp_path: Path, calls: Calls):
    path = write_csv(tmp_path / "d.csv", [row(i) for i in range(1, 6)])
    first = load_file(settings, path)
    before = contents(settings)
    copy = tmp_path / "renamed.csv"
    copy.write_bytes(path.read_bytes())  # same bytes under another name: still the same delivery
    second = load_file(settings, copy)
    after = contents(settings)
    assert second.status == RunStatus.SKIPPED
    assert second.message.startswith(
        f"renamed.csv: already loaded (same content as d.csv, run {first.run_id}, "
    )
    assert second.rows_inserted == second.rows_read == 0
    for table in before:
        if table != "runs":
            assert after[table] == before[table], table
    assert query(settings, "SELECT status FROM runs ORDER BY run_id") == [
        (RunStatus.SUCCEEDED,),
        (RunStatus.SKIPPED,),
    ]
    assert len(calls.cube) == 1 and len(calls.publish) == 1


def test_later_delivery_replaces_earlier_version(settings: Settings, tmp_path: Path, calls: Calls):
    early = [
        row(1),
        row(2, lodged_at="2024-02-28 10:00:00", released_at="", channel="red",
            control_result="pending", profile_ids="P1"),
        row(3),
    ]  # fmt: skip
    first = load_file(settings, write_csv(tmp_path / "w1.csv", early))
    late = [
        # D2's result arrives, and its lodgement date was corrected into March.
        row(2, lodged_at="2024-03-01 10:00:00", released_at="2024-03-04 10:00:00", channel="red",
            control_result="irregularity", additional_revenue="900", profile_ids="P2;P3"),
        row(4),
    ]  # fmt: skip
    second = load_file(settings, write_csv(tmp_path / "w2.csv", late))
    assert (second.rows_read, second.rows_inserted, second.rows_replaced) == (2, 1, 1)
    assert_nothing_lost(second)
    assert "1 inserted, 1 replaced" in second.message
    got = query(
        settings,
        "SELECT declaration_id, control_result, additional_revenue, lodged_month, source_file, "
        "run_id FROM declarations ORDER BY 1",
    )
    assert got == [
        ("D1", None, Decimal("0.00"), date(2024, 3, 1), "w1.csv", first.run_id),
        ("D2", "irregularity", Decimal("900.00"), date(2024, 3, 1), "w2.csv", second.run_id),
        ("D3", "no_finding", Decimal("0.00"), date(2024, 3, 1), "w1.csv", first.run_id),
        ("D4", None, Decimal("0.00"), date(2024, 3, 1), "w2.csv", second.run_id),
    ]
    assert query(settings, "SELECT * FROM profile_hits ORDER BY 1, 2") == [
        ("D2", "P2", date(2024, 3, 1)),  # the old version's P1 is gone
        ("D2", "P3", date(2024, 3, 1)),
        ("D3", "P1", date(2024, 3, 1)),
        ("D3", "P2", date(2024, 3, 1)),
    ]
    # Both the month the old version lived in and the new one are rebuilt.
    assert second.touched_months == [date(2024, 2, 1), date(2024, 3, 1)]
    assert calls.cube[-1] == [date(2024, 2, 1), date(2024, 3, 1)]
    runs = query(settings, "SELECT rows_inserted, rows_replaced FROM runs ORDER BY run_id")
    assert runs == [(3, 0), (1, 1)]


def test_failure_after_upsert_leaves_warehouse_unchanged(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: Calls
):
    load_file(settings, write_csv(tmp_path / "base.csv", [row(i) for i in range(1, 4)]))
    before = contents(settings)

    def broken_cube(con: object, months: object) -> None:
        raise RuntimeError("disk full while rebuilding the cube")

    monkeypatch.setattr("etl.load.rebuild_cube", broken_cube)
    rows = [row(2, channel="red", control_result="seizure"), row(7), row(8, channel="bogus")]
    result = load_file(settings, write_csv(tmp_path / "next.csv", rows))
    assert result.status == RunStatus.FAILED
    assert result.message == (
        "next.csv: load failed and was rolled back: disk full while rebuilding the cube"
    )
    assert (result.rows_read, result.rows_inserted, result.rows_quarantined) == (3, 0, 0)
    after = contents(settings)
    for table in before:
        if table != "runs":
            assert after[table] == before[table], table
    runs = query(settings, "SELECT status, file_name, message FROM runs ORDER BY run_id")
    assert runs[:-1] == [(RunStatus.SUCCEEDED, "base.csv", runs[0][2])]
    assert runs[-1] == (RunStatus.FAILED, "next.csv", result.message)
    assert list(settings.quarantine_dir.iterdir()) == []  # no orphan quarantine file
    assert len(calls.publish) == 1  # a failed load publishes nothing
    # The same file loads once the problem is gone (it was not recorded as loaded).
    monkeypatch.setattr("etl.load.rebuild_cube", lambda con, months: None)
    again = load_file(settings, tmp_path / "next.csv")
    assert (again.status, again.rows_inserted, again.rows_replaced) == (RunStatus.SUCCEEDED, 1, 1)
    assert again.rows_quarantined == 1


ITEM_MAPPING = """
[source]
name = "items"
item_level = true

[columns]
declaration_id = ["YEAR", "NUMBER"]
office_code = "OFFICE"
lodged_at = "LODGED"
channel = "LANE"
control_result = "RESULT"
profile_ids = "PROFILES"
additional_revenue = "REVENUE"
released_at = "RELEASED"
customs_value = "VALUE"
hs_code = "HS"

[values.control_result]
"S" = "seizure"
"I" = "irregularity"
"N" = "no_finding"
"P" = "pending"
"""


def test_item_rows_are_rolled_up(settings: Settings, tmp_path: Path, calls: Calls):
    path = tmp_path / "items.csv"
    path.write_text(
        "YEAR,NUMBER,OFFICE,LODGED,LANE,RESULT,PROFILES,REVENUE,RELEASED,VALUE,HS\n"
        "2024,7,A,2024-03-02 10:00,red,N,P1,10,2024-03-05 09:00,100,0101\n"
        "2024,7,A,2024-03-01 08:00,red,S,P3;P1,5.5,2024-03-06 12:00,50,0202\n"
        "2024,7,A,2024-03-03 08:00,red,I,,0,2024-03-04 00:00,25,0303\n"
        "2024,8,B,2024-03-04 08:00,yellow,P,P2,,,10,0404\n"
        "2024,8,B,2024-03-04 08:00,yellow,N,,1,,20,0505\n"
        "2024,9,B,2024-03-09 08:00,green,,,,2024-03-09 09:00,1,0606\n"
        "2024,9,B,2024-03-09 08:00,PURPLE,,,,,2,0707\n"
    )
    mapping = write_mapping(tmp_path / "items.toml", ITEM_MAPPING)
    result = load_file(settings, path, mapping)
    assert (result.status, result.rows_read) == (RunStatus.SUCCEEDED, 7)
    assert (result.rows_inserted, result.rows_quarantined, result.rows_merged) == (2, 2, 3)
    assert_nothing_lost(result)
    got = query(
        settings,
        "SELECT declaration_id, office_code, lodged_at::VARCHAR, released_at::VARCHAR, "
        "control_result, additional_revenue, profile_ids, customs_value, hs_code, source_row, "
        "source_name FROM declarations ORDER BY 1",
    )
    assert got == [
        # most severe result, summed revenue and value, united profiles, earliest lodgement,
        # latest release, first item's other attributes
        ("2024-7", "A", "2024-03-01 08:00:00", "2024-03-06 12:00:00", "seizure",
         Decimal("15.50"), ["P1", "P3"], Decimal("175.00"), "0101", 1, "items"),
        ("2024-8", "B", "2024-03-04 08:00:00", None, "no_finding", Decimal("1.00"), ["P2"],
         Decimal("30.00"), "0404", 4, "items"),
    ]  # fmt: skip
    # One bad item quarantines its whole declaration.
    assert query(settings, "SELECT source_row, declaration_id, rule, reason FROM quarantine "
                 "ORDER BY source_row") == [
        (6, "2024-9", "item_of_quarantined_declaration",
         "another item of declaration '2024-9' was quarantined (row 7)"),
        (7, "2024-9", "invalid:channel",
         "channel 'PURPLE' is not one of green, yellow, red, blue (from LANE)"),
    ]  # fmt: skip
    raw = query(settings, "SELECT raw_record FROM quarantine ORDER BY source_row")
    assert [json.loads(r[0])["HS"] for r in raw] == ["0606", "0707"]


def test_asycuda_example_loads_with_hand_counted_declarations(settings: Settings, calls: Calls):
    result = load_file(
        settings,
        REPO / "sample_data" / "asycuda_example.csv",
        REPO / "sample_data" / "mappings" / "asycuda.toml",
    )
    assert result.status == RunStatus.SUCCEEDED, result.message
    # 28 item rows of 12 declarations, none quarantined.
    assert (result.rows_read, result.rows_inserted, result.rows_quarantined) == (28, 12, 0)
    assert result.rows_merged == 16
    by_channel = query(settings, "SELECT channel, count(*) FROM declarations GROUP BY 1 ORDER BY 1")
    assert by_channel == [("blue", 1), ("green", 3), ("red", 5), ("yellow", 3)]
    by_office = query(
        settings, "SELECT office_code, count(*) FROM declarations GROUP BY 1 ORDER BY 1"
    )
    assert by_office == [("APAPA", 6), ("KANO", 3), ("TINCAN", 3)]
    irregular = query(
        settings,
        "SELECT declaration_id, additional_revenue FROM declarations "
        "WHERE control_result = 'irregularity' ORDER BY 1",
    )
    assert irregular == [
        ("2014-APAPA-1021", Decimal("2150.00")),
        ("2014-KANO-1029", Decimal("950.00")),
        ("2014-KANO-1031", Decimal("2915.00")),
        ("2014-TINCAN-1025", Decimal("6100.00")),
    ]
    assert query(settings, "SELECT sum(additional_revenue) FROM declarations") == [
        (Decimal("12115.00"),)
    ]
    one = query(
        settings,
        "SELECT lodged_at::VARCHAR, paid_at::VARCHAR, customs_value, "
        "selection_source, lodged_month, source_name FROM declarations "
        "WHERE declaration_id = '2014-KANO-1031'",
    )
    assert one == [("2014-08-22 00:00:00", "2014-09-02 00:00:00", Decimal("14300.00"),
                    "unknown", date(2014, 8, 1), "asycuda-item-export")]  # fmt: skip


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "declaration_id": ["X1", "X2", "X3"],
            "office_code": ["0042", "0042", "0007"],
            "lodged_at": ["2024-05-01 08:00:00", "2024-05-02 09:30:00", "2024-06-01 10:00:00"],
            "channel": ["red", "green", "teal"],
            "profile_ids": ["P1;P2", "", ""],
            "additional_revenue": ["12.5", "0", "0"],
        }
    )


def _check_formats(settings: Settings, result: object, name: str) -> None:
    assert result.status == RunStatus.SUCCEEDED, result.message  # type: ignore[attr-defined]
    assert (result.rows_read, result.rows_inserted, result.rows_quarantined) == (3, 2, 1)  # type: ignore[attr-defined]
    got = query(
        settings,
        "SELECT declaration_id, office_code, lodged_at::VARCHAR, profile_ids, "
        "additional_revenue FROM declarations ORDER BY 1",
    )
    assert got == [
        ("X1", "0042", "2024-05-01 08:00:00", ["P1", "P2"], Decimal("12.50")),
        ("X2", "0042", "2024-05-02 09:30:00", [], Decimal("0.00")),
    ]
    assert query(settings, "SELECT file_name, source_row, reason FROM quarantine") == [
        (name, 3, "channel 'teal' is not one of green, yellow, red, blue")
    ]


def test_parquet_delivery(settings: Settings, tmp_path: Path, calls: Calls):
    frame = _frame().with_columns(
        pl.col("lodged_at").str.to_datetime(),
        pl.col("additional_revenue").cast(pl.Float64),
        pl.col("profile_ids").str.split(";").list.eval(pl.element().filter(pl.element() != "")),
    )
    frame.write_parquet(tmp_path / "d.parquet")
    _check_formats(settings, load_file(settings, tmp_path / "d.parquet"), "d.parquet")


def test_xlsx_delivery(settings: Settings, tmp_path: Path, calls: Calls):
    # Real date cells and numbers, as a spreadsheet user would type them.
    frame = _frame().with_columns(
        pl.col("lodged_at").str.to_datetime(), pl.col("additional_revenue").cast(pl.Float64)
    )
    frame.write_excel(tmp_path / "d.xlsx")
    _check_formats(settings, load_file(settings, tmp_path / "d.xlsx"), "d.xlsx")


def test_json_delivery_array_of_records(settings: Settings, tmp_path: Path, calls: Calls):
    records = _frame().to_dicts()
    records[0]["profile_ids"] = ["P1", "P2"]  # a JSON list is accepted for profile_ids
    (tmp_path / "d.json").write_text(json.dumps(records))
    _check_formats(settings, load_file(settings, tmp_path / "d.json"), "d.json")


def test_json_lines_delivery(settings: Settings, tmp_path: Path, calls: Calls):
    _frame().write_ndjson(tmp_path / "d.jsonl")
    _check_formats(settings, load_file(settings, tmp_path / "d.jsonl"), "d.jsonl")


def test_load_files_publishes_once_for_all_months(settings: Settings, tmp_path: Path, calls: Calls):
    a = write_csv(tmp_path / "a.csv", [row(1)])
    b = write_csv(tmp_path / "b.csv", [row(2, lodged_at="2024-04-02 10:00:00", released_at="")])
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"")
    results = load_files(settings, [a, bad, b])
    assert [r.status for r in results] == [
        RunStatus.SUCCEEDED,
        RunStatus.FAILED,
        RunStatus.SUCCEEDED,
    ]
    assert calls.publish == [({date(2024, 3, 1), date(2024, 4, 1)}, results[2].run_id)]
    assert [r.published for r in results] == ["v000001", None, "v000001"]


def test_publish_failure_is_reported_but_load_stays(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: Calls
):
    def broken(*args: object) -> str:
        raise OSError("published/ is read-only")

    monkeypatch.setattr("etl.load.publish_version", broken)
    result = load_file(settings, write_csv(tmp_path / "a.csv", [row(1)]))
    assert result.status == RunStatus.SUCCEEDED
    assert result.published is None
    assert result.message.endswith("; NOT PUBLISHED: published/ is read-only")
    assert query(settings, "SELECT count(*) FROM declarations") == [(1,)]


def test_csv_with_bom_crlf_and_trailing_delimiter(settings: Settings, tmp_path: Path, calls: Calls):
    path = write_csv(tmp_path / "win.csv", [row(1), row(2)])
    lines = path.read_text().splitlines()
    text = "\r\n".join(line + "," for line in lines) + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    result = load_file(settings, path)
    assert (result.status, result.rows_inserted) == (RunStatus.SUCCEEDED, 2), result.message
    assert query(settings, "SELECT declaration_id, customs_value FROM declarations ORDER BY 1") == [
        ("D1", Decimal("1000.50")),
        ("D2", Decimal("1000.50")),
    ]


def test_multiline_quoted_values_keep_row_numbers(settings: Settings, tmp_path: Path, calls: Calls):
    rows = [row(1, offence_type="line one\nline two"), row(2, channel="x"), row(3)]
    result = load_file(settings, write_csv(tmp_path / "ml.csv", rows))
    assert result.rows_quarantined == 1
    assert query(settings, "SELECT source_row FROM quarantine") == [(2,)]
    assert query(
        settings, "SELECT declaration_id, source_row, offence_type FROM declarations ORDER BY 1"
    ) == [("D1", 1, "line one\nline two"), ("D3", 3, None)]


def test_unknown_columns_are_reported(settings: Settings, tmp_path: Path, calls: Calls):
    columns = [*row(1), "selection_sorce", "remarks"]
    rows = [{**row(1), "selection_sorce": "random", "remarks": "x"}]
    result = load_file(settings, write_csv(tmp_path / "x.csv", rows, columns=columns))
    assert result.status == RunStatus.SUCCEEDED
    assert result.message.endswith(
        "; warnings: column 'selection_sorce' is not a canonical column (did you mean "
        "'selection_source'?): ignored; column 'remarks' is not a canonical column: ignored"
    )

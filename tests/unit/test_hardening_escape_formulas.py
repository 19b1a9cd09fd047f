"""Formula injection (issue 11, point 10): text from the data or from analysts that starts with a
formula character is written as literal text in every CSV and workbook; numbers stay numbers."""

from __future__ import annotations

import csv
import io
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType

import openpyxl
import polars as pl
import pytest
from openpyxl.cell.cell import Cell

from dashboard.components.download import csv_text, send_csv
from kpis.flags import FlagConfig
from kpis.formatting import FORMULA_PREFIXES, formula_safe_frame
from monthly_report.content import ReportContent
from monthly_report.workbook import SHEETS, write_csvs, write_workbook


@pytest.fixture(scope="module")
def review(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    """The review page module as the app loads it (pages register only inside an app)."""
    from auth_helpers import cheap_passwords

    from customs_kpi.settings import load_settings
    from dashboard.app import create_app

    settings = load_settings(environ={}, home=tmp_path_factory.mktemp("escape-formulas"))
    create_app(settings, passwords=cheap_passwords())
    return sys.modules["dashboard.pages.review"]


PAYLOADS = ['=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)", "\tcmd", "\r=1+1"]
# The same text as openpyxl reads it back from a string cell (xlsx stores CR as _x000D_).
READ_BACK = [p.replace("\r", "_x000D_") for p in PAYLOADS]


def _payload_frame() -> pl.DataFrame:
    n = len(PAYLOADS)
    return pl.DataFrame(
        {
            "profile_id": [f"P{i}" for i in range(n)],
            "name": PAYLOADS,  # profile name
            "office_code": PAYLOADS,
            "rationale": PAYLOADS,
            "kind": pl.Series(PAYLOADS, dtype=pl.Categorical),
            "flags": [[p, "zero_hits"] for p in PAYLOADS],
            "change": [-0.5] * n,  # a negative number stays a number
            "declarations": list(range(-1, n - 1)),
            "month": [date(2026, 3, 1)] * n,
        }
    )


def _assert_literal_csv(text: str, text_columns: tuple[str, ...] = ("name", "office_code")) -> None:
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == len(PAYLOADS)
    for row, payload in zip(rows, PAYLOADS, strict=True):
        for column in text_columns:
            assert row[column] == "'" + payload, (column, row[column])
        for value in row.values():
            assert not value.startswith(FORMULA_PREFIXES) or _is_number(value), value


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def test_formula_safe_prefixes_text_only() -> None:
    cells = formula_safe_frame(pl.DataFrame({"text": [*PAYLOADS, "THS", "a=b"]}))["text"]
    assert cells.to_list() == ["'" + p for p in PAYLOADS] + ["THS", "a=b"]
    frame = formula_safe_frame(_payload_frame())
    assert frame["name"].to_list() == ["'" + p for p in PAYLOADS]
    assert frame["kind"].to_list() == ["'" + p for p in PAYLOADS]
    assert frame.schema["change"] == pl.Float64 and frame["change"].to_list()[0] == -0.5
    assert frame.schema["declarations"] == pl.Int64 and frame["declarations"][0] == -1
    assert frame.schema["month"] == pl.Date


def test_dashboard_csv_download_writes_formulas_as_text() -> None:
    text = csv_text(_payload_frame())
    _assert_literal_csv(text, ("name", "office_code", "rationale", "kind"))
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert rows[0]["change"] == "-0.5" and rows[0]["declarations"] == "-1"  # numbers unchanged
    assert rows[0]["flags"] == "'" + PAYLOADS[0] + ";zero_hits"
    sent = send_csv(_payload_frame(), "x.csv")  # what every page's csv_download returns
    _assert_literal_csv(sent["content"])


def _queue_frame(review: ModuleType) -> pl.DataFrame:
    n = len(PAYLOADS)
    columns: dict[str, object] = {name: [None] * n for name, _, _ in review.EXPORT_COLUMNS}
    columns.update(
        profile_id=[f"P{i}" for i in range(n)],
        name=PAYLOADS,
        rationale=PAYLOADS,
        updated_by=PAYLOADS,
        reasons=[["zero_hits"]] * n,
        evidence=[[p] for p in PAYLOADS],
        notices=[[] for _ in PAYLOADS],
        sufficient=[True] * n,
        severity=[-3] * n,
        trend_slope=[-0.02] * n,
    )
    return pl.DataFrame(columns, strict=False)


def _cells(data: bytes | Path, sheet: str) -> list[list[Cell]]:
    wb = openpyxl.load_workbook(io.BytesIO(data) if isinstance(data, bytes) else data)
    try:
        return [list(r) for r in wb[sheet].iter_rows()]
    finally:
        wb.close()


def _column(rows: list[list[Cell]], header: str) -> list[Cell]:
    index = [c.value for c in rows[0]].index(header)
    return [r[index] for r in rows[1:]]


def _assert_no_formula(rows: list[list[Cell]]) -> None:
    for row in rows:
        for cell in row:
            assert cell.data_type != "f", (cell.coordinate, cell.value)
            assert cell.hyperlink is None, cell.coordinate


def test_review_queue_workbook_writes_analysts_text_as_text(review: ModuleType) -> None:
    about = [("Exported by", PAYLOADS[0]), ("Offices", "@SUM(A1)")]
    data = review.queue_workbook(_queue_frame(review), about)
    rows = _cells(data, "Review queue")
    _assert_no_formula(rows)
    for header in ("Name", "Rationale", "State by"):
        cells = _column(rows, header)
        assert [c.value for c in cells] == READ_BACK
        assert {c.data_type for c in cells} == {"s"}
    evidence = _column(rows, "Evidence")
    assert [c.value for c in evidence] == READ_BACK and {c.data_type for c in evidence} == {"s"}
    severity = _column(rows, "Wasted inspections (severity)")
    assert {(c.value, c.data_type) for c in severity} == {(-3, "n")}  # a number stays a number
    info = _cells(data, "About")
    _assert_no_formula(info)
    assert [(r[1].value, r[1].data_type) for r in info] == [(PAYLOADS[0], "s"), ("@SUM(A1)", "s")]


def _report_content() -> ReportContent:
    table = _payload_frame().drop("flags")
    return ReportContent(
        month=date(2026, 3, 1),
        period=(date(2026, 3, 1), date(2026, 3, 31)),
        generated_at=datetime(2026, 4, 1, 6, 0, tzinfo=UTC),
        data_as_of=None,
        published_version="v000001",
        pending_controls=0,
        headline=pl.DataFrame(),
        flags=FlagConfig(),
        tables={name: table for name in SHEETS},
    )


def test_report_csvs_write_formulas_as_text(tmp_path: Path) -> None:
    paths = write_csvs(_report_content(), tmp_path)
    assert {p.stem for p in paths} == set(SHEETS)
    for path in paths:
        _assert_literal_csv(path.read_bytes().decode("utf-8"), ("name", "office_code", "kind"))


@pytest.mark.parametrize("sheet", list(SHEETS))
def test_report_workbook_writes_formulas_as_text(tmp_path: Path, sheet: str) -> None:
    path = tmp_path / "report.xlsx"
    write_workbook(_report_content(), path, {"reason": PAYLOADS[0], "month": "2026-03"})
    rows = _cells(path, sheet)
    _assert_no_formula(rows)
    for header in ("name", "office_code", "rationale", "kind"):
        cells = _column(rows, header)
        assert [c.value for c in cells] == READ_BACK
        assert {c.data_type for c in cells} == {"s"}
    change = _column(rows, "change")
    assert {(c.value, c.data_type) for c in change} == {(-0.5, "n")}
    about = _cells(path, "about")
    _assert_no_formula(about)
    assert (about[1][1].value, about[1][1].data_type) == (PAYLOADS[0], "s")

"""customs-kpi kpis list | explain | show (show reads a fake published version)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from kpis_handmade import FakePublished, handmade_cube
from typer.testing import CliRunner

import customs_kpi.published
from customs_kpi.cli import app
from kpis.catalogue import CATALOGUE

runner = CliRunner()


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> FakePublished:
    current = FakePublished(handmade_cube())
    monkeypatch.setattr(customs_kpi.published, "current_version", lambda settings: current)
    return current


def test_list_shows_every_kpi_as_json() -> None:
    result = runner.invoke(app, ["kpis", "list", "--format", "json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert [r["id"] for r in records] == [k.id for k in CATALOGUE]
    hit_rate = next(r for r in records if r["id"] == "hit_rate")
    assert (hit_rate["unit"], hit_rate["direction"], hit_rate["default_target"]) == (
        "percent", "higher", 0.034,
    )  # fmt: skip


def test_list_table_and_category_filter() -> None:
    result = runner.invoke(app, ["kpis", "list", "--category", "time"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "release_time_p90" in result.output
    assert "hit_rate" not in result.output
    bad = runner.invoke(app, ["kpis", "list", "--category", "nope"])
    assert bad.exit_code == 1


def test_explain_prints_the_definition() -> None:
    result = runner.invoke(app, ["kpis", "explain", "rerouting_rate"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for text in (
        "Share of physical examinations",
        "channel = red",
        "selection_source = officer",
        "declarations (1 for every declaration)",
        "COMCEC",
        "definition version  1",
    ):
        assert text in result.output, text  # fmt: skip


def test_explain_unknown_id_suggests() -> None:
    result = runner.invoke(app, ["kpis", "explain", "hit_rat"])
    assert result.exit_code == 1
    assert "did you mean hit_rate" in result.output


def test_show_table_formats_like_the_pages(published: FakePublished, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["kpis", "show", "hit_rate", "--by", "month", "--home", str(tmp_path)],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.output
    assert "2026-01" in result.output and "23.7 %" in result.output  # 9 / 38
    assert "2026-02" in result.output
    # 5 of 12 controls in March is below the default minimum sample of 30
    assert "insufficient data" in result.output
    assert "v000007-test" in result.output


def test_show_csv_is_the_computed_frame(published: FakePublished, tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["kpis", "show", "hit_rate", "--by", "office,month", "--from", "2026-01", "--to",
         "2026-03", "--office", "B", "--format", "csv", "--home", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["office"], r["month"], r["numerator"], r["denominator"]) for r in rows] == [
        ("B", "2026-01-01", "2", "10"), ("B", "2026-02-01", "0", "0"),
        ("B", "2026-03-01", "2", "8"),
    ]  # fmt: skip


def test_show_json_with_channel_and_profile_filters(
    published: FakePublished, tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        ["kpis", "show", "hit_rate", "--profile", "P1", "--profile", "P2", "--channel", "red",
         "--format", "json", "--min-sample", "5", "--home", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert (row["numerator"], row["denominator"], row["sufficient"]) == (6, 20, True)


def test_show_refuses_bad_input(published: FakePublished, tmp_path: Path) -> None:
    home = ["--home", str(tmp_path)]
    cases = [
        (["kpis", "show", "hit_rate_red", "--by", "channel", *home], "cannot be broken down"),
        (["kpis", "show", "hit_rate", "--channel", "purple", *home], "unknown channel"),
        (["kpis", "show", "hit_rate", "--from", "2026-03", "--to", "2026-01", *home], "after"),
        (["kpis", "show", "nope", *home], "unknown KPI"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 1, args
        assert message in result.output, result.output
    bad_month = runner.invoke(app, ["kpis", "show", "hit_rate", "--from", "March", *home])
    assert bad_month.exit_code == 2


def test_show_without_published_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(customs_kpi.published, "current_version", lambda settings: None)
    result = runner.invoke(app, ["kpis", "show", "hit_rate", "--home", str(tmp_path)])
    assert result.exit_code == 1
    assert "nothing published yet" in result.output


def test_kpis_show_csv_writes_data_text_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    """Office codes and other data text never become spreadsheet formulas (issue 11.10)."""
    import polars as pl

    from customs_kpi.cli.kpi_cmds import OutputFormat, _emit_raw

    _emit_raw(pl.DataFrame({"office": ["=HYPERLINK(\"x\")", "DKR"], "value": [-0.5, 2.0]}),
              OutputFormat.CSV)  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == '"\'=HYPERLINK(""x"")",-0.5'
    assert lines[2] == "DKR,2.0"

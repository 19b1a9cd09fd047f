"""The drop folder and the CLI commands load, load-profiles, runs, quarantine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from etl_helpers import Calls, install_stubs, query, row, write_csv, write_mapping
from typer.testing import CliRunner

from customs_kpi.cli import app
from customs_kpi.cli.common import console
from customs_kpi.published import RunStatus
from customs_kpi.settings import Settings
from etl.inbox import process_inbox

runner = CliRunner()


@pytest.fixture(autouse=True)
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    return install_stubs(monkeypatch)


def test_inbox_loads_moves_and_explains(settings: Settings, calls: Calls) -> None:
    inbox = settings.inbox_dir
    old = write_csv(inbox / "week1.csv", [row(1), row(2)])
    new = write_csv(inbox / "week2.csv", [row(2, channel="red", control_result="seizure")])
    (inbox / "broken.csv").write_bytes(b"")
    # Oldest first, so week2's D2 wins; broken.csv in between.
    for age, path in enumerate([new, inbox / "broken.csv", old]):
        os.utime(path, (2_000_000 - age * 1000, 2_000_000 - age * 1000))
    (inbox / ".week3.csv.part").write_text("still being written")
    source = inbox / "asy"
    source.mkdir()
    write_mapping(source / "mapping.toml", '[source]\nname = "semi"\ndelimiter = ";"\n')
    write_csv(source / "s.csv", [row(9)], delimiter=";")
    os.utime(source / "s.csv", (2_000_500, 2_000_500))  # quiet (etl.inbox.QUIET_SECONDS)

    results = process_inbox(settings)
    assert [(r.file_name, r.status) for r in results] == [
        ("week1.csv", RunStatus.SUCCEEDED),
        ("broken.csv", RunStatus.FAILED),
        ("week2.csv", RunStatus.SUCCEEDED),
        ("s.csv", RunStatus.SUCCEEDED),
    ]
    assert sorted(p.name for p in (inbox / "done").iterdir()) == ["s.csv", "week1.csv", "week2.csv"]
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == [
        "broken.csv",
        "broken.csv.error.txt",
    ]
    assert (inbox / "failed" / "broken.csv.error.txt").read_text() == "broken.csv: is empty\n"
    assert (inbox / ".week3.csv.part").exists()
    assert not new.exists()
    assert query(settings, "SELECT declaration_id, control_result, source_name FROM declarations "
                 "ORDER BY 1") == [
        ("D1", None, "canonical"), ("D2", "seizure", "canonical"), ("D9", "no_finding", "semi")
    ]  # fmt: skip
    # Nothing left: a second pass does nothing.
    assert process_inbox(settings) == []


def test_cli_load_runs_and_quarantine(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "width", 250)  # tables are not wrapped mid-reason
    good = write_csv(tmp_path / "good.csv", [row(1), row(2, channel="purple")])
    home = ["--home", str(settings.home)]
    result = runner.invoke(app, ["load", str(good), *home])
    assert result.exit_code == 0, result.output
    assert "good.csv: reading and validating…" in result.output  # stage markers
    assert (
        "good.csv: 2 rows read, 1 inserted, 0 replaced, 1 quarantined (top reasons: "
        "invalid:channel 1)" in result.output
    )
    assert "1-good.csv" in result.output  # the quarantine CSV is named

    out = runner.invoke(app, ["quarantine", *home])
    assert out.exit_code == 0
    assert "good.csv" in out.output and "invalid:channel" in out.output
    assert "channel 'purple' is not one of green," in out.output
    raw = runner.invoke(app, ["quarantine", "--raw", "--file", "good.csv", *home])
    assert '"declaration_id":"D2"' in raw.output and '"channel":"purple"' in raw.output

    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    failed = runner.invoke(app, ["load", str(empty), *home])
    assert failed.exit_code == 1
    assert "empty.csv: is empty" in failed.output
    assert "1 file(s) failed: empty.csv" in failed.output

    runs = runner.invoke(app, ["runs", *home])
    assert runs.exit_code == 0
    assert "run 2 failed: empty.csv: is empty" in runs.output

    assert runner.invoke(app, ["quarantine", "--run", "2", *home]).output.strip() == (
        "no quarantined rows for this selection"
    )
    assert runner.invoke(app, ["load", *home]).exit_code == 1  # nothing to load


def test_cli_load_with_mapping_and_profiles(settings: Settings, tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    home = ["--home", str(settings.home)]
    result = runner.invoke(app, [
        "load", str(repo / "sample_data" / "asycuda_example.csv"),
        "--mapping", str(repo / "sample_data" / "mappings" / "asycuda.toml"), *home,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "28 rows read, 12 inserted, 0 replaced, 0 quarantined, 16 merged" in result.output
    register = tmp_path / "profiles.csv"
    register.write_text("profile_id,status\nP1,active\n")
    out = runner.invoke(app, ["load-profiles", str(register), *home])
    assert out.exit_code == 0, out.output
    assert query(settings, "SELECT profile_id, status FROM profiles") == [("P1", "active")]

"""Monthly reports: workbook numbers = KPI engine, PDF text and pages, manifest hashes, versions.

Built once per module from the sample generator loaded through the real ETL (about 30 k
declarations over 14 months), then every check reads the produced files back.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from customs_kpi.published import PublishedVersion, RunStatus, current_version
from customs_kpi.settings import Settings, load_settings
from etl.load import load_files, load_profiles
from etl.sample import generate_sample, write_sample
from kpis import catalogue
from kpis.cube import CubeFrames
from kpis.engine import compute, profile_table, release_time_stats
from kpis.flags import FlagConfig
from kpis.formatting import format_value
from kpis.grain import add_months
from monthly_report.charts import render_svgs
from monthly_report.content import month_period
from monthly_report.listing import ReportVersion, list_reports
from monthly_report.pdf import build_html
from monthly_report.producer import ReportError, build_content, produce_report, status_for
from monthly_report.workbook import SHEETS
from worker import queue
from worker.jobs import JobOutcome
from worker.queue import RequestKind, RequestStatus

START = date(2025, 9, 1)
MONTHS = 14  # 2025-09 … 2026-10
MONTH = date(2026, 9, 1)
LABEL = "2026-09"
NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


@dataclass(frozen=True)
class Produced:
    settings: Settings
    published: PublishedVersion
    cube: CubeFrames
    v1: ReportVersion
    v1_bytes: dict[str, bytes]  # every file of v1 (manifest included) right after writing


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> Produced:
    root = tmp_path_factory.mktemp("report")
    settings = load_settings(environ={}, home=root / "home")
    settings.ensure_home()
    sample = generate_sample(30_000, MONTHS, 11, START)
    files = write_sample(sample, root / "sample")
    load_profiles(
        settings, root / "sample" / "profiles.csv", root / "sample" / "profile_changes.csv",
        publish=False,
    )  # fmt: skip
    results = load_files(settings, [f for f in files if f.name.startswith("declarations_")])
    assert {r.status for r in results} == {RunStatus.SUCCEEDED}
    published = current_version(settings)
    assert published is not None
    v1 = produce_report(settings, MONTH, reason="first version", now=NOW)
    v1_bytes = {p.name: p.read_bytes() for p in v1.path.iterdir()}
    return Produced(settings, published, CubeFrames.from_published(published), v1, v1_bytes)


def _sheet(path: Path, name: str) -> list[dict[str, Any]]:
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = list(wb[name].iter_rows(values_only=True))
    finally:
        wb.close()
    header = rows[0]
    return [dict(zip(header, r, strict=True)) for r in rows[1:]]


def _workbook(p: Produced) -> Path:
    return p.v1.path / f"monthly-report-{LABEL}.xlsx"


def _same(a: Any, b: Any) -> bool:
    """Cell value vs engine value: equal numbers (to float precision) or both empty."""
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return a is None
    if isinstance(b, bool):
        return a is b
    if isinstance(b, int | float):
        return isinstance(a, int | float) and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)
    if isinstance(b, date) and not isinstance(b, datetime):
        return isinstance(a, datetime) and a.date() == b
    return a == b


NUMBERS = ("value", "numerator", "denominator", "ci_low", "ci_high", "sufficient")


def _engine_rows(
    cube: CubeFrames, kpi_id: str, by: tuple[str, ...], period: tuple[date, date]
) -> dict[tuple[str, ...], dict[str, Any]]:
    out = compute(kpi_id, cube, by=by, period=period, min_sample=30)
    keys = [d for d in by if d in out.columns]
    return {
        tuple(str(r[k]) if not isinstance(r[k], date) else r[k].isoformat() for k in keys): r
        for r in out.iter_rows(named=True)
    }


def _check_long(p: Produced, sheet: str, dims: tuple[str, ...], period: tuple[date, date]) -> int:
    rows = _sheet(_workbook(p), sheet)
    assert rows, sheet
    checked = 0
    cache: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {}
    for row in rows:
        kpi_id = row["kpi_id"]
        if kpi_id not in cache:
            cache[kpi_id] = _engine_rows(p.cube, kpi_id, dims, period)
        key = tuple(str(row[d]) for d in dims)
        engine = cache[kpi_id][key]
        for col in NUMBERS:
            assert _same(row[col], engine.get(col)), (sheet, kpi_id, key, col, row[col])
            checked += 1
    # Every engine row is in the sheet (nothing dropped).
    assert len(rows) == sum(len(v) for v in cache.values())
    return checked


# --- workbook = engine --------------------------------------------------------------------------
def test_summary_sheet_equals_the_engine(produced: Produced) -> None:
    rows = _sheet(_workbook(produced), "summary")
    period = month_period(MONTH)
    previous = month_period(add_months(MONTH, -1))
    year_ago = month_period(add_months(MONTH, -12))
    first = [r["kpi_id"] for r in rows][:3]
    assert first == ["declarations", "physical_inspection_rate", "hit_rate"]
    for row in rows:
        kpi = catalogue.get(row["kpi_id"])
        cur = compute(kpi, produced.cube, period=period).row(0, named=True)
        for col in NUMBERS:
            assert _same(row[col], cur.get(col)), (kpi.id, col)
        before = compute(kpi, produced.cube, period=previous)["value"][0]
        last_year = compute(kpi, produced.cube, period=year_ago)["value"][0]
        assert _same(row["previous_month"], before), kpi.id
        assert _same(row["same_month_last_year"], last_year), kpi.id
        if before is not None and cur["value"] is not None:
            assert _same(row["change_vs_previous_month"], cur["value"] - before)
        assert _same(row["target"], kpi.default_target)
        assert row["definition_version"] == kpi.version


def test_declarations_agree_with_an_independent_count(produced: Produced) -> None:
    """Two routes to one number: the workbook's national count vs SQL on the published facts."""
    rows = _sheet(_workbook(produced), "summary")
    declared = next(r["value"] for r in rows if r["kpi_id"] == "declarations")
    sql = produced.published.query(
        "SELECT count(*) AS n FROM declarations WHERE lodged_at >= ? AND lodged_at < ?",
        [datetime(2026, 9, 1), datetime(2026, 10, 1)],
    )
    assert declared == sql["n"][0] > 1000


@pytest.mark.parametrize(
    ("sheet", "dims"),
    [
        ("kpis_by_channel", ("channel",)),
        ("kpis_by_office", ("office",)),
        ("released_within", ("channel",)),
    ],
)
def test_breakdown_sheets_equal_the_engine(
    produced: Produced, sheet: str, dims: tuple[str, ...]
) -> None:
    assert _check_long(produced, sheet, dims, month_period(MONTH)) > 50


def test_trend_sheet_equals_the_engine(produced: Produced) -> None:
    period = (add_months(MONTH, -11), month_period(MONTH)[1])
    rows = _sheet(_workbook(produced), "trend_12_months")
    assert {r["month"].date() for r in rows} == {add_months(MONTH, -i) for i in range(12)}
    for row in rows:
        engine = _engine_rows(produced.cube, row["kpi_id"], ("month",), period)
        hit = engine[(row["month"].date().isoformat(),)]
        for col in NUMBERS:
            assert _same(row[col], hit.get(col)), (row["kpi_id"], row["month"], col)


def test_profile_sheets_equal_the_profile_table(produced: Produced) -> None:
    period = month_period(MONTH)
    config = FlagConfig(n_min=30)
    table = profile_table(produced.cube, period=period, flag_config=config, today=period[1])
    expected = {r["profile_id"]: r for r in table.iter_rows(named=True)}
    rows = _sheet(_workbook(produced), "profiles")
    assert rows
    assert {r["profile_id"] for r in rows} == {
        pid for pid, r in expected.items() if r["declarations"] > 0 or r["in_force"]
    }
    for row in rows:
        for col, value in row.items():
            assert _same(value, expected[row["profile_id"]][col]), (row["profile_id"], col)

    window = (add_months(MONTH, -2), period[1])
    flagged = profile_table(produced.cube, period=window, flag_config=config, today=window[1])
    want = sorted(
        (r["profile_id"], rule, reason)
        for r in flagged.iter_rows(named=True)
        for rule, reason in zip(r["flags"], r["flag_reasons"], strict=True)
    )
    got = sorted(
        (r["profile_id"], r["rule"], r["reason"])
        for r in _sheet(_workbook(produced), "underperforming_profiles")
    )
    assert got == want and len(got) > 0


def test_the_rule_set_of_the_settings_decides_the_flags(produced: Produced) -> None:
    """A stricter rule set (settings) changes the flagged profiles exactly as the engine says."""
    settings = Settings(
        home=produced.settings.home,
        min_sample=20,
        flag_window_months=2,
        flag_recent_months=1,
        flag_target_hit_rate=0.5,
        flag_cost_per_control=10_000.0,
    )
    flags = settings.flag_config()
    content = build_content(produced.published, MONTH, flags, NOW)
    assert content.flags == flags
    window = (add_months(MONTH, -1), month_period(MONTH)[1])
    flagged = profile_table(produced.cube, period=window, flag_config=flags, today=window[1])
    want = sorted(
        (r["profile_id"], rule) for r in flagged.iter_rows(named=True) for rule in r["flags"]
    )
    got = sorted(
        zip(
            content.tables["underperforming_profiles"]["profile_id"],
            content.tables["underperforming_profiles"]["rule"],
            strict=True,
        )
    )
    assert got == want
    rules = {rule for _, rule in got}
    # A 50 % target flags nearly every profile; a cost this high flags (d) too.
    assert {"below_target", "low_yield"} <= rules
    assert set(content.tables["underperforming_profiles"]["window_start"]) == {window[0]}
    default = build_content(produced.published, MONTH, FlagConfig(n_min=30), NOW)
    assert "low_yield" not in set(default.tables["underperforming_profiles"]["rule"])
    assert len(got) > default.tables["underperforming_profiles"].height


def test_clearance_sheet_equals_release_time_stats(produced: Produced) -> None:
    rows = _sheet(_workbook(produced), "clearance_times")
    period = month_period(MONTH)
    for metric in ("release", "release_from_arrival", "inspection"):
        engine = release_time_stats(produced.cube, period=period, metric=metric)
        expected = {r["channel"]: r for r in engine.iter_rows(named=True)}
        mine = [r for r in rows if r["metric"] == metric]
        assert {r["channel"] for r in mine} == set(expected)
        for row in mine:
            for col in ("count", "mean_hours", "median_hours", "p90_hours", "open", "sufficient"):
                assert _same(row[col], expected[row["channel"]].get(col)), (metric, col)


def test_definitions_sheet_lists_every_kpi_shown(produced: Produced) -> None:
    rows = _sheet(_workbook(produced), "definitions")
    shown = {r["kpi_id"] for r in _sheet(_workbook(produced), "summary")}
    shown |= {r["kpi_id"] for r in _sheet(_workbook(produced), "kpis_by_office")}
    by_id = {r["kpi_id"]: r for r in rows}
    assert shown <= set(by_id)
    for kpi_id, row in by_id.items():
        kpi = catalogue.get(kpi_id)
        assert (row["formula"], row["unit"], row["source"], row["definition_version"]) == (
            kpi.formula,
            kpi.unit.value,
            kpi.source,
            kpi.version,
        )
        assert _same(row["target"], kpi.default_target)


def test_csv_files_hold_the_same_tables(produced: Produced) -> None:
    for name in SHEETS:
        frame = pl.read_csv(produced.v1.path / f"{name}.csv", infer_schema_length=0)
        assert frame.height == len(_sheet(_workbook(produced), name)), name
    summary = pl.read_csv(produced.v1.path / "summary.csv")
    hit = summary.filter(pl.col("kpi_id") == "hit_rate")["value"][0]
    cur = compute("hit_rate", produced.cube, period=month_period(MONTH))["value"][0]
    assert hit == pytest.approx(cur, rel=1e-12)


# --- PDF -----------------------------------------------------------------------------------------
def _pdf(p: Produced) -> Path:
    return p.v1.path / f"monthly-report-{LABEL}.pdf"


def test_pdf_text_contains_cover_and_headline_values(produced: Produced) -> None:
    reader = PdfReader(_pdf(produced))
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = " ".join(text.split())
    assert "September 2026" in flat
    assert f"Data as of {produced.published.data_as_of:%Y-%m-%d %H:%M}" in flat
    assert "Generated at 2026-11-27 09:30" in flat
    pending = produced.v1.pending_controls
    assert pending > 0  # the sample leaves the last months' controls partly pending
    assert "Controls still pending" in flat
    assert f"{pending:,} control(s) of this month had no recorded result" in flat
    rows = _sheet(_workbook(produced), "summary")
    for row in rows:
        kpi = catalogue.get(row["kpi_id"])
        shown = format_value(row["value"], kpi.unit, sufficient=row["sufficient"])
        assert shown in flat, (kpi.id, shown)
    # Tables of the report: every office and every underperforming profile appears.
    for office in {r["office"] for r in _sheet(_workbook(produced), "kpis_by_office")}:
        assert office in flat
    for r in _sheet(_workbook(produced), "underperforming_profiles"):
        assert r["profile_id"] in flat
    assert "Appendix: KPI definitions" in flat and "Methodology" in flat


def test_pdf_pages_render_to_images(produced: Produced, tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    pages = len(PdfReader(_pdf(produced)).pages)
    assert pages >= 8  # cover, headline, charts, tables, methodology, appendix
    subprocess.run(
        ["pdftoppm", "-r", "30", "-png", str(_pdf(produced)), str(tmp_path / "page")],
        check=True,
        timeout=300,
    )
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == pages
    assert all(img.stat().st_size > 1000 for img in images)


def test_a_failed_render_attempt_is_retried(
    produced: Produced, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kaleido's page answering before its scripts are ready (seen on a busy machine) costs a
    retry, not the report's charts."""
    from plotly import graph_objects as go

    from monthly_report.charts import build_figures

    calls = {"n": 0}

    def flaky(self: go.Figure, *args: Any, **kwargs: Any) -> bytes:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("Error 525: ReferenceError: kaleido_scopes is not defined")
        return b"<svg/>"

    monkeypatch.setattr(go.Figure, "to_image", flaky)
    figures = build_figures(build_content(produced.published, MONTH, FlagConfig(n_min=30), NOW))
    svgs, note = render_svgs(figures)
    assert set(svgs) == set(figures) and len(figures) >= 2
    assert calls["n"] == len(figures) + 1  # the failed figure drawn again, the others once
    assert note.startswith("rendered locally")


def test_charts_missing_chromium_still_gives_a_report(
    produced: Produced, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kaleido

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("no Chromium found")

    monkeypatch.setattr(kaleido, "start_sync_server", broken)
    content = build_content(produced.published, MONTH, FlagConfig(n_min=30), NOW)
    from monthly_report.charts import build_figures

    svgs, note = render_svgs(build_figures(content))
    assert svgs == {}
    assert note == "not rendered: RuntimeError: no Chromium found"
    page = build_html(content, 1, "final", "test", svgs, note)
    assert "The charts could not be drawn on this machine" in page
    assert "<img" not in page


# --- manifest and versions ------------------------------------------------------------------------
def test_manifest_hashes_and_provenance(produced: Produced) -> None:
    folder = produced.v1.path
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    listed = {f["name"]: f for f in manifest["files"]}
    on_disk = {p.name for p in folder.iterdir()} - {"manifest.json"}
    assert set(listed) == on_disk
    assert {f"{n}.csv" for n in SHEETS} | {
        f"monthly-report-{LABEL}.xlsx",
        f"monthly-report-{LABEL}.pdf",
    } == (on_disk)
    for name, entry in listed.items():
        data = (folder / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), name
        assert entry["bytes"] == len(data)
    assert manifest["month"] == LABEL and manifest["version"] == 1
    assert manifest["status"] == "final" and manifest["reason"] == "first version"
    assert manifest["published_version"] == produced.published.version
    assert manifest["data_as_of"] == produced.published.data_as_of.isoformat(timespec="seconds")
    assert manifest["created_at"] == NOW.isoformat(timespec="seconds")
    definitions = manifest["kpi_definitions"]
    assert definitions["hit_rate"] == catalogue.get("hit_rate").version
    assert set(definitions) == {r["kpi_id"] for r in _sheet(_workbook(produced), "definitions")}
    assert manifest["charts"].startswith("rendered locally")
    # The rule set applied is recorded: the settings' (defaults here, docs/kpis.md).
    assert manifest["flag_rules"] == {
        "window_months": 12,
        "recent_months": 3,
        "history_months": 24,
        "min_lift": 2.0,
        "power": 0.8,
        "trend_alpha": 0.001,
        "min_controls": 30,
        "target_hit_rate": FlagConfig().target_hit_rate,
        "cost_per_control": None,
        "rules": sorted(rule.value for rule in FlagConfig().rules),
    }
    book = openpyxl.load_workbook(_workbook(produced), read_only=True)
    about = {r[0]: r[1] for r in book["about"].iter_rows(values_only=True) if r and r[0]}
    assert about["flag rules"] == FlagConfig().describe()
    for rule, text in FlagConfig().rule_descriptions():
        assert about[f"rule {rule.value}"] == text


def test_rerun_creates_v2_and_leaves_v1_byte_identical(produced: Produced) -> None:
    later = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    v2 = produce_report(
        produced.settings, LABEL, reason="late results of September controls", now=later
    )
    assert (v2.month, v2.version, v2.reason) == (LABEL, 2, "late results of September controls")
    assert v2.path == produced.settings.reports_dir / LABEL / "v2"
    v1 = produced.v1.path
    assert {p.name: p.read_bytes() for p in v1.iterdir()} == produced.v1_bytes
    listed = list_reports(produced.settings, LABEL)
    assert [(s.version, s.reason) for s in listed] == [
        (2, "late results of September controls"),
        (1, "first version"),
    ]
    # Produced files are read-only: nobody edits an official record by accident.
    assert all(not (p.stat().st_mode & 0o222) for p in v1.iterdir())
    assert not any(p.name.startswith(".tmp") for p in v1.parent.iterdir())


def test_unknown_month_and_nothing_published(produced: Produced, tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"no published data for 2027-01 \(months with data: "
                       r"2025-09 to 2026-10\)"):  # fmt: skip
        produce_report(produced.settings, "2027-01", reason="x", now=NOW)
    empty = load_settings(environ={}, home=tmp_path / "empty")
    empty.ensure_home()
    with pytest.raises(ReportError, match="nothing is published yet"):
        produce_report(empty, "2026-09", reason="x", now=NOW)


def test_draft_while_the_month_runs() -> None:
    assert status_for(date(2026, 11, 1), NOW) == "draft"
    assert status_for(date(2026, 10, 1), NOW) == "final"
    assert status_for(date(2026, 11, 1), datetime(2026, 12, 1, 0, 0, tzinfo=UTC)) == "final"


def test_cli_refuses_a_second_version_without_a_reason(produced: Produced) -> None:
    from customs_kpi.cli import app

    home = str(produced.settings.home)
    result = CliRunner().invoke(app, ["report", "--month", LABEL, "--home", home])
    assert result.exit_code == 1
    assert "give --reason to produce a new version" in result.output
    result = CliRunner().invoke(app, ["report", "--month", "2026-13", "--home", home])
    assert result.exit_code == 1 and "not a month" in result.output
    listed = CliRunner().invoke(app, ["reports", "--home", home, "--json"])
    assert listed.exit_code == 0, listed.output
    versions = {(s["month"], s["version"]) for s in json.loads(listed.output)}
    assert (LABEL, 1) in versions


OLD_REPORTS_DIR = "snapshots"  # the reports folder's old name, in HOMEs made before the rename


def _old_home(produced: Produced, home: Path) -> Path:
    """A HOME made before the rename: its reports under the folder's old name, HOME/snapshots/."""
    old = home / OLD_REPORTS_DIR / LABEL / "v1"
    shutil.copytree(produced.v1.path, old)
    return old


def test_an_old_homes_reports_folder_is_moved_the_first_time(
    produced: Produced, tmp_path: Path
) -> None:
    from customs_kpi.cli import app

    home = tmp_path / "home"
    _old_home(produced, home)
    listed = CliRunner().invoke(app, ["reports", "--home", str(home), "--json"])
    assert listed.exit_code == 0, listed.output
    assert [(s["month"], s["version"]) for s in json.loads(listed.output)] == [(LABEL, 1)]
    assert not (home / OLD_REPORTS_DIR).exists()
    settings = load_settings(environ={}, home=home)
    moved = settings.reports_dir / LABEL / "v1"
    assert {p.name: p.read_bytes() for p in moved.iterdir()} == produced.v1_bytes
    settings.ensure_home()  # the next start finds nothing to move
    assert [s.path for s in list_reports(settings)] == [moved]


def test_the_move_takes_an_empty_reports_folder_and_never_merges(
    produced: Produced, tmp_path: Path
) -> None:
    # Another process started first and created an empty reports/: the old folder still moves.
    settings = load_settings(environ={}, home=tmp_path / "a")
    _old_home(produced, settings.home)
    settings.reports_dir.mkdir()
    settings.ensure_home()
    assert [s.label for s in list_reports(settings)] == [f"{LABEL} v1"]
    assert not (settings.home / OLD_REPORTS_DIR).exists()
    # Both hold reports: nothing is moved or overwritten.
    both = load_settings(environ={}, home=tmp_path / "b")
    old = _old_home(produced, both.home)
    shutil.copytree(produced.v1.path, both.reports_dir / "2026-08" / "v1")
    both.ensure_home()
    assert old.is_dir()
    assert [s.month for s in list_reports(both)] == ["2026-08"]


# --- Reports page -------------------------------------------------------------------------------
CONTENT = "..reports-content.children...reports-poll.disabled.."
REQUEST = "..reports-request-message.children...reports-trigger.data.."


@pytest.fixture(scope="module")
def reports_app(produced: Produced) -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from auth_helpers import make_app

    return make_app(produced.settings)


def _download(client: Any, month: str, version: int, name: str) -> Any:
    from auth_helpers import csrf_headers

    button = {"type": "reports-file", "month": month, "version": version, "file": name}
    changed = json.dumps(button, sort_keys=True, separators=(",", ":")) + ".n_clicks"
    body = {
        "output": "reports-download.data",
        "outputs": {"id": "reports-download", "property": "data"},
        "inputs": [[{"id": button, "property": "n_clicks", "value": 1}]],
        "state": [],
        "changedPropIds": [changed],
    }
    return client.post("/_dash-update-component", json=body, headers=csrf_headers(client))


def test_reports_page_lists_every_version_for_every_role(
    produced: Produced, reports_app: Any
) -> None:
    from auth_helpers import call, login

    app, _, _ = reports_app
    for user in ("vera", "anna", "adam", "scoped"):
        client = login(app, user)
        assert client.get("/reports").status_code == 200
        response = call(client, app, CONTENT, [0, None])
        assert response.status_code == 200, user
        text = response.get_data(as_text=True)
        assert "2026-09" in text and '"v1"' in text and "first version" in text
        # Only unscoped users get download buttons (a report holds every office).
        assert ("reports-file" in text) is (user != "scoped"), user


def test_download_sends_the_file_and_is_audited(produced: Produced, reports_app: Any) -> None:
    import base64

    from auth_helpers import audit_actions, login

    app, app_state, _ = reports_app
    name = f"monthly-report-{LABEL}.pdf"
    response = _download(login(app, "vera"), LABEL, 1, name)
    assert response.status_code == 200
    sent = response.get_json()["response"]["reports-download"]["data"]
    assert sent["filename"] == f"customs-kpi-{LABEL}-v1-{name}"
    assert base64.b64decode(sent["content"]) == produced.v1_bytes[name]
    entry = app_state.audit_entries(action_prefix="report.download", limit=1)[0]
    assert (entry.action, entry.user_name, entry.target) == (
        "report.download",
        "vera",
        f"{LABEL}/v1/{name}",
    )
    # A name the manifest does not list is never served, whatever the request says.
    assert _download(login(app, "adam"), LABEL, 1, "../../app.db").status_code == 204
    # An office-scoped user gets nothing, and the refusal is recorded.
    assert _download(login(app, "scoped"), LABEL, 1, name).status_code == 204
    assert audit_actions(app_state, "report.download")[-1] == "report.download_refused"


def test_analyst_request_is_queued_for_the_worker(produced: Produced, reports_app: Any) -> None:
    from auth_helpers import audit_actions, call, login

    app, app_state, _ = reports_app
    denied = call(login(app, "vera"), app, REQUEST, [1], [LABEL, "for the board", 0])
    assert denied.status_code == 403
    assert queue.pending(produced.settings, RequestKind.REPORT) == []

    response = call(login(app, "anna"), app, REQUEST, [1], [LABEL, "for the board", 0])
    assert response.status_code == 200
    out = response.get_json()["response"]
    assert out["reports-trigger"]["data"] == 1
    assert out["reports-request-message"]["children"].startswith(f"Requested {LABEL}")
    [(_, req)] = queue.pending(produced.settings, RequestKind.REPORT)
    assert (req.month, req.reason, req.requested_by) == (LABEL, "for the board", "anna")
    assert audit_actions(app_state, "report.request") == ["report.request"]
    # A month without published data is refused before anything is queued.
    bad = call(login(app, "anna"), app, REQUEST, [2], ["2030-01", "", 1])
    assert bad.get_json()["response"]["reports-request-message"]["children"] == (
        "Choose a month with published data."
    )
    assert len(queue.pending(produced.settings, RequestKind.REPORT)) == 1
    for path, _ in queue.pending(produced.settings, RequestKind.REPORT):
        path.unlink()  # leave the shared HOME as other tests expect it


def test_data_page_shows_the_scheduled_jobs(produced: Produced, reports_app: Any) -> None:
    from auth_helpers import call, login

    from worker.scheduler import build_worker

    app, _, _ = reports_app
    build_worker(produced.settings, tz=UTC, now=NOW)  # writes jobs.json as a worker start does
    response = call(login(app, "vera"), app, "data-content.children", [0])
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "Scheduled jobs" in text
    assert "Produce the previous month's report" in text
    assert "on the 1st of each month at 01:00" in text
    assert "Worker not running" in text  # built, never started: no fresh heartbeat


def test_worker_produces_a_requested_report(produced: Produced) -> None:
    """The web → worker hand-off end to end: a queued request, the real producer."""
    from worker.scheduler import build_worker

    when = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    req = queue.submit(
        produced.settings, RequestKind.REPORT, "anna", month=LABEL, reason="for the board", now=when
    )
    w = build_worker(produced.settings, tz=UTC, now=when)
    assert w.run_now("requests", now=when) == JobOutcome.SUCCEEDED
    [done] = [r for r in queue.recent(produced.settings, RequestKind.REPORT) if r.id == req.id]
    newest = list_reports(produced.settings, LABEL)[0]
    assert (done.status, done.version) == (RequestStatus.SUCCEEDED, newest.version)
    assert newest.version >= 2 and newest.reason == "for the board (requested by anna)"
    assert newest.created_at == when.isoformat(timespec="seconds")
    assert queue.pending(produced.settings, RequestKind.REPORT) == []
    v1 = produced.v1.path
    assert {p.name: p.read_bytes() for p in v1.iterdir()} == produced.v1_bytes

"""The dashboard benchmark's harness (bench/dashboard.py): its timing middleware, percentile,
result rows, and a whole run without a browser on a small sample loaded by the real ETL."""

from __future__ import annotations

import io
import json
import statistics
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from etl_helpers import load_generated

# bench/ is a folder of the repository, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.dashboard import (
    CALLBACK_PATH,
    PAGES,
    SERVER_LOADS,
    CallbackTimer,
    percentile,
    result_rows,
    run,
)
from dashboard.filters import month_key

CONTROLLED = (
    "channel IN ('yellow','red','blue') AND control_result IN "
    "('no_finding','irregularity','seizure')"
)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(20, 0, -1)]  # unsorted on purpose
    assert percentile(values, 0.95) == 19.0
    assert percentile(values, 0.5) == 10.0
    assert percentile(values, 1.0) == 20.0
    assert percentile([3.5], 0.95) == 3.5


def test_timer_records_callbacks_and_hands_the_body_on() -> None:
    seen: list[bytes] = []

    def inner(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["wsgi.input"].read())
        start_response("204 NO CONTENT", [])
        return [b"ab", b"c"]

    timer = CallbackTimer(inner)
    body = json.dumps({"output": "page-content.children"}).encode()
    environ = {
        "PATH_INFO": CALLBACK_PATH,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    assert timer(environ, lambda *a: None) == [b"ab", b"c"]
    assert seen == [body]
    [record] = timer.take()
    assert (record.output, record.status, record.body, record.answer_bytes) == (
        "page-content.children",
        "204 NO CONTENT",
        body,
        3,  # b"ab" + b"c"
    )
    assert record.seconds >= 0.0
    assert timer.inflight == 0
    assert timer.take() == []

    # Other requests pass through untimed.
    timer({"PATH_INFO": "/login", "wsgi.input": io.BytesIO(b"x")}, lambda *a: None)
    assert seen[-1] == b"x"
    assert timer.take() == []


def _page(name: str, browser: float | None, reference: float | None) -> dict[str, Any]:
    return {
        "name": name,
        "path": "/x",
        "callbacks": 4,
        "median": 0.25,
        "p95": 0.5,
        "browser": browser,
        "navigation": browser / 2 if browser is not None else None,
        "reference": reference,
    }


def test_result_rows_carry_values_references_and_targets() -> None:
    result = {
        "pages": [_page("Overview", 0.8, 0.1), _page("Data", None, None)],
        "cold_seconds": 1.5,
        "cold_browser": None,
        "peak_mb": 700.0,
    }
    rows = result_rows(result)
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [
        (0.25, 0.1, "< 1 s", "s"),  # Overview median, with its reference
        (0.5, None, "< 1 s", "s"),  # Overview p95
        (0.8, None, "< 1 s", "s"),  # Overview browser, opened by address
        (0.4, None, "< 1 s", "s"),  # Overview browser, from the menu
        (0.25, None, "< 1 s", "s"),  # Data median (no reference, no browser row)
        (0.5, None, "< 1 s", "s"),
        (1.5, None, "—", "s"),
        (700.0, None, "≤ 1536 MB", "MB"),
    ]
    assert rows[0][0].startswith("dashboard Overview (/x): server")
    assert "median of 20" in rows[0][0]
    assert "browser, by address" in rows[2][0]
    assert "browser, from the menu" in rows[3][0]


@pytest.fixture(scope="module")
def sample_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("bench-dashboard")
    load_generated(home, home / "delivery", 4_000, 8, 5, date(2025, 3, 1))
    yield home


def test_run_without_browser_serves_every_page(sample_home: Path, tmp_path: Path) -> None:
    work = tmp_path / "dash"
    result = run(str(sample_home), str(work), browser=False)

    # The app state lives in the benchmark's own HOME; the data HOME is only read.
    assert (work / "published").resolve() == (sample_home / "published").resolve()
    assert (work / "app.db").exists()
    assert not (sample_home / "app.db").exists()

    assert result["browser"] is False
    assert result["note"] == "browser figures skipped: asked for without a browser"
    pages = {p["name"]: p for p in result["pages"]}
    assert list(pages) == [name for name, _path, _ref in PAGES]

    con = duckdb.connect(str(sample_home / "warehouse.duckdb"), read_only=True)
    try:
        busiest = con.sql(f"""
            SELECT h.profile_id FROM declarations d JOIN profile_hits h USING (declaration_id)
            WHERE {CONTROLLED} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""").fetchall()[0][0]
        first, last = con.sql(
            "SELECT min(lodged_month), max(lodged_month) FROM declarations"
        ).fetchall()[0]
    finally:
        con.close()
    assert result["profile"] == busiest
    assert pages["Profile detail"]["path"] == f"/profiles/{busiest}"

    # Each page's own callbacks ran, chained ones included.
    assert "overview-content.children" in pages["Overview"]["outputs"]
    assert (
        "..overview-trend-box.children...overview-trend-pick.data.."
        in (pages["Overview"]["outputs"])
    )
    assert "clearance-content.children" in pages["Clearance"]["outputs"]
    assert (
        "..profile-declarations.children...profile-declarations-page.data.."
        in (pages["Profile detail"]["outputs"])
    )
    for page in pages.values():
        assert page["outputs"][:2] == [
            "..shell-nav.children...shell-data-as-of.children..",
            ".._pages_content.children..._pages_store.data..",
        ]
        loads = page["server_loads"]
        assert len(loads) == SERVER_LOADS
        assert page["median"] == statistics.median(loads)
        assert page["p95"] == sorted(loads)[18]
        assert page["browser"] is None
        assert page["navigation"] is None

    # The Overview opens on the default 24 months ending with the latest month (cut to the
    # months published); the references ran for the pages that have one.
    y, m = divmod(last.year * 12 + last.month - 1 - 23, 12)
    start = max(first, date(y, m + 1, 1))
    assert first < last  # several months published
    assert pages["Overview"]["period"] == [month_key(start), month_key(last)]
    with_reference = {name for name, _path, ref in PAGES if ref is not None}
    assert {n for n, p in pages.items() if p["reference"] is not None} == with_reference
    assert all(pages[n]["reference"] > 0 for n in with_reference)
    assert result["peak_mb"] > 0

"""Every public KPI has a surface (a page, a monthly report sheet, or the CLI with a reason), and
every surface declared in kpis.surfaces is true: the page drawn for a known published version
shows the KPI (its label, or its "how is this computed" with its id), the report's sheet holds
it (its id, its columns, or its duration's rows)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pages_published
import plotly.utils
import polars as pl
import pytest
from argon2 import PasswordHasher

from appstate.passwords import Passwords
from appstate.roles import Role
from customs_kpi.published import current_version
from customs_kpi.settings import Settings, load_settings
from dashboard.data import Viewer, build_context
from kpis import catalogue, surfaces
from kpis.definitions import Kind
from kpis.durations import DURATIONS

# How the test draws each declared page: module, and the inputs after the filter bar's.
PAGE_CONTENT: dict[str, tuple[str, tuple[Any, ...]]] = {
    "/": ("home", (None,)),
    "/profiles": ("profiles", ()),
    "/profiles/<profile_id>": ("profile_detail", ("P-GOOD",)),
    "/changes": ("changes", (3, ["change_log", "decision"])),
    "/clearance": ("clearance", ("release",)),
    "/offices": ("offices", ()),
}


def test_every_public_kpi_has_a_surface() -> None:
    shown = {k for ids in (*surfaces.PAGES.values(), *surfaces.REPORT_SHEETS.values()) for k in ids}
    missing = [k for k in catalogue.PUBLIC_IDS if k not in shown and k not in surfaces.CLI_ONLY]
    assert not missing, f"public KPIs on no page, in no sheet, not marked CLI-only: {missing}"
    # CLI-only means exactly that, with a reason; declared ids are catalogue entries.
    for kpi_id, reason in surfaces.CLI_ONLY.items():
        assert kpi_id in catalogue.PUBLIC_IDS and kpi_id not in shown and reason.strip()
    assert shown <= set(catalogue.ids())
    assert set(PAGE_CONTENT) == set(surfaces.PAGES)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = load_settings(environ={}, home=tmp_path_factory.mktemp("surfaces"))
    settings.ensure_home()
    pages_published.build(settings)
    yield settings


@pytest.fixture(scope="module")
def pages(published: Settings) -> Iterator[dict[str, ModuleType]]:
    """The page modules as the app loads them (create_app imports them), inside the app."""
    from dashboard.app import create_app

    app = create_app(
        published,
        passwords=Passwords(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)),
    )
    with app.server.app_context():
        yield {name: sys.modules[f"dashboard.pages.{name}"] for name, _ in PAGE_CONTENT.values()}


def _drawn(tree: Any) -> str:
    """The page content as the browser receives it (components, figures, text)."""
    return json.dumps(tree, cls=plotly.utils.PlotlyJSONEncoder, ensure_ascii=False)


@pytest.mark.parametrize("path", list(surfaces.PAGES))
def test_page_shows_its_kpis(path: str, published: Settings, pages: dict[str, ModuleType]) -> None:
    name, extra = PAGE_CONTENT[path]
    ctx = build_context(published, Viewer("tester", Role.ADMIN), current_version(published))
    text = _drawn(pages[name].update_content.body(ctx, None, None, None, None, *extra))
    assert "state-error" not in text, text[:500]
    for kpi_id in surfaces.PAGES[path]:
        kpi = catalogue.get(kpi_id)
        explained = f'"data-kpi": "{kpi_id}"' in text
        assert kpi.label in text or explained, f"{path} does not show {kpi_id} ({kpi.label})"


def _sheet_shows(table: pl.DataFrame, kpi_id: str) -> bool:
    kpi = catalogue.get(kpi_id)
    if kpi.kind is Kind.COMPOSITE:
        return all(_sheet_shows(table, part) for part in kpi.parts)
    if "kpi_id" in table.columns:
        return kpi_id in table["kpi_id"].to_list()
    if "metric" in table.columns:  # clearance times: one row per duration and channel
        names = [d.name for d in DURATIONS if kpi_id in d.kpi_ids]
        return bool(names) and names[0] in table["metric"].to_list()
    # Wide tables: a column of the KPI, or of the measure a count or sum KPI adds up.
    whole = kpi.numerator if kpi.kind in (Kind.COUNT, Kind.SUM) else None
    return kpi_id in table.columns or whole in table.columns


def test_report_sheets_show_their_kpis(published: Settings) -> None:
    from monthly_report.producer import build_content

    content = build_content(
        current_version(published),
        pages_published.LATEST_MONTH,
        published.flag_config(),
        datetime(2026, 4, 2, tzinfo=UTC),
    )
    assert set(surfaces.REPORT_SHEETS) <= set(content.tables)
    for sheet, ids in surfaces.REPORT_SHEETS.items():
        table = content.tables[sheet]
        assert not table.is_empty(), sheet
        for kpi_id in ids:
            assert _sheet_shows(table, kpi_id), f"sheet {sheet} does not show {kpi_id}"

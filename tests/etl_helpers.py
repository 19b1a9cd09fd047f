"""Small builders for ETL tests: canonical rows, delivery files, the warehouse's contents, and a
stand-in for the cube rebuild and publishing so ETL tests do not depend on them."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import duckdb
import polars as pl
import pytest

from customs_kpi.published import RunStatus
from customs_kpi.settings import Settings, load_settings
from etl.contract import CANONICAL_NAMES
from etl.extract import stage_delivery
from etl.load import load_files, load_profiles
from etl.mapping import Mapping
from etl.sample import Sample, generate_sample, write_sample

# Tables whose content a load may change (schema_migrations never changes in a load).
WAREHOUSE_TABLES = (
    "declarations",
    "profile_hits",
    "profiles",
    "profile_changes",
    "runs",
    "loaded_files",
    "quarantine",
)


def row(i: int, **overrides: str) -> dict[str, str]:
    """A valid canonical row for declaration ``D{i}`` lodged in March 2024."""
    base = {name: "" for name in CANONICAL_NAMES}
    base.update(
        declaration_id=f"D{i}",
        office_code="OFF1" if i % 2 else "OFF2",
        lodged_at=f"2024-03-{1 + i % 28:02d} 09:00:00",
        channel="red" if i % 3 == 0 else "green",
        selection_source="profile" if i % 3 == 0 else "none",
        profile_ids="P2;P1" if i % 3 == 0 else "",
        control_result="no_finding" if i % 3 == 0 else "",
        additional_revenue="0",
        released_at=f"2024-03-{1 + i % 28:02d} 15:30:00",
        importer_id=f"IMP{i % 5}",
        hs_code="85171200",
        is_aeo="false",
        customs_value="1000.50",
    )
    base.update(overrides)
    return base


def write_csv(
    path: Path,
    rows: list[dict[str, str]],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    columns: list[str] | None = None,
) -> Path:
    columns = columns or list(CANONICAL_NAMES)
    with path.open("w", newline="", encoding=encoding) as fh:
        writer = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow([r.get(c, "") for c in columns])
    return path


def write_mapping(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@contextmanager
def read_warehouse(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the warehouse, closed on leaving."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        yield con
    finally:
        con.close()


def contents(settings: Settings, tables: tuple[str, ...] = WAREHOUSE_TABLES) -> dict[str, Any]:
    """Every row of the warehouse tables, sorted, for before/after comparisons."""
    with read_warehouse(settings) as con:
        return {t: sorted(map(repr, con.sql(f"SELECT * FROM {t}").fetchall())) for t in tables}


def query(settings: Settings, sql: str) -> list[tuple[Any, ...]]:
    with read_warehouse(settings) as con:
        return con.sql(sql).fetchall()


def read_delivery(path: Path, mapping: Mapping | None = None) -> pl.DataFrame:
    """The delivery as staged by :func:`etl.extract.stage_delivery`, as a polars frame of
    strings plus a 1-based ``source_row`` (the load itself stays inside DuckDB)."""
    con = duckdb.connect()
    try:
        staged = stage_delivery(con, path, mapping or Mapping())
        return con.sql(
            f"SELECT {staged.source_row} AS source_row, * FROM {staged.table} ORDER BY rowid"
        ).pl()
    finally:
        con.close()


def load_generated(
    home: Path,
    data: Path,
    declarations: int,
    months: int,
    seed: int,
    start: date,
    fmt: Literal["csv", "parquet"] = "csv",
) -> tuple[Settings, Sample]:
    """A generated sample written to ``data`` and loaded into a new HOME at ``home``: the
    register and change log first (not published), then the monthly deliveries (published
    once at the end); both loads must succeed."""
    sample = generate_sample(declarations, months, seed, start)
    files = write_sample(sample, data, fmt=fmt)
    settings = load_settings(environ={}, home=home)
    settings.ensure_home()
    by_name = {f.name: f for f in files}
    register = load_profiles(
        settings, by_name["profiles.csv"], by_name["profile_changes.csv"], publish=False
    )
    assert register.status == RunStatus.SUCCEEDED, register.message
    results = load_files(settings, sorted(f for f in files if f.name.startswith("declarations_")))
    assert all(r.status == RunStatus.SUCCEEDED for r in results), [r.message for r in results]
    return settings, sample


def load_tuning_sample(root: Path) -> tuple[Settings, Sample]:
    """The tuning tests' data (40,000 declarations over 24 months from January 2024, seed 11),
    written to ``root/data`` and loaded into the HOME ``root/home``."""
    return load_generated(root / "home", root / "data", 40_000, 24, 11, date(2024, 1, 1))


@dataclass
class Calls:
    """What the stand-ins for cube rebuild and publish were called with."""

    cube: list[list[date] | None] = field(default_factory=list)
    publish: list[tuple[set[date] | None, int]] = field(default_factory=list)


def install_stubs(monkeypatch: pytest.MonkeyPatch) -> Calls:
    """Replace cube rebuild and publish by recorders (their own tests cover them)."""
    recorded = Calls()

    def fake_cube(con: duckdb.DuckDBPyConnection, months: list[date] | None) -> None:
        recorded.cube.append(months)

    def fake_publish(
        con: duckdb.DuckDBPyConnection, settings: Settings, months: Any, run_id: int
    ) -> str:
        recorded.publish.append((months, run_id))
        return f"v{len(recorded.publish):06d}"

    def fake_published_run_id(settings: Settings) -> int | None:
        # What the stand-in "published" last: the load compares it with the warehouse.
        return recorded.publish[-1][1] if recorded.publish else None

    monkeypatch.setattr("etl.load.rebuild_cube", fake_cube)
    monkeypatch.setattr("etl.load.publish_version", fake_publish)
    monkeypatch.setattr("etl.load.published_run_id", fake_published_run_id)
    return recorded


def assert_nothing_lost(result: Any) -> None:
    assert result.rows_read == (
        result.rows_inserted + result.rows_replaced + result.rows_quarantined + result.rows_merged
    )

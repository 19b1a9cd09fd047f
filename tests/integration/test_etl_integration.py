"""The load with the real cube rebuild and publishing (no stand-ins)."""

from __future__ import annotations

import json
from pathlib import Path

from etl_helpers import query, row, write_csv

from customs_kpi.published import RunStatus
from customs_kpi.settings import Settings
from etl.load import load_file

REPO = Path(__file__).resolve().parents[2]


def test_load_rebuilds_cube_and_publishes(settings: Settings, tmp_path: Path) -> None:
    result = load_file(
        settings,
        REPO / "sample_data" / "asycuda_example.csv",
        REPO / "sample_data" / "mappings" / "asycuda.toml",
    )
    assert result.status == RunStatus.SUCCEEDED, result.message
    assert result.published is not None
    # The cube agrees with the hand count of the example (12 declarations, 4 irregular).
    assert query(
        settings,
        "SELECT sum(declarations)::INT, sum(irregular)::INT, sum(revenue)::DOUBLE "
        "FROM cube_declarations",
    ) == [(12, 4, 12115.0)]
    current = (settings.published_dir / "CURRENT").read_text().strip()
    assert current == result.published
    manifest = json.loads((settings.published_dir / current / "manifest.json").read_text())
    assert manifest["run_id"] == result.run_id

    # A replacement in a later delivery moves the cube with it.
    late = write_csv(
        tmp_path / "late.csv",
        [row(1, declaration_id="2014-APAPA-1022", office_code="APAPA",
             lodged_at="2014-08-14 10:00:00", released_at="2014-08-20 10:00:00",
             channel="red", control_result="seizure", additional_revenue="85")],
    )  # fmt: skip
    again = load_file(settings, late)
    assert (again.rows_inserted, again.rows_replaced) == (0, 1)
    assert query(
        settings,
        "SELECT sum(declarations)::INT, sum(irregular)::INT, sum(seizure)::INT, "
        "sum(revenue)::DOUBLE FROM cube_declarations",
    ) == [(12, 5, 1, 12200.0)]
    assert (settings.published_dir / "CURRENT").read_text().strip() == again.published

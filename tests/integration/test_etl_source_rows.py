"""Lineage on a large delivery: every loaded declaration's ``source_row`` is its row in the file
(DuckDB may reorder rows inside a query; the ETL must not lose the file order)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
from etl_helpers import read_warehouse

from customs_kpi.published import RunStatus
from customs_kpi.settings import Settings
from etl.load import load_file
from etl.sample import generate_sample, write_single_file


def test_source_rows_are_file_rows_on_a_large_delivery(settings: Settings, tmp_path: Path) -> None:
    sample = generate_sample(declarations=300_000, months=6, seed=5, start=date(2025, 1, 1))
    path = write_single_file(sample, tmp_path / "big.csv")
    result = load_file(settings, path, publish=False)
    assert result.status == RunStatus.SUCCEEDED and result.rows_inserted == 300_000
    in_file = pl.read_csv(path, columns=["declaration_id"], infer_schema=False).with_row_index(
        "source_row", offset=1
    )
    with read_warehouse(settings) as con:
        loaded = con.sql(
            "SELECT declaration_id, source_row FROM declarations ORDER BY source_row"
        ).pl()
    assert loaded.height == in_file.height
    joined = in_file.join(loaded, on="declaration_id", suffix="_loaded")
    assert joined.height == in_file.height
    wrong = joined.filter(pl.col("source_row").cast(pl.Int64) != pl.col("source_row_loaded"))
    assert wrong.height == 0, wrong.head(5)

"""Extract as a polars frame of strings with 1-based source rows (as delivered, unmapped)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from etl_helpers import read_delivery

from etl.extract import DeliveryError
from etl.mapping import Mapping


def test_strings_and_source_rows_in_file_order(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text('id;note;amount\n0042;"two\nlines";1.50\n7;;\n8;x;-3\n', encoding="cp1252")
    frame = read_delivery(path, Mapping(delimiter=";", encoding="cp1252"))
    assert frame.schema == pl.Schema(
        {"source_row": pl.Int64, "id": pl.String, "note": pl.String, "amount": pl.String}
    )
    assert frame.rows() == [(1, "0042", "two\nlines", "1.50"), (2, "7", None, None),
                            (3, "8", "x", "-3")]  # fmt: skip


def test_json_lists_and_objects_become_text(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text('[{"a": ["P1", "P2"], "b": 1}, {"a": "P3", "b": {"k": 2}}]')
    frame = read_delivery(path)
    assert frame.rows() == [(1, "P1;P2", "1"), (2, "P3", '{"k":2}')]


def test_file_level_errors_raise(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    path.write_text("declaration_id\nD1\n")
    with pytest.raises(DeliveryError) as info:
        read_delivery(path)
    assert str(info.value) == "x.parquet: is not a valid parquet file (it looks like text)"

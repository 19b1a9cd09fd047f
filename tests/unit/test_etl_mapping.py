"""Mapping files: parsed completely, every mistake named with its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from etl.mapping import Mapping, MappingError, load_mapping, parse_mapping

REPO = Path(__file__).resolve().parents[2]
M = Path("src.toml")


def error(text: str) -> str:
    with pytest.raises(MappingError) as info:
        parse_mapping(text, M)
    return str(info.value)


def test_shipped_asycuda_mapping_parses() -> None:
    mapping = load_mapping(REPO / "sample_data" / "mappings" / "asycuda.toml")
    assert mapping.name == "asycuda-item-export"
    assert mapping.item_level is True
    assert mapping.columns["declaration_id"] == ("YEAR", "OFFICE", "SGD.NUMBER")
    assert mapping.datetime_formats["lodged_at"] == ("%d-%b-%y",)
    assert mapping.values["channel"]["red"] == "red"  # keys are matched case-insensitively
    assert mapping.values["control_result"] == {"1": "irregularity", "0": "no_finding"}
    assert mapping.constants == {"selection_source": "unknown"}


def test_no_mapping_is_the_canonical_identity() -> None:
    assert load_mapping(None) == Mapping()
    assert Mapping().is_identity and Mapping().name == "canonical"


def test_name_defaults_to_the_file_stem() -> None:
    assert parse_mapping("[source]\nformat = 'csv'\n", M).name == "src"


def test_misspelled_source_key() -> None:
    assert error("[source]\nencodng = 'latin-1'\n") == (
        "src.toml: unknown key 'encodng' in [source] (did you mean 'encoding'?); allowed: "
        "name, format, delimiter, encoding, item_level, list_separator, timezone"
    )


def test_misspelled_section() -> None:
    assert error("[colums]\noffice_code = 'X'\n") == (
        "src.toml: unknown section [colums] (did you mean 'columns'?); allowed: source, "
        "columns, constants, datetime_formats, values"
    )


def test_unknown_canonical_column() -> None:
    text = "[columns]\ndeclaration_id='A'\noffice_code='B'\nlodged_on='C'\nchannel='D'\n"
    assert error(text) == (
        "src.toml: unknown canonical column 'lodged_on' in [columns] (did you mean 'lodged_at'?)"
    )


def test_unknown_column_in_values() -> None:
    assert error("[values.chanel]\nR = 'red'\n") == (
        "src.toml: unknown canonical column 'chanel' in [values] (did you mean 'channel'?)"
    )


def test_value_mapped_to_a_code_outside_the_set() -> None:
    assert error("[values.channel]\nR = 'crimson'\n") == (
        "src.toml: [values.channel].\"R\" maps to 'crimson', which is not a channel "
        "(one of green, yellow, red, blue)"
    )


def test_required_column_not_mapped() -> None:
    assert error("[columns]\ndeclaration_id = 'A'\noffice_code = 'B'\n") == (
        "src.toml: required canonical column(s) lodged_at, channel are neither in [columns] nor "
        "in [constants]"
    )


def test_bad_types_and_values() -> None:
    assert error("[source]\nitem_level = 'yes'\n") == (
        "src.toml: [source].item_level must be true or false, got 'yes'"
    )
    assert error("[source]\nformat = 'xls'\n") == (
        "src.toml: [source].format 'xls' is not one of csv, parquet, xlsx, json"
    )
    assert error("[source]\nencoding = 'klingon'\n") == (
        "src.toml: [source].encoding 'klingon' is not a known encoding"
    )
    assert error("[source]\ndelimiter = ';;'\n") == (
        "src.toml: [source].delimiter must be a single character, got ';;'"
    )
    assert error("[datetime_formats]\nchannel = '%Y'\n") == (
        "src.toml: [datetime_formats].channel: 'channel' is not a date/time column"
    )
    assert error("[source\n").startswith("src.toml: not valid TOML: ")

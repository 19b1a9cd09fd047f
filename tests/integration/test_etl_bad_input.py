"""Bad input (issue 2): each case gives a clear message naming file, row and reason; good rows
load; nothing is lost (rows_read = inserted + replaced + quarantined + merged)."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path

import pytest
import time_machine
from etl_helpers import (
    Calls,
    assert_nothing_lost,
    install_stubs,
    query,
    row,
    write_csv,
    write_mapping,
)

from customs_kpi.published import RunStatus
from customs_kpi.settings import Settings
from etl.load import load_file


def quarantined(settings: Settings) -> list[tuple[object, ...]]:
    return query(
        settings,
        "SELECT file_name, source_row, declaration_id, rule, reason FROM quarantine "
        "ORDER BY source_row",
    )


def loaded_ids(settings: Settings) -> list[str]:
    return [r[0] for r in query(settings, "SELECT declaration_id FROM declarations ORDER BY 1")]


def assert_file_failed(settings: Settings, result: object, message: str) -> None:
    """A file-level failure: exact message, a failed run, nothing loaded."""
    assert result.status == RunStatus.FAILED  # type: ignore[attr-defined]
    assert result.message == message  # type: ignore[attr-defined]
    assert loaded_ids(settings) == []
    runs = query(settings, "SELECT status, message FROM runs")
    assert runs == [(RunStatus.FAILED, message)]
    assert query(settings, "SELECT count(*) FROM loaded_files") == [(0,)]


@pytest.fixture(autouse=True)
def calls(monkeypatch: pytest.MonkeyPatch) -> Calls:
    return install_stubs(monkeypatch)


# --- File level -------------------------------------------------------------------------------


def test_wrong_delimiter_names_the_likely_delimiter(settings: Settings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "semi.csv", [row(1), row(2)], delimiter=";")
    result = load_file(settings, path)
    assert_file_failed(
        settings,
        result,
        "semi.csv: required column(s) missing: declaration_id, office_code, lodged_at, channel; "
        "the header is a single column 'declaration_id;office_code;lodged_at;channel;"
        "selection_so...': the file looks ';'-separated, set [source] delimiter in the mapping",
    )
    # With the delimiter declared, the same bytes load.
    mapping = write_mapping(tmp_path / "semi.toml", '[source]\ndelimiter = ";"\n')
    fixed = load_file(settings, path, mapping)
    assert (fixed.status, fixed.rows_inserted) == (RunStatus.SUCCEEDED, 2)
    assert loaded_ids(settings) == ["D1", "D2"]


def test_latin1_file_declared_utf8(settings: Settings, tmp_path: Path) -> None:
    rows = [row(1), row(2, offence_type="Déclaration fausse"), row(3)]
    path = write_csv(tmp_path / "latin.csv", rows, encoding="latin-1")
    result = load_file(settings, path)
    assert_file_failed(
        settings,
        result,
        "latin.csv: is not valid utf-8 (byte 0xE9 on line 3); it is probably latin-1 or "
        "cp1252: set [source] encoding in the mapping",
    )
    mapping = write_mapping(tmp_path / "latin.toml", '[source]\nencoding = "latin-1"\n')
    fixed = load_file(settings, path, mapping)
    assert fixed.status == RunStatus.SUCCEEDED
    assert query(settings, "SELECT offence_type FROM declarations WHERE declaration_id = 'D2'") == [
        ("Déclaration fausse",)
    ]


def test_utf8_file_declared_latin1(settings: Settings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "utf.csv", [row(1, offence_type="Café"), row(2)])
    mapping = write_mapping(tmp_path / "m.toml", '[source]\nencoding = "latin-1"\n')
    result = load_file(settings, path, mapping)
    assert_file_failed(
        settings,
        result,
        "utf.csv: is declared latin-1 but is UTF-8 encoded (its accented characters would be "
        'garbled): set [source] encoding = "utf-8"',
    )


def test_cp1252_file_is_transcoded(settings: Settings, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "win.csv", [row(1, offence_type="€ undervaluation")], encoding="cp1252"
    )
    mapping = write_mapping(tmp_path / "m.toml", '[source]\nencoding = "cp1252"\n')
    result = load_file(settings, path, mapping)
    assert result.status == RunStatus.SUCCEEDED, result.message
    assert query(settings, "SELECT offence_type FROM declarations") == [("€ undervaluation",)]


def test_truncated_file(settings: Settings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "cut.csv", [row(1), row(2), row(3)])
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"D3") + 30])  # cut inside the last row
    result = load_file(settings, path)
    assert_file_failed(
        settings, result, "cut.csv: is truncated: the last row (line 4) ends after 4 of 22 fields"
    )


def test_truncated_inside_quoted_value(settings: Settings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "cutq.csv", [row(1), row(2, offence_type="a, quoted value")])
    data = path.read_bytes()
    path.write_bytes(data[: data.rindex(b"a, quoted") + 4])
    result = load_file(settings, path)
    assert_file_failed(
        settings,
        result,
        "cutq.csv: is truncated or malformed: a quoted value opened on line 3 is never closed",
    )


def test_malformed_row_in_the_middle(settings: Settings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", [row(1), row(2), row(3)])
    lines = path.read_text().splitlines()
    lines[2] = lines[2] + ",extra"
    path.write_text("\n".join(lines) + "\n")
    result = load_file(settings, path)
    assert_file_failed(
        settings, result, "bad.csv: is malformed: line 3 has 23 fields but the header has 22"
    )


def test_empty_file(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert_file_failed(settings, load_file(settings, path), "empty.csv: is empty")


def test_header_only_file(settings: Settings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "header.csv", [])
    assert_file_failed(
        settings, load_file(settings, path), "header.csv: has a header but no data rows"
    )


def test_missing_required_column(settings: Settings, tmp_path: Path) -> None:
    columns = [c for c in row(1) if c != "channel"]
    path = write_csv(tmp_path / "nochannel.csv", [row(1)], columns=columns)
    assert_file_failed(
        settings,
        load_file(settings, path),
        "nochannel.csv: required column(s) missing: channel",
    )


def test_mapping_with_misspelled_key(settings: Settings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "ok.csv", [row(1)])
    mapping = write_mapping(tmp_path / "typo.toml", '[source]\ndelimter = ";"\n')
    assert_file_failed(
        settings,
        load_file(settings, path, mapping),
        "typo.toml: unknown key 'delimter' in [source] (did you mean 'delimiter'?); allowed: "
        "name, format, delimiter, encoding, item_level, list_separator, timezone",
    )


def test_not_tabular_png(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    assert_file_failed(
        settings,
        load_file(settings, path),
        "photo.png: is not a tabular text file: it is a PNG image",
    )


def test_not_tabular_random_binary(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "noise.csv"
    path.write_bytes(b"\x00" + random.Random(7).randbytes(4096))
    assert_file_failed(
        settings,
        load_file(settings, path),
        "noise.csv: is not a tabular text file: it contains binary data (NUL bytes)",
    )


def test_missing_file(settings: Settings, tmp_path: Path) -> None:
    result = load_file(settings, tmp_path / "nowhere.csv")
    assert result.status == RunStatus.FAILED
    assert result.message.startswith("nowhere.csv: does not exist")


# --- Row level --------------------------------------------------------------------------------


def check_rows(
    settings: Settings,
    tmp_path: Path,
    bad: dict[int, dict[str, str]],
    expected: list[tuple[int, str, str]],
    name: str = "d.csv",
) -> None:
    """Load rows D1..D5 with overrides for some; check quarantine (row, rule, reason) exactly,
    that every other row loaded, and that nothing was lost."""
    rows = [row(i, **bad.get(i, {})) for i in range(1, 6)]
    result = load_file(settings, write_csv(tmp_path / name, rows))
    assert result.status == RunStatus.SUCCEEDED, result.message
    assert_nothing_lost(result)
    got = quarantined(settings)
    assert [(r[1], r[3], r[4]) for r in got] == expected
    assert {r[0] for r in got} == {name}
    bad_rows = {n for n, _, _ in expected}
    assert loaded_ids(settings) == [f"D{i}" for i in range(1, 6) if i not in bad_rows]
    assert result.rows_quarantined == len(bad_rows)
    assert result.quarantine_file == settings.quarantine_dir / f"{result.run_id}-d.csv"
    assert result.quarantine_file.read_text().count("\n") == len(expected) + 1


def test_unparseable_dates(settings: Settings, tmp_path: Path) -> None:
    check_rows(
        settings,
        tmp_path,
        {2: {"lodged_at": "2024-02-30"}, 4: {"released_at": "next tuesday"}},
        [
            (
                2,
                "invalid:lodged_at",
                "lodged_at '2024-02-30' is not an ISO 8601 date/time (e.g. 2024-03-31 14:05:00)",
            ),
            (
                4,
                "invalid:released_at",
                "released_at 'next tuesday' is not an ISO 8601 date/time "
                "(e.g. 2024-03-31 14:05:00)",
            ),
        ],
    )


def test_unknown_channel_codes(settings: Settings, tmp_path: Path) -> None:
    check_rows(
        settings,
        tmp_path,
        {3: {"channel": "PURPLE"}, 5: {"channel": ""}},
        [
            (3, "invalid:channel", "channel 'PURPLE' is not one of green, yellow, red, blue"),
            (5, "required:channel", "channel is empty"),
        ],
    )


def test_codes_are_matched_case_insensitively(settings: Settings, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "case.csv", [row(1, channel=" RED ", selection_source="Officer")])
    assert load_file(settings, path).status == RunStatus.SUCCEEDED
    assert query(settings, "SELECT channel, selection_source FROM declarations") == [
        ("red", "officer")
    ]


def test_negative_revenue(settings: Settings, tmp_path: Path) -> None:
    check_rows(
        settings,
        tmp_path,
        {1: {"additional_revenue": "-12.50"}, 2: {"additional_revenue": "12,50 EUR"}},
        [
            (1, "negative:additional_revenue", "additional_revenue '-12.50' is negative"),
            (2, "invalid:additional_revenue", "additional_revenue '12,50 EUR' is not a number"),
        ],
    )


def test_release_before_lodgement(settings: Settings, tmp_path: Path) -> None:
    check_rows(
        settings,
        tmp_path,
        {2: {"lodged_at": "2024-03-03 09:00:00", "released_at": "2024-03-03 08:59:00"}},
        [
            (
                2,
                "release_before_lodgement",
                "released_at '2024-03-03 08:59:00' is before lodged_at '2024-03-03 09:00:00'",
            ),
        ],
    )


@time_machine.travel(datetime(2026, 11, 27, 12, 0), tick=False)
def test_lodgement_in_the_future(settings: Settings, tmp_path: Path) -> None:
    check_rows(
        settings,
        tmp_path,
        {
            1: {"lodged_at": "2026-11-29 10:00:00", "released_at": ""},
            # Within a day of the load's clock: time zones, not an error.
            2: {"lodged_at": "2026-11-28 06:00:00", "released_at": ""},
        },
        [
            (
                1,
                "lodged_in_future",
                "lodged_at '2026-11-29 10:00:00' is in the future (loaded at 2026-11-27 12:00)",
            ),
        ],
    )


def test_duplicated_declaration_ids_quarantine_every_copy(
    settings: Settings, tmp_path: Path
) -> None:
    check_rows(
        settings,
        tmp_path,
        {2: {"declaration_id": "D4"}, 5: {"declaration_id": "D4", "channel": "pink"}},
        [
            (
                2,
                "duplicate:declaration_id",
                "declaration_id 'D4' appears 3 times in this delivery (rows 2, 4, 5)",
            ),
            (
                4,
                "duplicate:declaration_id",
                "declaration_id 'D4' appears 3 times in this delivery (rows 2, 4, 5)",
            ),
            (
                5,
                "invalid:channel",
                "channel 'pink' is not one of green, yellow, red, blue; declaration_id 'D4' "
                "appears 3 times in this delivery (rows 2, 4, 5)",
            ),
        ],
    )
    # Every copy keeps its delivered record, also those that were valid on their own.
    records = query(settings, "SELECT source_row, raw_record FROM quarantine ORDER BY 1")
    assert [(n, json.loads(r)["declaration_id"]) for n, r in records] == [
        (2, "D4"),
        (4, "D4"),
        (5, "D4"),
    ]
    assert json.loads(records[2][1])["channel"] == "pink"


def test_several_problems_in_one_row_are_all_named(settings: Settings, tmp_path: Path) -> None:
    check_rows(
        settings,
        tmp_path,
        {3: {"office_code": "", "is_aeo": "maybe", "additional_revenue": "-1"}},
        [
            (
                3,
                "required:office_code",
                "office_code is empty; additional_revenue '-1' is negative; is_aeo 'maybe' is not "
                "a boolean (true/false, yes/no, 1/0)",
            ),
        ],
    )


def test_truncated_parquet(settings: Settings, tmp_path: Path) -> None:
    import polars as pl

    path = tmp_path / "cut.parquet"
    pl.DataFrame([row(i) for i in range(1, 200)]).write_parquet(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_file_failed(
        settings,
        load_file(settings, path),
        "cut.parquet: is truncated or not a Parquet file (Invalid Input Error: No magic bytes "
        f"found at end of file '{path}')",
    )


def test_truncated_json(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text(json.dumps([row(1), row(2)])[:-40])
    result = load_file(settings, path)
    assert result.status == RunStatus.FAILED
    assert result.message.startswith(
        "cut.json: cannot be read as JSON records: Invalid Input Error: Malformed JSON"
    )
    assert loaded_ids(settings) == []

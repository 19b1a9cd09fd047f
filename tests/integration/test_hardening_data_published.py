"""Issue 11, points 3 and 4: damaged published files are never linked forward, `verify` names
them; a broken CURRENT is survived by readers and housekeeping; numbering never restarts."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from test_publish import FEB, JAN, MAR, _part, three_months

import customs_kpi.published as published
from customs_kpi.published import current_version, read_current, version_problems
from customs_kpi.settings import Settings
from etl import publish as publish_mod
from etl.publish import describe_versions, housekeeping, publish


@pytest.fixture(autouse=True)
def _fresh_reader_caches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(published, "CURRENT_CHECK_SECONDS", 0.0)
    published._versions.clear()
    published._checked.clear()
    published._fallbacks.clear()
    yield
    published._versions.clear()


@pytest.fixture(name="warehouse")
def _warehouse(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    with three_months(settings) as con:
        yield con


def _damage(path: Path) -> None:
    """Flip bytes in the middle of a file, keeping its size (bit rot, a bad disk block)."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, min(middle + 64, len(data) - 8)):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


# --- 3: verified links, `customs-kpi verify` ------------------------------------------------
def test_manifest_records_size_rows_and_checksum_of_every_file(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection
) -> None:
    version = publish(warehouse, settings, None, 3)
    manifest = json.loads((settings.published_dir / version / "manifest.json").read_text())
    checks = manifest["file_checks"]
    files = [f for t in manifest["tables"].values() for f in t["files"]]
    assert sorted(checks) == sorted(files)
    jan = checks["declarations/lodged_month=2024-01-01/data.parquet"]
    assert jan["rows"] == 300 and len(jan["sha256"]) == 64
    assert jan["bytes"] == _part(settings, version, "declarations", JAN).stat().st_size
    assert version_problems(settings.published_dir / version) == []


@pytest.mark.parametrize("damage", ["bytes flipped", "truncated"])
def test_damaged_partition_is_rewritten_not_linked(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection, damage: str
) -> None:
    first = publish(warehouse, settings, None, 3)
    bad = _part(settings, first, "declarations", JAN)
    if damage == "truncated":
        bad.write_bytes(bad.read_bytes()[:-100])
    else:
        _damage(bad)
    second = publish(warehouse, settings, {FEB}, 4)
    good = _part(settings, second, "declarations", JAN)
    assert good.stat().st_ino != bad.stat().st_ino  # rewritten from the warehouse
    manifest = json.loads((settings.published_dir / second / "manifest.json").read_text())
    assert "2024-01-01" in manifest["written_months"]["declarations"]
    assert "2024-01-01" not in manifest["linked_months"]["declarations"]
    # Undamaged months are still linked.
    assert "2024-03-01" in manifest["linked_months"]["declarations"]
    snap = current_version(settings)
    assert snap is not None and snap.version == second
    n = snap.query("SELECT count(*) AS n FROM declarations WHERE lodged_month = ?", [JAN])
    assert n["n"].item() == 300
    assert version_problems(settings.published_dir / second) == []


def test_unchanged_partitions_are_linked_without_hashing_them_again(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partition untouched since its checksum was taken (same inode, size, mtime, ctime) is
    not read again; one written since, even with its mtime put back, is hashed and rewritten."""
    import os

    import etl.publish as publish_module

    first = publish(warehouse, settings, None, 3)
    hashed: list[str] = []
    real = publish_module.file_sha256

    def counting(path: Path) -> str:
        hashed.append(path.as_posix())
        return real(path)

    monkeypatch.setattr(publish_module, "file_sha256", counting)
    second = publish(warehouse, settings, {FEB}, 4)
    manifest = json.loads((settings.published_dir / second / "manifest.json").read_text())
    linked = manifest["linked_months"]["declarations"]
    assert "2024-01-01" in linked and "2024-03-01" in linked
    assert not [p for p in hashed if f"/{first}/" in p]  # nothing of the old version re-read
    # Hashes older than a day are taken again (damage without any write: a bad disk block).
    monkeypatch.setattr(publish_module, "REHASH_SECONDS", 0)
    hashed.clear()
    publish(warehouse, settings, {FEB}, 4)
    assert [p for p in hashed if f"/{second}/" in p and "2024-01-01" in p]
    monkeypatch.setattr(publish_module, "REHASH_SECONDS", 24 * 3600)
    current = current_version(settings)
    assert current is not None
    bad = _part(settings, current.version, "declarations", MAR)
    before = bad.stat()
    _damage(bad)
    os.utime(bad, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime put back; ctime moves
    third = publish(warehouse, settings, {FEB}, 5)
    manifest = json.loads((settings.published_dir / third / "manifest.json").read_text())
    assert "2024-03-01" in manifest["written_months"]["declarations"]
    assert "2024-01-01" in manifest["linked_months"]["declarations"]
    assert version_problems(settings.published_dir / third) == []


def test_verify_command_names_the_damaged_file(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection
) -> None:
    from typer.testing import CliRunner

    from customs_kpi.cli import app

    version = publish(warehouse, settings, None, 3)
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    ok = runner.invoke(app, ["verify", *home])
    assert ok.exit_code == 0, ok.output
    assert version in ok.output
    bad = _part(settings, version, "profile_hits", FEB)
    _damage(bad)
    failed = runner.invoke(app, ["verify", *home])
    assert failed.exit_code == 1
    assert "profile_hits/lodged_month=2024-02-01/data.parquet" in failed.output
    assert "checksum" in failed.output


# --- 4: a broken CURRENT --------------------------------------------------------------------
@pytest.mark.parametrize(
    "breakage", ["names a missing version", "garbled", "current folder deleted", "missing"]
)
def test_readers_fall_back_to_the_newest_valid_version(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection, breakage: str
) -> None:
    v1 = publish(warehouse, settings, None, 3)
    v2 = publish(warehouse, settings, {FEB}, 4)
    pointer = settings.published_dir / "CURRENT"
    expected = v2
    if breakage == "names a missing version":
        pointer.write_text("v000009-20240101T000000\n")
    elif breakage == "garbled":
        pointer.write_bytes(b"\x00\xffv0000")
    elif breakage == "missing":
        pointer.unlink()
    else:
        shutil.rmtree(settings.published_dir / v2)
        expected = v1
    for _ in range(3):  # every request, not one in three
        snap = current_version(settings)
        assert snap is not None and snap.version == expected
        assert snap.notice is not None and expected in snap.notice
        assert snap.query("SELECT count(*) AS n FROM declarations")["n"].item() == 600
    # The next publish repairs CURRENT and the notice goes.
    v3 = publish(warehouse, settings, {FEB}, 5)
    repaired = current_version(settings)
    assert repaired is not None and repaired.version == v3 and repaired.notice is None


def test_housekeeping_keeps_the_newest_valid_version_when_current_is_broken(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection
) -> None:
    v1 = publish(warehouse, settings, None, 3)
    v2 = publish(warehouse, settings, {FEB}, 4)
    (settings.published_dir / "CURRENT").write_text("v000009-20240101T000000\n")
    later = datetime.now(UTC) + timedelta(days=30)
    assert housekeeping(settings, now=later) == [v1]
    assert [v.name for v in describe_versions(settings.published_dir)] == [v2]
    snap = current_version(settings)
    assert snap is not None and snap.version == v2
    # CURRENT naming an old version (someone rolled back by hand) keeps it too.
    v3 = publish(warehouse, settings, {FEB}, 5)
    (settings.published_dir / "CURRENT").write_text(v2 + "\n")
    assert housekeeping(settings, now=later) == []
    assert {v.name for v in describe_versions(settings.published_dir)} == {v2, v3}


def test_numbering_never_restarts(settings: Settings, warehouse: duckdb.DuckDBPyConnection) -> None:
    publish(warehouse, settings, None, 3)
    v2 = publish(warehouse, settings, {FEB}, 4)
    assert publish_mod.version_seq(v2) == 2
    # Every version and CURRENT lost (a bad cleanup): the next number is still 3.
    for folder in settings.published_dir.glob("v*"):
        shutil.rmtree(folder)
    (settings.published_dir / "CURRENT").unlink()
    v3 = publish(warehouse, settings, None, 5)
    assert publish_mod.version_seq(v3) == 3
    assert read_current(settings.published_dir) == v3


def test_the_header_says_an_older_version_is_shown(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection
) -> None:
    from dashboard.app import data_as_of_text

    publish(warehouse, settings, None, 3)
    assert "older version" not in data_as_of_text(settings)
    (settings.published_dir / "CURRENT").write_text("garbage\n")
    assert data_as_of_text(settings).startswith("Data as of ")
    assert "older version shown (published data pointer broken)" in data_as_of_text(settings)

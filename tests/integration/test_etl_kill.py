"""A 500 MB load killed mid-way (SIGKILL) leaves the warehouse unchanged; the next load works."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from etl_helpers import contents, install_stubs, query, row, write_csv

from customs_kpi.published import RunStatus
from customs_kpi.settings import Settings
from etl.contract import CANONICAL_NAMES
from etl.load import load_file

TARGET_BYTES = 500 * 1024 * 1024
ROW_BYTES = 217  # measured size of one row of the generator below


def generate_big_csv(path: Path, rows: int) -> None:
    """Random-ish canonical rows, written by DuckDB in a couple of seconds."""
    ts = "(TIMESTAMP '2024-01-01' + to_seconds((i * 7919) % 60000000{}))"
    exprs = {
        "declaration_id": "'B' || i",
        "office_code": "'OFF' || (i % 37)",
        "lodged_at": ts.format(""),
        "channel": "['green', 'yellow', 'red', 'blue'][1 + i % 4]",
        "selection_source": "['profile', 'random', 'officer', 'none'][1 + i % 4]",
        "profile_ids": "CASE WHEN i % 3 = 0 THEN 'P' || (i % 41) || ';P' || (i % 13) END",
        "control_result": "['no_finding', 'irregularity', 'seizure', 'pending'][1 + i % 4]",
        "offence_type": "CASE WHEN i % 10 = 0 THEN 'undervaluation' END",
        "additional_revenue": "((i * 37) % 100000) / 100.0",
        "arrived_at": ts.format(" - 3600"),
        "channel_assigned_at": ts.format(" + 60"),
        "result_recorded_at": ts.format(" + 7200"),
        "paid_at": ts.format(" + 8000"),
        "released_at": ts.format(" + 9000"),
        "importer_id": "'IMP' || (i % 5000)",
        "declarant_id": "'DEC' || (i % 300)",
        "hs_code": "lpad(((i * 31) % 99999999)::VARCHAR, 8, '0')",
        "origin_country": "['CN', 'US', 'DE', 'IN'][1 + i % 4]",
        "procedure": "'4000'",
        "transport_mode": "'sea'",
        "is_aeo": "i % 9 = 0",
        "customs_value": "(i % 100000) * 1.5",
    }
    assert list(exprs) == list(CANONICAL_NAMES)
    select = ", ".join(f"{e} AS {n}" for n, e in exprs.items())
    con = duckdb.connect()
    con.sql(f"COPY (SELECT {select} FROM range({rows}) t(i)) TO '{path}' (HEADER)")
    con.close()


@pytest.mark.slow
def test_load_killed_mid_way_leaves_warehouse_unchanged(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_stubs(monkeypatch)
    base = load_file(settings, write_csv(tmp_path / "base.csv", [row(i) for i in range(1, 20)]))
    assert base.status == RunStatus.SUCCEEDED
    before = contents(settings)

    big = tmp_path / "big.csv"
    generate_big_csv(big, TARGET_BYTES // ROW_BYTES)
    assert big.stat().st_size > 450 * 1024 * 1024

    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "customs-kpi"), "load", str(big), "--no-publish",
         "--home", str(settings.home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
    )  # fmt: skip
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + 60
    for raw in proc.stdout:
        seen.append(raw.decode(errors="replace").strip())
        if "big.csv: upserting" in seen[-1] or time.monotonic() > deadline:
            break
    assert any("big.csv: reading and validating" in line for line in seen), seen
    time.sleep(0.5)  # well inside the insert of ~2 M rows
    assert proc.poll() is None, "the load finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    assert contents(settings) == before  # not even a run row: the transaction never committed

    after_crash = load_file(settings, big)
    assert after_crash.status == RunStatus.SUCCEEDED, after_crash.message
    expected = TARGET_BYTES // ROW_BYTES
    assert (after_crash.rows_read, after_crash.rows_inserted) == (expected, expected)
    assert query(settings, "SELECT count(*) FROM declarations") == [(expected + 19,)]

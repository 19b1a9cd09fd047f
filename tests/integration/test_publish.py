"""Publishing (etl.publish) and the read side (customs_kpi.published).

The warehouse is filled by hand with SQL (not by the sample generator or the ETL). The
concurrency test runs two reader processes against a warehouse the test process holds open
read-write, loading and publishing several times while they query.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

import customs_kpi.published as published
from customs_kpi.published import (
    PublishedVersion,
    RunStatus,
    current_version,
    open_version,
    read_current,
)
from customs_kpi.settings import Settings, load_settings
from etl import publish as publish_mod
from etl.cube import rebuild_cube
from etl.publish import describe_versions, housekeeping, publish
from etl.warehouse import open_warehouse

JAN, FEB, MAR, APR = date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1), date(2024, 4, 1)

INSERT_SQL = """
INSERT INTO declarations (declaration_id, office_code, lodged_at, lodged_month, channel,
    selection_source, profile_ids, control_result, additional_revenue, released_at, run_id,
    source_name, source_file, source_row)
SELECT $prefix || i,
    ['HQ', 'PORT'][(hash(i, $prefix) % 2)::INTEGER + 1],
    $month::TIMESTAMP + to_minutes((hash(i, 'm') % 40000)::BIGINT) AS lodged_at,
    $month::DATE,
    ['green', 'yellow', 'red'][(hash(i, 'c') % 3)::INTEGER + 1],
    'profile',
    CASE WHEN i % 3 = 0 THEN ['P1'] WHEN i % 3 = 1 THEN ['P1', 'P2'] ELSE [] END,
    CASE WHEN i % 4 = 0 THEN 'irregularity' ELSE 'no_finding' END,
    (i % 7) * 10.5,
    lodged_at + to_minutes((hash(i, 'r') % 3000)::BIGINT),
    $run_id, 'canonical', 'test.csv', i + 1
FROM range($n) t(i)
"""


def _load(con: duckdb.DuckDBPyConnection, month: date, n: int, prefix: str, run_id: int) -> None:
    """A hand-made 'load': declarations, their profile hits, the cube, a run-log row."""
    con.sql(INSERT_SQL, params={"prefix": prefix, "month": month, "n": n, "run_id": run_id})
    con.sql(
        """INSERT INTO profile_hits SELECT declaration_id, unnest(profile_ids), lodged_month
           FROM declarations WHERE declaration_id LIKE $p || '%'""",
        params={"p": prefix},
    )
    con.sql(
        """INSERT INTO runs (run_id, kind, started_at, finished_at, status, rows_inserted)
           VALUES ($1, 'load', $2, $3, $4, $5)""",
        params=[
            run_id,
            datetime(2024, 6, 1, 12, 0) + timedelta(minutes=run_id),
            datetime(2024, 6, 1, 12, 30) + timedelta(minutes=run_id),
            RunStatus.SUCCEEDED,
            n,
        ],
    )
    rebuild_cube(con, [month])


@contextmanager
def three_months(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse with 300 / 200 / 100 declarations in January to March (runs 1 to 3)."""
    with open_warehouse(settings) as con:
        _load(con, JAN, 300, "A", 1)
        _load(con, FEB, 200, "B", 2)
        _load(con, MAR, 100, "C", 3)
        yield con


@pytest.fixture
def warehouse(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    with three_months(settings) as con:
        yield con


@pytest.fixture(autouse=True)
def _fresh_reader_caches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Each test sees CURRENT immediately and starts with empty per-process caches.
    monkeypatch.setattr(published, "CURRENT_CHECK_SECONDS", 0.0)
    published._versions.clear()
    published._checked.clear()
    yield
    published._versions.clear()
    published._checked.clear()


def _part(settings: Settings, version: str, table: str, month: date) -> Path:
    return settings.published_dir / version / table / f"lodged_month={month}" / "data.parquet"


# --- Writing -------------------------------------------------------------------------------------
def test_publish_writes_manifest_and_files(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection
) -> None:
    version = publish(warehouse, settings, None, 7)
    folder = settings.published_dir / version
    assert read_current(settings.published_dir) == version
    assert (settings.published_dir / "CURRENT").read_text() == version + "\n"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == version
    assert manifest["run_id"] == 7
    assert manifest["months"] == ["2024-01-01", "2024-02-01", "2024-03-01"]
    assert manifest["month_range"] == ["2024-01-01", "2024-03-01"]
    assert manifest["data_as_of"] == "2024-06-01T12:33:00"  # latest successful load (run 3)
    assert manifest["schema_version"] == 2
    assert datetime.fromisoformat(manifest["created_at"]).tzinfo is not None
    for table in publish_mod.FACT_TABLES + publish_mod.WHOLE_TABLES:
        count = warehouse.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        assert manifest["tables"][table]["rows"] == count, table
    assert manifest["tables"]["declarations"]["rows"] == 600
    assert manifest["tables"]["profile_hits"]["rows"] == 601  # 401 P1 + 200 P2
    assert manifest["partitions"]["declarations"]["2024-02-01"] == {"rows": 200, "max_run_id": 2}
    for month in (JAN, FEB, MAR):
        assert _part(settings, version, "declarations", month).is_file()
        assert _part(settings, version, "profile_hits", month).is_file()
    for table in publish_mod.WHOLE_TABLES:
        assert (folder / f"{table}.parquet").is_file()
    assert not list(settings.published_dir.glob(".tmp-*"))

    # The published copy holds exactly the warehouse's rows and columns.
    snap = current_version(settings)
    assert snap is not None and snap.version == version
    wanted = warehouse.sql("SELECT * FROM declarations ORDER BY declaration_id").pl()
    got = snap.query("SELECT * FROM declarations ORDER BY declaration_id")
    assert got.columns == wanted.columns
    assert got.equals(wanted)
    cube = warehouse.sql("SELECT * FROM cube_profiles").pl()
    assert snap.table("cube_profiles").sort(cube.columns).equals(cube.sort(cube.columns))


def test_unchanged_months_are_hard_links(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection
) -> None:
    first = publish(warehouse, settings, None, 3)
    # A delivery touching February only (late results) and adding April.
    warehouse.sql(
        "UPDATE declarations SET control_result = 'seizure', run_id = 4 "
        "WHERE lodged_month = DATE '2024-02-01' AND declaration_id = 'B7'"
    )
    _load(warehouse, APR, 50, "D", 4)
    rebuild_cube(warehouse, [FEB])
    second = publish(warehouse, settings, {FEB, APR}, 4)
    assert second != first

    def inode(version: str, table: str, month: date) -> int:
        return _part(settings, version, table, month).stat().st_ino

    for table in ("declarations", "profile_hits"):
        for month in (JAN, MAR):
            assert inode(first, table, month) == inode(second, table, month), (table, month)
            assert _part(settings, second, table, month).stat().st_nlink == 2
        assert inode(first, table, FEB) != inode(second, table, FEB)
        assert _part(settings, second, table, APR).is_file()
    manifest = json.loads((settings.published_dir / second / "manifest.json").read_text())
    assert manifest["linked_months"]["declarations"] == ["2024-01-01", "2024-03-01"]
    assert manifest["written_months"]["declarations"] == ["2024-02-01", "2024-04-01"]
    assert manifest["previous_version"] == first

    snap = current_version(settings)
    assert snap is not None and snap.version == second
    assert snap.months() == [JAN, FEB, MAR, APR]
    result = snap.query("SELECT control_result FROM declarations WHERE declaration_id = 'B7'")
    assert result["control_result"].to_list() == ["seizure"]
    assert snap.query("SELECT count(*) AS n FROM declarations")["n"].item() == 650


def test_month_changed_by_an_unpublished_load_is_rewritten_not_linked(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection
) -> None:
    first = publish(warehouse, settings, None, 3)
    # Runs 4 and 5 changed January, February and March, but their publishes never happened
    # (crash after commit); the next publish names only April. Run 4 changed January ...
    warehouse.sql(
        "UPDATE declarations SET additional_revenue = 1, run_id = 4 WHERE declaration_id = 'A1'"
    )
    # ... run 5 removed March's declarations ...
    warehouse.sql("DELETE FROM declarations WHERE lodged_month = DATE '2024-03-01'")
    warehouse.sql("DELETE FROM profile_hits WHERE lodged_month = DATE '2024-03-01'")
    # ... and run 5 replaced B3 (profiles [P1] -> [P2]: same number of hits in February).
    warehouse.sql(
        "UPDATE declarations SET profile_ids = ['P2'], run_id = 5 WHERE declaration_id = 'B3'"
    )
    warehouse.sql("UPDATE profile_hits SET profile_id = 'P2' WHERE declaration_id = 'B3'")
    second = publish(warehouse, settings, {APR}, 6)
    for table in ("declarations", "profile_hits"):
        for month in (JAN, FEB):
            now = _part(settings, second, table, month).stat().st_ino
            assert now != _part(settings, first, table, month).stat().st_ino, (table, month)
    assert not _part(settings, second, "declarations", MAR).exists()
    snap = open_version(settings.published_dir / second)
    assert snap.months() == [JAN, FEB]
    b3 = snap.query("SELECT profile_id FROM profile_hits WHERE declaration_id = 'B3'")
    assert b3["profile_id"].to_list() == ["P2"]
    revenue = snap.query("SELECT additional_revenue FROM declarations WHERE declaration_id = 'A1'")
    assert float(revenue.item()) == 1.0


def test_schema_change_rewrites_every_month(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection
) -> None:
    first = publish(warehouse, settings, None, 3)
    # A later migration adds a column: linking January's old file would mix two schemas.
    warehouse.sql("ALTER TABLE declarations ADD COLUMN risk_score DOUBLE DEFAULT 0.5")
    second = publish(warehouse, settings, {FEB}, 4)
    for month in (JAN, FEB, MAR):
        now = _part(settings, second, "declarations", month).stat().st_ino
        assert now != _part(settings, first, "declarations", month).stat().st_ino, month
    snap = open_version(settings.published_dir / second)
    scores = snap.query("SELECT lodged_month, min(risk_score) AS s FROM declarations GROUP BY 1")
    assert sorted(scores.rows()) == [(JAN, 0.5), (FEB, 0.5), (MAR, 0.5)]


def test_recreated_warehouse_rewrites_every_month(settings: Settings) -> None:
    with open_warehouse(settings) as con:
        _load(con, JAN, 30, "A", 1)
        _load(con, FEB, 30, "B", 2)
        first = publish(con, settings, None, 2)
    # The warehouse is deleted and reloaded from other files: same months, row counts and run
    # ids, different content. Statistics alone cannot tell; the warehouse identity does.
    settings.warehouse_path.unlink()
    with open_warehouse(settings) as con:
        _load(con, JAN, 30, "Z", 1)
        _load(con, FEB, 30, "B", 2)
        second = publish(con, settings, {FEB}, 2)
    jan = _part(settings, second, "declarations", JAN)
    assert jan.stat().st_ino != _part(settings, first, "declarations", JAN).stat().st_ino
    snap = open_version(settings.published_dir / second)
    ids = snap.query(
        "SELECT min(declaration_id) AS id FROM declarations WHERE lodged_month = ?", [JAN]
    )
    assert ids["id"].item() == "Z0"


def test_failed_publish_leaves_current_and_no_debris(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = publish(warehouse, settings, None, 3)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(publish_mod, "_write_fact", broken)
    with pytest.raises(OSError, match="disk full"):
        publish(warehouse, settings, {FEB}, 4)
    assert read_current(settings.published_dir) == first
    assert [v.name for v in describe_versions(settings.published_dir)] == [first]
    assert not list(settings.published_dir.glob(".tmp-*"))


def test_current_is_switched_atomically(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection
) -> None:
    # A reader polling CURRENT as fast as it can never sees a missing, partial or unknown name.
    stop = threading.Event()
    seen: set[str | None] = set()
    bad: list[str] = []

    def poll() -> None:
        while not stop.is_set():
            name = read_current(settings.published_dir)
            seen.add(name)
            if name is not None and not (settings.published_dir / name / "manifest.json").is_file():
                bad.append(name)

    thread = threading.Thread(target=poll)
    thread.start()
    versions = []
    try:
        for run_id in range(4, 10):
            warehouse.sql(
                "UPDATE declarations SET run_id = $1 WHERE declaration_id = 'B1'", params=[run_id]
            )
            versions.append(publish(warehouse, settings, {FEB}, run_id))
    finally:
        stop.set()
        thread.join()
    assert bad == []
    assert seen - {None} <= set(versions)
    assert read_current(settings.published_dir) == versions[-1]
    assert len(set(versions)) == 6
    assert [publish_mod.version_seq(v) for v in versions] == list(range(1, 7))
    assert not list(settings.published_dir.glob(".CURRENT*"))


# --- Housekeeping ---------------------------------------------------------------------------------
def test_housekeeping_waits_for_the_grace_period(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection
) -> None:
    v1 = publish(warehouse, settings, None, 3)
    v2 = publish(warehouse, settings, {FEB}, 4)
    v3 = publish(warehouse, settings, {FEB}, 5)
    info = {v.name: v for v in describe_versions(settings.published_dir)}
    assert set(info) == {v1, v2, v3}  # publish's own housekeeping removed nothing (grace 1 h)
    assert info[v3].current and info[v3].superseded_at is None
    grace = timedelta(seconds=settings.publish_grace_seconds)
    v1_gone, v2_gone = info[v1].superseded_at, info[v2].superseded_at
    assert v1_gone is not None and v2_gone is not None

    # At exactly v1's grace: nothing goes (removal needs strictly more than the grace period).
    assert housekeeping(settings, now=v1_gone + grace) == []
    # After v1's grace but a microsecond before v2's: only v1 goes.
    tick = timedelta(microseconds=1)
    assert housekeeping(settings, now=v2_gone + grace - tick) == [v1]
    # Long after: everything but the current version goes, and readers of it are unaffected.
    housekeeping(settings, now=datetime.now(UTC) + 2 * grace)
    assert [v.name for v in describe_versions(settings.published_dir)] == [v3]
    # v1's partition files were hard-linked into v3, so v3 still reads them.
    snap = current_version(settings)
    assert snap is not None and snap.version == v3
    assert snap.query("SELECT count(*) AS n FROM declarations")["n"].item() == 600


def test_grace_counts_from_when_current_moved_off_the_version(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11.7: a publish that takes longer than the grace period must not let its own
    housekeeping remove the version readers were on until it switched."""
    v1 = publish(warehouse, settings, None, 3)
    real_write = publish_mod._write_version
    clock: list[datetime] = []

    def slow_write(*args: Any, **kwargs: Any) -> dict[str, Any]:
        manifest = real_write(*args, **kwargs)
        clock.append(datetime.now(UTC))
        return manifest

    monkeypatch.setattr(publish_mod, "_write_version", slow_write)
    v2 = publish(warehouse, settings, {FEB}, 4)
    info = {v.name: v for v in describe_versions(settings.published_dir)}
    created_v2, gone_v1 = info[v2].created_at, info[v1].superseded_at
    assert created_v2 is not None and gone_v1 is not None
    # Superseded when CURRENT moved (after v2 was written), not when v2's publish started.
    assert gone_v1 >= clock[0] > created_v2
    grace = timedelta(seconds=settings.publish_grace_seconds)
    # A moment past "next publish started + grace" but within "switched + grace": v1 stays.
    assert housekeeping(settings, now=created_v2 + grace + (gone_v1 - created_v2) / 2) == []
    assert housekeeping(settings, now=gone_v1 + grace + timedelta(microseconds=1)) == [v1]


def test_zero_grace_is_rejected_naming_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CUSTOMS_KPI_PUBLISH_GRACE_SECONDS must be at least 1"):
        load_settings(environ={"CUSTOMS_KPI_PUBLISH_GRACE_SECONDS": "0"}, home=tmp_path)


def test_housekeeping_after_the_grace_clears_old_versions_and_debris(
    tmp_path: Path, warehouse: duckdb.DuckDBPyConnection
) -> None:
    settings = load_settings(environ={}, home=tmp_path / "home", publish_grace_seconds=1)
    publish(warehouse, settings, None, 3)
    publish(warehouse, settings, None, 4)
    last = publish(warehouse, settings, {FEB}, 5)
    # An abandoned temp folder from a killed publish is cleared too.
    (settings.published_dir / ".tmp-v000099-20240101T000000").mkdir()
    housekeeping(settings, now=datetime.now(UTC) + timedelta(seconds=5))
    assert [v.name for v in describe_versions(settings.published_dir)] == [last]
    assert not list(settings.published_dir.glob(".tmp-*"))


# --- Reading --------------------------------------------------------------------------------------
def test_nothing_published_yet(settings: Settings) -> None:
    assert current_version(settings) is None


def test_published_version_reads(settings: Settings, warehouse: duckdb.DuckDBPyConnection) -> None:
    publish(warehouse, settings, None, 3)
    snap = current_version(settings)
    assert isinstance(snap, PublishedVersion)
    assert current_version(settings) is snap  # cached per version
    assert snap.data_as_of == datetime(2024, 6, 1, 12, 33)
    assert snap.months() == [JAN, FEB, MAR]
    runs = snap.table("runs")
    assert snap.table("runs") is runs  # read once per version
    assert sorted(runs["run_id"].to_list()) == [1, 2, 3]
    with pytest.raises(ValueError, match="fact table"):
        snap.table("declarations")
    with pytest.raises(KeyError):
        snap.table("no_such_table")
    by_month = snap.query(
        "SELECT lodged_month, count(*) AS n FROM declarations WHERE lodged_month >= ? "
        "GROUP BY 1 ORDER BY 1",
        [FEB],
    )
    assert by_month.to_dicts() == [{"lodged_month": FEB, "n": 200}, {"lodged_month": MAR, "n": 100}]
    hits = snap.query(
        "SELECT profile_id, count(*) AS n FROM profile_hits GROUP BY 1 ORDER BY 1"
    ).to_dicts()
    assert hits == [{"profile_id": "P1", "n": 401}, {"profile_id": "P2", "n": 200}]
    # Cube and facts agree inside one version.
    cube_total = snap.table("cube_declarations")["declarations"].sum()
    assert cube_total == 600
    joined = snap.query(
        "SELECT sum(declarations) AS n FROM cube_declarations WHERE channel = 'red'"
    )["n"].item()
    raw = snap.query("SELECT count(*) AS n FROM declarations WHERE channel = 'red'")["n"].item()
    assert joined == raw > 0


def test_current_naming_a_missing_version_is_a_clear_error(settings: Settings) -> None:
    (settings.published_dir / "CURRENT").write_text("v000009-20240101T000000\n")
    with pytest.raises(published.PublishedVersionError, match="v000009-20240101T000000"):
        current_version(settings)


def test_empty_warehouse_publishes_empty_tables(settings: Settings) -> None:
    with open_warehouse(settings) as con:
        version = publish(con, settings, None, 1)
    snap = current_version(settings)
    assert snap is not None and snap.version == version
    assert snap.months() == [] and snap.data_as_of is None
    empty = snap.query("SELECT * FROM declarations")
    assert empty.height == 0 and "profile_ids" in empty.columns
    assert snap.table("cube_declarations").height == 0


def test_readers_keep_their_version_and_see_the_next(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection
) -> None:
    publish(warehouse, settings, None, 3)
    old = current_version(settings)
    assert old is not None
    _load(warehouse, APR, 10, "D", 4)
    publish(warehouse, settings, {APR}, 4)
    new = current_version(settings)
    assert new is not None and new.version != old.version
    assert old.query("SELECT count(*) AS n FROM declarations")["n"].item() == 600
    assert new.query("SELECT count(*) AS n FROM declarations")["n"].item() == 610
    assert old.months() == [JAN, FEB, MAR] and new.months()[-1] == APR


def test_current_is_reread_at_most_every_interval(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(published.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(published, "CURRENT_CHECK_SECONDS", 1.0)
    first = publish(warehouse, settings, None, 3)
    assert current_version(settings).version == first  # type: ignore[union-attr]
    second = publish(warehouse, settings, {FEB}, 4)
    clock[0] += 0.5
    assert current_version(settings).version == first  # type: ignore[union-attr]
    clock[0] += 0.6
    assert current_version(settings).version == second  # type: ignore[union-attr]


def test_threads_share_a_published_version(
    settings: Settings, warehouse: duckdb.DuckDBPyConnection
) -> None:
    publish(warehouse, settings, None, 3)
    errors: list[BaseException] = []
    results: list[int] = []

    def work() -> None:
        try:
            for _ in range(20):
                snap = current_version(settings)
                assert snap is not None
                results.append(snap.query("SELECT count(*) AS n FROM declarations")["n"].item())
                snap.table("cube_profiles")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results == [600] * 120


# --- Two reader processes while the warehouse is loaded and published ---------------------------
READER = r"""
import json, sys, time
from pathlib import Path
from customs_kpi.settings import load_settings
from customs_kpi.published import current_version

settings = load_settings(environ={}, home=sys.argv[1])
stop = Path(sys.argv[2])
seen = None
iterations = 0
while not stop.exists():
    iterations += 1
    try:
        snap = current_version(settings)
        if snap is None:
            time.sleep(0.01)
            continue
        rows = snap.query("SELECT count(*) AS n FROM declarations")["n"].item()
        cube = snap.table("cube_declarations")["declarations"].sum()
        hits = snap.query("SELECT count(*) AS n FROM profile_hits")["n"].item()
        expected = snap.manifest["tables"]
        if (rows, cube, hits) != (
            expected["declarations"]["rows"],
            expected["declarations"]["rows"],
            expected["profile_hits"]["rows"],
        ):
            raise AssertionError(f"{snap.version}: inconsistent {rows} {cube} {hits}")
        if snap.version != seen:
            seen = snap.version
            print(json.dumps({"event": "version", "version": seen, "rows": rows}), flush=True)
    except Exception as exc:
        print(json.dumps({"event": "error", "error": repr(exc)}), flush=True)
    time.sleep(0.005)  # busy, but leave the shared CPUs to the writer too
print(json.dumps({"event": "done", "iterations": iterations}), flush=True)
"""


class _Reader:
    def __init__(self, settings: Settings, stop: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMS_KPI_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", READER, str(settings.home), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.events: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self.changed:
                self.events.append(json.loads(line))
                self.changed.notify_all()

    def versions(self) -> list[str]:
        return [e["version"] for e in self.events if e["event"] == "version"]

    def wait_for(self, version: str, timeout: float = 120.0) -> bool:
        with self.changed:
            return (
                self.changed.wait_for(
                    lambda: version in self.versions() or self.proc.poll() is not None, timeout
                )
                and version in self.versions()
            )


def test_two_reader_processes_while_loading_and_publishing(
    settings: Settings, tmp_path: Path
) -> None:
    stop = tmp_path / "stop"
    with open_warehouse(settings) as con:
        _load(con, JAN, 2000, "A", 1)
        published_versions = [publish(con, settings, None, 1)]
        readers = [_Reader(settings, stop), _Reader(settings, stop)]
        try:
            for r in readers:
                assert r.wait_for(published_versions[0]), "reader never saw the first version"
            for k, month in enumerate([FEB, MAR, FEB, APR, JAN], start=2):
                con.begin()
                _load(con, month, 500, f"L{k}-", k)
                con.commit()
                published_versions.append(publish(con, settings, {month}, k))
                # Wait until both readers have observed it before the next publish, so that
                # "saw every version" is a property of the design, not of scheduling luck.
                for r in readers:
                    assert r.wait_for(published_versions[-1]), f"missed {published_versions[-1]}"
        finally:
            stop.touch()
            for r in readers:
                r.proc.wait(timeout=120)
                r.thread.join(timeout=10)
    for r in readers:
        errors = [e for e in r.events if e["event"] == "error"]
        assert errors == [], errors
        assert r.proc.returncode == 0, r.proc.stderr.read() if r.proc.stderr else ""
        assert r.versions() == published_versions
        rows = [e["rows"] for e in r.events if e["event"] == "version"]
        assert rows == [2000, 2500, 3000, 3500, 4000, 4500]
        done = [e for e in r.events if e["event"] == "done"]
        assert len(done) == 1 and done[0]["iterations"] > len(published_versions)


def test_cli_publish_published_housekeeping(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from customs_kpi.cli import app
    from customs_kpi.cli.common import console

    monkeypatch.setattr(console, "width", 200)  # no terminal under pytest-xdist

    with open_warehouse(settings) as con:
        run_id = con.sql("SELECT nextval('run_id_seq')").fetchall()[0][0]  # as the ETL does
        _load(con, JAN, 20, "A", run_id)
    runner = CliRunner()
    home = ["--home", str(settings.home)]
    first = runner.invoke(app, ["publish", *home])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["publish", *home])
    assert second.exit_code == 0, second.output
    versions = [v.name for v in describe_versions(settings.published_dir)]
    assert len(versions) == 2 and read_current(settings.published_dir) == versions[-1]
    listing = runner.invoke(app, ["published", *home])
    assert listing.exit_code == 0
    assert versions[0] in listing.output and versions[1] in listing.output
    assert "current" in listing.output
    kept = runner.invoke(app, ["housekeeping", *home])
    assert kept.exit_code == 0 and "Nothing to remove" in kept.output
    # The first version was superseded long ago (as recorded when CURRENT moved off it).
    record = settings.published_dir / publish_mod.SUPERSEDED_FILE
    record.write_text(json.dumps({versions[0]: "2000-01-01T00:00:00+00:00"}))
    removed = runner.invoke(app, ["housekeeping", *home])
    assert removed.exit_code == 0 and f"removed {versions[0]}" in removed.output
    # The publish runs are in the run log, and the cube was rebuilt from scratch.
    snap = current_version(settings)
    assert snap is not None
    runs = snap.table("runs").filter(pl.col("kind") == "publish")
    assert runs.height == 2 and set(runs["status"]) == {RunStatus.SUCCEEDED}
    assert snap.table("cube_declarations")["declarations"].sum() == 20

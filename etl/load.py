"""Load: one delivery file -> the warehouse, in one transaction, then publish.

Order (DEVELOPING.md): hash -> stage + validate (one pass over the file, inside DuckDB) ->
quarantine -> upsert declarations and profile_hits -> rebuild the cube for the touched months ->
run log -> COMMIT -> publish. The profile register and change log (:func:`load_profiles`)
follow the same pattern.
Any failure rolls everything back and a ``failed`` run is written in its own small transaction,
so the warehouse is exactly as before apart from that run-log row.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

import duckdb

from customs_kpi.clock import local_now, utc_naive
from customs_kpi.published import RunStatus
from customs_kpi.published import file_sha256 as published_sha256
from customs_kpi.settings import Settings
from etl.contract import CANONICAL, PROFILE_CHANGE_COLUMNS, PROFILE_COLUMNS, Column
from etl.extract import (
    DeliveryError,
    Staged,
    open_source,
    quote_ident,
    quote_literal,
    resolve_columns,
    stage_delivery,
)
from etl.mapping import Mapping, MappingError, load_mapping
from etl.runs import next_run_id
from etl.validate import raw_record_sql, top_reasons, typed_select, validate
from etl.warehouse import open_warehouse

# DuckDB's own buffer limit for loads: keeps the whole process under the 2 GB target at 10 M
# rows; bigger intermediates spill to the warehouse's temp directory.
LOAD_MEMORY_LIMIT = "1400MB"
_TEMP_TABLES = (
    "_raw",
    "_typed",
    "_bad",
    "_dups",
    "_dup_rows",
    "_dup_hashes",
    "_valid",
    "_replaced",
    "_praw",
    "_ptyped",
    "_pbad",
    "_preg",
    "_craw",
    "_ctyped",
    "_cbad",
    "_pchg",
)


class Progress(Protocol):
    """Receives stage changes of a load (the CLI shows them as a progress bar)."""

    def stage(self, file_name: str, label: str, con: duckdb.DuckDBPyConnection | None) -> None: ...


@dataclass
class LoadResult:
    run_id: int | None
    status: RunStatus
    file_name: str
    rows_read: int = 0
    rows_inserted: int = 0
    rows_replaced: int = 0
    rows_quarantined: int = 0
    top_reasons: list[tuple[str, int]] = field(default_factory=list)
    duration_seconds: float = 0.0
    message: str = ""
    source_name: str = ""
    # Invariant ("nothing lost"):
    # rows_read = rows_inserted + rows_replaced + rows_quarantined + rows_merged.
    # Rows folded into another row: item rows rolled up into their declaration, register rows
    # superseded by a later row of the same profile, change events already known.
    rows_merged: int = 0
    touched_months: list[date] = field(default_factory=list)
    quarantine_file: Path | None = None
    published: str | None = None  # published version, when publishing ran
    # Why publishing failed (the load itself is committed): the CLI exits non-zero, the worker's
    # job fails, a failed 'publish' run is in the run log and the Data page says so.
    publish_error: str | None = None


def file_sha256(path: Path) -> str:
    """The delivery's SHA-256 (:func:`customs_kpi.published.file_sha256`), a missing or
    unreadable file as a :class:`DeliveryError` naming it."""
    try:
        return published_sha256(path)
    except FileNotFoundError as exc:
        raise DeliveryError(f"{path.name}: does not exist ({path})") from exc
    except OSError as exc:
        raise DeliveryError(f"{path.name}: cannot be read: {exc.strerror or exc}") from exc


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> object:
    return con.sql(sql, params=params).fetchall()[0][0]


def _insert_run(
    con: duckdb.DuckDBPyConnection,
    result: LoadResult,
    kind: str,
    started: datetime,
    sha: str | None,
) -> None:
    con.sql(
        "INSERT INTO runs (run_id, kind, started_at, finished_at, status, source_name, file_name,"
        " file_sha256, rows_read, rows_inserted, rows_replaced, rows_quarantined,"
        " duration_seconds, message) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
        " $13, $14)",
        params=[
            result.run_id,
            kind,
            started,
            utc_naive(),
            result.status,
            result.source_name,
            result.file_name,
            sha,
            result.rows_read,
            result.rows_inserted,
            result.rows_replaced,
            result.rows_quarantined,
            result.duration_seconds,
            result.message,
        ],
    )


def record_failure(
    con: duckdb.DuckDBPyConnection,
    result: LoadResult,
    kind: str,
    started: datetime,
    sha: str | None,
) -> None:
    """Write the ``failed`` run in its own transaction (after the load's rollback)."""
    con.begin()
    try:
        result.run_id = next_run_id(con)
        _insert_run(con, result, kind, started, sha)
        con.commit()
    except Exception:
        _rollback(con)
        raise


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back if a transaction is still open. DuckDB ends the transaction itself when a
    write fails for good (disk full during COMMIT): its "cannot rollback - no transaction is
    active" must not hide that real cause."""
    with suppress(duckdb.Error):
        con.rollback()


def _drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    con.sql("DROP VIEW IF EXISTS temp._rows")
    for table in _TEMP_TABLES:
        con.sql(f"DROP TABLE IF EXISTS temp.{table}")


def _summary(result: LoadResult) -> str:
    parts = [
        f"{result.rows_read:,} rows read",
        f"{result.rows_inserted:,} inserted",
        f"{result.rows_replaced:,} replaced",
        f"{result.rows_quarantined:,} quarantined",
    ]
    if result.rows_merged:
        parts.append(f"{result.rows_merged:,} merged")
    text = ", ".join(parts)
    if result.top_reasons:
        text += " (top reasons: " + ", ".join(f"{r} {n:,}" for r, n in result.top_reasons) + ")"
    return text


def _record_success(
    con: duckdb.DuckDBPyConnection,
    result: LoadResult,
    kind: str,
    label: str,
    warnings: Sequence[str],
    t0: float,
    started: datetime,
    sha: str,
) -> None:
    """Mark the run succeeded and write its run-log row and content hash, inside the load's
    transaction (so a rolled-back load leaves neither)."""
    result.status = RunStatus.SUCCEEDED
    result.message = f"{label}: " + _summary(result)
    if warnings:
        result.message += "; warnings: " + "; ".join(warnings)
    result.duration_seconds = time.perf_counter() - t0
    _insert_run(con, result, kind, started, sha)
    con.sql(
        "INSERT INTO loaded_files (file_sha256, file_name, run_id, loaded_at) "
        "VALUES ($1, $2, $3, $4)",
        params=[sha, label, result.run_id, utc_naive()],
    )


def _record_rollback(
    con: duckdb.DuckDBPyConnection,
    result: LoadResult,
    kind: str,
    label: str,
    exc: Exception,
    t0: float,
    started: datetime,
    sha: str | None,
) -> None:
    """Mark a rolled-back run failed (a bad file's own message, else what went wrong) and write
    its run-log row in a transaction of its own."""
    import etl.publish

    result.status = RunStatus.FAILED
    if isinstance(exc, DeliveryError | MappingError):
        result.message = str(exc)
    else:
        result.message = (
            f"{label}: load failed and was rolled back: {etl.publish.describe_error(exc)}"
        )
    result.duration_seconds = time.perf_counter() - t0
    try:
        record_failure(con, result, kind, started, sha)
    except duckdb.Error as record_exc:
        # The disk that failed the load may refuse the run-log row too: still a failed load
        # with its real cause, only without its row.
        result.run_id = None
        result.message += (
            f" (the failed run could not be recorded: {etl.publish.describe_error(record_exc)})"
        )


def _write_quarantine(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    run_id: int,
    file_name: str,
    bad: str = "_bad",
) -> Path:
    """Quarantine rows (with their raw record) into the table and a CSV, renamed after COMMIT
    so a rolled-back load leaves no file behind."""
    con.sql(
        "INSERT INTO quarantine (run_id, file_name, source_row, declaration_id, rule, reason, "
        f"raw_record) SELECT $1, $2, source_row, declaration_id, rule, reason, raw_record "
        f"FROM {bad} ORDER BY source_row",
        params=[run_id, file_name],
    )
    settings.quarantine_dir.mkdir(parents=True, exist_ok=True)
    final = settings.quarantine_dir / f"{run_id}-{Path(file_name).stem}.csv"
    pending = final.with_name("." + final.name + ".pending")
    con.sql(
        f"COPY (SELECT source_row, declaration_id, rule, reason, raw_record FROM {bad} "
        f"ORDER BY source_row) TO {quote_literal(str(pending))} (HEADER, DELIMITER ',')"
    )
    return pending


def _upsert(
    con: duckdb.DuckDBPyConnection, valid: str, run_id: int, source_name: str, file_name: str
) -> tuple[int, set[date]]:
    """Replace earlier versions of the delivered declarations, insert them; (replaced, months)."""
    # Semi-join on the delivered ids only: the cost follows the delivery, and DuckDB pushes the
    # ids' min/max into the scan of declarations so clustered history is skipped.
    con.sql(
        "CREATE OR REPLACE TEMP TABLE _replaced AS SELECT declaration_id, lodged_month "
        f"FROM declarations WHERE declaration_id IN (SELECT declaration_id FROM {valid})"
    )
    replaced = int(str(_scalar(con, "SELECT count(*) FROM _replaced")))
    if replaced:
        months_filter = "lodged_month IN (SELECT DISTINCT lodged_month FROM _replaced)"
        ids = "declaration_id IN (SELECT declaration_id FROM _replaced)"
        con.sql(f"DELETE FROM declarations WHERE {months_filter} AND {ids}")
        con.sql(f"DELETE FROM profile_hits WHERE {months_filter} AND {ids}")
    columns = ", ".join(quote_ident(c.name) for c in CANONICAL)
    con.sql(
        f"INSERT INTO declarations ({columns}, lodged_month, run_id, source_name, source_file, "
        f"source_row) SELECT {columns}, lodged_month, $1, $2, $3, source_row FROM {valid}",
        params=[run_id, source_name, file_name],
    )
    con.sql(
        "INSERT INTO profile_hits (declaration_id, profile_id, lodged_month) "
        "SELECT declaration_id, unnest(profile_ids), lodged_month "
        f"FROM {valid} WHERE len(profile_ids) > 0"
    )
    rows = con.sql(
        f"SELECT DISTINCT lodged_month FROM {valid} UNION SELECT lodged_month FROM _replaced"
    ).fetchall()
    return replaced, {r[0] for r in rows}


def rebuild_cube(con: duckdb.DuckDBPyConnection, months: list[date] | None) -> None:
    import etl.cube  # imported late: the cube module is optional for unit tests

    etl.cube.rebuild_cube(con, months)


def publish_version(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    months: Iterable[date] | None,
    run_id: int,
) -> str:
    import etl.publish

    return str(
        etl.publish.publish(con, settings, set(months) if months is not None else None, run_id)
    )


def _load_one(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    path: Path,
    mapping_path: Path | None,
    progress: Progress | None,
) -> LoadResult:
    t0 = time.perf_counter()
    started = utc_naive()  # the run log is UTC
    result = LoadResult(run_id=None, status=RunStatus.FAILED, file_name=path.name)

    def stage(label: str) -> None:
        if progress is not None:
            progress.stage(path.name, label, con)

    sha: str | None = None
    try:
        mapping: Mapping = load_mapping(mapping_path)
        if mapping.timezone is None:  # times with an offset become the administration's
            mapping = dataclasses.replace(mapping, timezone=settings.timezone)
        result.source_name = mapping.name
        stage("hashing")
        sha = file_sha256(path)
    except (DeliveryError, MappingError) as exc:
        result.message = str(exc)
        result.duration_seconds = time.perf_counter() - t0
        record_failure(con, result, "load", started, sha)
        return result

    prior = con.sql(
        "SELECT run_id, file_name, loaded_at FROM loaded_files WHERE file_sha256 = $1",
        params=[sha],
    ).fetchall()
    if prior:
        run, name, when = prior[0]
        result.status = RunStatus.SKIPPED
        result.message = (
            f"{path.name}: already loaded (same content as {name}, run {run}, "
            f"{when:%Y-%m-%d %H:%M}); nothing changed"
        )
        result.duration_seconds = time.perf_counter() - t0
        con.begin()
        result.run_id = next_run_id(con)
        _insert_run(con, result, "load", started, sha)
        con.commit()
        return result

    pending: Path | None = None
    con.sql(f"SET memory_limit = '{LOAD_MEMORY_LIMIT}'")
    # Progress is shown by the caller (query_progress); DuckDB's own bar would garble the CLI.
    con.sql("SET enable_progress_bar = true")
    con.sql("SET enable_progress_bar_print = false")
    con.begin()
    try:
        stage("reading and validating")
        # One pass reads, types and checks the file; the delivered strings are kept only for
        # the rows that go to quarantine (their raw record).
        with open_source(con, path, mapping) as source:
            resolved, warnings = resolve_columns(path, source.columns, mapping)
            # "In the future" is judged on the administration's clock, as lodgements are.
            checked = validate(con, source, resolved, mapping, local_now(settings.zone))
        result.rows_read = checked.rows_read
        result.rows_quarantined = checked.rows_quarantined
        result.top_reasons = top_reasons(con)
        run_id = next_run_id(con)
        result.run_id = run_id
        if checked.rows_quarantined:
            stage("quarantining")
            pending = _write_quarantine(con, settings, run_id, path.name)
        stage("upserting")
        replaced, months = _upsert(con, checked.valid_table, run_id, mapping.name, path.name)
        result.rows_replaced = replaced
        result.rows_inserted = checked.declarations - replaced
        result.rows_merged = result.rows_read - checked.declarations - result.rows_quarantined
        result.touched_months = sorted(months)
        stage("rebuilding cube")
        rebuild_cube(con, result.touched_months)
        _record_success(con, result, "load", path.name, warnings, t0, started, sha)
        stage("committing")
        con.commit()
    except BaseException as exc:
        _rollback(con)
        if pending is not None:
            pending.unlink(missing_ok=True)
        if not isinstance(exc, Exception):
            raise  # KeyboardInterrupt / SystemExit: rolled back, nothing more to record
        # Rows read stay informative; nothing else of the file is in the warehouse.
        result.rows_inserted = result.rows_replaced = 0
        result.rows_quarantined = result.rows_merged = 0
        result.top_reasons, result.touched_months = [], []
        _record_rollback(con, result, "load", path.name, exc, t0, started, sha)
        return result
    finally:
        with suppress(duckdb.Error):  # never replaces the outcome (or the error) above
            _drop_temp(con)
            con.sql("RESET memory_limit")
    if pending is not None:
        result.quarantine_file = _final_name(pending)
        os.replace(pending, result.quarantine_file)
    return result


def _final_name(pending: Path) -> Path:
    return pending.with_name(pending.name.removeprefix(".").removesuffix(".pending"))


def _publish(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    results: list[LoadResult],
    progress: Progress | None,
) -> None:
    """Publish what the loads committed; with nothing new loaded, publish anyway when the
    warehouse is ahead of the published version (an earlier publish was killed or failed)."""
    done = [r for r in results if r.status == RunStatus.SUCCEEDED]
    months: set[date] | None
    if done:
        months = {m for r in done for m in r.touched_months}
        run_id = done[-1].run_id
        note = ""
    else:
        run_id = warehouse_ahead(con, settings)
        if run_id is None:
            return
        # Months to rewrite: those whose rows differ from the published version (etl.publish
        # compares per-month statistics with the previous manifest).
        months = set()
        done = [
            r for r in results if r.status == RunStatus.SKIPPED
        ]  # a failed one keeps its message
        note = f" (the dashboard was behind the warehouse: run {run_id} had not been published)"
    if progress is not None and done:
        progress.stage(done[-1].file_name, "publishing", con)
    assert run_id is not None
    try:
        version = publish_version(con, settings, months, run_id)
    except Exception as exc:
        import etl.publish

        error = etl.publish.describe_error(exc)
        _record_publish_failure(con, run_id, error)
        # The load itself is committed; say loudly that the dashboard does not show it yet.
        for r in done:
            r.publish_error = error
            r.message += f"; NOT PUBLISHED: {error}"
        return
    for r in done:
        r.published = version
        if note:
            r.message += f"; published {version}{note}"


def _record_publish_failure(con: duckdb.DuckDBPyConnection, run_id: int, error: str) -> None:
    """A failed 'publish' run in the run log (best effort: the disk may be full)."""
    now = utc_naive()  # the run log's naive UTC
    message = f"publishing run {run_id} failed, the dashboard shows older data: {error}"
    try:
        con.begin()
        con.sql(
            "INSERT INTO runs (run_id, kind, started_at, finished_at, status, message) "
            "VALUES (nextval('run_id_seq'), 'publish', $1, $1, $2, $3)",
            params=[now, RunStatus.FAILED, message],
        )
        con.commit()
    except duckdb.Error:
        with suppress(duckdb.Error):
            con.rollback()


def published_run_id(settings: Settings) -> int | None:
    """The run the current published version was made from; None when nothing valid is
    published (no CURRENT, a broken one, an unreadable manifest)."""
    from customs_kpi.published import read_current, read_manifest, version_problems

    current = read_current(settings.published_dir)
    if current is None:
        return None
    folder = settings.published_dir / current
    if version_problems(folder, deep=False):
        return None
    try:
        run = read_manifest(folder).get("run_id")
    except (OSError, ValueError):
        return None
    return run if isinstance(run, int) else None


def warehouse_ahead(con: duckdb.DuckDBPyConnection, settings: Settings) -> int | None:
    """The latest successful load's run id when the published version does not include it
    (or CURRENT is broken), else None: the "content version" of the warehouse against the
    published manifest's run_id."""
    latest = _scalar(
        con,
        "SELECT max(run_id) FROM runs WHERE status = $1 "
        "AND kind IN ('load', 'load-profiles', 'publish')",
        [RunStatus.SUCCEEDED],
    )
    if latest is None:
        return None
    published = published_run_id(settings)
    if published is not None and published >= int(str(latest)):
        return None
    return int(str(latest))


def publish_if_behind(settings: Settings, *, timeout: float = 5.0) -> str | None:
    """Publish when the warehouse is ahead of the published version (worker polls, CLI); the
    new version's name, None when nothing was behind. Raises what publishing raised."""
    import etl.publish

    with open_warehouse(settings, timeout=timeout) as con:
        run_id = warehouse_ahead(con, settings)
        if run_id is None:
            return None
        try:
            return publish_version(con, settings, set(), run_id)
        except Exception as exc:
            _record_publish_failure(con, run_id, etl.publish.describe_error(exc))
            raise


def load_files(
    settings: Settings,
    paths: Sequence[Path],
    mapping_path: Path | None = None,
    *,
    publish: bool = True,
    progress: Progress | None = None,
) -> list[LoadResult]:
    """Load each file in order (each its own transaction); publish once at the end."""
    results: list[LoadResult] = []
    with open_warehouse(settings) as con:
        for path in paths:
            results.append(_load_one(con, settings, Path(path), mapping_path, progress))
        if publish:
            _publish(con, settings, results, progress)
    return results


def load_file(
    settings: Settings,
    path: Path,
    mapping_path: Path | None = None,
    *,
    publish: bool = True,
    progress: Progress | None = None,
) -> LoadResult:
    """Load one delivery (see module doc). Never raises for bad input: see ``status``."""
    return load_files(settings, [path], mapping_path, publish=publish, progress=progress)[0]


# --- Profile register and change log -------------------------------------------------------


def _stage_reference(
    con: duckdb.DuckDBPyConnection, path: Path, contract: tuple[Column, ...], prefix: str
) -> tuple[Staged, list[str]]:
    """Stage and type a register/change-log file into ``{prefix}raw``/``{prefix}typed`` and its
    bad rows into ``{prefix}bad``; (staged file, warnings). These files are small: staging
    them whole keeps this path simple."""
    identity = Mapping()
    staged = stage_delivery(con, path, identity, table=f"{prefix}raw")
    resolved, warnings = resolve_columns(path, staged.columns, identity, contract)
    select = typed_select(
        staged.table, contract, resolved, identity, None, source_row=staged.source_row
    )
    con.sql(f"CREATE OR REPLACE TEMP TABLE {prefix}typed AS {select}")
    con.sql(
        f"CREATE OR REPLACE TEMP TABLE {prefix}bad AS SELECT t.source_row, NULL::VARCHAR AS "
        "declaration_id, t.__errors[1].rule AS rule, array_to_string(list_transform(t.__errors, "
        f"lambda e: e.reason), '; ') AS reason, {raw_record_sql(staged.columns, 'r')} AS "
        f"raw_record FROM {prefix}typed t JOIN (SELECT {staged.source_row} AS __row, * FROM "
        f"{staged.table}) r ON r.__row = t.source_row WHERE t.__errors IS NOT NULL"
    )
    return staged, warnings


def _load_register(con: duckdb.DuckDBPyConnection, run_id: int) -> tuple[int, int]:
    """Upsert the register (latest row per profile wins); (inserted, replaced)."""
    names = ", ".join(quote_ident(c.name) for c in PROFILE_COLUMNS)
    con.sql(
        f"CREATE OR REPLACE TEMP TABLE _preg AS SELECT {names} FROM _ptyped "
        "WHERE __errors IS NULL "
        "QUALIFY row_number() OVER (PARTITION BY profile_id ORDER BY source_row DESC) = 1"
    )
    replaced = int(
        str(
            _scalar(
                con,
                "SELECT count(*) FROM profiles WHERE profile_id IN (SELECT profile_id FROM _preg)",
            )
        )
    )
    con.sql("DELETE FROM profiles WHERE profile_id IN (SELECT profile_id FROM _preg)")
    con.sql(
        f"INSERT INTO profiles ({names}, run_id) SELECT {names}, $1 FROM _preg", params=[run_id]
    )
    total = int(str(_scalar(con, "SELECT count(*) FROM _preg")))
    return total - replaced, replaced


def _load_changes(con: duckdb.DuckDBPyConnection, run_id: int) -> int:
    """Append change events not seen before (same profile, time and type); new events."""
    names = ", ".join(quote_ident(c.name) for c in PROFILE_CHANGE_COLUMNS)
    con.sql(
        f"CREATE OR REPLACE TEMP TABLE _pchg AS SELECT {names} FROM _ctyped c "
        "WHERE __errors IS NULL AND NOT EXISTS (SELECT 1 FROM profile_changes p WHERE "
        "p.profile_id = c.profile_id AND p.changed_at = c.changed_at AND "
        "p.change_type = c.change_type) QUALIFY row_number() OVER (PARTITION BY profile_id, "
        "changed_at, change_type ORDER BY source_row) = 1"
    )
    con.sql(
        f"INSERT INTO profile_changes ({names}, run_id) SELECT {names}, $1 FROM _pchg "
        "ORDER BY changed_at, profile_id",
        params=[run_id],
    )
    return int(str(_scalar(con, "SELECT count(*) FROM _pchg")))


def load_profiles(
    settings: Settings,
    register_path: Path,
    changes_path: Path | None = None,
    *,
    publish: bool = True,
    progress: Progress | None = None,
) -> LoadResult:
    """Load the profile register (and change log): one transaction, then publish.

    Register rows upsert by profile_id (the latest row of a profile wins); change events are
    appended once (duplicates within the file and with earlier loads are ignored). Bad rows are
    quarantined like declaration rows. The same pair of files twice is a ``skipped`` run.
    """
    paths = [Path(register_path)] + ([Path(changes_path)] if changes_path else [])
    label = " + ".join(p.name for p in paths)
    t0 = time.perf_counter()
    started = utc_naive()
    result = LoadResult(
        run_id=None, status=RunStatus.FAILED, file_name=label, source_name="profiles"
    )
    with open_warehouse(settings) as con:

        def stage(text: str) -> None:
            if progress is not None:
                progress.stage(label, text, con)

        sha: str | None = None
        try:
            stage("hashing")
            sha = hashlib.sha256("".join(file_sha256(p) for p in paths).encode()).hexdigest()
        except DeliveryError as exc:
            result.message = str(exc)
            result.duration_seconds = time.perf_counter() - t0
            record_failure(con, result, "load-profiles", started, sha)
            return result
        prior = con.sql(
            "SELECT run_id FROM loaded_files WHERE file_sha256 = $1", params=[sha]
        ).fetchall()
        if prior:
            result.status = RunStatus.SKIPPED
            result.message = f"{label}: already loaded by run {prior[0][0]}; nothing changed"
            result.duration_seconds = time.perf_counter() - t0
            con.begin()
            result.run_id = next_run_id(con)
            _insert_run(con, result, "load-profiles", started, sha)
            con.commit()
            return result

        pendings: list[Path] = []
        con.begin()
        try:
            stage("reading")
            run_id = next_run_id(con)
            result.run_id = run_id
            register, warnings = _stage_reference(con, paths[0], PROFILE_COLUMNS, "_p")
            read = register.rows
            bad = int(str(_scalar(con, "SELECT count(*) FROM _pbad")))
            if bad:
                pendings.append(_write_quarantine(con, settings, run_id, paths[0].name, "_pbad"))
            stage("upserting")
            inserted, replaced = _load_register(con, run_id)
            result.rows_read, result.rows_quarantined = read, bad
            result.rows_inserted, result.rows_replaced = inserted, replaced
            if changes_path is not None:
                changes, warnings_c = _stage_reference(con, paths[1], PROFILE_CHANGE_COLUMNS, "_c")
                warnings += warnings_c
                bad_c = int(str(_scalar(con, "SELECT count(*) FROM _cbad")))
                if bad_c:
                    pendings.append(
                        _write_quarantine(con, settings, run_id, paths[1].name, "_cbad")
                    )
                result.rows_read += changes.rows
                result.rows_quarantined += bad_c
                result.rows_inserted += _load_changes(con, run_id)
            result.rows_merged = (
                result.rows_read
                - result.rows_inserted
                - result.rows_replaced
                - result.rows_quarantined
            )
            result.top_reasons = [
                (str(r), int(n))
                for r, n in con.sql(
                    "SELECT rule, count(*) AS n FROM (SELECT rule FROM _pbad UNION ALL "
                    + ("SELECT rule FROM _cbad" if changes_path else "SELECT NULL WHERE false")
                    + ") GROUP BY rule ORDER BY n DESC, rule LIMIT 5"
                ).fetchall()
            ]
            _record_success(con, result, "load-profiles", label, warnings, t0, started, sha)
            stage("committing")
            con.commit()
        except Exception as exc:
            _rollback(con)
            for pending in pendings:
                pending.unlink(missing_ok=True)
            result.rows_inserted = result.rows_replaced = result.rows_merged = 0
            _record_rollback(con, result, "load-profiles", label, exc, t0, started, sha)
            return result
        finally:
            with suppress(duckdb.Error):
                _drop_temp(con)
        for pending in pendings:
            os.replace(pending, _final_name(pending))
        if publish:
            _publish(con, settings, [result], progress)
    return result

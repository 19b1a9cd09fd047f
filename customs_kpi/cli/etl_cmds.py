"""Loading: load, load-profiles, runs, quarantine."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from customs_kpi.cli.common import HomeOption, app, console, err_console, fail, settings_for

if TYPE_CHECKING:
    import duckdb

    from customs_kpi.settings import Settings
    from etl.load import LoadResult


class RichProgress:
    """Stage-by-stage progress of loads: one line per stage (also readable in logs) and a live
    bar fed by DuckDB's progress of the running statement."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task = progress.add_task("starting", total=100)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, daemon=True)
        self._poller.start()

    def stage(self, file_name: str, label: str, con: duckdb.DuckDBPyConnection | None) -> None:
        self._con = con
        self._progress.console.print(f"[dim]{file_name}: {label}…[/]", highlight=False)
        self._progress.update(self._task, description=f"{file_name}: {label}", completed=0)

    def _poll(self) -> None:
        while not self._stop.wait(0.2):
            con = self._con
            if con is None:
                continue
            try:
                pct = con.query_progress()
            except Exception:  # the connection is between statements or closed
                continue
            if pct >= 0:
                self._progress.update(self._task, completed=pct)

    def close(self) -> None:
        self._stop.set()
        self._poller.join(timeout=1)


@contextmanager
def _progress() -> Iterator[RichProgress]:
    bar = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with bar:
        reporter = RichProgress(bar)
        try:
            yield reporter
        finally:
            reporter.close()


@contextmanager
def _busy_is_an_error() -> Iterator[None]:
    from etl.warehouse import WarehouseBusy

    try:
        yield
    except WarehouseBusy as exc:
        raise fail(str(exc)) from exc


def _status_colour(status: str) -> str:
    from customs_kpi.published import RunStatus

    colours: dict[str, str] = {RunStatus.SUCCEEDED: "green", RunStatus.SKIPPED: "yellow"}
    return colours.get(status, "red")


def _print_results(results: Sequence[LoadResult]) -> None:
    from customs_kpi.published import RunStatus

    table = Table(
        "file",
        "status",
        "read",
        "inserted",
        "replaced",
        "quarantined",
        "top reasons",
        "seconds",
        title="load summary",
    )
    for r in results:
        colour = _status_colour(r.status)
        reasons = ", ".join(f"{rule} ({n:,})" for rule, n in r.top_reasons)
        table.add_row(
            r.file_name,
            f"[{colour}]{r.status}[/]",
            f"{r.rows_read:,}",
            f"{r.rows_inserted:,}",
            f"{r.rows_replaced:,}",
            f"{r.rows_quarantined:,}",
            reasons,
            f"{r.duration_seconds:.1f}",
        )
    console.print(table)
    for r in results:
        if r.status == RunStatus.FAILED:
            err_console.print(f"[bold red]failed:[/] {r.message}", highlight=False, soft_wrap=True)
        else:
            extra = f" in {r.duration_seconds:.1f} s" if r.status == RunStatus.SUCCEEDED else ""
            if r.published:
                extra += f"; published {r.published}"
            console.print(r.message + extra, highlight=False, soft_wrap=True)
        if r.quarantine_file is not None:
            console.print(
                f"  quarantined rows: {r.quarantine_file}", highlight=False, soft_wrap=True
            )


@app.command("load")
def load_cmd(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Delivery files (CSV, Parquet, XLSX, JSON).")
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option("--mapping", "-m", help="TOML mapping of the source (default: canonical)."),
    ] = None,
    inbox: Annotated[
        bool, typer.Option("--inbox", help="Also load every delivery waiting in HOME/inbox.")
    ] = False,
    publish: Annotated[
        bool, typer.Option("--publish/--no-publish", help="Publish a version afterwards.")
    ] = True,
    home: HomeOption = None,
) -> None:
    """Load inspection-outcome deliveries into the warehouse, then publish a version.

    Each file is one transaction: it loads completely or not at all. Bad rows go to
    quarantine (see `customs-kpi quarantine`); a file already loaded is skipped.
    """
    from etl.inbox import process_inbox
    from etl.load import load_files

    if not files and not inbox:
        raise fail("give delivery FILES to load, or --inbox")
    settings = settings_for(home)
    results: list[LoadResult] = []
    with _busy_is_an_error(), _progress() as progress:
        if files:
            results += load_files(settings, files, mapping, publish=publish, progress=progress)
        if inbox:
            results += process_inbox(settings, progress=progress)
    if not results:
        console.print("nothing to load: the inbox is empty")
        if publish:
            _publish_if_behind(settings)
        return
    _print_results(results)
    _exit_on_failures(results)


def _exit_on_failures(results: Sequence[LoadResult]) -> None:
    from customs_kpi.published import RunStatus

    failed = [r.file_name for r in results if r.status == RunStatus.FAILED]
    if failed:
        raise fail(f"{len(failed)} file(s) failed: {', '.join(failed)}")
    unpublished = [r for r in results if r.publish_error]
    if unpublished:
        raise fail(
            f"loaded but NOT PUBLISHED ({unpublished[0].publish_error}): the dashboard shows "
            "older data until a publish succeeds (the next load, `customs-kpi publish` or the "
            "worker retries)"
        )


def _publish_if_behind(settings: Settings) -> None:
    """Nothing was loaded: still publish when an earlier publish did not complete."""
    from etl.load import publish_if_behind
    from etl.publish import describe_error
    from etl.warehouse import WarehouseBusy

    try:
        version = publish_if_behind(settings)
    except WarehouseBusy:
        return  # the running load publishes itself
    except Exception as exc:
        raise fail(
            f"NOT PUBLISHED ({describe_error(exc)}): the dashboard shows older data"
        ) from None
    if version:
        console.print(
            f"published {version}: the dashboard was behind the warehouse (an earlier publish "
            "had not completed)",
            highlight=False,
        )


@app.command("load-profiles")
def load_profiles_cmd(
    register: Annotated[Path, typer.Argument(help="Profile register (CSV, Parquet, XLSX).")],
    changes: Annotated[
        Path | None, typer.Option("--changes", help="Profile change log (CSV, Parquet, XLSX).")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Load the risk-profile register and its change log, then publish a version."""
    from customs_kpi.published import RunStatus
    from etl.load import load_profiles

    settings = settings_for(home)
    with _busy_is_an_error(), _progress() as progress:
        result = load_profiles(settings, register, changes, progress=progress)
    _print_results([result])
    if result.status == RunStatus.FAILED:
        raise fail(f"{result.file_name} failed")
    _exit_on_failures([result])


@contextmanager
def _open(home: Path | None) -> Iterator[duckdb.DuckDBPyConnection]:
    from etl.warehouse import WarehouseBusy, open_warehouse

    settings = settings_for(home)
    try:
        with open_warehouse(settings, timeout=10) as con:
            yield con
    except WarehouseBusy as exc:
        raise fail(str(exc)) from exc


@app.command("runs")
def runs_cmd(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many runs to show.")] = 20,
    home: HomeOption = None,
) -> None:
    """List the run log, most recent first."""
    from customs_kpi.published import RunStatus

    with _open(home) as con:
        rows = con.sql(
            "SELECT run_id, kind, started_at, status, file_name, rows_read, rows_inserted, "
            "rows_replaced, rows_quarantined, duration_seconds, message FROM runs "
            "ORDER BY run_id DESC LIMIT $1",
            params=[limit],
        ).fetchall()
    if not rows:
        console.print("no runs yet")
        return
    table = Table(
        "run",
        "kind",
        "started (UTC)",
        "status",
        "file",
        "read",
        "inserted",
        "replaced",
        "quarantined",
        "seconds",
        title="runs",
    )
    notes: list[str] = []
    for run, kind, started, status, name, read, ins, rep, qua, secs, message in rows:
        colour = _status_colour(status)
        table.add_row(
            str(run),
            kind,
            f"{started:%Y-%m-%d %H:%M}",
            f"[{colour}]{status}[/]",
            name or "",
            f"{read or 0:,}",
            f"{ins or 0:,}",
            f"{rep or 0:,}",
            f"{qua or 0:,}",
            f"{secs or 0:.1f}",
        )
        if status != RunStatus.SUCCEEDED and message:
            notes.append(f"run {run} {status}: {message}")
    console.print(table)
    for note in notes:
        console.print(note, highlight=False, soft_wrap=True)


@app.command("quarantine")
def quarantine_cmd(
    run: Annotated[int | None, typer.Option("--run", help="Only rows of this run.")] = None,
    file: Annotated[str | None, typer.Option("--file", help="Only rows of this file name.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many rows to show.")] = 50,
    raw: Annotated[
        bool, typer.Option("--raw", help="Also show each row as delivered (JSON).")
    ] = False,
    home: HomeOption = None,
) -> None:
    """Show quarantined rows with their file, row number and reason (most recent runs first)."""
    where: list[str] = []
    params: list[object] = []
    if run is not None:
        params.append(run)
        where.append(f"run_id = ${len(params)}")
    if file is not None:
        params.append(Path(file).name)
        where.append(f"file_name = ${len(params)}")
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    with _open(home) as con:
        total = con.sql(f"SELECT count(*) FROM quarantine {clause}", params=params).fetchall()
        rows = con.sql(
            "SELECT run_id, file_name, source_row, declaration_id, rule, reason, raw_record "
            "FROM quarantine "
            f"{clause} ORDER BY run_id DESC, file_name, source_row LIMIT {int(limit)}",
            params=params,
        ).fetchall()
    count = int(total[0][0])
    if not count:
        console.print("no quarantined rows" + (" for this selection" if clause else ""))
        return
    headers = ["run", "file", "row", "declaration", "rule", "reason"] + (["as delivered"] * raw)
    table = Table(*headers, title=f"quarantine: {min(count, limit):,} of {count:,} rows")
    for run_id, name, row, decl, rule, reason, record in rows:
        cells = [str(run_id), name, str(row), decl or "", rule, reason]
        table.add_row(*cells, *([record or ""] * raw))
    console.print(table)
    if count > limit:
        console.print(
            f"… {count - limit:,} more (use --limit, --run, --file); files under "
            f"{settings_for(home).quarantine_dir}",
            highlight=False,
        )

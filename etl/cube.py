"""The aggregate cube: additive measures per lodged_month x office x channel x selection source
(and per profile), rebuilt in SQL inside DuckDB for the months a delivery touches.

The measure names and meanings are the contract in :mod:`kpis.measures`; this module is the only
place that turns them into SQL. Every measure is a per-declaration quantity summed over a cell,
so any roll-up the KPI engine does over cells is exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import duckdb

from kpis.domain import CONTROL_CHANNELS, FINAL_RESULTS, HIT_RESULTS, Channel, ControlResult
from kpis.measures import (
    DECLARATION_DIMENSIONS,
    HIST_GAMMA,
    HIST_METRICS,
    HIST_MIN_HOURS,
    HIST_ZERO_BIN,
    MEASURE_NAMES,
    RELEASED_WITHIN_HOURS,
    SOLE_MEASURE_NAMES,
)

CUBE_TABLES: tuple[str, ...] = (
    "cube_declarations",
    "cube_profiles",
    "cube_time_hist",
    "cube_profile_pairs",
)


def _sql_set(values: Iterable[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in sorted(values)) + ")"


def _hours(start: str, end: str) -> str:
    # Hours = epoch difference / 3600.0; NULL when either end is missing, so that count() of the
    # expression is the "both set" measure and sum() the hours measure.
    return f"(epoch({end}) - epoch({start})) / 3600.0"


_CONTROL_CHANNELS = _sql_set(CONTROL_CHANNELS)
_FINAL = _sql_set(FINAL_RESULTS)
_HITS = _sql_set(HIT_RESULTS)

# Per-declaration columns computed once in the base relation; the measures aggregate them.
_BASE_COLUMNS: dict[str, str] = {
    # Two-valued flags (coalesce): a NULL result must count as "not controlled", not unknown.
    "is_controlled": f"channel IN {_CONTROL_CHANNELS} AND coalesce(control_result, '') IN {_FINAL}",
    "is_irregular": f"channel IN {_CONTROL_CHANNELS} AND coalesce(control_result, '') IN {_HITS}",
    "is_seizure": f"channel IN {_CONTROL_CHANNELS} "
    f"AND coalesce(control_result, '') = '{ControlResult.SEIZURE}'",
    # "pending or empty": an unfinished control (NULL, '' or an explicit pending).
    "is_pending": f"channel IN {_CONTROL_CHANNELS} "
    f"AND coalesce(control_result, '') IN ('', '{ControlResult.PENDING}')",
    "rev": "coalesce(additional_revenue, 0)::DOUBLE",
    "h_release": _hours("lodged_at", "released_at"),
    "h_release_arrival": _hours("arrived_at", "released_at"),
    "h_inspection": f"CASE WHEN channel = '{Channel.RED}' THEN "
    f"{_hours('channel_assigned_at', 'result_recorded_at')} END",
    "h_arrival_lodgement": _hours("arrived_at", "lodged_at"),
    "h_lodgement_channel": _hours("lodged_at", "channel_assigned_at"),
    "h_channel_result": _hours("channel_assigned_at", "result_recorded_at"),
    "h_result_release": _hours("result_recorded_at", "released_at"),
    "is_sole": "coalesce(len(list_distinct(profile_ids)) = 1, false)",
}

# One aggregate expression per measure of kpis.measures.MEASURES, over the base relation.
_MEASURE_SQL: dict[str, str] = {
    "declarations": "count(*)",
    "controlled": "count_if(is_controlled)",
    "irregular": "count_if(is_irregular)",
    "seizure": "count_if(is_seizure)",
    "pending": "count_if(is_pending)",
    "revenue": "sum(rev)",
    "released": "count(h_release)",
    "release_hours": "sum(h_release)",
    "released_from_arrival": "count(h_release_arrival)",
    "release_from_arrival_hours": "sum(h_release_arrival)",
    "inspections_timed": "count(h_inspection)",
    "inspection_hours": "sum(h_inspection)",
    "stage_arrival_lodgement": "count(h_arrival_lodgement)",
    "stage_arrival_lodgement_hours": "sum(h_arrival_lodgement)",
    "stage_lodgement_channel": "count(h_lodgement_channel)",
    "stage_lodgement_channel_hours": "sum(h_lodgement_channel)",
    "stage_channel_result": "count(h_channel_result)",
    "stage_channel_result_hours": "sum(h_channel_result)",
    "stage_result_release": "count(h_result_release)",
    "stage_result_release_hours": "sum(h_result_release)",
    **{f"released_within_{h}h": f"count_if(h_release <= {h})" for h in RELEASED_WITHIN_HOURS},
}
_SOLE_SQL: dict[str, str] = {
    "sole_declarations": "count_if(is_sole)",
    "sole_controlled": "count_if(is_sole AND is_controlled)",
    "sole_irregular": "count_if(is_sole AND is_irregular)",
    "sole_revenue": "sum(CASE WHEN is_sole THEN rev ELSE 0 END)",
}
# The contract is kpis.measures: fail at import, not with wrong numbers, if the two drift apart.
assert tuple(_MEASURE_SQL) == MEASURE_NAMES, "etl.cube is out of step with kpis.measures"
assert tuple(_SOLE_SQL) == SOLE_MEASURE_NAMES, "etl.cube is out of step with kpis.measures"

# Which duration each histogram metric bins (kpis.measures.HIST_METRICS).
_HIST_COLUMNS: dict[str, str] = {
    "release": "h_release",
    "release_from_arrival": "h_release_arrival",
    "inspection": "h_inspection",
}
assert tuple(_HIST_COLUMNS) == HIST_METRICS, "etl.cube is out of step with kpis.measures"


def _typed(expr: str, name: str) -> str:
    # Counts as BIGINT, everything else (hours, revenue) as DOUBLE; sums of nothing are 0.
    if expr.startswith(("count(", "count_if(")):
        # coalesce: count_if over a group whose condition is NULL everywhere returns NULL.
        return f"coalesce({expr}, 0)::BIGINT AS {name}"
    return f"coalesce({expr}, 0)::DOUBLE AS {name}"


def hist_bin_sql(column: str) -> str:
    """SQL twin of :func:`kpis.measures.hist_bin` (same float arithmetic, same bucket)."""
    return (
        f"CASE WHEN {column} <= '{HIST_MIN_HOURS!r}'::DOUBLE THEN {HIST_ZERO_BIN} "
        f"ELSE ceil(ln({column}) / ln('{HIST_GAMMA!r}'::DOUBLE))::INTEGER END"
    )


def _month_start(value: date | datetime) -> date:
    day = value.date() if isinstance(value, datetime) else value
    return day.replace(day=1)


def _month_filter(months: list[date] | None, column: str = "lodged_month") -> str:
    # Literal dates (not a parameter list) so DuckDB prunes row groups with its zone maps.
    if months is None:
        return "TRUE"
    return f"{column} IN (" + ", ".join(f"DATE '{m.isoformat()}'" for m in months) + ")"


def _base_sql(where: str) -> str:
    columns = ",\n        ".join(f"{expr} AS {name}" for name, expr in _BASE_COLUMNS.items())
    return f"""
    SELECT declaration_id, {", ".join(DECLARATION_DIMENSIONS)},
        {columns}
    FROM declarations
    WHERE {where}"""


def _statements(months: list[date] | None) -> list[str]:
    where = _month_filter(months)
    base = _base_sql(where)
    dims = ", ".join(DECLARATION_DIMENSIONS)
    measures = ",\n    ".join(_typed(e, n) for n, e in _MEASURE_SQL.items())
    sole = ",\n    ".join(_typed(e, n) for n, e in _SOLE_SQL.items())
    bdims = ", ".join(f"b.{d}" for d in DECLARATION_DIMENSIONS)
    hist_parts = "\n    UNION ALL\n    ".join(
        f"SELECT {dims}, '{metric}' AS metric, {hist_bin_sql(col)} AS bin "
        f"FROM base WHERE {col} IS NOT NULL"
        for metric, col in _HIST_COLUMNS.items()
    )
    hits_where = _month_filter(months, "lodged_month")
    return [
        *(f"DELETE FROM {t} WHERE {where}" for t in CUBE_TABLES),
        f"""INSERT INTO cube_declarations BY NAME
WITH base AS ({base})
SELECT {dims},
    {measures}
FROM base
GROUP BY ALL""",
        f"""INSERT INTO cube_profiles BY NAME
WITH base AS ({base}),
hits AS (SELECT DISTINCT declaration_id, profile_id, lodged_month FROM profile_hits
         WHERE {hits_where})
SELECT h.profile_id, {bdims},
    {measures},
    {sole}
FROM hits h JOIN base b
  ON b.declaration_id = h.declaration_id AND b.lodged_month = h.lodged_month
GROUP BY ALL""",
        f"""INSERT INTO cube_time_hist BY NAME
WITH base AS ({base})
SELECT {dims}, metric, bin, count(*)::BIGINT AS count
FROM (
    {hist_parts}
)
GROUP BY ALL""",
        f"""INSERT INTO cube_profile_pairs BY NAME
WITH base AS ({base}),
hits AS (SELECT DISTINCT declaration_id, profile_id, lodged_month FROM profile_hits
         WHERE {hits_where})
SELECT a.lodged_month, a.profile_id AS profile_a, b.profile_id AS profile_b,
    count(*)::BIGINT AS declarations,
    count_if(d.is_controlled)::BIGINT AS controlled,
    count_if(d.is_irregular)::BIGINT AS irregular
FROM hits a
JOIN hits b
  ON b.declaration_id = a.declaration_id AND b.lodged_month = a.lodged_month
 AND a.profile_id < b.profile_id
JOIN base d ON d.declaration_id = a.declaration_id AND d.lodged_month = a.lodged_month
GROUP BY ALL""",
    ]


def rebuild_cube(
    con: duckdb.DuckDBPyConnection, months: Iterable[date | datetime] | None = None
) -> None:
    """Delete and recompute the cube tables for the given ``lodged_month``s (None = all months).

    Runs in the caller's transaction (no begin/commit here), so a load and its cube commit or
    roll back together. Any day of a month stands for that month.
    """
    month_list = None if months is None else sorted({_month_start(m) for m in months})
    if month_list is not None and not month_list:
        return
    for statement in _statements(month_list):
        con.sql(statement)

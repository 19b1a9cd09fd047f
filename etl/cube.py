"""The aggregate cube: additive measures per lodged_month x office x channel x selection source
(and per profile), rebuilt in SQL inside DuckDB for the months a delivery touches.

The measure names and meanings are the contract in :mod:`kpis.measures`; this module is the only
place that turns them into SQL. Every measure is a per-declaration quantity summed over a cell,
so any roll-up the KPI engine does over cells is exact.

Profile grain: a declaration counts once for every profile in its ``profile_ids`` (the same pairs
as ``profile_hits``). Because measures are additive, declarations are first aggregated per
distinct profile set and only those few rows are exploded per profile (and per profile pair):
at 10 M declarations this is an order of magnitude cheaper than joining ``profile_hits``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import duckdb

from kpis.domain import Channel
from kpis.durations import DURATIONS
from kpis.measures import (
    DECLARATION_DIMENSIONS,
    HIST_GAMMA,
    HIST_METRICS,
    HIST_MIN_HOURS,
    HIST_ZERO_BIN,
    MEASURE_NAMES,
    RELEASED_WITHIN,
    SOLE_MEASURE_NAMES,
    controlled_sql,
    irregular_sql,
    pending_sql,
    seizure_sql,
)

CUBE_TABLES: tuple[str, ...] = (
    "cube_declarations",
    "cube_profiles",
    "cube_time_hist",
    "cube_profile_pairs",
)


def _hours(start: str, end: str) -> str:
    # Hours = epoch difference / 3600.0; NULL when either end is missing, so that count() of the
    # expression is the "both set" measure and sum() the hours measure.
    return f"(epoch({end}) - epoch({start})) / 3600.0"


# Per-declaration columns computed once in the base relation; the measures aggregate them.
_BASE_COLUMNS: dict[str, str] = {
    # Two-valued flags (kpis.measures): a NULL result counts as "not controlled", not unknown.
    "is_controlled": controlled_sql(),
    "is_irregular": irregular_sql(),
    "is_seizure": seizure_sql(),
    "is_pending": pending_sql(),
    "rev": "coalesce(additional_revenue, 0)::DOUBLE",
    "h_release": _hours("lodged_at", "released_at"),
    "h_release_arrival": _hours("arrived_at", "released_at"),
    "h_inspection": f"CASE WHEN channel = '{Channel.RED}' THEN "
    f"{_hours('channel_assigned_at', 'result_recorded_at')} END",
    "h_arrival_lodgement": _hours("arrived_at", "lodged_at"),
    "h_lodgement_channel": _hours("lodged_at", "channel_assigned_at"),
    "h_channel_result": _hours("channel_assigned_at", "result_recorded_at"),
    "h_result_release": _hours("result_recorded_at", "released_at"),
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
    **{name: f"count_if(h_release <= {h})" for h, name in RELEASED_WITHIN},
}
# Sole measures: the measure itself, counted only where the profile set is exactly one profile.
_SOLE_OF: dict[str, str] = {
    "sole_declarations": "declarations",
    "sole_controlled": "controlled",
    "sole_irregular": "irregular",
    "sole_revenue": "revenue",
}
# The contract is kpis.measures: fail at import, not with wrong numbers, if the two drift apart.
assert tuple(_MEASURE_SQL) == MEASURE_NAMES, "etl.cube is out of step with kpis.measures"
assert tuple(_SOLE_OF) == SOLE_MEASURE_NAMES, "etl.cube is out of step with kpis.measures"

# Which duration each histogram metric bins (kpis.durations): the column its hours measure sums.
_HIST_COLUMNS: dict[str, str] = {
    d.name: _MEASURE_SQL[d.hours].removeprefix("sum(").removesuffix(")") for d in DURATIONS
}
assert tuple(_HIST_COLUMNS) == HIST_METRICS, "etl.cube is out of step with kpis.measures"
assert all(c in _BASE_COLUMNS for c in _HIST_COLUMNS.values()), "etl.cube: unknown hours column"


def _is_count(name: str) -> bool:
    return _MEASURE_SQL[_SOLE_OF.get(name, name)].startswith(("count(", "count_if("))


def _typed(expr: str, name: str) -> str:
    # Counts as BIGINT, everything else (hours, revenue) as DOUBLE; sums of nothing are 0
    # (coalesce: count_if over a group whose condition is NULL everywhere returns NULL).
    kind = "BIGINT" if _is_count(name) else "DOUBLE"
    return f"coalesce({expr}, 0)::{kind} AS {name}"


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
    SELECT {", ".join(DECLARATION_DIMENSIONS)},
        profile_ids,
        {columns}
    FROM declarations
    WHERE {where}"""


def _statements(months: list[date] | None) -> list[str]:
    where = _month_filter(months)
    base = _base_sql(where)
    dims = ", ".join(DECLARATION_DIMENSIONS)
    measures = ",\n    ".join(_typed(e, n) for n, e in _MEASURE_SQL.items())
    rollup = ",\n    ".join(_typed(f"sum({n})", n) for n in _MEASURE_SQL)
    sole = ",\n    ".join(
        _typed(f"sum(CASE WHEN len(profiles) = 1 THEN {m} ELSE 0 END)", n)
        for n, m in _SOLE_OF.items()
    )
    hist_parts = "\n    UNION ALL\n    ".join(
        f"SELECT {dims}, '{metric}' AS metric, {hist_bin_sql(col)} AS bin "
        f"FROM base WHERE {col} IS NOT NULL"
        for metric, col in _HIST_COLUMNS.items()
    )
    return [
        *(f"DELETE FROM {t} WHERE {where}" for t in CUBE_TABLES),
        f"""INSERT INTO cube_declarations BY NAME
WITH base AS ({base})
SELECT {dims},
    {measures}
FROM base
GROUP BY ALL""",
        # Measures are additive, so aggregate per distinct profile set first (few rows), then
        # give each set's sums to every profile in it: far cheaper than exploding declarations.
        f"""INSERT INTO cube_profiles BY NAME
WITH base AS ({base}),
by_set AS (
    SELECT {dims}, profile_ids,
        {measures}
    FROM base
    WHERE len(profile_ids) > 0
    GROUP BY ALL
),
-- The profile set made distinct, sorted and NULL-free here, on the few aggregated rows: list
-- functions over every declaration would cost more than the whole aggregation.
normalised AS (
    SELECT * EXCLUDE (profile_ids), list_sort(list_distinct(profile_ids)) AS profiles
    FROM by_set
),
exploded AS (SELECT unnest(profiles) AS profile_id, * FROM normalised)
SELECT profile_id, {dims},
    {rollup},
    {sole}
FROM exploded
GROUP BY ALL""",
        # Three reads of `base`: DuckDB would materialise it (every declaration of the months)
        # for them, while scanning the compressed columns again is cheaper and needs no memory.
        f"""INSERT INTO cube_time_hist BY NAME
WITH base AS NOT MATERIALIZED ({base})
SELECT {dims}, metric, bin, count(*)::BIGINT AS count
FROM (
    {hist_parts}
)
GROUP BY ALL""",
        # Every pair a < b of each (sorted) profile set of two or more profiles, per month.
        f"""INSERT INTO cube_profile_pairs BY NAME
WITH base AS ({base}),
by_set AS (
    SELECT lodged_month, list_sort(list_distinct(profile_ids)) AS profiles,
        count(*) AS declarations, count_if(is_controlled) AS controlled,
        count_if(is_irregular) AS irregular
    FROM (
        SELECT lodged_month, profile_ids, is_controlled, is_irregular
        FROM base WHERE len(profile_ids) >= 2
    )
    GROUP BY lodged_month, profile_ids
),
pairs AS (
    SELECT lodged_month, declarations, controlled, irregular,
        unnest(flatten([[{{'a': a, 'b': b}} FOR b IN profiles IF a < b] FOR a IN profiles]))
            AS pair
    FROM by_set
)
SELECT lodged_month, pair.a AS profile_a, pair.b AS profile_b,
    sum(declarations)::BIGINT AS declarations,
    coalesce(sum(controlled), 0)::BIGINT AS controlled,
    coalesce(sum(irregular), 0)::BIGINT AS irregular
FROM pairs
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

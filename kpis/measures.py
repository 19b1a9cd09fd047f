"""The additive measures of the aggregate cube: the contract between the ETL and the KPI engine.

The ETL (etl/cube.py) builds one column per measure with exactly these names; the KPI engine sums
them at any grain and divides at the end. Every measure is a per-declaration quantity summed over
the declarations of a cube cell, so any roll-up of cells is exact.

Cube tables (published as Parquet, see customs_kpi/published.py):

* ``cube_declarations``: dimensions :data:`DECLARATION_DIMENSIONS`, measures :data:`MEASURES`.
* ``cube_profiles``: dimensions :data:`PROFILE_DIMENSIONS`, measures :data:`MEASURES` plus
  :data:`SOLE_MEASURES`. A declaration on which k profiles fired counts once for each of them.
* ``cube_time_hist``: dimensions :data:`DECLARATION_DIMENSIONS` plus ``metric`` (one of
  :data:`HIST_METRICS`) and ``bin`` (int, see :func:`hist_bin`), measure ``count``: a mergeable
  log-bucket histogram (DDSketch-style) giving percentiles within :data:`HIST_RELATIVE_ERROR`.
* ``cube_profile_pairs``: ``lodged_month, profile_a, profile_b`` (profile_a < profile_b),
  measures ``declarations, controlled, irregular``: how often two profiles fire together.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kpis.domain import CONTROL_CHANNELS, FINAL_RESULTS, HIT_RESULTS, ControlResult
from kpis.durations import DURATIONS

DECLARATION_DIMENSIONS: tuple[str, ...] = (
    "lodged_month",  # date: first day of the month of lodgement
    "office_code",
    "channel",
    "selection_source",
)
PROFILE_DIMENSIONS: tuple[str, ...] = ("profile_id", *DECLARATION_DIMENSIONS)

# Thresholds (hours) for which the cube counts releases exactly ("% released within X hours"),
# with the measure counting them (also the id of the catalogue entry of that share).
RELEASED_WITHIN: tuple[tuple[int, str], ...] = (
    (1, "released_within_1h"),
    (3, "released_within_3h"),
    (6, "released_within_6h"),
    (24, "released_within_24h"),
    (48, "released_within_48h"),
    (72, "released_within_72h"),
)


@dataclass(frozen=True)
class Measure:
    name: str
    definition: str  # per declaration, in words; the ETL's SQL must say the same


MEASURES: tuple[Measure, ...] = (
    Measure("declarations", "1 for every declaration"),
    Measure(
        "controlled",
        "channel in (yellow, red, blue) and control_result in (no_finding, irregularity, seizure)",
    ),
    Measure("irregular", "controlled and control_result in (irregularity, seizure)"),
    Measure("seizure", "controlled and control_result = seizure"),
    Measure("pending", "channel in (yellow, red, blue) and control_result is pending or empty"),
    Measure("revenue", "additional_revenue (0 when empty)"),
    Measure("released", "released_at is set"),
    Measure("release_hours", "hours from lodged_at to released_at, when released"),
    Measure("released_from_arrival", "released_at and arrived_at are set"),
    Measure("release_from_arrival_hours", "hours from arrived_at to released_at, when both set"),
    Measure(
        "inspections_timed", "channel = red and channel_assigned_at and result_recorded_at are set"
    ),
    Measure(
        "inspection_hours",
        "hours from channel_assigned_at to result_recorded_at, when inspections_timed",
    ),
    Measure("stage_arrival_lodgement", "arrived_at and lodged_at set"),
    Measure("stage_arrival_lodgement_hours", "hours arrived_at → lodged_at"),
    Measure("stage_lodgement_channel", "lodged_at and channel_assigned_at set"),
    Measure("stage_lodgement_channel_hours", "hours lodged_at → channel_assigned_at"),
    Measure("stage_channel_result", "channel_assigned_at and result_recorded_at set"),
    Measure("stage_channel_result_hours", "hours channel_assigned_at → result_recorded_at"),
    Measure("stage_result_release", "result_recorded_at and released_at set"),
    Measure("stage_result_release_hours", "hours result_recorded_at → released_at"),
    *(Measure(name, f"released and release_hours <= {h}") for h, name in RELEASED_WITHIN),
)

# Only in cube_profiles: the declaration's profile set is exactly {this profile} (what-if and
# "detections at risk" when a profile is retired).
SOLE_MEASURES: tuple[Measure, ...] = (
    Measure("sole_declarations", "declarations on which this profile was the only one to fire"),
    Measure("sole_controlled", "controlled, and this profile was the only one to fire"),
    Measure("sole_irregular", "irregular, and this profile was the only one to fire"),
    Measure("sole_revenue", "revenue, and this profile was the only one to fire"),
)

MEASURE_NAMES: tuple[str, ...] = tuple(m.name for m in MEASURES)
SOLE_MEASURE_NAMES: tuple[str, ...] = tuple(m.name for m in SOLE_MEASURES)

# --- Mergeable time histogram ------------------------------------------------------------------
HIST_METRICS: tuple[str, ...] = tuple(d.name for d in DURATIONS)  # see kpis.durations
HIST_RELATIVE_ERROR = 0.01
HIST_GAMMA = (1 + HIST_RELATIVE_ERROR) / (1 - HIST_RELATIVE_ERROR)
HIST_ZERO_BIN = -(2**31) + 1  # durations <= HIST_MIN_HOURS (incl. 0) land here, value 0
HIST_MIN_HOURS = 1.0 / 3600.0  # one second


def hist_bin(hours: float) -> int:
    """Bucket of a duration: ceil(log_gamma(hours)); every value in bucket i lies within
    HIST_RELATIVE_ERROR of :func:`hist_value` (i). SQL equivalent:
    ``CASE WHEN h <= 1/3600 THEN -2147483647 ELSE ceil(ln(h) / ln(gamma))::INTEGER END``."""
    if hours <= HIST_MIN_HOURS:
        return HIST_ZERO_BIN
    return math.ceil(math.log(hours) / math.log(HIST_GAMMA))


def hist_value(bin_index: int) -> float:
    """Representative value of a bucket (hours)."""
    if bin_index == HIST_ZERO_BIN:
        return 0.0
    return 2 * HIST_GAMMA**bin_index / (HIST_GAMMA + 1)


# --- The control outcome in SQL ------------------------------------------------------------------
# The one SQL spelling of the per-declaration conditions behind the measures ``controlled``,
# ``irregular``, ``seizure`` and ``pending`` (see MEASURES), for every query over declaration rows:
# the ETL's cube, the pages' fact queries, the overlap and what-if queries, the benchmarks.
# Two-valued (coalesce): a NULL result is "not controlled", never unknown.
def _sql_set(values: frozenset[str] | set[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in sorted(values)) + ")"


def _control_condition(table: str, results: str) -> str:
    prefix = f"{table}." if table else ""
    return (
        f"({prefix}channel IN {_sql_set({c.value for c in CONTROL_CHANNELS})} "
        f"AND coalesce({prefix}control_result, '') IN {results})"
    )


def controlled_sql(table: str = "") -> str:
    """SQL condition of measure ``controlled`` on a declarations row (``table``: its alias)."""
    return _control_condition(table, _sql_set({r.value for r in FINAL_RESULTS}))


def irregular_sql(table: str = "") -> str:
    """SQL condition of measure ``irregular`` (a completed control with a finding)."""
    return _control_condition(table, _sql_set({r.value for r in HIT_RESULTS}))


def seizure_sql(table: str = "") -> str:
    """SQL condition of measure ``seizure``."""
    return _control_condition(table, f"('{ControlResult.SEIZURE.value}')")


def pending_sql(table: str = "") -> str:
    """SQL condition of measure ``pending`` (control unfinished: pending, NULL or empty)."""
    return _control_condition(table, f"('', '{ControlResult.PENDING.value}')")

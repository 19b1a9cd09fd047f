"""A tiny hand-made cube whose every KPI value is counted by hand in the tests.

Months 2026-01 and 2026-03 have data, 2026-02 has none (the calendar spine must show it).
Offices A and B. Each row lists only the measures it needs; CubeFrames.build fills the others
with 0. The numbers in the comments are the ones the tests assert.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import polars as pl

from kpis.cube import CubeFrames
from kpis.measures import HIST_ZERO_BIN, hist_bin

JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)
WITHIN = (
    "released_within_1h",
    "released_within_3h",
    "released_within_6h",
    "released_within_24h",
    "released_within_48h",
    "released_within_72h",
)


def _within(*counts: int) -> dict[str, int]:
    return dict(zip(WITHIN, counts, strict=True))


def _row(month: date, office: str, channel: str, source: str, **measures: Any) -> dict[str, Any]:
    return {
        "lodged_month": month,
        "office_code": office,
        "channel": channel,
        "selection_source": source,
        **measures,
    }


DECLARATION_ROWS: list[dict[str, Any]] = [
    # R1: 60 green, 58 released after 1 h each; 50 with arrival known (2 h arrival→release)
    _row(JAN, "A", "green", "none", declarations=60, released=58, release_hours=58.0,
         **_within(58, 58, 58, 58, 58, 58), released_from_arrival=50,
         release_from_arrival_hours=100.0, stage_arrival_lodgement=50,
         stage_arrival_lodgement_hours=50.0),
    # R2: 20 red by profile, 18 controlled (6 hits, 2 seizures), 2 pending, released after 24 h
    _row(JAN, "A", "red", "profile", declarations=20, controlled=18, irregular=6, seizure=2,
         pending=2, revenue=900.0, released=20, release_hours=480.0,
         **_within(0, 0, 0, 20, 20, 20), released_from_arrival=20,
         release_from_arrival_hours=600.0, inspections_timed=18, inspection_hours=180.0,
         stage_lodgement_channel=20, stage_lodgement_channel_hours=10.0,
         stage_channel_result=18, stage_channel_result_hours=180.0, stage_result_release=18,
         stage_result_release_hours=252.0),
    # R3: 10 yellow random, 1 hit, released after 6 h
    _row(JAN, "A", "yellow", "random", declarations=10, controlled=10, irregular=1,
         revenue=50.0, released=10, release_hours=60.0, **_within(0, 0, 10, 10, 10, 10)),
    # R4: 5 red by officer, 2 hits (1 seizure), 4 released after 50 h, 1 still open
    _row(JAN, "B", "red", "officer", declarations=5, controlled=5, irregular=2, seizure=1,
         revenue=300.0, released=4, release_hours=200.0, **_within(0, 0, 0, 0, 0, 4),
         inspections_timed=5, inspection_hours=60.0),
    # R5: 5 red random, no hit, released after 20 h
    _row(JAN, "B", "red", "random", declarations=5, controlled=5, released=5,
         release_hours=100.0, **_within(0, 0, 0, 5, 5, 5), inspections_timed=5,
         inspection_hours=40.0),
    # R6: 4 blue by intelligence, 3 hits, released after 2 h
    _row(MAR, "A", "blue", "intelligence", declarations=4, controlled=4, irregular=3,
         revenue=400.0, released=4, release_hours=8.0, **_within(0, 4, 4, 4, 4, 4)),
    # R7: 40 green, released after 0.5 h
    _row(MAR, "B", "green", "none", declarations=40, released=40, release_hours=20.0,
         **_within(40, 40, 40, 40, 40, 40)),
    # R8: 10 red random, 8 controlled (2 hits), 2 pending, released after 30 h
    _row(MAR, "B", "red", "random", declarations=10, controlled=8, irregular=2, pending=2,
         revenue=100.0, released=10, release_hours=300.0, **_within(0, 0, 0, 0, 10, 10),
         inspections_timed=8, inspection_hours=160.0),
]  # fmt: skip


def _profile_row(profile: str, month: date, office: str, channel: str, source: str,
                 **measures: Any) -> dict[str, Any]:  # fmt: skip
    return {"profile_id": profile, **_row(month, office, channel, source, **measures)}


PROFILE_ROWS: list[dict[str, Any]] = [
    _profile_row("P1", JAN, "A", "red", "profile", declarations=12, controlled=11, irregular=5,
                 seizure=2, revenue=600.0, sole_declarations=8, sole_controlled=7,
                 sole_irregular=3, sole_revenue=400.0),
    _profile_row("P2", JAN, "A", "red", "profile", declarations=10, controlled=9, irregular=1,
                 revenue=100.0, sole_declarations=6, sole_controlled=5),
    _profile_row("P2", MAR, "B", "green", "none", declarations=5, sole_declarations=5),
    _profile_row("P3", JAN, "B", "red", "officer", declarations=2, controlled=2,
                 sole_declarations=2, sole_controlled=2),
    # P9 is not in the register: shown as unregistered, never dropped
    _profile_row("P9", MAR, "A", "blue", "intelligence", declarations=4, controlled=4,
                 irregular=3, revenue=400.0, sole_declarations=4, sole_controlled=4,
                 sole_irregular=3, sole_revenue=400.0),
]  # fmt: skip


def _hist(month: date, office: str, channel: str, source: str, metric: str,
          values: dict[float, int]) -> list[dict[str, Any]]:  # fmt: skip
    return [
        {**_row(month, office, channel, source), "metric": metric,
         "bin": HIST_ZERO_BIN if hours == 0 else hist_bin(hours), "count": n}
        for hours, n in values.items()
    ]  # fmt: skip


HIST_ROWS: list[dict[str, Any]] = [
    # release, Jan: 1 h ×5, 10 h ×3, 100 h ×2 → median 1 h, p90 100 h
    *_hist(JAN, "A", "red", "profile", "release", {1.0: 5, 10.0: 3, 100.0: 2}),
    # release, Mar: 0.5 h ×40 → national median 0.5 h, p90 (rank 45 of 50) 1 h
    *_hist(MAR, "B", "green", "none", "release", {0.5: 40}),
    # inspection, Jan: 4 h ×3, 8 h ×1 → median 4 h, p90 8 h; Mar: one zero duration
    *_hist(JAN, "B", "red", "officer", "inspection", {4.0: 3, 8.0: 1}),
    *_hist(MAR, "B", "red", "random", "inspection", {0.0: 1}),
    # release from arrival, Jan: 2 h ×4
    *_hist(JAN, "A", "green", "none", "release_from_arrival", {2.0: 4}),
]

PAIR_ROWS: list[dict[str, Any]] = [
    {"lodged_month": JAN, "profile_a": "P1", "profile_b": "P2", "declarations": 4,
     "controlled": 4, "irregular": 2},
]  # fmt: skip

REGISTER = pl.DataFrame(
    {
        "profile_id": ["P1", "P2", "P3", "P4", "P5"],
        "name": ["Undervalued textiles", "Misdeclared origin", "Drug route", "Old", "Draft"],
        "risk_area": ["valuation", "origin", "prohibited", "valuation", "valuation"],
        "target_channel": ["red", "red", "red", "yellow", "red"],
        "status": ["active", "active", "suspended", "retired", "draft"],
        "valid_from": [date(2025, 1, 1), date(2026, 1, 1), date(2024, 1, 1), date(2024, 1, 1),
                       None],
        "valid_to": [None, date(2026, 12, 31), None, date(2025, 12, 31), None],
        "review_period_days": [90, 365, 180, 90, 90],
        "last_reviewed_at": [date(2025, 12, 15), None, date(2025, 6, 1), None, None],
    }
)  # fmt: skip

CHANGES = pl.DataFrame(
    {
        "profile_id": ["P1", "P4", "P2", "P3", "P1"],
        "changed_at": [datetime(2025, 12, 15, 10), datetime(2025, 12, 31, 9),
                       datetime(2026, 1, 1, 8), datetime(2026, 2, 10, 14),
                       datetime(2026, 2, 15, 11)],
        "change_type": ["reviewed", "retired", "created", "suspended", "modified"],
        "summary": ["annual review", "replaced", "new origin rule", "under investigation",
                    "value band widened"],
        "changed_by": ["risk", "risk", "risk", "risk", "risk"],
    }
)  # fmt: skip


def handmade_cube() -> CubeFrames:
    return CubeFrames.build(
        declarations=pl.DataFrame(DECLARATION_ROWS),
        profiles=pl.DataFrame(PROFILE_ROWS),
        time_hist=pl.DataFrame(HIST_ROWS),
        profile_pairs=pl.DataFrame(PAIR_ROWS),
        register=REGISTER,
        changes=CHANGES,
    )


class FakePublished:
    """What the CLI reads from customs_kpi.published: ``table(name)`` and ``version``."""

    version = "v000007-test"

    def __init__(self, cube: CubeFrames) -> None:
        self._tables = {
            "cube_declarations": cube.declarations,
            "cube_profiles": cube.profiles,
            "cube_time_hist": cube.time_hist,
            "cube_profile_pairs": cube.profile_pairs,
            "profiles": cube.register,
            "profile_changes": cube.changes,
        }

    def table(self, name: str) -> pl.DataFrame:
        return self._tables[name]

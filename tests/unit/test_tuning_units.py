"""Tuning computations on tiny hand-made frames: every expected number is counted by hand."""

from __future__ import annotations

from datetime import date, datetime

import polars as pl
import pytest

from kpis.beforeafter import Verdict, Window, before_after, verdict
from kpis.cube import CubeFrames
from kpis.overlap import overlap_matrix, rank_pairs
from kpis.whatif import Action, Scenario, what_if

JAN, FEB = date(2026, 1, 1), date(2026, 2, 1)


def test_what_if_leaves_independent_selections_alone() -> None:
    # P1's sole declarations: 10 profile-selected red controls (4 hits, revenue 400), 3 random
    # red controls (1 hit, revenue 50) that would be controlled anyway.
    profiles = pl.DataFrame(
        {
            "profile_id": ["P1", "P1", "P1"],
            "lodged_month": [JAN, JAN, FEB],
            "office_code": ["A", "A", "B"],
            "channel": ["red", "red", "yellow"],
            "selection_source": ["profile", "random", "profile"],
            "declarations": [12, 3, 5],
            "controlled": [10, 3, 5],
            "irregular": [4, 1, 0],
            "revenue": [400.0, 50.0, 0.0],
            "sole_declarations": [10, 3, 4],
            "sole_controlled": [8, 3, 4],
            "sole_irregular": [3, 1, 0],
            "sole_revenue": [300.0, 50.0, 0.0],
        }
    )
    declarations = pl.DataFrame(
        {
            "lodged_month": [JAN, FEB],
            "office_code": ["A", "B"],
            "channel": ["red", "yellow"],
            "selection_source": ["profile", "profile"],
            "declarations": [100, 100],
            "controlled": [40, 20],
            "irregular": [10, 2],
            "revenue": [1000.0, 100.0],
        }
    )
    cube = CubeFrames.build(declarations=declarations, profiles=profiles)
    result = what_if(cube, Scenario(("P1",)), (JAN, date(2026, 2, 28)))
    assert result.removed.controlled == 8 + 4
    assert result.removed.irregular == 3
    assert result.removed.revenue == 300.0
    assert result.removed.physical == 10  # red sole declarations selected by the profile
    assert result.removed.inspections == 10 + 4
    assert result.own.controlled == 18 and result.own.irregular == 5
    assert result.after.controlled == 60 - 12
    assert result.after.hit_rate == pytest.approx((12 - 3) / 48)
    assert result.detections_kept == 2
    only_a = what_if(cube, Scenario(("P1",), Action.SUSPEND), (JAN, JAN), offices=["A"])
    assert only_a.removed.controlled == 8 and only_a.before.declarations == 100


def test_facts_route_weights_declarations_by_the_set_profiles_on_them() -> None:
    hits = pl.DataFrame(
        {
            "declaration_id": ["d1", "d2", "d2", "d3", "d3", "d4"],
            "profile_id": ["P1", "P1", "P2", "P1", "P9", "P2"],
            "channel": ["red", "red", "red", "red", "red", "yellow"],
            "selection_source": ["profile"] * 5 + ["officer"],
            "controlled": [True, True, True, True, True, True],
            "irregular": [True, False, False, True, True, True],
            "revenue": [100.0, 0.0, 0.0, 70.0, 70.0, 30.0],
        }
    )
    cube = CubeFrames.build()
    thinned = Scenario(("P1", "P2"), Action.LOWER_SELECTION, selection_factor=0.5)
    result = what_if(cube, thinned, (JAN, JAN), hits=hits)
    # d1: one set profile, dropped with 0.5; d2: two set profiles, dropped with 0.25;
    # d3: P9 still selects it; d4: an officer selected it.
    assert result.removed.controlled == pytest.approx(0.5 + 0.25)
    assert result.removed.irregular == pytest.approx(0.5)
    assert result.removed.revenue == pytest.approx(50.0)
    assert result.own.declarations == 4 and result.own.irregular == 3


def test_rank_pairs_normalises_order_and_computes_similarities() -> None:
    pairs = pl.DataFrame(
        {
            "profile_a": ["B", "A", "A"],
            "profile_b": ["A", "C", "B"],
            "shared_declarations": [3, 1, 2],
            "shared_controlled": [2, 1, 1],
            "shared_irregular": [1, 0, 0],
        }
    )
    volumes = pl.DataFrame({"profile_id": ["A", "B", "C"], "declarations": [10, 5, 40]})
    ranked = rank_pairs(pairs, volumes, min_shared=2)
    assert ranked.select("profile_a", "profile_b", "shared_declarations").rows() == [("A", "B", 5)]
    row = ranked.row(0, named=True)
    assert row["jaccard"] == pytest.approx(5 / (10 + 5 - 5))
    assert row["containment"] == pytest.approx(1.0)
    assert row["share_of_a"] == pytest.approx(0.5)
    everything = rank_pairs(pairs, volumes)
    assert everything["profile_b"].to_list() == ["B", "C"]
    ids, matrix = overlap_matrix(everything)
    assert ids == ["A", "B", "C"]
    assert matrix[0][2] == matrix[2][0] == pytest.approx(1 / 49)
    assert matrix[1][2] == 0.0


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ((3, 100), (20, 100), Verdict.IMPROVED),
        ((20, 100), (3, 100), Verdict.WORSENED),
        ((10, 100), (12, 100), Verdict.NO_CHANGE),
        ((1, 29), (20, 40), Verdict.INSUFFICIENT),
    ],
)
def test_verdicts(before: tuple[int, int], after: tuple[int, int], expected: Verdict) -> None:
    assert verdict(before, after, Window(min_sample=30))[0] is expected


def _one_profile_2025(irregular: list[int]) -> pl.DataFrame:
    """Cube rows of one profile over 2025: 10 controls a month, ``irregular`` hits each."""
    return pl.DataFrame(
        {
            "profile_id": ["P1"] * 12,
            "lodged_month": [date(2025, m, 1) for m in range(1, 13)],
            "office_code": ["A"] * 12,
            "channel": ["red"] * 12,
            "selection_source": ["profile"] * 12,
            "declarations": [10] * 12,
            "controlled": [10] * 12,
            "irregular": irregular,
            "revenue": [10.0] * 12,
        }
    )


def test_before_after_windows_skip_the_change_month() -> None:
    profiles = _one_profile_2025([1, 1, 1, 1, 1, 9, 5, 5, 5, 5, 5, 5])
    changes = pl.DataFrame(
        {
            "profile_id": ["P1"],
            "changed_at": [datetime(2025, 6, 15, 10)],
            "change_type": ["modified"],
            "summary": ["narrowed"],
            "changed_by": ["x"],
            "source": ["change_log"],
        }
    )
    cube = CubeFrames.build(declarations=profiles.drop("profile_id"), profiles=profiles)
    row = before_after(cube, changes, Window(months=3, min_sample=30)).row(0, named=True)
    assert (row["before_from"], row["before_to"]) == (date(2025, 3, 1), date(2025, 5, 1))
    assert (row["after_from"], row["after_to"]) == (date(2025, 7, 1), date(2025, 9, 1))
    assert (row["irregular_before"], row["controlled_before"]) == (3, 30)
    assert (row["irregular_after"], row["controlled_after"]) == (15, 30)
    assert row["hit_rate_delta"] == pytest.approx(0.4)
    assert row["verdict"] == Verdict.IMPROVED.value and row["test"] == "z"
    assert row["revenue_per_control_before"] == pytest.approx(1.0)
    assert row["complete"] is True


def test_verdict_is_too_early_to_tell_before_any_data_after_the_change() -> None:
    """No month of data after the change's month: too early, whatever the counts or the kind
    of change (a retirement is not "stopped selecting" before a month has shown it)."""
    window = Window(min_sample=30)
    assert verdict((3, 100), (0, 0), window, data_after=False)[0] is Verdict.TOO_EARLY
    assert verdict((3, 100), (0, 0), window, data_after=False, stopped=True)[0] is (
        Verdict.TOO_EARLY
    )
    assert verdict((3, 100), (0, 0), window, stopped=True)[0] is Verdict.STOPPED
    assert verdict((3, 100), (0, 0), window)[0] is Verdict.INSUFFICIENT


@pytest.mark.parametrize(
    ("changed_at", "change_type", "expected"),
    [
        # Decided in the latest month of data (or after it): nothing after yet.
        (datetime(2025, 12, 3, 9), "retire", Verdict.TOO_EARLY),
        (datetime(2026, 2, 1, 9), "keep", Verdict.TOO_EARLY),
        # One month after it exists (November's change, December's data): a real verdict.
        (datetime(2025, 11, 3, 9), "retired", Verdict.INSUFFICIENT),
    ],
)
def test_before_after_says_too_early_until_data_after_the_change(
    changed_at: datetime, change_type: str, expected: Verdict
) -> None:
    profiles = _one_profile_2025([1] * 12)
    event = pl.DataFrame(
        {
            "profile_id": ["P1"],
            "changed_at": [changed_at],
            "change_type": [change_type],
            "summary": ["committee"],
            "changed_by": ["ana"],
            "source": ["decision"],
        }
    )
    cube = CubeFrames.build(declarations=profiles.drop("profile_id"), profiles=profiles)
    row = before_after(cube, event, Window(months=3, min_sample=30)).row(0, named=True)
    assert row["verdict"] == expected.value
    assert row["complete"] is False
    if expected is Verdict.TOO_EARLY:
        assert row["p_value"] is None

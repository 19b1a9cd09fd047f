"""kpis.stats (math only) against scipy, which the tests may use; trends by hand."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from scipy import stats as sp

from kpis.stats import (
    compare_proportions,
    delta,
    fisher_exact,
    least_squares_slope,
    two_proportion_z_test,
    wilson_interval,
)
from kpis.trends import trend_columns


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 4), (10, 10), (9, 38), (34, 1000), (1, 1)])
def test_wilson_matches_scipy(k: int, n: int) -> None:
    expected = sp.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    interval = wilson_interval(k, n)
    assert interval is not None
    low, high = interval
    assert low == pytest.approx(expected.low, abs=1e-12)
    assert high == pytest.approx(expected.high, abs=1e-12)


def test_wilson_known_values_and_edges() -> None:
    # 0 of 10: upper bound z²/(n+z²) = 3.8415/13.8415
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.27753, abs=1e-5))
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


@pytest.mark.parametrize(
    "table",
    [
        (3, 1, 1, 3),
        (0, 10, 5, 5),
        (1, 29, 40, 960),
        (12, 5, 30, 200),
        (2, 28, 1, 99),
        (7, 3, 7, 3),
        (5, 6, 3, 20),
        (0, 0, 0, 5),
    ],
)
def test_fisher_exact_matches_scipy(table: tuple[int, int, int, int]) -> None:
    a, b, c, d = table
    expected = sp.fisher_exact([[a, b], [c, d]]).pvalue
    assert fisher_exact(*table) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_fisher_known_value() -> None:
    # Lady tasting tea, 3 of 4 right: two-sided p = 34/70
    assert fisher_exact(3, 1, 1, 3) == pytest.approx(34 / 70)


def test_two_proportion_z_test_against_normal() -> None:
    result = two_proportion_z_test(60, 400, 30, 400)
    assert result is not None
    z, p = result
    pooled = 90 / 800
    se = (pooled * (1 - pooled) * (2 / 400)) ** 0.5
    assert z == pytest.approx((0.15 - 0.075) / se)
    assert p == pytest.approx(2 * sp.norm.sf(abs(z)))
    assert two_proportion_z_test(0, 10, 0, 20) is None  # no variance
    assert two_proportion_z_test(1, 0, 1, 2) is None


def test_compare_proportions_picks_the_test() -> None:
    large = compare_proportions(60, 400, 30, 400)
    assert large.test == "z"
    small = compare_proportions(5, 11, 3, 23)
    assert small.test == "fisher"
    assert small.p_value == pytest.approx(sp.fisher_exact([[5, 6], [3, 20]]).pvalue)
    assert compare_proportions(1, 0, 3, 23).p_value is None


def test_delta_and_slope() -> None:
    assert delta(0.12, 0.10) == (pytest.approx(0.02), pytest.approx(0.2))
    assert delta(0.1, 0.0) == (0.1, None)
    assert delta(None, 0.1) == (None, None)
    points = [(0.0, 1.0), (1.0, 3.0), (2.0, 2.0), (3.0, 5.0)]
    expected = sp.linregress([x for x, _ in points], [y for _, y in points]).slope
    assert least_squares_slope(points) == pytest.approx(expected)
    assert least_squares_slope([(1.0, 2.0)]) is None


def _monthly(values: dict[date, float | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {"month": list(values), "value": list(values.values())},
        schema={"month": pl.Date, "value": pl.Float64},
    )


def test_trend_columns_mom_yoy_slope() -> None:
    months = [date(2025 + (m - 1) // 12, (m - 1) % 12 + 1, 1) for m in range(3, 16)]
    values: dict[date, float | None] = {m: 0.10 + 0.01 * i for i, m in enumerate(months)}
    values[date(2026, 1, 1)] = None  # a month without a value is left out of the slope
    row = trend_columns(_monthly(values)).row(0, named=True)
    assert row["month"] == date(2026, 3, 1)
    assert row["value"] == pytest.approx(0.22)
    assert row["previous_value"] == pytest.approx(0.21)
    assert row["mom_delta"] == pytest.approx(0.01)
    assert row["year_ago_value"] == pytest.approx(0.10)
    assert row["yoy_delta"] == pytest.approx(0.12)
    assert row["yoy_change"] == pytest.approx(1.2)
    assert row["slope_6m"] == pytest.approx(0.01)
    assert row["slope_points"] == 5  # Oct–Mar without January


def test_trend_columns_ignore_insufficient_months() -> None:
    frame = _monthly({date(2026, 1, 1): 0.5, date(2026, 2, 1): 0.1}).with_columns(
        pl.Series("sufficient", [False, True])
    )
    row = trend_columns(frame).row(0, named=True)
    assert row["value"] == pytest.approx(0.1)
    assert row["previous_value"] is None and row["mom_delta"] is None

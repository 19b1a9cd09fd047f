"""Statistics the numbers need, with ``math`` only (kpis may not import scipy or numpy).

* :func:`wilson_interval`: 95 % interval of a proportion, sensible at 0 and n hits.
* :func:`two_proportion_z_test`, :func:`fisher_exact`, :func:`compare_proportions`: is a
  profile's hit rate different from the random baseline (Fisher when counts are small).
* :func:`delta`, :func:`least_squares_slope`: trend figures.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z_95 = 1.959963984540054  # two-sided 95 % normal quantile
# Below this expected count in any cell of the 2×2 table, the normal approximation is poor.
MIN_EXPECTED_FOR_Z = 5.0


def wilson_interval(successes: float, n: float, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval of ``successes / n``; None when n = 0.

    Unlike the normal (Wald) interval it stays inside [0, 1] and is not degenerate at 0 or n
    successes: 0 hits in 10 controls gives (0, 0.278), not (0, 0).
    """
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes {successes} outside [0, {n}]")
    p = successes / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    scale = 1 + z2 / n
    return max(0.0, (centre - half) / scale), min(1.0, (centre + half) / scale)


def normal_sf(x: float) -> float:
    """P(Z > x) for a standard normal Z."""
    return 0.5 * math.erfc(x / math.sqrt(2))


def two_proportion_z_test(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float] | None:
    """Pooled two-proportion z-test of x1/n1 against x2/n2: (z, two-sided p), None if undefined
    (an empty group, or pooled proportion 0 or 1 where the rates cannot differ)."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return None
    z = (x1 / n1 - x2 / n2) / math.sqrt(variance)
    return z, min(1.0, 2 * normal_sf(abs(z)))


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided p-value of Fisher's exact test on the 2×2 table [[a, b], [c, d]].

    Sums the hypergeometric probabilities of every table with the same margins that is no more
    likely than the observed one (the convention of R and scipy, with the same relative
    tolerance so ties count despite rounding).
    """
    if min(a, b, c, d) < 0:
        raise ValueError("cell counts must be non-negative")
    row1, col1, total = a + b, a + c, a + b + c + d
    if total == 0:
        return 1.0
    low, high = max(0, col1 - (total - row1)), min(row1, col1)
    denominator = _log_comb(total, col1)

    def log_p(x: int) -> float:
        return _log_comb(row1, x) + _log_comb(total - row1, col1 - x) - denominator

    observed = log_p(a)
    threshold = observed + math.log1p(1e-7)
    p = math.fsum(math.exp(log_p(x)) for x in range(low, high + 1) if log_p(x) <= threshold)
    return min(1.0, p)


@dataclass(frozen=True)
class Comparison:
    """Result of comparing a hit rate with a baseline rate."""

    p_value: float | None
    test: str  # "fisher", "z" or "" when no test is possible


def compare_proportions(x1: int, n1: int, x2: int, n2: int) -> Comparison:
    """Two-sided test of x1/n1 against x2/n2: the two-proportion z-test when every expected
    cell count is at least :data:`MIN_EXPECTED_FOR_Z`, Fisher's exact test otherwise."""
    if n1 <= 0 or n2 <= 0:
        return Comparison(None, "")
    total, hits = n1 + n2, x1 + x2
    expected = [n * k / total for n in (n1, n2) for k in (hits, total - hits)]
    if min(expected) >= MIN_EXPECTED_FOR_Z:
        result = two_proportion_z_test(x1, n1, x2, n2)
        if result is not None:
            return Comparison(result[1], "z")
    return Comparison(fisher_exact(x1, n1 - x1, x2, n2 - x2), "fisher")


def delta(current: float | None, previous: float | None) -> tuple[float | None, float | None]:
    """(absolute, relative) change from previous to current; None where undefined. For rates
    the absolute change is in fraction points (0.01 = one percentage point)."""
    if current is None or previous is None:
        return None, None
    absolute = current - previous
    relative = absolute / previous if previous != 0 else None
    return absolute, relative


def least_squares_slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Ordinary least-squares slope of y on x; None with fewer than two distinct x."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_x = math.fsum(x for x, _ in points) / n
    mean_y = math.fsum(y for _, y in points) / n
    sxx = math.fsum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    sxy = math.fsum((x - mean_x) * (y - mean_y) for x, y in points)
    return sxy / sxx


# --- Lift over random, its interval, and how many controls decide it ---------------------------
Z_95_ONE_SIDED = 1.6448536269514722


def normal_quantile(p: float) -> float:
    """Φ⁻¹(p) for 0 < p < 1 (Acklam's rational approximation refined by one Halley step:
    accurate to ~1e-12, enough for significance levels set in the settings)."""
    if not 0 < p < 1:
        raise ValueError("p must be in (0, 1)")
    a = (
        -3.969683028665376e01,
        2.209460984245205e02,
        -2.759285104469687e02,
        1.383577518672690e02,
        -3.066479806614716e01,
        2.506628277459239e00,
    )
    b = (
        -5.447609879822406e01,
        1.615858368580409e02,
        -1.556989798598866e02,
        6.680131188771972e01,
        -1.328068155288572e01,
    )
    c = (
        -7.784894002430293e-03,
        -3.223964580411365e-01,
        -2.400758277161838e00,
        -2.549732539343734e00,
        4.374664141464968e00,
        2.938163982698783e00,
    )
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
         3.754408661907416e00)  # fmt: skip
    if p < 0.02425:
        q = math.sqrt(-2 * math.log(p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
        )
    elif p > 1 - 0.02425:
        return -normal_quantile(1 - p)
    else:
        q = p - 0.5
        r = q * q
        x = (
            (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
            * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        )
    e = 0.5 * math.erfc(-x / math.sqrt(2)) - p
    u = e * math.sqrt(2 * math.pi) * math.exp(x * x / 2)
    return x - u / (1 + x * u / 2)


@dataclass(frozen=True)
class LiftInterval:
    """Ratio of two hit rates with a log-scale (Katz) interval."""

    lift: float
    low: float
    high: float


def lift_interval(x1: int, n1: int, x0: int, n0: int, z: float = Z_95) -> LiftInterval | None:
    """Lift (x1/n1) / (x0/n0) with the Katz log interval ln(lift) ± z·√((1−p1)/x1 + (1−p0)/x0).

    The baseline's own sampling error is in the interval, so a small random lane widens it. A
    zero count gets the usual 0.5 correction (Haldane) in the interval only: 0 hits in n
    controls has lift 0 and a finite upper bound. None when either group is empty."""
    if n1 <= 0 or n0 <= 0:
        return None
    if not (0 <= x1 <= n1 and 0 <= x0 <= n0):
        raise ValueError("counts outside [0, n]")
    lift = (x1 / n1) / (x0 / n0) if x0 > 0 else math.inf
    a, b = (x1, x0) if x1 > 0 and x0 > 0 else (x1 + 0.5, x0 + 0.5)
    ca, cb = (n1, n0) if x1 > 0 and x0 > 0 else (n1 + 0.5, n0 + 0.5)
    se = math.sqrt(max(0.0, 1 / a - 1 / ca) + max(0.0, 1 / b - 1 / cb))
    centre = math.log((a / ca) / (b / cb))
    return LiftInterval(lift, math.exp(centre - z * se), math.exp(centre + z * se))


def controls_to_show_lift(
    p0: float, n0: int, lift: float, power: float = 0.8, z: float = Z_95
) -> int | None:
    """Controls a profile needs so that, if its true lift over random is ``lift``, the lower
    bound of :func:`lift_interval` is above 1 with probability ``power``, given a random lane
    of ``n0`` controls at hit rate ``p0``: the smallest n with
    ln(lift) ≥ (z + z_power)·√((1−p1)/(n·p1) + (1−p0)/(n0·p0)), p1 = lift·p0.

    None when no number of controls is enough (the random lane alone is too uncertain, or
    lift·p0 ≥ 1)."""
    p1 = lift * p0
    if not (0 < p0 < 1 and 0 < p1 < 1 and lift > 1 and n0 > 0):
        return None
    budget = (math.log(lift) / (z + normal_quantile(power))) ** 2 - (1 - p0) / (n0 * p0)
    if budget <= 0:
        return None
    return math.ceil((1 - p1) / (p1 * budget))


def trend_test(counts: Sequence[tuple[int, int]]) -> tuple[float, float] | None:
    """Cochran–Armitage test for a linear trend in proportions over equally spaced periods:
    ``counts`` = (hits, controls) per period in time order. Returns (z, one-sided p of a
    downward trend); z < 0 means falling. None when fewer than two periods have controls or
    every control has the same outcome."""
    used = [(i, x, n) for i, (x, n) in enumerate(counts) if n > 0]
    if len(used) < 2:
        return None
    total = sum(n for _, _, n in used)
    hits = sum(x for _, x, _ in used)
    p = hits / total
    mean_s = math.fsum(i * n for i, _, n in used) / total
    t = math.fsum((x - n * p) * (i - mean_s) for i, x, n in used)
    var = p * (1 - p) * math.fsum(n * (i - mean_s) ** 2 for i, _, n in used)
    if var <= 0:
        return None
    z = t / math.sqrt(var)
    return z, 1 - normal_sf(z)


def one_sided_drop(x_now: int, n_now: int, x_before: int, n_before: int) -> float | None:
    """One-sided p-value that the rate x_now/n_now is below x_before/n_before (pooled z-test
    when every expected cell is at least :data:`MIN_EXPECTED_FOR_Z`; Fisher's exact test halved
    otherwise, conservative). None when a group is empty."""
    if n_now <= 0 or n_before <= 0:
        return None
    if x_now / n_now >= x_before / n_before:
        return 1.0
    total, hits = n_now + n_before, x_now + x_before
    expected = [n * k / total for n in (n_now, n_before) for k in (hits, total - hits)]
    if min(expected) >= MIN_EXPECTED_FOR_Z:
        result = two_proportion_z_test(x_now, n_now, x_before, n_before)
        if result is not None:
            return result[1] / 2
    return fisher_lower_tail(x_now, n_now - x_now, x_before, n_before - x_before)


def fisher_lower_tail(a: int, b: int, c: int, d: int) -> float:
    """One-sided Fisher exact p-value P(X ≤ a) on the 2×2 table [[a, b], [c, d]] with its
    margins fixed: the first row's rate is this low or lower by chance."""
    row1, col1, total = a + b, a + c, a + b + c + d
    low = max(0, col1 - (total - row1))
    denominator = _log_comb(total, col1)
    return min(
        1.0,
        math.fsum(
            math.exp(_log_comb(row1, x) + _log_comb(total - row1, col1 - x) - denominator)
            for x in range(low, a + 1)
        ),
    )

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

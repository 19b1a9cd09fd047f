"""Where a KPI value stands against its target: the one verdict every surface shows.

Overview cards, the Offices table, the monthly report (PDF, workbook, CSV), the CLI and the
flag rules all call :func:`kpi_status` (or :func:`target_status`), so a number never reads "near
target" on one screen and "off target" on another.

Order of precedence:

1. no value (None or NaN) → :attr:`TargetStatus.NO_DATA` (nothing to judge: no controls at all);
2. ``sufficient is False`` → :attr:`TargetStatus.INSUFFICIENT` (a value below the minimum
   sample; ``None`` = not a quotient, judged like a sufficient value);
3. no target → :attr:`TargetStatus.NO_TARGET`;
4. a target on a KPI without a better side (direction NEUTRAL) → :attr:`TargetStatus.POLICY`:
   the target is a policy value to read the number against, not a line to pass;
5. :attr:`TargetStatus.ON` when the value meets the target (exactly at the target counts as
   on target: "at least" for higher-is-better, "at most" for lower-is-better);
   :attr:`TargetStatus.NEAR` when it misses it by at most :data:`NEAR_TOLERANCE` of the target
   (relative, on the wrong side; the band's edge is near); :attr:`TargetStatus.OFF` beyond.
   A target of 0 has no band: any miss is off target.

:func:`target_status` compares the numbers it is given. :func:`kpi_status` (what surfaces call)
first rounds value and target to the precision the surfaces print them
(:func:`kpis.formatting.displayed`), so a value and a target that read the same ("3.4 %" and
"target 3.4 %") are on target, never "near" or "off" (compact page figures such as "12.3 k" are
coarser than that precision; no counted KPI has a target that large).
"""

from __future__ import annotations

import math
from enum import Enum, StrEnum
from typing import Literal

from kpis.definitions import KPI, Direction
from kpis.formatting import INSUFFICIENT, displayed


class TargetStatus(StrEnum):
    ON = "on_target"
    NEAR = "near_target"
    OFF = "off_target"
    NO_TARGET = "no_target"
    POLICY = "policy_value"
    INSUFFICIENT = "insufficient_data"
    NO_DATA = "no_data"


# Relative band on the wrong side of the target that is "near" (10 % of the target).
NEAR_TOLERANCE: float = 0.10

_LABELS: dict[TargetStatus, str] = {
    TargetStatus.ON: "on target",
    TargetStatus.NEAR: "near target",
    TargetStatus.OFF: "off target",
    TargetStatus.NO_TARGET: "no target",
    TargetStatus.POLICY: "policy value",
    TargetStatus.INSUFFICIENT: INSUFFICIENT,
    TargetStatus.NO_DATA: "no data",
}


def target_status(
    direction: Direction,
    value: float | None,
    target: float | None,
    sufficient: bool | None = True,
) -> TargetStatus:
    """The verdict on ``value`` against ``target`` given which side is better (see the module
    docstring for the order of precedence and the boundaries)."""
    if value is None or math.isnan(value):
        return TargetStatus.NO_DATA
    if sufficient is False:
        return TargetStatus.INSUFFICIENT
    if target is None or math.isnan(target):
        return TargetStatus.NO_TARGET
    if direction is Direction.NEUTRAL:
        return TargetStatus.POLICY
    band = abs(target) * NEAR_TOLERANCE
    if direction is Direction.HIGHER:
        if value >= target:
            return TargetStatus.ON
        return TargetStatus.NEAR if value >= target - band else TargetStatus.OFF
    if value <= target:
        return TargetStatus.ON
    return TargetStatus.NEAR if value <= target + band else TargetStatus.OFF


def status_label(status: TargetStatus) -> str:
    """The words a reader sees: "on target", "near target", "off target", "no target",
    "policy value", "insufficient data", "no data"."""
    return _LABELS[status]


class _Default(Enum):
    KPI_TARGET = "the KPI's default target"


def kpi_status(
    kpi: KPI,
    value: float | None,
    sufficient: bool | None = True,
    target: float | Literal[_Default.KPI_TARGET] | None = _Default.KPI_TARGET,
) -> TargetStatus:
    """:func:`target_status` for a catalogue KPI: its direction, and its default target unless
    ``target`` is given (``None`` = no target), both compared at the precision they are
    printed in the KPI's unit."""
    goal = kpi.default_target if target is _Default.KPI_TARGET else target
    shown_value = None if value is None or math.isnan(value) else displayed(kpi.unit, value)
    shown_goal = None if goal is None or math.isnan(goal) else displayed(kpi.unit, goal)
    return target_status(kpi.direction, shown_value, shown_goal, sufficient)

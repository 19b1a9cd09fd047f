"""The "underperforming profile" rule set: which risk profiles waste inspections, and why.

Every rule has an id (:class:`FlagRule`), a description with its parameters
(:meth:`FlagConfig.rule_descriptions`) and states the numbers that fired it. The rules judge a
profile over the *evidence window*: the ``window_months`` months ending with the evaluation
month (12 by default: long enough to decide), whatever period a page shows.

Performance rules (only for profiles in force or unregistered, with at least ``n_min``
completed controls in the window):

* ``no_better_than_random``: no evidence it beats random selection. The lift over the random
  lane's hit rate has a 95 % interval (Katz, the random lane's own uncertainty included); the
  rule fires when its lower bound is at or below 1 *and* the evidence is enough to decide:
  either the profile has the controls a profile with the expected lift ``min_lift`` would need
  to show a lower bound above 1 with probability ``power``
  (:func:`kpis.stats.controls_to_show_lift`), or its lift is significantly below ``min_lift``
  (one-sided 95 % upper bound). Judged twice: on all it selected and on the declarations only
  it selected (what it adds: a profile riding on others' hits looks better than random over all
  it selected while finding nothing of its own). A window too short to decide is lengthened
  back to ``history_months`` months, never across the profile's latest change (before it, it
  was another rule). Still not decided, it fires nothing but says how many more controls
  decide.
* ``deteriorating``: a significant downward trend of its monthly hit rate over the last
  ``history_months`` months (Cochran–Armitage, one-sided, level ``trend_alpha``), or the last
  ``recent_months`` months significantly below the months before them (same level).
  It reads the profile's own hit rate: a fall of the whole population's non-compliance lowers
  every profile at once (the random lane, a few dozen controls a month, is too small to test
  the lift's trend month by month instead).
* ``worse_after_change``: the before/after verdict of its latest modification
  (:func:`kpis.beforeafter.verdict`, the one function every surface uses) is "worsened".
* ``zero_hits``: no finding at all.
* ``below_target``: hit rate near or off the administration's target, as
  :func:`kpis.targets.kpi_status` (the one target verdict of every surface) judges it; a target
  at or below the random hit rate is reported as such: random selection alone meets it.
* ``low_yield``: revenue per control below the cost of a control (only with a cost set).

Register rule (every profile in use): ``expired_or_review_overdue``.

Severity, the cost of a flagged profile: the inspections it alone caused over the last
``recent_months`` months beyond what its findings would have needed at the hit rate a profile
is expected to reach (``min_lift`` × the random hit rate; the target when there is no random
lane): ``max(0, sole_controls − sole_hits / (min_lift × random_rate))``. Declarations another
profile also selected would have been inspected anyway, so only its own count. A zero-hit
profile costs all its own controls; one at the expected lift or better costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from kpis.beforeafter import Verdict
from kpis.catalogue import get
from kpis.stats import (
    Z_95_ONE_SIDED,
    controls_to_show_lift,
    lift_interval,
    one_sided_drop,
    trend_test,
)
from kpis.targets import TargetStatus, kpi_status, status_label


class FlagRule(StrEnum):
    NO_BETTER_THAN_RANDOM = "no_better_than_random"
    DETERIORATING = "deteriorating"
    WORSE_AFTER_CHANGE = "worse_after_change"
    ZERO_HITS = "zero_hits"
    BELOW_TARGET = "below_target"
    LOW_YIELD = "low_yield"
    EXPIRED_OR_REVIEW_OVERDUE = "expired_or_review_overdue"


# Rules about what a profile finds (the rest are about the register).
PERFORMANCE_RULES: frozenset[FlagRule] = frozenset(FlagRule) - {FlagRule.EXPIRED_OR_REVIEW_OVERDUE}
# Profiles the performance rules judge: in force, or selecting without being registered.
JUDGED_STATUSES: frozenset[str | None] = frozenset({"active", None})


def _default_target() -> float:
    target = get("hit_rate").default_target
    return target if target is not None else 0.0


@dataclass(frozen=True)
class FlagConfig:
    """The rule set's parameters (settings ``CUSTOMS_KPI_FLAG_*``, checked at start).

    n_min: completed controls a profile needs in the window before it is judged.
    window_months: the evidence window, ending with the evaluation month.
    recent_months: the recent part of the window (deterioration, severity).
    change_window_months: full months each side of a change in its before/after test (the
        Changes page's and the profile page's default too: one verdict per change).
    history_months: how far back the rules look when the window is too short to decide
        whether a profile beats random, and the span of the deterioration tests.
    min_lift: the lift over random a profile is expected to reach; sets the controls needed
        to decide and the severity's reference rate.
    power: probability that a profile at ``min_lift`` shows a lift interval above 1.
    trend_alpha: one-sided significance level of the deterioration tests.
    target_hit_rate: the administration's hit-rate target (fraction).
    cost_per_control: cost of one control in the revenue currency; None disables low_yield.
    rules: the rules in force.
    """

    n_min: int = 30
    window_months: int = 12
    recent_months: int = 3
    history_months: int = 24
    change_window_months: int = 6
    min_lift: float = 2.0
    power: float = 0.8
    trend_alpha: float = 0.001
    target_hit_rate: float = field(default_factory=_default_target)
    cost_per_control: float | None = None
    rules: frozenset[FlagRule] = frozenset(FlagRule)

    def __post_init__(self) -> None:
        if self.n_min < 1:
            raise ValueError("n_min must be at least 1")
        if self.window_months < 1:
            raise ValueError("window_months must be at least 1")
        if not 1 <= self.recent_months <= self.window_months:
            raise ValueError("recent_months must be between 1 and window_months")
        if self.history_months < self.window_months:
            raise ValueError("history_months must be at least window_months")
        if not 1 <= self.change_window_months <= 24:
            raise ValueError("change_window_months must be between 1 and 24")
        if self.min_lift <= 1:
            raise ValueError("min_lift must be above 1")
        if not 0.5 <= self.power < 1:
            raise ValueError("power is a probability in [0.5, 1)")
        if not 0 < self.trend_alpha < 0.5:
            raise ValueError("trend_alpha is a probability in (0, 0.5)")
        if not 0 <= self.target_hit_rate <= 1:
            raise ValueError("target_hit_rate is a fraction in [0, 1]")
        if self.cost_per_control is not None and self.cost_per_control < 0:
            raise ValueError("cost_per_control must not be negative")

    def rule_descriptions(self) -> list[tuple[FlagRule, str]]:
        """Each rule in force with what it checks, its parameters filled in."""
        window = f"over the {self.window_months} months ending with the evaluation month"
        text = {
            FlagRule.NO_BETTER_THAN_RANDOM: (
                f"no evidence of beating random selection {window}: the lower bound of the "
                "lift's 95 % interval is at or below 1, judged on all it selected and on the "
                "declarations only it selected, once there are enough controls to show a "
                f"{self.min_lift:g}× lift with {self.power:.0%} power (or the lift is "
                f"significantly below {self.min_lift:g}×); a window too short to decide is "
                f"lengthened back to {self.history_months} months, not across its latest change"
            ),
            FlagRule.DETERIORATING: (
                f"a downward trend of the monthly hit rate over the last {self.history_months} "
                f"months (Cochran–Armitage), or the last {self.recent_months} months below the "
                f"months before, one-sided p < {self.trend_alpha:g}"
            ),
            FlagRule.WORSE_AFTER_CHANGE: (
                f"the before/after test of its latest modification ({self.change_window_months} "
                "full months each side) shows a significant drop (95 %)"
            ),
            FlagRule.ZERO_HITS: f"no finding in at least {self.n_min} controls {window}",
            FlagRule.BELOW_TARGET: (
                f"hit rate {window} below the target {_pct(self.target_hit_rate)}"
            ),
            FlagRule.LOW_YIELD: (
                "off: no cost per control set"
                if self.cost_per_control is None
                else f"revenue per control {window} below {self.cost_per_control:,.2f}"
            ),
            FlagRule.EXPIRED_OR_REVIEW_OVERDUE: (
                "retired, expired or past its validity but still selecting, or its periodic "
                "review overdue"
            ),
        }
        return [(rule, text[rule]) for rule in FlagRule if rule in self.rules]

    def describe(self) -> str:
        """The thresholds in one line, as pages, exports and the report state them."""
        cost = (
            "no cost per control set (low-yield flag off)"
            if self.cost_per_control is None
            else f"low yield below {self.cost_per_control:,.2f} revenue per control"
        )
        return (
            f"evidence window {self.window_months} months (recent {self.recent_months}, "
            f"history {self.history_months}); "
            f"at least {self.n_min} controls; expected lift {self.min_lift:g}× "
            f"({self.power:.0%} power); trend level {self.trend_alpha:g}; "
            f"hit-rate target {_pct(self.target_hit_rate)}; {cost}"
        )


@dataclass(frozen=True)
class Flag:
    """One rule that fired: which, a sentence, and the numbers it compared."""

    rule: FlagRule
    message: str
    numbers: tuple[tuple[str, float | str | None], ...] = ()

    def number(self, name: str) -> float | str | None:
        return dict(self.numbers)[name]


@dataclass(frozen=True)
class ChangeOutcome:
    """The before/after of a profile's latest change (:func:`kpis.beforeafter.before_after`)."""

    changed_at: date
    change_type: str
    verdict: str  # a Verdict value
    irregular_before: int
    controlled_before: int
    irregular_after: int
    controlled_after: int
    p_value: float | None


@dataclass(frozen=True)
class ProfileFigures:
    """What the rules look at, for one profile over the evidence window."""

    profile_id: str
    controlled: int
    irregular: int
    hit_rate: float | None
    random_hit_rate: float | None
    revenue_per_control: float | None
    declarations: int = 0  # selections in the window
    # Selections after the profile stopped (retired, suspended, validity ended), when it did.
    declarations_after_end: int | None = None
    status: str | None = None  # register status at today, None = unregistered
    valid_to: date | None = None
    review_due: date | None = None
    review_overdue: bool = False
    sole_controlled: int = 0  # declarations only this profile selected, over the window
    sole_irregular: int = 0
    # (hits, controls) per month of the history (``history_months`` ending with the window's
    # last month), oldest first: all it selected, only it selected, and the random lane in the
    # same office scope. Shorter series are read as the history's latest months.
    monthly: tuple[tuple[int, int], ...] = ()
    monthly_sole: tuple[tuple[int, int], ...] = ()
    monthly_random: tuple[tuple[int, int], ...] = ()
    latest_change: ChangeOutcome | None = None
    months_since_change: int | None = None  # full months after the latest change's month


@dataclass(frozen=True)
class Assessment:
    """The rules' outcome for one profile: flags, severity, and what is not yet decided."""

    flags: tuple[Flag, ...]
    severity: float | None  # None when no performance rule fired
    controls_to_decide: int | None  # further controls before "beats random?" is decided
    notices: tuple[str, ...]  # undecided evidence, in words


def _pct(x: float | None, decimals: int = 1) -> str:
    return "n/a" if x is None else f"{x * 100:.{decimals}f} %"


def _distinct(values: Sequence[float], render: str) -> int:
    """The fewest decimals (1–4) at which values that differ also read differently."""
    for decimals in range(1, 5):
        shown = {format(v, f".{decimals}{render}") for v in values}
        if len(shown) == len(set(values)):
            return decimals
    return 4


def _pcts(*values: float) -> list[str]:
    decimals = _distinct([v * 100 for v in values], "f")
    return [_pct(v, decimals) for v in values]


def _lift(x: float) -> str:
    return "∞" if math.isinf(x) else f"{x:.2f}"


def evaluate(figures: ProfileFigures, config: FlagConfig, today: date) -> list[Flag]:
    """Every rule of ``config.rules`` that fires for this profile, in rule order."""
    return list(assess(figures, config, today).flags)


def assess(figures: ProfileFigures, config: FlagConfig, today: date) -> Assessment:
    """Flags in rule order, the severity of a flagged profile, and undecided evidence."""
    flags: list[Flag] = []
    notices: list[str] = []
    to_decide: int | None = None
    on = config.rules
    judged = figures.status in JUDGED_STATUSES and figures.controlled >= config.n_min
    if judged and FlagRule.NO_BETTER_THAN_RANDOM in on:
        flag, to_decide, notice = _random_rule(figures, config)
        flags.extend([flag] if flag else [])
        notices.extend([notice] if notice else [])
    if judged and FlagRule.DETERIORATING in on:
        flags.extend(_deteriorating(figures, config))
    change = figures.latest_change
    if (
        figures.status in JUDGED_STATUSES
        and FlagRule.WORSE_AFTER_CHANGE in on
        and change is not None
        and change.verdict == Verdict.WORSENED.value
    ):
        before, after = _pcts(
            change.irregular_before / change.controlled_before,
            change.irregular_after / change.controlled_after,
        )
        flags.append(
            Flag(
                FlagRule.WORSE_AFTER_CHANGE,
                f"after its change of {change.changed_at.isoformat()} ({change.change_type}) "
                f"the hit rate fell from {before} ({change.irregular_before}/"
                f"{change.controlled_before}) to {after} ({change.irregular_after}/"
                f"{change.controlled_after}), {_p(change.p_value)}",
                (
                    ("changed_at", change.changed_at.isoformat()),
                    ("hit_rate_before", change.irregular_before / change.controlled_before),
                    ("hit_rate_after", change.irregular_after / change.controlled_after),
                    ("p_value", change.p_value),
                ),
            )
        )
    if judged and FlagRule.ZERO_HITS in on and figures.irregular == 0:
        flags.append(
            Flag(
                FlagRule.ZERO_HITS,
                f"no finding in {figures.controlled} controls (minimum sample {config.n_min})",
                (("irregular", 0), ("controlled", figures.controlled), ("n_min", config.n_min)),
            )
        )
    if judged and FlagRule.BELOW_TARGET in on:
        flags.extend(_below_target(figures, config))
    cost = config.cost_per_control
    if judged and FlagRule.LOW_YIELD in on and cost is not None:
        yield_ = figures.revenue_per_control
        if yield_ is not None and yield_ < cost:
            decimals = _distinct([yield_, cost], "f")
            flags.append(
                Flag(
                    FlagRule.LOW_YIELD,
                    f"revenue per control {yield_:,.{max(2, decimals)}f} is below the cost of a "
                    f"control {cost:,.{max(2, decimals)}f}",
                    (("revenue_per_control", yield_), ("cost_per_control", cost)),
                )
            )
    if FlagRule.EXPIRED_OR_REVIEW_OVERDUE in on:
        flags.extend(_register_flags(figures, today))
    performance = any(f.rule in PERFORMANCE_RULES for f in flags)
    return Assessment(
        flags=tuple(flags),
        severity=severity(figures, config) if performance else None,
        controls_to_decide=to_decide,
        notices=tuple(notices),
    )


def severity(figures: ProfileFigures, config: FlagConfig) -> float | None:
    """Inspections the profile alone caused over the recent months beyond what its findings
    needed at the expected hit rate (module docstring); None without a reference rate."""
    x0, n0 = _sums(figures.monthly_random[-config.window_months :])
    reference = config.min_lift * x0 / n0 if x0 else config.target_hit_rate
    if not reference or reference <= 0:
        return None
    hits, controls = _sums(figures.monthly_sole[-config.recent_months :])
    return max(0.0, controls - hits / min(reference, 1.0))


def _sums(series: Sequence[tuple[int, int]]) -> tuple[int, int]:
    return sum(x for x, _ in series), sum(n for _, n in series)


def _random_rule(
    figures: ProfileFigures, config: FlagConfig
) -> tuple[Flag | None, int | None, str | None]:
    """The window's verdict; when undecided, the longest history since the latest change."""
    spans = [config.window_months]
    longest = min(len(figures.monthly_random), config.history_months)
    if figures.months_since_change is not None:
        longest = min(longest, max(figures.months_since_change, config.window_months))
    if longest > config.window_months:
        spans.append(longest)
    outcome: tuple[Flag | None, int | None, str | None] = (None, None, None)
    for span in spans:
        outcome = _random_over(figures, config, span)
        if outcome[1] is None and outcome[2] is None:  # decided either way
            return outcome
        if outcome[0] is not None:
            return outcome
    return outcome


def _random_over(
    figures: ProfileFigures, config: FlagConfig, span: int
) -> tuple[Flag | None, int | None, str | None]:
    x0, n0 = _sums(figures.monthly_random[-span:])
    if n0 <= 0:
        return None, None, "no random controls in the window: it cannot be compared with random"
    p0 = x0 / n0
    needed = controls_to_show_lift(p0, n0, config.min_lift, config.power)
    if span == config.window_months:
        bases = [
            ("all it selected", figures.irregular, figures.controlled),
            ("only it selected", figures.sole_irregular, figures.sole_controlled),
        ]
    else:
        bases = [
            ("all it selected", *_sums(figures.monthly[-span:])),
            ("only it selected", *_sums(figures.monthly_sole[-span:])),
        ]
    undecided: list[tuple[str, int, int, float, float, float]] = []
    for basis, x, n in bases:
        if n < config.n_min:
            continue
        interval = lift_interval(x, n, x0, n0)
        upper = lift_interval(x, n, x0, n0, z=Z_95_ONE_SIDED)
        if interval is None or upper is None or interval.low > 1:
            continue
        enough = needed is not None and n >= needed
        below = upper.high < config.min_lift
        if not (enough or below):
            undecided.append((basis, x, n, interval.lift, interval.low, interval.high))
            continue
        why = (
            f"{n} controls are enough to show a {config.min_lift:g}× lift"
            if enough
            else f"significantly below the {config.min_lift:g}× a profile is expected to reach"
        )
        rate, random_rate = _pcts(x / n, p0)
        message = (
            f"lift {_lift(interval.lift)} (95 % interval {interval.low:.2f}–"
            f"{interval.high:.2f}) over the {n} controls {basis} in the last {span} months: "
            f"no evidence it beats random selection (hit rate {rate}, {x}/{n}, against "
            f"random {random_rate}, {x0}/{n0}; {why})"
        )
        numbers: tuple[tuple[str, float | str | None], ...] = (
            ("basis", "sole" if basis.startswith("only") else "all"),
            ("months", span),
            ("lift", interval.lift),
            ("lift_ci_low", interval.low),
            ("lift_ci_high", interval.high),
            ("irregular", x),
            ("controlled", n),
            ("random_irregular", x0),
            ("random_controlled", n0),
            ("controls_needed", needed),
        )
        return Flag(FlagRule.NO_BETTER_THAN_RANDOM, message, numbers), None, None
    if not undecided:
        return None, None, None
    basis, x, n, lift, low, high = undecided[0]
    head = (
        f"not yet decided whether it beats random: lift {_lift(lift)} (95 % interval "
        f"{low:.2f}–{high:.2f}) over the {n} controls {basis} in the last {span} months; "
    )
    if needed is None:
        return (
            None,
            None,
            (
                f"{head}the random lane ({n0} controls) is too small to show a "
                f"{config.min_lift:g}× lift"
            ),
        )
    more = needed - n
    return (
        None,
        more,
        (
            f"{head}about {more} more controls decide ({needed} show a {config.min_lift:g}× lift "
            f"with {config.power:.0%} power)"
        ),
    )


def _deteriorating(figures: ProfileFigures, config: FlagConfig) -> list[Flag]:
    months = figures.monthly[-config.history_months :]
    k = config.recent_months
    (x_e, n_e), (x_l, n_l) = _sums(months[:k]), _sums(months[-k:])
    trend = trend_test(months)
    if trend is not None and trend[0] < 0 and trend[1] < config.trend_alpha and n_e and n_l:
        first, last = _pcts(x_e / n_e, x_l / n_l)
        return [
            Flag(
                FlagRule.DETERIORATING,
                f"hit rate falling over the last {len(months)} months: {first} ({x_e}/{n_e}) "
                f"in the first {k}, {last} ({x_l}/{n_l}) in the last {k} (trend z = "
                f"{trend[0]:.2f}, one-sided {_p(trend[1])})",
                (("trend_z", trend[0]), ("p_value", trend[1]), ("first_rate", x_e / n_e),
                 ("last_rate", x_l / n_l)),
            )
        ]  # fmt: skip
    before = months[:-k]
    x_b, n_b = _sums(before)
    if n_l < config.n_min or n_b < config.n_min:
        return []
    p = one_sided_drop(x_l, n_l, x_b, n_b)
    if p is None or p >= config.trend_alpha:
        return []
    recent, earlier = _pcts(x_l / n_l, x_b / n_b)
    return [
        Flag(
            FlagRule.DETERIORATING,
            f"hit rate of the last {k} months {recent} ({x_l}/{n_l}) is significantly below "
            f"the {len(before)} months before, {earlier} ({x_b}/{n_b}), one-sided {_p(p)}",
            (("p_value", p), ("recent_rate", x_l / n_l), ("earlier_rate", x_b / n_b)),
        )
    ]


def _below_target(figures: ProfileFigures, config: FlagConfig) -> list[Flag]:
    """Below target as :func:`kpis.targets.kpi_status` judges the hit rate (the verdict the
    Overview, Offices and the report show): near or off target."""
    rate, target = figures.hit_rate, config.target_hit_rate
    status = kpi_status(get("hit_rate"), rate, True, target=target)
    if rate is None or status not in (TargetStatus.NEAR, TargetStatus.OFF):
        return []
    random_rate = figures.random_hit_rate
    shown = _pcts(rate, target, *([random_rate] if random_rate is not None else []))
    note = ""
    numbers: list[tuple[str, float | str | None]] = [
        ("hit_rate", rate),
        ("target_hit_rate", target),
        ("irregular", figures.irregular),
        ("controlled", figures.controlled),
    ]
    if random_rate is not None and target <= random_rate:
        note = (
            f" (the target is not above the random hit rate {shown[2]}: random selection "
            "alone meets it)"
        )
        numbers.append(("random_hit_rate", random_rate))
    return [
        Flag(
            FlagRule.BELOW_TARGET,
            f"hit rate {shown[0]} ({figures.irregular}/{figures.controlled}) is below the "
            f"target {shown[1]}, {status_label(status)}{note}",
            tuple(numbers),
        )
    ]


def _p(p: float | None) -> str:
    if p is None:
        return "p n/a"
    return "p < 0.0001" if p < 0.0001 else f"p = {p:.4f}"


def _register_flags(figures: ProfileFigures, today: date) -> list[Flag]:
    in_use = figures.declarations > 0 or figures.status == "active"
    if not in_use or figures.status is None:
        return []
    expired_status = figures.status in ("expired", "retired")
    past_validity = figures.valid_to is not None and figures.valid_to <= today
    after_end = figures.declarations_after_end
    selecting = figures.declarations if after_end is None else after_end
    if (expired_status or past_validity) and selecting > 0:
        why = f"status {figures.status}" if expired_status else f"validity ended {figures.valid_to}"
        return [
            Flag(
                FlagRule.EXPIRED_OR_REVIEW_OVERDUE,
                f"expired ({why}) but selected {selecting} declarations "
                + ("after it ended" if after_end is not None else "in the window"),
                (
                    ("status", figures.status),
                    ("valid_to", _iso(figures.valid_to)),
                    ("declarations", selecting),
                ),
            )
        ]
    if figures.review_overdue:
        return [
            Flag(
                FlagRule.EXPIRED_OR_REVIEW_OVERDUE,
                f"review overdue since {_iso(figures.review_due)}",
                (("review_due", _iso(figures.review_due)), ("today", today.isoformat())),
            )
        ]
    return []


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None

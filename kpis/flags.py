"""The "underperforming profile" rule set of KPIS.md, with configurable thresholds.

No published source fixes numeric thresholds, so these are defaults the risk unit can change.
Rules (a)–(d) apply only to profiles with at least ``n_min`` completed controls in the window:
below that the figures are too noisy to judge. Rule (e) is about the register, not the
sample, so it applies to every profile that is in use (it fired in the window or is active).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from kpis.catalogue import get


class FlagRule(StrEnum):
    NO_BETTER_THAN_RANDOM = "no_better_than_random"  # (a)
    BELOW_TARGET = "below_target"  # (b)
    ZERO_HITS = "zero_hits"  # (c)
    LOW_YIELD = "low_yield"  # (d)
    EXPIRED_OR_REVIEW_OVERDUE = "expired_or_review_overdue"  # (e)


def _default_target() -> float:
    target = get("hit_rate").default_target
    return target if target is not None else 0.0


@dataclass(frozen=True)
class FlagConfig:
    """Thresholds of the rule set (defaults of KPIS.md).

    n_min: completed controls a profile needs in the window before (a)–(d) are judged.
    window_months: length of the default window, ending with the latest month of data.
    target_hit_rate: the administration's hit-rate target for (b) (fraction).
    cost_per_control: cost of one control in the revenue currency for (d); None disables (d).
    rules: the rules in force.
    """

    n_min: int = 30
    window_months: int = 3
    target_hit_rate: float = field(default_factory=_default_target)
    cost_per_control: float | None = None
    rules: frozenset[FlagRule] = frozenset(FlagRule)

    def __post_init__(self) -> None:
        if self.n_min < 1:
            raise ValueError("n_min must be at least 1")
        if self.window_months < 1:
            raise ValueError("window_months must be at least 1")
        if not 0 <= self.target_hit_rate <= 1:
            raise ValueError("target_hit_rate is a fraction in [0, 1]")
        if self.cost_per_control is not None and self.cost_per_control < 0:
            raise ValueError("cost_per_control must not be negative")

    def describe(self) -> str:
        """The thresholds in one line, as pages, exports and the snapshot state them."""
        cost = (
            "no cost per control set (low-yield flag off)"
            if self.cost_per_control is None
            else f"low yield below {self.cost_per_control:,.2f} revenue per control"
        )
        return f"at least {self.n_min} controls; hit-rate target {self.target_hit_rate:.1%}; {cost}"


@dataclass(frozen=True)
class Flag:
    """One rule that fired: which, a sentence, and the numbers it compared."""

    rule: FlagRule
    message: str
    numbers: tuple[tuple[str, float | str | None], ...] = ()

    def number(self, name: str) -> float | str | None:
        return dict(self.numbers)[name]


@dataclass(frozen=True)
class ProfileFigures:
    """What the rules look at, for one profile over the window."""

    profile_id: str
    controlled: int
    irregular: int
    hit_rate: float | None
    ci_high: float | None
    random_hit_rate: float | None
    revenue_per_control: float | None
    declarations: int = 0
    status: str | None = None  # register status at today, None = unregistered
    valid_to: date | None = None
    review_due: date | None = None
    review_overdue: bool = False


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x * 100:.1f} %"


def evaluate(figures: ProfileFigures, config: FlagConfig, today: date) -> list[Flag]:
    """Every rule of ``config.rules`` that fires for this profile, in rule order."""
    flags: list[Flag] = []
    on = config.rules
    judged = figures.controlled >= config.n_min
    if judged and FlagRule.NO_BETTER_THAN_RANDOM in on:
        rand, high = figures.random_hit_rate, figures.ci_high
        if rand is not None and high is not None and high < rand:
            flags.append(
                Flag(
                    FlagRule.NO_BETTER_THAN_RANDOM,
                    f"hit rate {_pct(figures.hit_rate)} (95 % interval up to {_pct(high)}) "
                    f"is below the random hit rate {_pct(rand)} over {figures.controlled} controls",
                    (
                        ("hit_rate", figures.hit_rate),
                        ("ci_high", high),
                        ("random_hit_rate", rand),
                        ("controlled", figures.controlled),
                    ),
                )
            )
    if judged and FlagRule.BELOW_TARGET in on:
        rate = figures.hit_rate
        if rate is not None and rate < config.target_hit_rate:
            flags.append(
                Flag(
                    FlagRule.BELOW_TARGET,
                    f"hit rate {_pct(rate)} ({figures.irregular}/{figures.controlled}) "
                    f"is below the target {_pct(config.target_hit_rate)}",
                    (
                        ("hit_rate", rate),
                        ("target_hit_rate", config.target_hit_rate),
                        ("irregular", figures.irregular),
                        ("controlled", figures.controlled),
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
    cost = config.cost_per_control
    if judged and FlagRule.LOW_YIELD in on and cost is not None:
        yield_ = figures.revenue_per_control
        if yield_ is not None and yield_ < cost:
            flags.append(
                Flag(
                    FlagRule.LOW_YIELD,
                    f"revenue per control {yield_:,.2f} is below the cost of a control {cost:,.2f}",
                    (("revenue_per_control", yield_), ("cost_per_control", cost)),
                )
            )
    if FlagRule.EXPIRED_OR_REVIEW_OVERDUE in on:
        flags.extend(_register_flags(figures, today))
    return flags


def _register_flags(figures: ProfileFigures, today: date) -> list[Flag]:
    in_use = figures.declarations > 0 or figures.status == "active"
    if not in_use or figures.status is None:
        return []
    expired_status = figures.status in ("expired", "retired")
    past_validity = figures.valid_to is not None and figures.valid_to <= today
    if expired_status or past_validity:
        why = f"status {figures.status}" if expired_status else f"validity ended {figures.valid_to}"
        return [
            Flag(
                FlagRule.EXPIRED_OR_REVIEW_OVERDUE,
                f"expired ({why}) but selected {figures.declarations} declarations in the window",
                (
                    ("status", figures.status),
                    ("valid_to", _iso(figures.valid_to)),
                    ("declarations", figures.declarations),
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

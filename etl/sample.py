"""Realistic demo deliveries with KNOWN ground truth, deterministic for a seed.

``generate_sample(declarations, months, seed, start)`` simulates a national clearance system and
returns the canonical deliveries (DATA-CONTRACT.md) plus the true parameters that produced them;
``write_sample`` writes them as the files a customs data team would receive. Everything is
vectorised with numpy/polars (10 M declarations over 36 months take well under two minutes).

Generative model (every parameter is recorded in ``ground_truth.json`` under the same names)
============================================================================================
Time. Month ``start`` up to ``as_of`` (00:00 of the month after the last month). Declarations per
day follow weekday/holiday/seasonal weights and a 6 %/year growth; times of day are office hours
with a 24/7 minority. Rows are sorted by ``lodged_at``.

Dimensions. 12 offices with fixed shares (one port ~40 %, small border posts); importers with
Zipf volumes, the largest ones more often AEO (``is_aeo``); declarants (brokers) per importer;
HS codes, origins, procedures, transport mode by office kind; log-normal customs value.

Profiles. ~40 (200 from 5 M declarations) with archetypes good, average, random_like, zero,
drifting, modified, retired, expired, late, suspended, draft. Each has a target channel, a
``selection_rate`` (share of its firings that actually route the declaration to its target
channel: profiles also fire on green declarations) and a ``fire_share``. It fires only while
active: ``created_at <= t < retired_at/expired_at`` and outside its suspension window; a
``modified`` change multiplies its fire share by ``fire_factor`` from ``changed_at``. Fire shares
are calibrated so that profiles route about ``profile_red_share`` / ``profile_yellow_share`` /
``profile_blue_share`` of all declarations. Firing: at most one *primary* profile per
declaration, profile p with probability ``fire_share`` (times ``aeo_selection_factor`` for AEO
traders); a fired declaration gets a second profile with probability ``overlap_rate`` and then
a third with ``overlap_rate_third``, drawn in proportion to the fire shares (a repeat is
dropped). The ``zero`` profile never shares a declaration, so it has no hit at all.

True hit rate of profile p for a declaration lodged at ``t``:
* constant ``true_hit_rate`` for most archetypes;
* ``modified``: ``hit_rate_before`` if ``t < changed_at`` else ``hit_rate_after``;
* ``drifting``: ``rate_start + (rate_end - rate_start) * (t - start) / (as_of - start)``.

Channel and selection source, in this order of precedence:
* random lane: every declaration independently with probability ``random_rate``
  (``selection_source=random``; channel = red with ``random_red_share`` else yellow, or the
  profile channel if more severe), so random controls are a uniform sample of all declarations;
* officer reroute: a declaration with no profile fired, with probability
  ``officer_rate * office.officer_factor`` (times ``aeo_selection_factor`` for AEO); red with
  ``officer_red_share`` else yellow;
* intelligence: a declaration with no profile fired, with probability ``intelligence_rate``; red;
* profile: the most severe target channel (red > yellow > blue) among the fired profiles whose
  independent ``selection_rate`` draw succeeded;
* otherwise green with ``selection_source=none``.

Hit model. For declaration ``d`` lodged at ``t`` in month ``m``::

    q0(d) = max(rate_p(t) for p in fired(d))   if any profile fired
          = officer_hit_rate                    elif selection_source == officer
          = intelligence_hit_rate               elif selection_source == intelligence
          = baseline_rate_by_month[m]           otherwise
    q(d)  = q0(d) * aeo_hit_factor if is_aeo else q0(d)

``baseline_rate_by_month[m]`` is chosen so that the mean of ``q`` over all declarations of month
``m`` equals ``prevalence_target`` (never below ``baseline_floor``; ``prevalence_by_month`` and
``prevalence`` record the realised means): the true non-compliance of the population. Hence the
random lane (a uniform sample) measures ``prevalence``. A controlled declaration (channel not
green) is irregular with probability ``q(d)``; an irregularity is a seizure with the seizure
share of the risk area of the fired profile with the highest rate (``intelligence_seizure_share``
for intelligence, ``base_seizure_share`` otherwise). Irregularities carry an offence type and a
log-normal revenue (> 0, heavy tail); everything else carries 0.

Milestones. ``channel_assigned_at`` seconds after lodgement; green/blue paid and released within
minutes to hours; yellow results after hours; red after about a day with a long tail; blue audit
results weeks later; extra payment delay after a finding; some arrivals after lodgement
(pre-arrival lodgement) and ``arrival_missing_share`` of ``arrived_at`` not recorded.

Deliveries. The monthly files are extracted at ``as_of``: milestones after it are empty and
results not yet recorded are ``pending`` (the last weeks; months for blue audits). The
redelivery, extracted at ``redelivery.delivered_at``, re-delivers every declaration whose state
changed in between plus a few corrections whose first delivery was wrong (``late_finding``:
delivered as no_finding, truly irregular; ``withdrawn``: delivered as irregular, truly
no_finding; ``revenue_adjusted``: revenue under-recorded). The final truth is the redelivered one.
"""

from __future__ import annotations

import calendar
import json
import math
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from etl.contract import CANONICAL_NAMES, PROFILE_CHANGE_COLUMNS, PROFILE_COLUMNS

DAY = 86_400
NEVER = -(2**31) + 1  # int32 placeholder for "no such milestone" (green results)
HOUR = 3_600
MINUTE = 60

# Channel codes are ordered by severity so that "most severe" is a plain maximum.
CHANNELS = ("green", "blue", "yellow", "red")
GREEN, BLUE, YELLOW, RED = range(4)
SOURCES = ("profile", "random", "officer", "intelligence", "none", "unknown")
SRC_PROFILE, SRC_RANDOM, SRC_OFFICER, SRC_INTEL, SRC_NONE = range(5)
RESULTS = ("no_finding", "irregularity", "seizure", "pending")
NO_FINDING, IRREGULARITY, SEIZURE = range(3)
OFFENCES = (
    "undervaluation",
    "misclassification",
    "origin",
    "quantity",
    "prohibited_goods",
    "counterfeit",
    "undeclared_goods",
)
GENERAL_OFFENCE_P = (0.35, 0.25, 0.12, 0.13, 0.04, 0.04, 0.07)
SEIZURE_OFFENCE_P = (0.0, 0.0, 0.0, 0.0, 0.45, 0.3, 0.25)
TRANSPORT_MODES = ("sea", "air", "road", "rail", "postal")
PROCEDURES = (("4000", 0.72), ("4071", 0.05), ("7100", 0.07), ("5100", 0.04), ("1000", 0.08),
              ("3171", 0.02), ("4200", 0.02))  # fmt: skip


@dataclass(frozen=True)
class Office:
    code: str
    name: str
    kind: str  # seaport | airport | inland | border | free_zone | rail | postal
    share: float
    officer_factor: float  # relative officer rerouting propensity (small posts reroute more)


OFFICES: tuple[Office, ...] = (
    Office("PRT01", "Main Seaport", "seaport", 0.40, 0.8),
    Office("AIR01", "International Airport Cargo", "airport", 0.13, 1.0),
    Office("PRT02", "Northern Seaport", "seaport", 0.11, 0.9),
    Office("ICD01", "Inland Container Depot", "inland", 0.09, 1.0),
    Office("BDR01", "Eastern Border Post", "border", 0.07, 1.6),
    Office("FTZ01", "Free Zone Office", "free_zone", 0.06, 0.7),
    Office("BDR02", "Western Border Post", "border", 0.045, 1.8),
    Office("RLY01", "Rail Freight Terminal", "rail", 0.035, 1.2),
    Office("PST01", "Postal and Express Hub", "postal", 0.03, 1.5),
    Office("AIR02", "Regional Airport", "airport", 0.015, 1.3),
    Office("BDR03", "Northern Border Post", "border", 0.01, 2.0),
    Office("BDR04", "Lake Border Post", "border", 0.005, 2.2),
)
# Transport mode shares (sea, air, road, rail, postal) per office kind.
MODE_BY_KIND: dict[str, tuple[float, ...]] = {
    "seaport": (0.96, 0.0, 0.04, 0.0, 0.0),
    "airport": (0.0, 1.0, 0.0, 0.0, 0.0),
    "inland": (0.82, 0.0, 0.05, 0.13, 0.0),
    "border": (0.0, 0.0, 0.94, 0.06, 0.0),
    "free_zone": (0.6, 0.2, 0.2, 0.0, 0.0),
    "rail": (0.0, 0.0, 0.05, 0.95, 0.0),
    "postal": (0.0, 0.3, 0.0, 0.0, 0.7),
}
# Median hours between arrival and lodgement per transport mode (ships wait longer).
ARRIVAL_LAG_HOURS = (20.0, 3.0, 1.5, 10.0, 24.0)

CHAPTERS: dict[int, tuple[str, float, float]] = {  # chapter: (label, share, value factor)
    2: ("meat", 0.010, 1.0), 3: ("fish", 0.010, 0.8), 8: ("fruit and nuts", 0.010, 0.6),
    10: ("cereals", 0.030, 2.0), 15: ("oils and fats", 0.020, 1.5), 17: ("sugar", 0.015, 1.5),
    22: ("beverages", 0.015, 0.8), 24: ("tobacco", 0.010, 1.2), 27: ("fuels", 0.050, 6.0),
    29: ("organic chemicals", 0.020, 1.2), 30: ("pharmaceuticals", 0.040, 1.5),
    33: ("cosmetics", 0.020, 0.5), 38: ("chemical products", 0.015, 1.0),
    39: ("plastics", 0.060, 1.0), 40: ("tyres and rubber", 0.020, 0.9),
    44: ("wood", 0.015, 0.8), 48: ("paper", 0.025, 0.8), 52: ("cotton", 0.015, 0.9),
    61: ("knitted apparel", 0.025, 0.6), 62: ("apparel", 0.025, 0.6),
    63: ("worn clothing", 0.010, 0.4), 64: ("footwear", 0.020, 0.6),
    69: ("ceramics", 0.015, 0.6), 71: ("jewellery", 0.005, 2.5),
    72: ("iron and steel", 0.040, 2.0), 73: ("steel articles", 0.030, 1.0),
    76: ("aluminium", 0.010, 1.2), 84: ("machinery", 0.130, 1.8),
    85: ("electrical equipment", 0.120, 1.3), 87: ("vehicles", 0.080, 2.5),
    90: ("medical and optical", 0.020, 1.5), 93: ("arms", 0.002, 1.0),
    94: ("furniture", 0.030, 0.7), 95: ("toys", 0.015, 0.5),
}  # fmt: skip
ORIGINS: dict[str, float] = {
    "CN": 0.26, "IN": 0.07, "US": 0.06, "DE": 0.05, "TR": 0.05, "AE": 0.05, "FR": 0.03,
    "JP": 0.03, "KR": 0.03, "IT": 0.03, "GB": 0.03, "VN": 0.03, "BR": 0.02, "TH": 0.02,
    "NL": 0.02, "ZA": 0.02, "MY": 0.02, "ID": 0.02, "ES": 0.02, "BE": 0.02, "SA": 0.02,
    "EG": 0.015, "NG": 0.015, "PK": 0.015, "BD": 0.01, "RU": 0.01, "MX": 0.005, "CH": 0.005,
}  # fmt: skip


@dataclass(frozen=True)
class RiskArea:
    label: str
    offence: str  # index into OFFENCES by name
    chapters: tuple[int, ...]
    origins: tuple[str, ...]
    owner_unit: str
    seizure_share: float


RISK_AREAS: dict[str, RiskArea] = {
    "valuation": RiskArea("Undervaluation", "undervaluation", (87, 85, 84, 61, 62, 64, 94, 33),
                          ("CN", "AE", "TR", "IN", "VN"), "Valuation Unit", 0.03),
    "classification": RiskArea("Misclassification", "misclassification",
                               (84, 85, 39, 72, 73, 29, 38, 40), ("CN", "DE", "KR", "JP", "US"),
                               "Tariff and Classification Unit", 0.03),
    "origin": RiskArea("False origin", "origin", (72, 73, 76, 64, 69, 52),
                       ("CN", "VN", "MY", "TH", "TR"), "Origin Unit", 0.05),
    "prohibitions": RiskArea("Prohibited goods", "prohibited_goods", (30, 93, 24, 22, 38, 2, 3),
                             ("IN", "CN", "AE", "NG", "PK"), "Enforcement and Intelligence", 0.55),
    "ipr": RiskArea("Counterfeit", "counterfeit", (33, 64, 61, 62, 95, 85, 90),
                    ("CN", "TR", "AE", "TH", "VN"), "IPR Unit", 0.45),
    "excise": RiskArea("Quantity / excise", "quantity", (27, 22, 24, 17, 10, 15),
                       ("SA", "AE", "BR", "RU", "EG"), "Excise Unit", 0.10),
}  # fmt: skip
QUALIFIERS = ("new importers", "high value", "low value", "first-time declarants",
              "split consignments", "transit diversion", "express", "used goods")  # fmt: skip
STAFF = ("rmu.akande", "rmu.mensah", "rmu.diallo", "val.okafor", "enf.kamara", "rmu.njoroge",
         "tar.bello", "ipr.osei")  # fmt: skip


@dataclass(frozen=True)
class SampleParameters:
    """Every knob of the generative model (module docstring); all recorded in ground truth."""

    prevalence: float = 0.03
    random_rate: float = 0.01
    random_red_share: float = 0.5
    officer_rate: float = 0.008
    officer_red_share: float = 0.85
    officer_hit_rate: float = 0.09
    intelligence_rate: float = 0.001
    intelligence_hit_rate: float = 0.45
    intelligence_seizure_share: float = 0.4
    base_seizure_share: float = 0.08
    aeo_selection_factor: float = 0.4
    aeo_hit_factor: float = 0.4
    overlap_rate: float = 0.07
    overlap_rate_third: float = 0.15
    # Share of all declarations routed by profiles to each channel (calibration targets).
    profile_red_share: float = 0.052
    profile_yellow_share: float = 0.094
    profile_blue_share: float = 0.010
    arrival_missing_share: float = 0.07
    pre_arrival_share: float = 0.06
    redelivery_delay_days: int = 14
    correction_share: float = 0.0005
    baseline_floor: float = 0.003


DEFAULT_PARAMETERS = SampleParameters()


@dataclass(frozen=True)
class Sample:
    """Generated deliveries (canonical columns) and the truth behind them.

    ``declarations``: every declaration as first delivered (state at ``as_of``), sorted by
    ``lodged_at``; ``redelivery``: the later versions of some of them. Low-cardinality text
    columns are ``pl.Enum`` (cast to ``pl.String`` if needed); ``profile_ids`` is the canonical
    ``;``-joined string (sorted ids, null when none fired).
    """

    declarations: pl.DataFrame
    redelivery: pl.DataFrame
    profiles: pl.DataFrame
    profile_changes: pl.DataFrame
    ground_truth: dict[str, Any]


# --------------------------------------------------------------------------------------------
# Profiles (a few hundred objects at most: plain Python is fine here)
# --------------------------------------------------------------------------------------------
@dataclass
class _Profile:
    archetype: str
    risk_area: str
    chapter: int
    origin: str | None
    target_channel: int
    selection_rate: float
    weight: float  # relative fire volume before calibration
    hit_rate: float  # constant rate; before-rate for modified; start rate for drifting
    created_at: int  # seconds from start (may be negative: created before the history)
    review_period_days: int
    overdue: bool
    ended_at: int | None = None  # retired or expired: stops firing from here
    rate_end: float | None = None  # drifting
    change_at: int | None = None  # modified
    rate_after: float | None = None
    fire_factor: float = 1.0
    change_summary: str = ""
    suspended: tuple[int, int] | None = None
    profile_id: str = ""
    name: str = ""
    fire_share: float = 0.0

    def rate_at(self, t: int) -> float:
        if self.change_at is not None and t >= self.change_at and self.rate_after is not None:
            return self.rate_after
        return self.hit_rate

    def active_at(self, t: int) -> bool:
        if t < self.created_at or self.archetype == "draft":
            return False
        if self.ended_at is not None and t >= self.ended_at:
            return False
        return not (self.suspended and self.suspended[0] <= t < self.suspended[1])

    def fire_at(self, t: int) -> float:
        if not self.active_at(t):
            return 0.0
        factor = self.fire_factor if self.change_at is not None and t >= self.change_at else 1.0
        return self.fire_share * factor


def _archetype_counts(n_profiles: int) -> dict[str, int]:
    counts = {"zero": 1, "drifting": 1, "draft": 1}
    shares = {"good": 0.2, "random_like": 0.15, "modified": 0.1, "retired": 0.1, "late": 0.1,
              "suspended": 0.025, "expired": 0.025}  # fmt: skip
    minimum = {"good": 4, "random_like": 3, "modified": 3, "retired": 2, "late": 2}
    for name, share in shares.items():
        counts[name] = max(minimum.get(name, 1), round(share * n_profiles))
    counts["average"] = max(0, n_profiles - sum(counts.values()))
    return counts


def _at_office_hours(rng: np.random.Generator, t: float) -> int:
    """A plausible working-hours timestamp on the day of ``t`` (seconds from start)."""
    day = math.floor(t / DAY) * DAY
    return int(day + rng.integers(8 * HOUR, 17 * HOUR))


def _make_profiles(
    n_profiles: int, rng: np.random.Generator, span: int, prevalence: float
) -> list[_Profile]:
    counts = _archetype_counts(n_profiles)
    archetypes = [a for a, n in counts.items() for _ in range(n)]
    rng.shuffle(archetypes)
    areas = list(RISK_AREAS)
    profiles: list[_Profile] = []
    modified_seen = 0
    for archetype in archetypes:
        area_name = areas[int(rng.integers(len(areas)))]
        area = RISK_AREAS[area_name]
        chapter = int(area.chapters[int(rng.integers(len(area.chapters)))])
        origin = area.origins[int(rng.integers(len(area.origins)))] if rng.random() < 0.5 else None
        if area_name == "prohibitions":
            channel = RED
        elif archetype in ("good", "zero", "modified", "drifting", "random_like", "late"):
            channel = RED if rng.random() < 0.4 else YELLOW
        else:
            channel = RED if rng.random() < 0.35 else YELLOW
        established = _at_office_hours(rng, -rng.uniform(60, 1500) * DAY)
        p = _Profile(
            archetype=archetype,
            risk_area=area_name,
            chapter=chapter,
            origin=origin,
            target_channel=channel,
            selection_rate=float(rng.uniform(0.7, 1.0)),
            weight=float(rng.lognormal(0.0, 0.6)),
            hit_rate=float(rng.uniform(0.03, 0.09)),
            created_at=established,
            review_period_days=int(rng.choice([90, 180, 180, 365])),
            overdue=bool(rng.random() < 0.25),
        )
        if archetype == "good":
            # Targeted profiles are narrow: high precision, smaller volumes.
            p.hit_rate = float(rng.uniform(0.15, 0.40))
            p.weight = max(p.weight, 1.0) * 0.5
        elif archetype == "random_like":
            p.hit_rate = float(prevalence * rng.uniform(0.8, 1.2))
            p.weight *= 1.6  # broad profiles fire a lot
        elif archetype == "zero":
            p.hit_rate = 0.0
            p.weight = 1.0  # an ordinary-sized profile that never finds anything
        elif archetype == "drifting":
            p.hit_rate = float(rng.uniform(0.22, 0.28))
            p.rate_end = float(rng.uniform(0.03, 0.05))
            p.weight = max(p.weight, 1.8)
        elif archetype == "modified":
            pattern = modified_seen % 3
            modified_seen += 1
            p.change_at = _at_office_hours(rng, rng.uniform(0.35, 0.6) * span)
            p.weight = max(p.weight, 1.6)  # enough controls on both sides of the change
            if pattern == 1:  # widened: more volume, worse precision
                p.hit_rate, p.rate_after = (
                    float(rng.uniform(0.18, 0.28)),
                    float(rng.uniform(0.03, 0.06)),
                )
                p.fire_factor = float(rng.uniform(1.3, 1.7))
                p.change_summary = "Widened: origin criterion removed, value threshold lowered"
            else:  # narrowed: less volume, better precision
                lo, hi = (
                    ((0.03, 0.06), (0.18, 0.30)) if pattern == 0 else ((0.07, 0.10), (0.25, 0.35))
                )
                p.hit_rate, p.rate_after = float(rng.uniform(*lo)), float(rng.uniform(*hi))
                p.fire_factor = float(rng.uniform(0.55, 0.8))
                p.change_summary = "Narrowed: value band tightened, trader history criterion added"
        elif archetype == "retired":
            p.hit_rate = float(rng.uniform(0.005, 0.03))
            p.ended_at = _at_office_hours(rng, rng.uniform(0.25, 0.85) * span)
        elif archetype == "expired":
            p.hit_rate = float(rng.uniform(0.04, 0.08))
            p.ended_at = int(math.floor(rng.uniform(0.3, 0.8) * span / DAY) * DAY)
        elif archetype == "late":
            p.hit_rate = float(rng.uniform(0.08, 0.25))
            p.created_at = _at_office_hours(rng, rng.uniform(0.3, 0.75) * span)
        elif archetype == "suspended":
            p.hit_rate = float(rng.uniform(0.10, 0.20))
            begin = _at_office_hours(rng, rng.uniform(0.3, 0.5) * span)
            p.suspended = (begin, _at_office_hours(rng, begin + rng.uniform(30, 75) * DAY))
        elif archetype == "draft":
            p.created_at = _at_office_hours(rng, span - rng.uniform(5, 25) * DAY)
        profiles.append(p)
    # Post-clearance audit (blue) profiles: ordinary ones that stay active to the end, so the
    # blue lane exists in every month.
    ordinary = [p for p in profiles if p.archetype == "average" and p.risk_area != "prohibitions"]
    for p in ordinary[: max(2, round(0.3 * len(ordinary)))]:
        p.target_channel = BLUE
    # Identifiers in order of creation, as a register numbers them.
    profiles.sort(key=lambda q: q.created_at)
    names: set[str] = set()
    for i, p in enumerate(profiles, start=1):
        p.profile_id = f"P{i:03d}"
        area = RISK_AREAS[p.risk_area]
        name = f"{area.label} - {CHAPTERS[p.chapter][0]} (ch. {p.chapter:02d})"
        if p.origin:
            name += f" from {p.origin}"
        for qualifier in QUALIFIERS:
            if name not in names:
                break
            candidate = f"{name}, {qualifier}"
            if candidate not in names:
                name = candidate
                break
        if name in names:
            name = f"{name} #{p.profile_id}"
        names.add(name)
        p.name = name
    return profiles


def _calibrate_fire_shares(
    profiles: list[_Profile],
    seg_times: np.ndarray,
    seg_rows: np.ndarray,
    n: int,
    aeo_row_share: float,
    params: SampleParameters,
) -> None:
    """Scale fire shares so profile-routed channel shares hit their targets on these rows."""
    thinning = 1.0 - aeo_row_share * (1.0 - params.aeo_selection_factor)
    targets = {RED: params.profile_red_share, YELLOW: params.profile_yellow_share,
               BLUE: params.profile_blue_share}  # fmt: skip
    for p in profiles:
        p.fire_share = p.weight
    for channel, target in targets.items():
        members = [p for p in profiles if p.target_channel == channel]
        volume = sum(
            p.selection_rate
            * sum(p.fire_at(int(t)) * r for t, r in zip(seg_times, seg_rows, strict=True))
            for p in members
        ) / max(n, 1)
        if volume <= 0:
            continue
        scale = target / thinning / volume
        for p in members:
            p.fire_share = p.weight * scale


# --------------------------------------------------------------------------------------------
# Declarations
# --------------------------------------------------------------------------------------------
def _month_starts(start: date, months: int) -> list[date]:
    out = []
    y, m = start.year, start.month
    for _ in range(months + 1):
        out.append(date(y, m, 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _epoch(d: date) -> int:
    return calendar.timegm(d.timetuple())


def _lodgement_offsets(rng: np.random.Generator, n: int, start: date, days: int) -> np.ndarray:
    """Seconds from start of each lodgement, sorted: weekday, holiday, season and growth."""
    day_dates = np.arange(np.datetime64(start), np.datetime64(start) + days)
    weekday = (day_dates.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 0 = Monday
    weights = np.array([1.0, 1.02, 1.0, 0.98, 0.92, 0.33, 0.12])[weekday]
    month_day = np.char.add("", day_dates.astype("datetime64[D]").astype(str))
    holiday = np.char.endswith(month_day, "-01-01") | np.char.endswith(month_day, "-12-25")
    weights = np.where(holiday, 0.1, weights)
    t = np.arange(days) / 365.25
    day_of_year = (day_dates - day_dates.astype("datetime64[Y]")).astype(np.int64)
    weights = (
        weights * (1 + 0.06 * t) * (1 + 0.07 * np.sin(2 * np.pi * (day_of_year - 80) / 365.25))
    )
    per_day = rng.multinomial(n, weights / weights.sum())
    day_index = np.repeat(np.arange(days, dtype=np.int64), per_day)
    office_hours = rng.random(n) < 0.88
    tod = np.where(
        office_hours,
        np.clip(rng.normal(12.5, 2.7, n), 6.0, 21.5) * HOUR,
        rng.random(n) * DAY,
    ).astype(np.int64)
    lodged = day_index * DAY + tod
    lodged.sort()
    return lodged


def _lognormal(rng: np.random.Generator, median_seconds: float, sigma: float, n: int) -> np.ndarray:
    return rng.lognormal(math.log(median_seconds), sigma, n)


def _pick(rng: np.random.Generator, probabilities: np.ndarray, n: int) -> np.ndarray:
    """Vectorised categorical draw: index into ``probabilities`` for each of n rows."""
    cum = np.cumsum(probabilities)
    return np.minimum(np.searchsorted(cum / cum[-1], rng.random(n), side="right"), len(cum) - 1)


def _pick_rows(rng: np.random.Generator, cum_rows: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Categorical draw per row from the row's own group (rows of ``cum_rows`` are cumulative)."""
    u = rng.random(len(groups))
    out = np.zeros(len(groups), dtype=np.int64)
    for g in range(cum_rows.shape[0]):
        rows = groups == g
        out[rows] = np.searchsorted(cum_rows[g], u[rows], side="right")
    return np.minimum(out, cum_rows.shape[1] - 1)


def _zipf_like(
    rng: np.random.Generator, n_items: int, offset: float, exponent: float, n: int
) -> np.ndarray:
    """Item index with weight ~ (i + offset)^-exponent, by inverting the continuous CDF.

    A categorical draw over 250 000 importers would be a cache-missing binary search per row.
    """
    lo = offset ** (1.0 - exponent)
    hi = (n_items + offset) ** (1.0 - exponent)
    x = (lo + rng.random(n) * (hi - lo)) ** (1.0 / (1.0 - exponent)) - offset
    return np.clip(x.astype(np.int64), 0, n_items - 1).astype(np.int32)


@dataclass
class _Draws:
    """Per-declaration arrays of the simulation (numpy, aligned with the sorted lodgements)."""

    lodged: np.ndarray
    month: np.ndarray
    office: np.ndarray
    importer: np.ndarray
    declarant: np.ndarray
    is_aeo: np.ndarray
    slots: np.ndarray  # (n, 3) profile indices, n_profiles = none, sorted per row
    rates: np.ndarray  # (n, 3) true rates of the slots at lodgement (-1 for none)
    channel: np.ndarray
    source: np.ndarray
    q: np.ndarray


def _assign_profiles(
    rng: np.random.Generator,
    profiles: list[_Profile],
    lodged: np.ndarray,
    is_aeo: np.ndarray,
    span: int,
    params: SampleParameters,
) -> tuple[np.ndarray, np.ndarray]:
    n, n_prof = len(lodged), len(profiles)
    events = {0}
    for p in profiles:
        for t in (p.created_at, p.ended_at, p.change_at, *(p.suspended or ())):
            if t is not None and 0 < t < span:
                events.add(int(t))
    seg_times = np.array(sorted(events), dtype=np.int64)
    seg_bounds = np.append(np.searchsorted(lodged, seg_times, side="left"), n)
    seg_rows = np.diff(seg_bounds)
    aeo_share = float(is_aeo.mean()) if n else 0.0
    _calibrate_fire_shares(profiles, seg_times, seg_rows, n, aeo_share, params)

    zero = next(i for i, p in enumerate(profiles) if p.archetype == "zero")
    slots = np.full((n, 3), n_prof, dtype=np.int16)
    rates = np.full((n, 3), -1.0, dtype=np.float32)
    u_primary = rng.random(n)
    # AEO thinning without a second draw: stretching u leaves the profile mix unchanged.
    u_primary = np.where(is_aeo, u_primary / params.aeo_selection_factor, u_primary)
    u_overlap = rng.random((n, 2))
    u_pick = rng.random((n, 2))
    for k, t in enumerate(seg_times):
        lo, hi = seg_bounds[k], seg_bounds[k + 1]
        if hi <= lo:
            continue
        fire = np.array([p.fire_at(int(t)) for p in profiles])
        seg_rate = np.array([p.rate_at(int(t)) for p in profiles], dtype=np.float32)
        total = fire.sum()
        if total > 0.9:  # only conceivable for degenerate histories: keep draws well-defined
            fire = fire * (0.9 / total)
        cum = np.cumsum(fire)
        primary = np.searchsorted(cum, u_primary[lo:hi], side="right")  # n_prof = none
        primary = np.where(fire[np.minimum(primary, n_prof - 1)] > 0, primary, n_prof)
        slots[lo:hi, 0] = primary
        fired = (primary < n_prof) & (primary != zero)
        second = fired & (u_overlap[lo:hi, 0] < params.overlap_rate)
        third = second & (u_overlap[lo:hi, 1] < params.overlap_rate_third)
        other = fire.copy()
        other[zero] = 0.0  # the zero profile never shares a declaration
        cum_other = np.cumsum(other)
        for j, chosen in ((1, second), (2, third)):
            extra = np.searchsorted(cum_other, u_pick[lo:hi, j - 1] * cum_other[-1], side="right")
            extra = np.minimum(extra, n_prof - 1)
            dup = (extra[:, None] == slots[lo:hi, :j]).any(axis=1)
            slots[lo:hi, j] = np.where(chosen & ~dup & (other[extra] > 0), extra, n_prof)
        with_none = np.append(seg_rate, -1.0).astype(np.float32)
        rates[lo:hi] = with_none[slots[lo:hi]]
    # Drift is continuous in time, so it is applied per row rather than per segment.
    for i, p in enumerate(profiles):
        if p.archetype == "drifting" and p.rate_end is not None:
            frac = (lodged / span).astype(np.float32)
            drift = (p.hit_rate + (p.rate_end - p.hit_rate) * frac).astype(np.float32)
            rates = np.where(slots == i, drift[:, None], rates)
    order = np.argsort(slots, axis=1)
    return np.take_along_axis(slots, order, axis=1), np.take_along_axis(rates, order, axis=1)


def _simulate(
    rng: np.random.Generator,
    n: int,
    months: list[date],
    profiles: list[_Profile],
    params: SampleParameters,
) -> tuple[_Draws, dict[str, Any]]:
    days = (months[-1] - months[0]).days
    span = days * DAY
    lodged = _lodgement_offsets(rng, n, months[0], days)
    month_offsets = np.array([(m - months[0]).days * DAY for m in months], dtype=np.int64)
    month = (np.searchsorted(month_offsets, lodged, side="right") - 1).astype(np.int16)

    office = _pick(rng, np.array([o.share for o in OFFICES]), n).astype(np.int8)
    n_importers = int(np.clip(n // 40, 300, 250_000))
    rank_share = np.arange(n_importers) / n_importers
    importer_aeo = rng.random(n_importers) < np.where(
        rank_share < 0.02, 0.55, np.where(rank_share < 0.10, 0.2, 0.01)
    )
    importer = _zipf_like(rng, n_importers, 10.0, 1.1, n)
    is_aeo = importer_aeo[importer]
    n_declarants = int(np.clip(n // 1500, 40, 5000))
    broker_of = _pick(rng, 1.0 / (np.arange(n_declarants) + 3.0), n_importers)
    declarant = np.where(
        rng.random(n) < 0.85, broker_of[importer], rng.integers(0, n_declarants, n)
    ).astype(np.int32)

    slots, rates = _assign_profiles(rng, profiles, lodged, is_aeo, span, params)
    n_prof = len(profiles)
    fired = slots[:, 0] < n_prof

    # Lanes: random over everything; officer and intelligence only where no profile fired.
    is_random = rng.random(n) < params.random_rate
    office_factor = np.array([o.officer_factor for o in OFFICES])
    office_factor = office_factor / float(np.dot(office_factor, [o.share for o in OFFICES]))
    p_officer = params.officer_rate * office_factor[office]
    p_officer = np.where(is_aeo, p_officer * params.aeo_selection_factor, p_officer)
    u_lane = rng.random(n)
    free = ~fired & ~is_random
    is_officer = free & (u_lane < p_officer)
    is_intel = free & ~is_officer & (u_lane < p_officer + params.intelligence_rate)

    target = np.array([p.target_channel for p in profiles] + [GREEN], dtype=np.int8)
    sel_rate = np.array([p.selection_rate for p in profiles] + [0.0])
    selected = rng.random((n, 3)) < sel_rate[slots]
    profile_channel = np.where(selected, target[slots], GREEN).max(axis=1).astype(np.int8)
    u_channel = rng.random(n)
    random_channel = np.where(u_channel < params.random_red_share, RED, YELLOW).astype(np.int8)
    officer_channel = np.where(u_channel < params.officer_red_share, RED, YELLOW).astype(np.int8)
    channel = np.select(
        [is_random, is_officer, is_intel],
        [np.maximum(random_channel, profile_channel), officer_channel, np.int8(RED)],
        profile_channel,
    ).astype(np.int8)
    source = np.select(
        [is_random, is_officer, is_intel, profile_channel > GREEN],
        [SRC_RANDOM, SRC_OFFICER, SRC_INTEL, SRC_PROFILE],
        SRC_NONE,
    ).astype(np.int8)

    # Hit probability (module docstring): known parts first, then the monthly baseline.
    q0 = np.where(fired, rates.max(axis=1), np.nan)
    q0 = np.where(is_officer, params.officer_hit_rate, q0)
    q0 = np.where(is_intel, params.intelligence_hit_rate, q0)
    aeo_mult = np.where(is_aeo, params.aeo_hit_factor, 1.0)
    known = ~np.isnan(q0)
    n_months = len(months) - 1
    rows_m = np.bincount(month, minlength=n_months)
    known_mass = np.bincount(month, weights=np.where(known, q0 * aeo_mult, 0.0), minlength=n_months)
    base_mass = np.bincount(month, weights=np.where(known, 0.0, aeo_mult), minlength=n_months)
    with np.errstate(invalid="ignore", divide="ignore"):
        baseline = np.where(
            base_mass > 0, (params.prevalence * rows_m - known_mass) / base_mass, 0.0
        )
    # Guard for extreme parameters: unflagged declarations are never perfectly compliant. When
    # the floor binds, that month's prevalence is a little above target (recorded as such).
    baseline = np.maximum(baseline, params.baseline_floor)
    q = np.where(known, q0, baseline[month]) * aeo_mult
    prevalence_by_month = np.bincount(month, weights=q, minlength=n_months) / np.maximum(rows_m, 1)

    draws = _Draws(lodged, month, office, importer, declarant, is_aeo, slots, rates, channel,
                   source, q)  # fmt: skip
    extra = {
        "n_importers": n_importers,
        "n_declarants": n_declarants,
        "importer_aeo": importer_aeo,
        "baseline_rate_by_month": [round(float(b), 6) for b in baseline],
        "prevalence_by_month": [round(float(b), 6) for b in prevalence_by_month],
        "prevalence": round(float(q.mean()), 6) if n else params.prevalence,
        "span": span,
    }
    return draws, extra


def _dimensions(rng: np.random.Generator, d: _Draws, profiles: list[_Profile]) -> dict[str, Any]:
    """HS code, origin, procedure, transport mode and value; fired profiles shape the goods."""
    n, n_prof = len(d.lodged), len(profiles)
    chapters = np.array(list(CHAPTERS))
    chapter_share = np.array([v[1] for v in CHAPTERS.values()])
    codes_per_chapter = 40
    code_labels: list[str] = []
    for ch in chapters:
        headings = rng.choice(np.arange(1, 30), size=codes_per_chapter)
        subs = rng.choice([10, 11, 19, 20, 21, 29, 30, 31, 39, 40, 90, 99], size=codes_per_chapter)
        nat = rng.choice([0, 10, 20, 90], size=codes_per_chapter)
        code_labels += [
            f"{ch:02d}{h:02d}{s:02d}{t:02d}" for h, s, t in zip(headings, subs, nat, strict=True)
        ]
    chapter_idx = _pick(rng, chapter_share, n)
    # The best-rated fired profile's commodity usually is what the declaration is about.
    best_slot = np.argmax(d.rates, axis=1)
    lead = d.slots[np.arange(n), best_slot]
    prof_chapter = np.array([int(np.where(chapters == p.chapter)[0][0]) for p in profiles] + [0])
    follow = (lead < n_prof) & (rng.random(n) < 0.85)
    chapter_idx = np.where(follow, prof_chapter[lead], chapter_idx)
    within = np.minimum(
        (rng.power(0.6, n) * codes_per_chapter).astype(np.int64), codes_per_chapter - 1
    )
    hs = chapter_idx * codes_per_chapter + within

    origin_labels = list(ORIGINS)
    origin = _pick(rng, np.array(list(ORIGINS.values())), n)
    prof_origin = np.array(
        [origin_labels.index(p.origin) if p.origin else -1 for p in profiles] + [-1]
    )
    follow_origin = (lead < n_prof) & (prof_origin[lead] >= 0) & (rng.random(n) < 0.8)
    origin = np.where(follow_origin, prof_origin[lead], origin)

    procedure = _pick(rng, np.array([p[1] for p in PROCEDURES]), n)
    kinds = sorted(MODE_BY_KIND)
    kind_of_office = np.array([kinds.index(o.kind) for o in OFFICES])
    mode_cum = np.cumsum(np.array([MODE_BY_KIND[k] for k in kinds]), axis=1)
    mode = _pick_rows(rng, mode_cum, kind_of_office[d.office])
    value_factor = np.array([v[2] for v in CHAPTERS.values()])[chapter_idx]
    value = np.round(rng.lognormal(math.log(9_000), 1.4, n) * value_factor, 2)
    return {
        "hs": hs,
        "hs_labels": code_labels,
        "origin": origin,
        "procedure": procedure,
        "mode": mode,
        "value": value,
        "lead": lead,
    }


def _lognormal_on(
    rng: np.random.Generator, rows: np.ndarray, median_seconds: float, sigma: float
) -> np.ndarray:
    """Log-normal draws for the given row indices only (most milestones concern few rows)."""
    return rng.lognormal(math.log(median_seconds), sigma, len(rows))


def _outcomes(
    rng: np.random.Generator,
    d: _Draws,
    dims: dict[str, Any],
    profiles: list[_Profile],
    params: SampleParameters,
) -> dict[str, np.ndarray]:
    """Result, offence, revenue and time-release milestones (seconds from start)."""
    n = len(d.lodged)
    controlled = d.channel != GREEN
    hit = controlled & (rng.random(n) < d.q)
    area_names = list(RISK_AREAS)
    lead_area = np.array([area_names.index(p.risk_area) for p in profiles] + [-1])[dims["lead"]]
    area_seizure = np.array([RISK_AREAS[a].seizure_share for a in area_names])
    seizure_share = np.where(
        lead_area >= 0, area_seizure[np.maximum(lead_area, 0)], params.base_seizure_share
    )
    seizure_share = np.where(
        d.source == SRC_INTEL, params.intelligence_seizure_share, seizure_share
    )
    seizure = hit & (rng.random(n) < seizure_share)
    result = np.where(seizure, SEIZURE, np.where(hit, IRREGULARITY, NO_FINDING)).astype(np.int8)

    # Offence and revenue exist on hits only.
    h = np.flatnonzero(hit)
    area_offence = np.array([OFFENCES.index(RISK_AREAS[a].offence) for a in area_names])
    area_h = lead_area[h]
    general = _pick(rng, np.array(GENERAL_OFFENCE_P), len(h))
    seized_kind = _pick(rng, np.array(SEIZURE_OFFENCE_P), len(h))
    from_area = (area_h >= 0) & (rng.random(len(h)) < 0.75)
    offence_h = np.where(from_area, area_offence[np.maximum(area_h, 0)], general)
    seizure_offence_ok = np.isin(offence_h, [OFFENCES.index(o) for o in OFFENCES[4:]])
    offence_h = np.where(seizure[h] & ~seizure_offence_ok, seized_kind, offence_h)
    offence = np.full(n, -1, dtype=np.int8)
    offence[h] = offence_h
    revenue_h = dims["value"][h] * rng.lognormal(math.log(0.12), 0.8, len(h))
    revenue_h = np.where(seizure[h], revenue_h * 1.5, revenue_h)  # fines on top of duties
    revenue = np.zeros(n)
    revenue[h] = np.maximum(np.round(revenue_h, 2), 25.0)

    lodged = d.lodged
    assigned = lodged + _lognormal(rng, 90, 0.8, n)
    paid = assigned + _lognormal(rng, 20 * MINUTE, 1.0, n)
    released = paid + _lognormal(rng, 10 * MINUTE, 0.8, n)  # green and blue: quick
    result_at = np.full(n, np.nan)
    yellow = np.flatnonzero(d.channel == YELLOW)
    result_at[yellow] = assigned[yellow] + np.minimum(
        _lognormal_on(rng, yellow, 3 * HOUR, 0.9), 10 * DAY
    )
    red = np.flatnonzero(d.channel == RED)
    red_extra = np.where(rng.random(len(red)) < 0.1, _lognormal_on(rng, red, 3.5 * DAY, 0.7), 0.0)
    result_at[red] = assigned[red] + np.minimum(
        _lognormal_on(rng, red, 20 * HOUR, 0.8) + red_extra, 40 * DAY
    )
    blue = np.flatnonzero(d.channel == BLUE)  # audited after release
    result_at[blue] = released[blue] + np.minimum(
        _lognormal_on(rng, blue, 40 * DAY, 0.45), 150 * DAY
    )
    inspected = np.flatnonzero((d.channel == YELLOW) | (d.channel == RED))
    pay_delay = _lognormal_on(rng, inspected, 1 * HOUR, 1.0) + np.where(
        hit[inspected], _lognormal_on(rng, inspected, 20 * HOUR, 0.9), 0.0
    )
    paid[inspected] = result_at[inspected] + pay_delay
    released[inspected] = (
        paid[inspected]
        + _lognormal_on(rng, inspected, 25 * MINUTE, 0.8)
        + np.where(seizure[inspected], _lognormal_on(rng, inspected, 2 * DAY, 0.8), 0.0)
    )

    mode = dims["mode"]
    arrived = lodged - _lognormal(rng, 1.0, 0.9, n) * np.array(ARRIVAL_LAG_HOURS)[mode] * HOUR
    pre = np.flatnonzero(np.isin(mode, [0, 1]) & (rng.random(n) < params.pre_arrival_share))
    arrived[pre] = lodged[pre] + _lognormal_on(rng, pre, 8 * HOUR, 0.8)
    # Goods lodged before arrival cannot be released before they are there.
    released = np.maximum(released, arrived + _lognormal(rng, 40 * MINUTE, 0.7, n))
    arrival_missing = rng.random(n) < params.arrival_missing_share

    def secs(a: np.ndarray) -> np.ndarray:
        return np.round(np.nan_to_num(a, nan=NEVER)).astype(np.int32)

    return {
        "result": np.where(controlled, result, -1).astype(np.int8),
        "offence": offence,
        "revenue": revenue,
        "assigned": secs(assigned),
        "result_at": secs(result_at),
        "paid": secs(paid),
        "released": secs(released),
        "arrived": secs(arrived),
        "arrival_missing": arrival_missing,
    }


def _corrections(
    rng: np.random.Generator,
    out: dict[str, np.ndarray],
    lodged: np.ndarray,
    as_of: int,
    n: int,
    params: SampleParameters,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose first delivery was wrong, and the kind of correction (0, 1, 2)."""
    final = (out["result"] >= 0) & (out["result_at"] <= as_of) & (lodged < as_of - 30 * DAY)
    hits = np.flatnonzero(final & (out["result"] != NO_FINDING))
    misses = np.flatnonzero(final & (out["result"] == NO_FINDING))
    total = int(np.clip(round(n * params.correction_share), 3, 300))
    n_revenue = min(len(hits) // 2, round(total * 0.4))
    n_late = min(len(hits) - n_revenue, round(total * 0.35))
    n_withdrawn = min(len(misses), total - n_revenue - n_late)
    chosen_hits = rng.choice(hits, size=n_revenue + n_late, replace=False) if len(hits) else hits
    chosen_misses = rng.choice(misses, size=n_withdrawn, replace=False) if len(misses) else misses
    rows = np.concatenate([chosen_hits, chosen_misses]).astype(np.int64)
    kinds = np.concatenate([np.zeros(n_revenue), np.ones(n_late), np.full(n_withdrawn, 2)])
    return rows, kinds.astype(np.int8)


CORRECTION_KINDS = ("revenue_adjusted", "late_finding", "withdrawn")


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------
def _enum(labels: list[str] | tuple[str, ...], codes: np.ndarray) -> pl.Series:
    """Labels gathered by code; negative codes become null."""
    series = pl.Series(list(labels), dtype=pl.Enum(list(dict.fromkeys(labels))))
    idx = pl.Series(np.where(codes < 0, 0, codes).astype(np.int64))
    out = series.gather(idx)
    if (codes < 0).any():
        out = out.scatter(np.flatnonzero(codes < 0), None)
    return out


def _truth_frame(
    d: _Draws,
    dims: dict[str, Any],
    out: dict[str, np.ndarray],
    profiles: list[_Profile],
    months: list[date],
    extra: dict[str, Any],
) -> pl.DataFrame:
    ids = [p.profile_id for p in profiles]
    id_series = pl.Series([*ids, None], dtype=pl.String)
    slot_ids = [id_series.gather(pl.Series(d.slots[:, j].astype(np.int64))) for j in range(3)]
    importer_labels = [f"TIN{100_000_000 + 7919 * i:09d}" for i in range(extra["n_importers"])]
    declarant_labels = [f"DCL{10_000 + 37 * i:05d}" for i in range(extra["n_declarants"])]
    year_of_month = np.array([m.year for m in months[:-1]], dtype=np.int16)
    return (
        pl.DataFrame(
            {
                "lodged": d.lodged.astype(np.int32),
                "year": year_of_month[d.month],
                "office_code": _enum([o.code for o in OFFICES], d.office),
                "channel": _enum(CHANNELS, d.channel),
                "selection_source": _enum(SOURCES, d.source),
                "s0": slot_ids[0],
                "s1": slot_ids[1],
                "s2": slot_ids[2],
                "result": _enum(RESULTS, out["result"]),
                "offence": _enum(OFFENCES, out["offence"]),
                "revenue": out["revenue"],
                "arrived": out["arrived"],
                "arrival_missing": out["arrival_missing"],
                "assigned": out["assigned"],
                "result_at": out["result_at"],
                "paid": out["paid"],
                "released": out["released"],
                "importer_id": _enum(importer_labels, d.importer),
                "declarant_id": _enum(declarant_labels, d.declarant),
                "hs_code": _enum(dims["hs_labels"], dims["hs"]),
                "origin_country": _enum(list(ORIGINS), dims["origin"]),
                "procedure": _enum([p[0] for p in PROCEDURES], dims["procedure"]),
                "transport_mode": _enum(TRANSPORT_MODES, dims["mode"]),
                "is_aeo": d.is_aeo,
                "customs_value": dims["value"],
            }
        )
        .with_columns(
            # ASYCUDA-style key: office, year, serial within the office and year.
            declaration_id=pl.format(
                "{}-{}-C{}",
                pl.col("office_code"),
                pl.col("year"),
                (pl.int_range(pl.len()).over("office_code", "year") + 1)
                .cast(pl.String)
                .str.zfill(7),
            ),
            profile_ids=pl.concat_str("s0", "s1", "s2", separator=";", ignore_nulls=True).replace(
                "", None
            ),
        )
        .drop("year", "s0", "s1", "s2")
    )


def _delivered(truth: pl.DataFrame, t0: int, cutoff: int) -> pl.DataFrame:
    """Canonical rows as an extraction at ``cutoff`` (seconds from start) would show them."""

    def at(name: str, extra: pl.Expr | None = None) -> pl.Expr:
        known = pl.col(name) <= cutoff
        if extra is not None:
            known = known & extra
        seconds = pl.col(name).cast(pl.Int64) + t0
        return pl.when(known).then(pl.from_epoch(seconds, time_unit="s"))

    decided = pl.col("result").is_not_null() & (pl.col("result_at") <= cutoff)
    result_enum = pl.Enum(list(RESULTS))
    return truth.select(
        "declaration_id",
        "office_code",
        pl.from_epoch(pl.col("lodged").cast(pl.Int64) + t0, time_unit="s").alias("lodged_at"),
        "channel",
        "selection_source",
        "profile_ids",
        pl.when(decided)
        .then(pl.col("result"))
        .when(pl.col("result").is_not_null())
        .then(pl.lit("pending", dtype=result_enum))
        .alias("control_result"),
        pl.when(decided).then(pl.col("offence")).alias("offence_type"),
        pl.when(decided).then(pl.col("revenue")).otherwise(0.0).alias("additional_revenue"),
        at("arrived", ~pl.col("arrival_missing")).alias("arrived_at"),
        at("assigned").alias("channel_assigned_at"),
        at("result_at", pl.col("result").is_not_null()).alias("result_recorded_at"),
        at("paid").alias("paid_at"),
        at("released").alias("released_at"),
        "importer_id",
        "declarant_id",
        "hs_code",
        "origin_country",
        "procedure",
        "transport_mode",
        "is_aeo",
        "customs_value",
    ).select(CANONICAL_NAMES)


def _iso(seconds_from_start: float, t0: int) -> str:
    return datetime.fromtimestamp(t0 + int(seconds_from_start), UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _day(seconds_from_start: float, t0: int) -> date:
    return datetime.fromtimestamp(t0 + int(seconds_from_start), UTC).date()


def _register(
    rng: np.random.Generator, profiles: list[_Profile], t0: int, span: int
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, dict[str, Any]]]:
    """Profile register, change log, and the per-profile review facts for ground truth."""
    register: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    review_facts: dict[str, dict[str, Any]] = {}
    for p in profiles:
        area = RISK_AREAS[p.risk_area]
        owner = STAFF[int(rng.integers(len(STAFF)))]

        def event(
            t: int, kind: str, summary: str, pid: str = p.profile_id, by: str = owner
        ) -> None:
            events.append({"profile_id": pid, "changed_at": t, "change_type": kind,
                           "summary": summary, "changed_by": by})  # fmt: skip

        event(p.created_at, "created", f"Profile created: {p.name}")
        life_end = p.ended_at if p.ended_at is not None else span
        period = p.review_period_days * DAY
        # Overdue profiles stopped being reviewed well before the end of the history.
        review_until = (
            life_end - period - int(rng.uniform(30, 300)) * DAY if p.overdue else life_end
        )
        last_review = p.created_at
        t = p.created_at + int(period * rng.uniform(0.8, 1.0))
        while t < review_until and p.archetype != "draft":
            when = _at_office_hours(rng, t)
            if p.change_at is None or abs(when - p.change_at) > DAY:
                event(when, "reviewed", "Periodic review: criteria and selection rate confirmed")
                last_review = when
            t += int(period * rng.uniform(0.85, 1.05))
        if p.change_at is not None:
            before, after = p.hit_rate, p.rate_after or 0.0
            summary = f"{p.change_summary} (hit rate {before:.0%} -> expected {after:.0%})"
            event(p.change_at, "modified", summary)
            last_review = max(last_review, p.change_at)
        if p.suspended:
            event(p.suspended[0], "suspended", "Suspended pending review of false positives")
            event(p.suspended[1], "reactivated", "Reactivated after criteria review")
            last_review = max(last_review, p.suspended[1])
        status = "active"
        valid_to: date | None = None
        if p.archetype == "retired" and p.ended_at is not None:
            event(p.ended_at, "retired", f"Retired: low hit rate ({p.hit_rate:.1%})")
            status, valid_to = "retired", _day(p.ended_at, t0) + timedelta(days=1)
        elif p.archetype == "expired" and p.ended_at is not None:
            status, valid_to = "expired", _day(p.ended_at, t0)
        elif p.archetype == "draft":
            status = "draft"
        valid_from = _day(p.created_at, t0)
        if p.archetype == "draft":
            valid_from = _day(span, t0) + timedelta(days=14)
        last_reviewed = _day(last_review, t0)
        as_of_day = _day(span, t0)
        review_facts[p.profile_id] = {
            "review_period_days": p.review_period_days,
            "last_reviewed_at": last_reviewed.isoformat(),
            "review_overdue_at_as_of": status in ("active", "suspended")
            and last_reviewed + timedelta(days=p.review_period_days) < as_of_day,
        }
        register.append({
            "profile_id": p.profile_id,
            "name": p.name,
            "risk_area": p.risk_area,
            "target_channel": CHANNELS[p.target_channel],
            "status": status,
            "valid_from": valid_from,
            "valid_to": valid_to,
            "owner_unit": area.owner_unit,
            "review_period_days": p.review_period_days,
            "last_reviewed_at": last_reviewed,
            "description": f"{area.label} risk on {CHAPTERS[p.chapter][0]} (HS {p.chapter:02d})"
            + (f" originating in {p.origin}" if p.origin else "")
            + f"; routes {p.selection_rate:.0%} of matches to {CHANNELS[p.target_channel]}.",
        })  # fmt: skip
    profiles_df = pl.DataFrame(
        register,
        schema={c.name: _polars_type(c.value_type) for c in PROFILE_COLUMNS},
    )
    changes_df = (
        pl.DataFrame(events)
        .with_columns(
            changed_at=pl.from_epoch(pl.col("changed_at").cast(pl.Int64) + t0, time_unit="s")
        )
        .sort("changed_at", "profile_id", "change_type")
        .select([c.name for c in PROFILE_CHANGE_COLUMNS])
    )
    return profiles_df, changes_df, review_facts


def _polars_type(kind: str) -> pl.DataType:
    return {"date": pl.Date(), "integer": pl.Int32()}.get(str(kind), pl.String())


def _ground_truth(
    *,
    seed: int,
    n: int,
    months: list[date],
    t0: int,
    params: SampleParameters,
    profiles: list[_Profile],
    extra: dict[str, Any],
    review_facts: dict[str, dict[str, Any]],
    draws: _Draws,
    redelivery: dict[str, Any],
) -> dict[str, Any]:
    span = extra["span"]
    per_profile = []
    for p in profiles:
        current = p.hit_rate
        if p.rate_after is not None:
            current = p.rate_after
        elif p.rate_end is not None:
            current = p.rate_end
        ended = _iso(p.ended_at, t0) if p.ended_at is not None else None
        entry: dict[str, Any] = {
            "profile_id": p.profile_id,
            "name": p.name,
            "archetype": p.archetype,
            "risk_area": p.risk_area,
            "target_channel": CHANNELS[p.target_channel],
            "selection_rate": round(p.selection_rate, 6),
            "fire_share": round(p.fire_share, 8),
            # The rate now (after changes, at the end of a drift); None for a draft never used.
            "true_hit_rate": None if p.archetype == "draft" else round(current, 6),
            "created_at": _iso(p.created_at, t0),
            "retired_at": ended if p.archetype == "retired" else None,
            "expired_at": ended if p.archetype == "expired" else None,
            "suspended": [],
            "changes": [],
            "drift": None,
            **review_facts[p.profile_id],
            **_quality(p, current, params.prevalence),
        }
        if p.suspended:
            begin, end = p.suspended
            entry["suspended"] = [{"from": _iso(begin, t0), "to": _iso(end, t0)}]
        if p.change_at is not None and p.rate_after is not None:
            change = {
                "changed_at": _iso(p.change_at, t0),
                "hit_rate_before": round(p.hit_rate, 6),
                "hit_rate_after": round(p.rate_after, 6),
                "fire_factor": round(p.fire_factor, 6),
            }
            entry["changes"] = [change]
        if p.rate_end is not None:
            entry["drift"] = {
                "rate_start": round(p.hit_rate, 6),
                "rate_end": round(p.rate_end, 6),
                "from": _iso(0, t0),
                "to": _iso(span, t0),
                "formula": "rate_start + (rate_end - rate_start) * (t - from) / (to - from)",
            }
        per_profile.append(entry)
    office_rows = np.bincount(draws.office, minlength=len(OFFICES))
    labels = [m.strftime("%Y-%m") for m in months[:-1]]
    return {
        "seed": seed,
        "months": len(months) - 1,
        "start": months[0].isoformat(),
        "end": (months[-1] - timedelta(days=1)).isoformat(),
        "as_of": _iso(span, t0),
        "n_declarations": n,
        **{k: v for k, v in asdict(params).items() if k != "prevalence"},
        # The population's true non-compliance (mean of q): equals the prevalence_target
        # unless the baseline floor had to bind in some month.
        "prevalence": extra["prevalence"],
        "prevalence_target": params.prevalence,
        "aeo_share": round(float(draws.is_aeo.mean()) if n else 0.0, 6),
        "channel_shares": _shares(draws.channel, CHANNELS),
        "selection_source_shares": _shares(draws.source, SOURCES),
        "aeo_factors": {
            "selection": params.aeo_selection_factor,
            "hit": params.aeo_hit_factor,
        },
        "baseline_rate_by_month": dict(zip(labels, extra["baseline_rate_by_month"], strict=True)),
        "prevalence_by_month": dict(zip(labels, extra["prevalence_by_month"], strict=True)),
        "offices": [
            {**asdict(o), "declarations": int(office_rows[i])} for i, o in enumerate(OFFICES)
        ],
        "profiles": per_profile,
        "quality_rule": QUALITY_RULE,
        "redelivery": redelivery,
        "hit_model": (
            "q0 = max(rate_p(lodged_at) for fired p) if any profile fired, else officer_hit_rate "
            "if selection_source=officer, else intelligence_hit_rate if intelligence, else "
            "baseline_rate_by_month[month]; q = q0 * aeo_hit_factor if is_aeo else q0; a "
            "controlled declaration (channel != green) is irregular or seized with probability "
            "q. rate_p: true_hit_rate; modified: hit_rate_before if lodged_at < changed_at else "
            "hit_rate_after; drifting: drift.formula. baseline_rate_by_month makes the monthly "
            "mean of q over all declarations equal prevalence_target (never below baseline_floor; "
            "prevalence_by_month is the realised mean); the random lane is a uniform "
            "sample, so its hit rate measures prevalence. Judge on the final truth (monthly "
            "files with the redelivery applied)."
        ),
    }


# A profile whose true hit rate is at least this multiple of the population's non-compliance
# is "good": the rules must never flag it for performance.
GOOD_TRUE_LIFT = 2.5
QUALITY_RULE = (
    "quality: poor = planted to waste inspections, with planted_rule the rule that must flag it "
    "(random_like: no_better_than_random; zero: zero_hits; drifting: deteriorating; modified "
    "with a lower rate after its change: worse_after_change); inactive = retired, expired or "
    f"draft at as_of; good = any other with true_lift >= {GOOD_TRUE_LIFT}; fair = the rest "
    "(between random and good: the rules may or may not flag them). true_lift = true_hit_rate "
    "/ prevalence_target."
)


def _quality(p: _Profile, current: float, prevalence: float) -> dict[str, Any]:
    """The ground truth's verdict on a profile (:data:`QUALITY_RULE`)."""
    lift = current / prevalence if p.archetype != "draft" and prevalence > 0 else None
    planted = {"random_like": "no_better_than_random", "zero": "zero_hits",
               "drifting": "deteriorating"}.get(p.archetype)  # fmt: skip
    if p.archetype == "modified" and p.rate_after is not None and p.rate_after < p.hit_rate:
        planted = "worse_after_change"
    if planted is not None:
        quality = "poor"
    elif p.archetype in ("retired", "expired", "draft"):
        quality = "inactive"
    else:
        quality = "good" if lift is not None and lift >= GOOD_TRUE_LIFT else "fair"
    return {
        "true_lift": None if lift is None else round(lift, 6),
        "quality": quality,
        "planted_rule": planted,
    }


def _shares(codes: np.ndarray, labels: tuple[str, ...]) -> dict[str, float]:
    counts = np.bincount(codes, minlength=len(labels))
    return {
        label: round(float(c) / max(len(codes), 1), 6)
        for label, c in zip(labels, counts, strict=True)
    }


def _scale_profiles(n: int) -> int:
    return 200 if n >= 5_000_000 else 40


def generate_sample(
    declarations: int,
    months: int,
    seed: int,
    start: date,
    params: SampleParameters = DEFAULT_PARAMETERS,
) -> Sample:
    """Simulate ``declarations`` declarations lodged over ``months`` months from ``start``'s month.

    Deterministic for (declarations, months, seed, start, params). See the module docstring for
    the exact model; ``Sample.ground_truth`` records every parameter.
    """
    if declarations < 1:
        raise ValueError("declarations must be at least 1")
    if months < 1:
        raise ValueError("months must be at least 1")
    root = np.random.SeedSequence(seed)
    rng_profiles, rng_sim, rng_dims, rng_out, rng_register = (
        np.random.default_rng(s) for s in root.spawn(5)
    )
    month_starts = _month_starts(start.replace(day=1), months)
    t0 = _epoch(month_starts[0])
    span = (month_starts[-1] - month_starts[0]).days * DAY
    profiles = _make_profiles(_scale_profiles(declarations), rng_profiles, span, params.prevalence)
    draws, extra = _simulate(rng_sim, declarations, month_starts, profiles, params)
    dims = _dimensions(rng_dims, draws, profiles)
    out = _outcomes(rng_out, draws, dims, profiles, params)
    corr_rows, corr_kinds = _corrections(rng_out, out, draws.lodged, span, declarations, params)
    truth = _truth_frame(draws, dims, out, profiles, month_starts, extra)

    redelivered_at = span + params.redelivery_delay_days * DAY + 10 * HOUR
    first = _delivered(truth, t0, span)
    first = _misreport(first, rng_out, corr_rows, corr_kinds)

    def crossed(name: str) -> np.ndarray:
        return (out[name] > span) & (out[name] <= redelivered_at)

    changed = crossed("result_at") | crossed("paid") | crossed("released") | crossed("assigned")
    changed |= crossed("arrived") & ~out["arrival_missing"]
    n_state_changes = int(changed.sum())
    changed[corr_rows] = True
    redelivery = _delivered(truth.filter(pl.Series(changed)), t0, redelivered_at)
    del truth

    profiles_df, changes_df, review_facts = _register(rng_register, profiles, t0, span)
    ids = first.get_column("declaration_id")
    redelivery_info = {
        "delivered_at": _iso(redelivered_at, t0),
        "month": _day(redelivered_at, t0).strftime("%Y-%m"),
        "n_rows": redelivery.height,
        "n_state_changes": n_state_changes,
        "n_pending_resolved": int(
            (
                (out["result"] >= 0)
                & (out["result_at"] > span)
                & (out["result_at"] <= redelivered_at)
            ).sum()
        ),
        "corrections": [
            {"declaration_id": ids[int(r)], "kind": CORRECTION_KINDS[int(k)]}
            for r, k in sorted(zip(corr_rows, corr_kinds, strict=True))
        ],
    }
    truth_json = _ground_truth(
        seed=seed, n=declarations, months=month_starts, t0=t0, params=params, profiles=profiles,
        extra=extra, review_facts=review_facts, draws=draws, redelivery=redelivery_info,
    )  # fmt: skip
    _add_expectations(truth_json, draws, out, redelivered_at)
    return Sample(first, redelivery, profiles_df, changes_df, truth_json)


def _add_expectations(
    truth: dict[str, Any], d: _Draws, out: dict[str, np.ndarray], final_cutoff: int
) -> None:
    """Model expectations on the final data (redelivery applied), for tests of the product.

    ``controls`` counts declarations with a final result; ``expected_hit_rate`` is the mean of q
    over them: what a correct KPI computation should measure, up to binomial noise.
    """
    controlled = (out["result"] >= 0) & (out["result_at"] <= final_cutoff)
    weight = np.where(controlled, d.q, 0.0)
    n_prof = len(truth["profiles"])
    flat = d.slots.ravel()  # row-major: the three slots of each declaration in turn
    controls = np.bincount(flat, weights=np.repeat(controlled, 3), minlength=n_prof + 1)
    hits = np.bincount(flat, weights=np.repeat(weight, 3), minlength=n_prof + 1)

    def summary(n: float, expected: float) -> dict[str, Any]:
        rate = round(expected / n, 6) if n else None
        return {"controls": int(n), "expected_hits": round(expected, 3), "expected_hit_rate": rate}

    for i, entry in enumerate(truth["profiles"]):
        entry["sample"] = summary(controls[i], hits[i])
    by_source = np.bincount(d.source, weights=controlled, minlength=len(SOURCES))
    hits_by_source = np.bincount(d.source, weights=weight, minlength=len(SOURCES))
    truth["expected_by_selection_source"] = {
        name: summary(by_source[k], hits_by_source[k])
        for k, name in enumerate(SOURCES)
        if by_source[k] > 0
    }
    truth["expected_overall"] = summary(float(controlled.sum()), float(weight.sum()))


def _misreport(
    first: pl.DataFrame, rng: np.random.Generator, rows: np.ndarray, kinds: np.ndarray
) -> pl.DataFrame:
    """First delivery of corrected rows: what the clearance system wrongly said at first."""
    if len(rows) == 0:
        return first
    result = first.get_column("control_result")
    offence = first.get_column("offence_type")
    revenue = first.get_column("additional_revenue").to_numpy().copy()
    rev_rows, late_rows, wd_rows = rows[kinds == 0], rows[kinds == 1], rows[kinds == 2]
    revenue[rev_rows] = np.round(revenue[rev_rows] * rng.uniform(0.4, 0.9, len(rev_rows)), 2)
    revenue[late_rows] = 0.0
    revenue[wd_rows] = np.round(rng.lognormal(math.log(1500), 1.0, len(wd_rows)), 2)
    if len(late_rows):
        result = result.scatter(late_rows, "no_finding")
        offence = offence.scatter(late_rows, None)
    if len(wd_rows):
        result = result.scatter(wd_rows, "irregularity")
        offence = offence.scatter(wd_rows, "undervaluation")
    return first.with_columns(
        control_result=result, offence_type=offence, additional_revenue=pl.Series(revenue)
    )


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


def _write_frame(frame: pl.DataFrame, path: Path, fmt: Literal["csv", "parquet"]) -> Path:
    if fmt == "parquet":
        frame.with_columns(pl.col(pl.Enum).cast(pl.String)).write_parquet(path)
    else:
        frame.write_csv(path, datetime_format=DATETIME_FORMAT, date_format="%Y-%m-%d",
                        float_precision=2)  # fmt: skip
    return path


def write_single_file(sample: Sample, path: Path) -> Path:
    """Every declaration (first delivery) in one canonical CSV: the benchmarks' input."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return _write_frame(sample.declarations, path, "csv")


def write_sample(
    sample: Sample, out_dir: Path, fmt: Literal["csv", "parquet"] = "csv"
) -> list[Path]:
    """Monthly delivery files, the redelivery, the register, the change log and ground truth.

    Declaration files use ``fmt``; the register and change log are always CSV (the format
    ``customs-kpi load-profiles`` documents). Returns the written paths, sorted.
    """
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"unknown format {fmt!r}: use csv or parquet")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    lodged = sample.declarations.get_column("lodged_at")
    gt = sample.ground_truth
    month_starts = _month_starts(date.fromisoformat(gt["start"]), gt["months"])
    bounds = [
        int(lodged.search_sorted(datetime(m.year, m.month, 1), side="left")) for m in month_starts
    ]
    for i, month in enumerate(month_starts[:-1]):
        part = sample.declarations.slice(bounds[i], bounds[i + 1] - bounds[i])
        name = f"declarations_{month:%Y-%m}.{fmt}"
        written.append(_write_frame(part, out_dir / name, fmt))
    if sample.redelivery.height:
        name = f"declarations_{gt['redelivery']['month']}_redelivery.{fmt}"
        written.append(_write_frame(sample.redelivery, out_dir / name, fmt))
    written.append(_write_frame(sample.profiles, out_dir / "profiles.csv", "csv"))
    written.append(_write_frame(sample.profile_changes, out_dir / "profile_changes.csv", "csv"))
    gt_path = out_dir / "ground_truth.json"
    gt_path.write_text(json.dumps(gt, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    written.append(gt_path)
    return sorted(written)

"""Every KPI of the product, declared once (reference generated from it: docs/kpis.md).

Pages, exports, the CLI (``kpis list``, ``kpis explain``) and the tests all read this catalogue.
A filtered variant (``hit_rate_red``) is a separate entry, not new code. Changing what an entry
computes means bumping its ``version``: reports record the version they were computed with.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from kpis.definitions import (
    GRAINS,
    TIME_GRAINS,
    Category,
    CubeTable,
    DimFilter,
    Direction,
    Kind,
    Unit,
)
from kpis.definitions import KPI as KPI
from kpis.domain import Channel, SelectionSource
from kpis.durations import INSPECTION, RELEASE, RELEASE_FROM_ARRIVAL, Duration
from kpis.measures import RELEASED_WITHIN

COMCEC = (
    "COMCEC (2018), Facilitating Trade: Improving Customs Risk Management Systems in the OIC "
    "Member States, monitoring and review chapter"
)
WCO_TRS = "WCO Time Release Study guide; WTO Trade Facilitation Agreement art. 7.6"
PRODUCT = "customs-kpi product definition (docs/kpis.md)"
GAO = "GAO-02-215R (US Customs: targeted vs random-sample violation rates)"


def _without(*dims: str) -> tuple[str, ...]:
    return tuple(g for g in GRAINS if g not in dims)


TIME_AND_OFFICE: tuple[str, ...] = (*TIME_GRAINS, "office")
# The time histogram has no profile dimension.
HIST_DIMENSIONS = _without("profile")


def _channel(*channels: Channel) -> DimFilter:
    return DimFilter("channel", tuple(c.value for c in channels))


def _source(*sources: SelectionSource) -> DimFilter:
    return DimFilter("selection_source", tuple(s.value for s in sources))


def _selection() -> Iterator[KPI]:
    sel = Category.SELECTION
    yield KPI(
        id="declarations",
        label="Declarations lodged",
        description="Number of declarations lodged in the period.",
        formula="count of declarations",
        category=sel,
        unit=Unit.COUNT,
        direction=Direction.NEUTRAL,
        kind=Kind.COUNT,
        source=COMCEC,
        numerator="declarations",
        reference="Senegal ≈ 0.23 M/yr; Morocco 1–2 M; Turkey ≈ 9 M; Korea ≈ 16.5 M imports",
    )
    yield KPI(
        id="physical_inspection_rate",
        label="% physically inspected",
        description="Share of declarations routed to the red channel (physical examination). "
        "Lower is better only while detection holds.",
        formula="declarations in the red channel / declarations",
        category=sel,
        unit=Unit.PERCENT,
        direction=Direction.LOWER,
        kind=Kind.PROPORTION,
        source=COMCEC,
        numerator="declarations",
        denominator="declarations",
        numerator_filters=(_channel(Channel.RED),),
        allowed_dimensions=_without("channel"),
        default_target=0.05,
        target_note="between developed administrations (2–3 %) and the OIC average (7.6 %)",
        reference="2–3 % developed countries; 5–7 % Indonesia; 7.6 % OIC average with full "
        "CRM; 12.3 % Turkey; 81 % Nigeria",
    )
    yield KPI(
        id="channel_rates",
        label="Share per channel",
        description="Share of declarations in each channel (green, yellow, red, blue); every "
        "channel is listed, also when empty.",
        formula="declarations in channel X / declarations",
        category=sel,
        unit=Unit.PERCENT,
        direction=Direction.NEUTRAL,
        kind=Kind.SHARE,
        source=COMCEC,
        numerator="declarations",
        share_dimension="channel",
        required_dimensions=("channel",),
    )
    directions = {
        Channel.GREEN: Direction.HIGHER,
        Channel.YELLOW: Direction.NEUTRAL,
        Channel.RED: Direction.LOWER,
        Channel.BLUE: Direction.NEUTRAL,
    }
    meanings = {
        Channel.GREEN: "released without control",
        Channel.YELLOW: "documentary check",
        Channel.RED: "physical examination",
        Channel.BLUE: "post-clearance audit",
    }
    channel_ids = {
        Channel.GREEN: "channel_rate_green",
        Channel.YELLOW: "channel_rate_yellow",
        Channel.RED: "channel_rate_red",
        Channel.BLUE: "channel_rate_blue",
    }
    for ch in Channel:
        yield KPI(
            id=channel_ids[ch],
            label=f"{ch.value.capitalize()} channel share",
            description=f"Share of declarations in the {ch.value} channel ({meanings[ch]}).",
            formula=f"declarations in the {ch.value} channel / declarations",
            category=sel,
            unit=Unit.PERCENT,
            direction=directions[ch],
            kind=Kind.PROPORTION,
            source=COMCEC,
            numerator="declarations",
            denominator="declarations",
            numerator_filters=(_channel(ch),),
            allowed_dimensions=_without("channel"),
        )
    yield KPI(
        id="rerouting_rate",
        label="% of physical inspections selected by officers",
        description="Share of physical examinations that an officer chose at his discretion "
        "(rerouting) rather than a profile, random draw or intelligence.",
        formula="red-channel declarations selected by an officer / red-channel declarations",
        category=sel,
        unit=Unit.PERCENT,
        direction=Direction.LOWER,
        kind=Kind.PROPORTION,
        source=COMCEC,
        numerator="declarations",
        denominator="declarations",
        filters=(_channel(Channel.RED),),
        numerator_filters=(_source(SelectionSource.OFFICER),),
        allowed_dimensions=_without("channel", "selection_source"),
    )
    yield KPI(
        id="random_share",
        label="Random selection share",
        description="Share of declarations selected by the random draw: the baseline that "
        "makes hit rates comparable. Must stay above 0.",
        formula="declarations selected at random / declarations",
        category=sel,
        unit=Unit.PERCENT,
        direction=Direction.NEUTRAL,
        kind=Kind.PROPORTION,
        source="ASYCUDA selectivity practice; " + COMCEC,
        numerator="declarations",
        denominator="declarations",
        numerator_filters=(_source(SelectionSource.RANDOM),),
        allowed_dimensions=_without("selection_source"),
        default_target=0.01,
        target_note="a minimum random rate for quality control, e.g. 1 % of declarations",
        reference="ASYCUDA keeps a minimum random rate; e.g. 1 % of a 10 % control budget",
    )
    yield KPI(
        id="profile_volume",
        label="Selections per profile",
        description="Declarations on which the profile fired (a declaration hit by three "
        "profiles counts for each of them).",
        formula="count of declarations where the profile fired",
        category=sel,
        unit=Unit.COUNT,
        direction=Direction.NEUTRAL,
        kind=Kind.COUNT,
        source=PRODUCT,
        numerator="declarations",
        table=CubeTable.PROFILES,
        required_dimensions=("profile",),
    )


# COMCEC's benchmark is for physical inspections (the red channel) and for risk-selected
# controls as a whole; it says nothing of documentary checks or post-clearance audits.
PHYSICAL_INSPECTION_TARGET = 0.034
PHYSICAL_INSPECTION_NOTE = "OIC average physical-inspection success with full CRM (COMCEC 2018)"
NO_LANE_BENCHMARK = (
    "no published benchmark for this lane (COMCEC's 3.4 % is physical-inspection success); "
    "judge it against the random hit rate of the same lane (lift)"
)


def _hit_rate(
    id_: str,
    label: str,
    scope: str,
    filters: tuple[DimFilter, ...],
    dims: tuple[str, ...],
    target: float | None = PHYSICAL_INSPECTION_TARGET,
    target_note: str = PHYSICAL_INSPECTION_NOTE,
) -> KPI:
    return KPI(
        id=id_,
        label=label,
        description=f"Share of completed controls{scope} that found non-compliance "
        "(irregularity or seizure). Pending controls are not counted.",
        formula=f"controls{scope} with an irregularity or seizure / completed controls{scope}",
        category=Category.EFFECTIVENESS,
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        kind=Kind.PROPORTION,
        source=COMCEC,
        numerator="irregular",
        denominator="controlled",
        filters=filters,
        allowed_dimensions=dims,
        default_target=target,
        target_note=target_note,
        reference="3.4 % average physical-inspection success in OIC administrations with full CRM",
    )


def _effectiveness() -> Iterator[KPI]:
    eff = Category.EFFECTIVENESS
    yield _hit_rate("hit_rate", "Hit rate", "", (), GRAINS)
    # Only the red lane is a physical inspection: the yellow and blue lanes have no target.
    for id_, ch, what, target, note in (
        (
            "hit_rate_red",
            Channel.RED,
            "physical examinations",
            PHYSICAL_INSPECTION_TARGET,
            PHYSICAL_INSPECTION_NOTE,
        ),
        ("hit_rate_yellow", Channel.YELLOW, "documentary checks", None, NO_LANE_BENCHMARK),
        ("hit_rate_blue", Channel.BLUE, "post-clearance audits", None, NO_LANE_BENCHMARK),
    ):
        yield _hit_rate(
            id_,
            f"Hit rate of {what}",
            f" in the {ch.value} channel",
            (_channel(ch),),
            _without("channel"),
            target,
            note,
        )
    yield _hit_rate(
        "hit_rate_profile_selected",
        "Hit rate of profile-selected controls",
        " selected by a risk profile",
        (_source(SelectionSource.PROFILE),),
        _without("selection_source"),
    )
    yield KPI(
        id="non_resultant_rate",
        label="Non-resultant (false-positive) rate",
        description="Share of completed controls that found nothing: 1 − hit rate.",
        formula="(completed controls − controls with a finding) / completed controls",
        category=eff,
        unit=Unit.PERCENT,
        direction=Direction.LOWER,
        kind=Kind.PROPORTION,
        source=COMCEC,
        numerator="controlled",
        numerator_subtract="irregular",
        denominator="controlled",
    )
    yield KPI(
        id="seizure_rate",
        label="% of examinations with a seizure",
        description="Share of completed controls that ended in a seizure.",
        formula="controls with a seizure / completed controls",
        category=eff,
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        kind=Kind.PROPORTION,
        source=COMCEC,
        numerator="seizure",
        denominator="controlled",
    )
    yield KPI(
        id="revenue_total",
        label="Additional revenue from controls",
        description="Duties, taxes and fines raised by controls.",
        formula="sum of additional revenue",
        category=eff,
        unit=Unit.CURRENCY,
        direction=Direction.HIGHER,
        kind=Kind.SUM,
        source=COMCEC,
        numerator="revenue",
    )
    yield KPI(
        id="revenue_per_control",
        label="Revenue yield per control",
        description="Additional revenue raised per completed control.",
        formula="sum of additional revenue / completed controls",
        category=eff,
        unit=Unit.CURRENCY,
        direction=Direction.HIGHER,
        kind=Kind.RATIO,
        source=COMCEC,
        numerator="revenue",
        denominator="controlled",
    )
    yield KPI(
        id="random_hit_rate",
        label="Hit rate of random controls",
        description="Hit rate of controls selected by the random draw: the baseline every "
        "profile is compared with, and an estimate of non-compliance in the population.",
        formula="random controls with a finding / completed random controls",
        category=eff,
        unit=Unit.PERCENT,
        direction=Direction.NEUTRAL,
        kind=Kind.PROPORTION,
        source=GAO,
        numerator="irregular",
        denominator="controlled",
        filters=(_source(SelectionSource.RANDOM),),
        allowed_dimensions=_without("selection_source"),
    )
    yield KPI(
        id="lift",
        label="Lift over random",
        description="A profile's hit rate divided by the random hit rate of the same period "
        "and office scope; p-value of a two-proportion test (Fisher's exact test for small "
        "counts) against that baseline.",
        formula="hit rate of the profile / hit rate of random controls",
        category=eff,
        unit=Unit.RATIO,
        direction=Direction.HIGHER,
        kind=Kind.LIFT,
        source=GAO,
        numerator="irregular",
        denominator="controlled",
        table=CubeTable.PROFILES,
        required_dimensions=("profile",),
        allowed_dimensions=_without("selection_source"),
        default_target=1.0,
        target_note="a profile should find more than random selection",
        reference="US Customs compared targeted with random-sample violation rates (GAO-02-215R)",
    )
    yield KPI(
        id="selection_lift",
        label="Lift of profile selection over random",
        description="Hit rate of all profile-selected controls divided by the random hit rate "
        "of the same period and office scope, with the p-value of the test.",
        formula="hit rate of profile-selected controls / hit rate of random controls",
        category=eff,
        unit=Unit.RATIO,
        direction=Direction.HIGHER,
        kind=Kind.LIFT,
        source=GAO,
        numerator="irregular",
        denominator="controlled",
        table=CubeTable.DECLARATIONS,
        filters=(_source(SelectionSource.PROFILE),),
        allowed_dimensions=(*TIME_AND_OFFICE, "channel"),
        default_target=1.0,
        target_note="risk selection should find more than random selection",
    )
    yield KPI(
        id="compliance_rate",
        label="Estimated compliance",
        description="Share of random controls that found nothing: an estimate of the "
        "compliance of all declarations, with its binomial interval.",
        formula="(random controls − random controls with a finding) / random controls",
        category=eff,
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        kind=Kind.PROPORTION,
        source=GAO,
        numerator="controlled",
        numerator_subtract="irregular",
        denominator="controlled",
        filters=(_source(SelectionSource.RANDOM),),
        allowed_dimensions=_without("selection_source", "profile"),
        reference="New Zealand reported 98.8 % of import transactions compliant",
    )
    yield KPI(
        id="detection_share",
        label="Share of detections by selection source",
        description="Which selection source found the irregularities: shows what random "
        "selection finds that profiles miss. Every source is listed, also when empty.",
        formula="controls with a finding selected by X / controls with a finding",
        category=eff,
        unit=Unit.PERCENT,
        direction=Direction.NEUTRAL,
        kind=Kind.SHARE,
        source=PRODUCT,
        numerator="irregular",
        share_dimension="selection_source",
        required_dimensions=("selection_source",),
    )


def _time_kpis(d: Duration, source: str, reference: str = "") -> Iterator[KPI]:
    """Mean, median and 90th percentile of one duration (kpis.durations)."""
    tim = Category.TIME
    yield KPI(
        id=d.mean_kpi,
        label=f"{d.label} (mean)",
        description=f"Mean {d.what}. Red-lane tails dominate a mean: read it with the median "
        "and 90th percentile.",
        formula=f"sum of hours {d.what} / number timed",
        category=tim,
        unit=Unit.HOURS,
        direction=Direction.LOWER,
        kind=Kind.MEAN,
        source=source,
        numerator=d.hours,
        denominator=d.count,
        extra_columns=("open",) if d.counts_open else (),
        reference=reference,
    )
    for id_, q, name in ((d.median_kpi, 0.5, "median"), (d.p90_kpi, 0.9, "90th percentile")):
        yield KPI(
            id=id_,
            label=f"{d.label} ({name})",
            description=f"{name.capitalize()} of {d.what}, from the mergeable histogram "
            "(within 1 % relative error).",
            formula=f"{name} of hours {d.what}",
            category=tim,
            unit=Unit.HOURS,
            direction=Direction.LOWER,
            kind=Kind.PERCENTILE,
            source=source,
            table=CubeTable.TIME_HIST,
            hist_metric=d.name,
            quantile=q,
            allowed_dimensions=HIST_DIMENSIONS,
        )


STAGES: tuple[tuple[str, str], ...] = (
    ("stage_arrival_lodgement", "arrival to lodgement"),
    ("stage_lodgement_channel", "lodgement to channel assignment"),
    ("stage_channel_result", "channel assignment to control result"),
    ("stage_result_release", "control result to release"),
)


PRE_RELEASE_STAGES = frozenset({"stage_channel_result", "stage_result_release"})


def _time() -> Iterator[KPI]:
    tim = Category.TIME
    yield from _time_kpis(INSPECTION, COMCEC)
    yield from _time_kpis(
        RELEASE,
        WCO_TRS,
        "WTO TFA art. 7.6 asks for published averages; EU: about 95 % of import declarations "
        "cleared within 1 hour",
    )
    yield from _time_kpis(RELEASE_FROM_ARRIVAL, WCO_TRS)
    for stage_id, what in STAGES:
        # A blue-channel audit happens after release: its "result" would give a negative
        # result→release time. The control stages are about controls before release.
        pre_release = stage_id in PRE_RELEASE_STAGES
        yield KPI(
            id=stage_id,
            label=f"Stage time: {what}",
            description=f"Mean hours {what}."
            + (
                " Yellow and red controls only (blue audits follow release)." if pre_release else ""
            ),
            formula=f"sum of hours {what} / declarations with both timestamps",
            category=tim,
            unit=Unit.HOURS,
            direction=Direction.LOWER,
            kind=Kind.MEAN,
            source=WCO_TRS,
            numerator=f"{stage_id}_hours",
            denominator=stage_id,
            filters=(_channel(Channel.YELLOW, Channel.RED),) if pre_release else (),
        )
    yield KPI(
        id="stage_times",
        label="Stage intervals",
        description="Mean hours of each stage of clearance: arrival→lodgement, "
        "lodgement→channel, channel→result, result→release.",
        formula="one mean per stage (column component)",
        category=tim,
        unit=Unit.HOURS,
        direction=Direction.LOWER,
        kind=Kind.COMPOSITE,
        source=WCO_TRS,
        parts=tuple(s for s, _ in STAGES),
    )
    for h, within_id in RELEASED_WITHIN:
        yield KPI(
            id=within_id,
            label=f"% released within {h} h",
            description=f"Share of released declarations released within {h} hours of "
            "lodgement. Declarations not yet released are open, not counted here.",
            formula=f"declarations released within {h} h of lodgement / released declarations",
            category=tim,
            unit=Unit.PERCENT,
            direction=Direction.HIGHER,
            kind=Kind.PROPORTION,
            source=WCO_TRS,
            numerator=within_id,
            denominator="released",
            default_target=0.95 if h == 1 else None,
            target_note="EU: about 95 % of import declarations cleared within 1 hour"
            if h == 1
            else "",
            reference="EU ≈ 95 % within 1 h; NZ 99.9 % within 30 min outside compliance checks",
        )
    yield KPI(
        id="released_within",
        label="% released within X hours",
        description="Share of released declarations released within 1, 3, 6, 24, 48 and 72 "
        "hours of lodgement.",
        formula="one share per threshold (column component)",
        category=tim,
        unit=Unit.PERCENT,
        direction=Direction.HIGHER,
        kind=Kind.COMPOSITE,
        source=WCO_TRS,
        parts=tuple(within_id for _, within_id in RELEASED_WITHIN),
        reference="EU ≈ 95 % within 1 h; NZ 99.9 % within 30 min outside compliance checks",
    )


def _register(**fields: Any) -> KPI:
    """A profile-management KPI: computed from the register and change log at a date."""
    return KPI(
        category=Category.PROFILE_MANAGEMENT,
        kind=Kind.REGISTER,
        source=COMCEC,
        table=CubeTable.REGISTER,
        **fields,
    )


def _profile_management() -> Iterator[KPI]:
    yield _register(
        id="active_profiles",
        label="Active profiles",
        description="Profiles in force: status active and today within their validity. At a "
        "time grain, counted on the last day of each period (or today if earlier).",
        formula="count of profiles with status active and valid_from ≤ date < valid_to",
        unit=Unit.COUNT,
        direction=Direction.NEUTRAL,
        allowed_dimensions=TIME_GRAINS,
    )
    yield _register(
        id="review_overdue",
        label="Profiles overdue for review",
        description="Active or suspended profiles whose last review (or, never reviewed, "
        "their start of validity) plus their review period lies before the date.",
        formula="count of profiles with last review + review period < date",
        unit=Unit.COUNT,
        direction=Direction.LOWER,
        allowed_dimensions=TIME_GRAINS,
        default_target=0.0,
        target_note="every profile in force is reviewed on time",
    )
    yield _register(
        id="zero_hit_profiles",
        label="Profiles with no hit",
        description="Profiles with at least the minimum sample of completed controls in the "
        "window and not one finding.",
        formula="count of profiles with controls ≥ n_min and hits = 0",
        unit=Unit.COUNT,
        direction=Direction.LOWER,
        allowed_dimensions=TIME_AND_OFFICE,
        default_target=0.0,
        target_note="a profile that finds nothing in n_min controls should be tuned or retired",
    )
    yield _register(
        id="controls_low_lift",
        label="Controls spent on low-lift profiles",
        description="Share of profile controls spent on profiles whose lift over random is "
        "not above 1 in the window (same office scope). Profiles without a random baseline "
        "are not counted as low-lift.",
        formula="controls of profiles with lift ≤ 1 / controls of all profiles",
        unit=Unit.PERCENT,
        direction=Direction.LOWER,
        allowed_dimensions=TIME_AND_OFFICE,
    )
    yield _register(
        id="profile_changes",
        label="Profile changes",
        description="Profile change-log events per period and type (created, modified, "
        "suspended, reactivated, retired, reviewed).",
        formula="count of change-log events by change type",
        unit=Unit.COUNT,
        direction=Direction.NEUTRAL,
        allowed_dimensions=TIME_GRAINS,
        required_dimensions=("change_type",),
    )


CATALOGUE: tuple[KPI, ...] = (*_selection(), *_effectiveness(), *_time(), *_profile_management())
_BY_ID: dict[str, KPI] = {k.id: k for k in CATALOGUE}

# The public KPIs: the product's list (docs/kpis.md); each has a surface (kpis.surfaces).
PUBLIC_IDS: tuple[str, ...] = (
    "declarations",
    "physical_inspection_rate",
    "channel_rates",
    "rerouting_rate",
    "random_share",
    "profile_volume",
    "hit_rate",
    "non_resultant_rate",
    "seizure_rate",
    "revenue_total",
    "revenue_per_control",
    "random_hit_rate",
    "lift",
    "compliance_rate",
    "detection_share",
    "inspection_time",
    "release_time",
    "stage_times",
    "released_within",
    "active_profiles",
    "review_overdue",
    "zero_hit_profiles",
    "controls_low_lift",
    "profile_changes",
)


# The headline KPIs of a month, in display order: the Overview's cards and the summary of the
# monthly report (PDF, workbook, CSV) both show exactly these.
HEADLINE_KPIS: tuple[str, ...] = (
    "declarations",
    "physical_inspection_rate",
    "hit_rate",
    "seizure_rate",
    "revenue_total",
    "revenue_per_control",
    "release_time_median",
    "release_time_p90",
    "released_within_1h",
    "rerouting_rate",
    "random_share",
    "compliance_rate",
)


class UnknownKPI(KeyError):
    """No catalogue entry has this id."""


def get(kpi_id: str) -> KPI:
    """The catalogue entry ``kpi_id``; raises :class:`UnknownKPI` naming close ids."""
    try:
        return _BY_ID[kpi_id]
    except KeyError:
        close = difflib.get_close_matches(kpi_id, list(_BY_ID), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise UnknownKPI(f"unknown KPI {kpi_id!r}{hint}") from None


def ids() -> tuple[str, ...]:
    return tuple(_BY_ID)

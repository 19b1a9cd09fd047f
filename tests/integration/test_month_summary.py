"""The month's summary (kpis.summary): the Overview band's and the report cover's facts.

Checked on the tuning sample (40,000 declarations over 24 months, seed 11) against counts made
by hand from the cube and against the flags' one function (the profile table of the rule set):
the flagged profiles, the deteriorations and their cost are exactly what the rules judge; the
off-target count is what kpi_status says of the report's headline table; the lift is the
profile-selected hit rate over the random hit rate with Katz's interval. Then the report: its
cover paragraph carries the same sentences, the decisions passed in are listed with their
rationale, one page orientation, one minus sign.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from etl_helpers import load_tuning_sample

from customs_kpi.published import current_version
from customs_kpi.settings import Settings
from kpis import catalogue
from kpis.cube import CubeFrames, Filters
from kpis.flags import PERFORMANCE_RULES, FlagRule
from kpis.grain import add_months, period_end_day
from kpis.profiles import profile_table
from kpis.stats import lift_interval
from kpis.summary import month_summary, summary_sentences
from kpis.targets import TargetStatus, kpi_status
from monthly_report.content import headline_rows
from monthly_report.producer import produce_report

MONTHS = (date(2025, 12, 1), date(2025, 6, 1), date(2024, 12, 1))


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, CubeFrames, Any]:
    settings, generated = load_tuning_sample(tmp_path_factory.mktemp("summary"))
    published = current_version(settings)
    assert published is not None
    return settings, CubeFrames.from_published(published), generated.ground_truth


@pytest.mark.parametrize("month", MONTHS, ids=[f"{m:%Y-%m}" for m in MONTHS])
def test_flags_deteriorations_and_cost_are_the_rule_sets(
    sample: tuple[Settings, CubeFrames, Any], month: date
) -> None:
    settings, cube, truth = sample
    flags = settings.flag_config()
    facts = month_summary(cube, month, flags)
    window = (add_months(month, -(flags.window_months - 1)), period_end_day(month))
    table = profile_table(cube, period=window, flag_config=flags, today=window[1])
    rows = [r for r in table.iter_rows(named=True) if r["flags"]]
    assert facts.flagged == tuple(sorted(r["profile_id"] for r in rows))
    assert facts.deteriorating == tuple(
        sorted(r["profile_id"] for r in rows if FlagRule.DETERIORATING.value in r["flags"])
    )
    assert facts.severity == pytest.approx(sum(r["severity"] or 0 for r in rows))
    # The generator's truth: no good profile is flagged for performance, so none deteriorates.
    good = {p["profile_id"] for p in truth["profiles"] if p["quality"] == "good"}
    performance = {rule.value for rule in PERFORMANCE_RULES}
    assert not good & set(facts.deteriorating)
    if month == MONTHS[0]:  # with the full 24 months behind it (earlier: too little to decide)
        assert not {r["profile_id"] for r in rows if set(r["flags"]) & performance} & good


def test_the_planted_poor_profiles_are_counted_among_the_flagged(
    sample: tuple[Settings, CubeFrames, Any],
) -> None:
    settings, cube, truth = sample
    facts = month_summary(cube, date(2025, 12, 1), settings.flag_config())
    poor = {p["profile_id"] for p in truth["profiles"] if p["quality"] == "poor"}
    # The 40 k sample is small: most, not necessarily all, planted poor profiles are decided.
    assert len(poor & set(facts.flagged)) >= len(poor) // 2
    assert len(facts.flagged) >= 1 and facts.severity > 0


@pytest.mark.parametrize("month", MONTHS, ids=[f"{m:%Y-%m}" for m in MONTHS])
def test_off_target_count_is_the_headline_tables(
    sample: tuple[Settings, CubeFrames, Any], month: date
) -> None:
    settings, cube, _ = sample
    facts = month_summary(cube, month, settings.flag_config())
    headline = headline_rows(cube, month, settings.flag_config().n_min, {})
    statuses = {
        r["kpi_id"]: kpi_status(catalogue.get(r["kpi_id"]), r["value"], r["sufficient"])
        for r in headline.iter_rows(named=True)
    }
    assert facts.off_target == tuple(k for k, s in statuses.items() if s is TargetStatus.OFF)
    assert facts.near_target == tuple(k for k, s in statuses.items() if s is TargetStatus.NEAR)
    judged = {TargetStatus.ON, TargetStatus.NEAR, TargetStatus.OFF}
    assert facts.judged == sum(1 for s in statuses.values() if s in judged)


def _hand_counts(cube: CubeFrames, month: date, source: str) -> tuple[int, int]:
    rows = cube.declarations.filter(
        (pl.col("lodged_month") == month) & (pl.col("selection_source") == source)
    )
    return int(rows["irregular"].sum()), int(rows["controlled"].sum())


@pytest.mark.parametrize("month", MONTHS, ids=[f"{m:%Y-%m}" for m in MONTHS])
def test_lift_and_its_interval_from_hand_counts(
    sample: tuple[Settings, CubeFrames, Any], month: date
) -> None:
    settings, cube, _ = sample
    facts = month_summary(cube, month, settings.flag_config())
    x1, n1 = _hand_counts(cube, month, "profile")
    x0, n0 = _hand_counts(cube, month, "random")
    assert (facts.random_hits, facts.random_controls) == (x0, n0)
    if x0 == 0:
        assert facts.lift is None
        assert "none of the" in summary_sentences(facts)[2]
        return
    assert facts.lift == pytest.approx((x1 / n1) / (x0 / n0))
    interval = lift_interval(x1, n1, x0, n0)
    assert interval is not None
    assert (facts.lift_low, facts.lift_high) == pytest.approx((interval.low, interval.high))


def test_a_channel_filter_leaves_channel_wide_kpis_judged_over_every_channel(
    sample: tuple[Settings, CubeFrames, Any],
) -> None:
    settings, cube, _ = sample
    month = date(2025, 12, 1)
    national = month_summary(cube, month, settings.flag_config())
    red = month_summary(cube, month, settings.flag_config(), filters=Filters(channels=("red",)))
    # "% physically inspected" is 100 % within the red channel: never judged on that.
    inspected = "physical_inspection_rate"
    assert (inspected in red.off_target) == (inspected in national.off_target)


def _text(path: Path) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_report_cover_decisions_orientation_and_minus_sign(
    sample: tuple[Settings, CubeFrames, Any],
) -> None:
    from pypdf import PdfReader

    settings, cube, _ = sample
    month = date(2025, 12, 1)
    decisions = pl.DataFrame(
        {
            "profile_id": ["P023", "P003", "P009"],
            "changed_at": [datetime(2025, 12, 9, 10), datetime(2025, 12, 16, 14),
                           datetime(2025, 11, 30, 23)],
            "change_type": ["retire", "modify", "keep"],
            "summary": ["No finding in a year of controls.", "Narrow the rule to HS 8517.",
                        "Decided in November: not this month's."],
            "changed_by": ["ann", "bob", "cid"],
            "source": ["decision"] * 3,
        }
    )  # fmt: skip
    report = produce_report(
        settings, month, reason="summary test", now=datetime(2026, 1, 5, tzinfo=UTC),
        decisions=decisions,
    )  # fmt: skip
    pdf = next(report.path.glob("*.pdf"))
    reader = PdfReader(str(pdf))
    cover = _flat(reader.pages[0].extract_text() or "")
    facts = month_summary(cube, month, settings.flag_config())
    for sentence in summary_sentences(facts):
        assert _flat(sentence.replace("-", "\u2212")) in cover.replace("-", "\u2212"), sentence
    text = _flat(_text(pdf))
    assert "Review decisions of the month" in text
    assert "No finding in a year of controls." in text and "Narrow the rule to HS 8517." in text
    assert "Decided in November" not in text
    assert "recorded 2 decisions this month" in cover
    listed = pl.read_csv(report.path / "review_decisions.csv")
    assert listed.select("profile_id", "decision", "rationale", "decided_by").rows() == [
        ("P023", "retire", "No finding in a year of controls.", "ann"),
        ("P003", "modify", "Narrow the rule to HS 8517.", "bob"),
    ]
    # One page orientation.
    sizes = {(round(float(p.mediabox.width)), round(float(p.mediabox.height)))
             for p in reader.pages}  # fmt: skip
    assert len(sizes) == 1
    width, height = sizes.pop()
    assert width > height
    # One minus sign: no hyphen-minus starts a number (dates and ids keep their hyphens).
    assert not re.findall(r"(?<![\w.)\]])-\d", text), re.findall(r".{12}(?<![\w.)\]])-\d.{4}", text)
    assert "\u2212" in text  # the deltas' minus sign is U+2212
    assert "-0.0" not in text and "pts" not in text  # one delta format: "±0.0 pp"
    # Lift with its interval, or why there is none, on the headline page.
    assert "Lift of profile selection over random:" in text


def test_decisions_come_from_the_app_state_through_the_worker(tmp_path: Path) -> None:
    from appstate.audit import Actor
    from appstate.review import State, store_for
    from customs_kpi.settings import load_settings
    from worker.scheduler import review_decisions

    settings = load_settings(environ={}, home=tmp_path / "home")
    settings.ensure_home()
    assert review_decisions(settings) is None  # no app state yet: nothing to list
    store = store_for(settings.app_db_path)
    actor = Actor("ann", "analyst")
    store.transition("P001", State.UNDER_REVIEW, actor)
    store.transition("P001", State.DECIDED, actor, decision="retire", rationale="No hits.")
    frame = review_decisions(settings)
    assert frame is not None
    assert frame.select("profile_id", "change_type", "summary", "changed_by").rows() == [
        ("P001", "retire", "No hits.", "ann")
    ]

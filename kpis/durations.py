"""The duration metrics, declared once: what each one measures, the cube measures and histogram
metric it reads, and the ids of its catalogue entries (mean, median, 90th percentile).

The catalogue (:mod:`kpis.catalogue`), the histogram contract (:data:`kpis.measures.HIST_METRICS`),
the ETL's histogram columns (``etl/cube.py``), the engine's time summary
(:func:`kpis.timecalc.time_summary`), the Clearance page and the monthly report all read
:data:`DURATIONS`; a new duration is added here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Duration:
    name: str  # the histogram metric (column ``metric`` of cube_time_hist)
    label: str  # catalogue label stem: "Release time" → "Release time (median)"
    interval: str  # the interval in a few words, as the report and the Clearance page name it
    what: str  # "from lodgement to release": the catalogue's descriptions and formulas
    hours: str  # measure: sum of the hours (kpis.measures)
    count: str  # measure: number of durations timed
    mean_kpi: str  # catalogue ids
    median_kpi: str
    p90_kpi: str
    to_release: bool  # ends at release: the Clearance page's "measured from" choice
    counts_open: bool = False  # the mean also reports declarations not yet released (``open``)

    @property
    def kpi_ids(self) -> tuple[str, str, str]:
        return (self.mean_kpi, self.median_kpi, self.p90_kpi)


RELEASE = Duration(
    name="release",
    label="Release time",
    interval="lodgement → release",
    what="from lodgement to release",
    hours="release_hours",
    count="released",
    mean_kpi="release_time",
    median_kpi="release_time_median",
    p90_kpi="release_time_p90",
    to_release=True,
    counts_open=True,
)
RELEASE_FROM_ARRIVAL = Duration(
    name="release_from_arrival",
    label="Release time from arrival",
    interval="arrival → release",
    what="from arrival of the goods to release",
    hours="release_from_arrival_hours",
    count="released_from_arrival",
    mean_kpi="release_time_from_arrival",
    median_kpi="release_time_from_arrival_median",
    p90_kpi="release_time_from_arrival_p90",
    to_release=True,
)
INSPECTION = Duration(
    name="inspection",
    label="Physical inspection time",
    interval="physical inspection (channel assigned → result)",
    what="from red-channel assignment to the recorded result",
    hours="inspection_hours",
    count="inspections_timed",
    mean_kpi="inspection_time",
    median_kpi="inspection_time_median",
    p90_kpi="inspection_time_p90",
    to_release=False,
)

# Histogram order (cube_time_hist's metric values, kpis.measures.HIST_METRICS).
DURATIONS: tuple[Duration, ...] = (RELEASE, RELEASE_FROM_ARRIVAL, INSPECTION)
BY_NAME: dict[str, Duration] = {d.name: d for d in DURATIONS}


def duration(name: str) -> Duration:
    """The duration metric ``name``; ValueError naming the known ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        known = ", ".join(BY_NAME)
        raise ValueError(f"unknown duration metric {name!r}; one of {known}") from None

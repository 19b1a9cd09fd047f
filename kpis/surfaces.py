"""Where each KPI is shown: the dashboard pages, the sheets of the monthly report, or only the
CLI (``customs-kpi kpis show ID``). Declared once here, as data.

The monthly report takes its per-sheet KPI lists from :data:`REPORT_SHEETS`; the pages compute
their own, and ``tests/integration/test_kpis_surfaces.py`` checks every declaration against
the pages drawn and the report produced for a known published version (the KPI's label or its
"how is this computed" is on the page; its id or columns are in the sheet), and that every
public KPI (:data:`kpis.catalogue.PUBLIC_IDS`) has a surface. ``docs/kpis.md`` lists them per KPI.
"""

from __future__ import annotations

from kpis.catalogue import HEADLINE_KPIS

# Page path (as registered with Dash) → KPI ids shown on it.
PAGES: dict[str, tuple[str, ...]] = {
    "/": (*HEADLINE_KPIS, "channel_rates", "detection_share"),
    "/profiles": (
        "hit_rate",
        "lift",
        "revenue_per_control",
        "profile_volume",
        "active_profiles",
        "review_overdue",
        "zero_hit_profiles",
        "controls_low_lift",
    ),
    "/profiles/<profile_id>": ("hit_rate", "lift", "random_hit_rate"),
    "/changes": ("profile_changes",),
    "/clearance": (
        "release_time",
        "release_time_median",
        "release_time_p90",
        "released_within",
        "stage_times",
        "inspection_time",
    ),
    "/offices": (
        "physical_inspection_rate",
        "hit_rate",
        "seizure_rate",
        "rerouting_rate",
        "release_time_median",
    ),
}

# Monthly report sheet (workbook sheet and CSV file) → KPI ids it shows.
REPORT_SHEETS: dict[str, tuple[str, ...]] = {
    "summary": HEADLINE_KPIS,
    "kpis_by_channel": (
        "declarations",
        "channel_rates",
        "hit_rate",
        "seizure_rate",
        "revenue_total",
        "revenue_per_control",
        "release_time",
        "release_time_median",
        "release_time_p90",
    ),
    "kpis_by_office": (
        "declarations",
        "physical_inspection_rate",
        "hit_rate",
        "seizure_rate",
        "revenue_total",
        "revenue_per_control",
        "rerouting_rate",
        "release_time_median",
        "release_time_p90",
        "released_within_1h",
    ),
    "profiles": (
        "profile_volume",
        "hit_rate",
        "seizure_rate",
        "revenue_total",
        "revenue_per_control",
        "lift",
    ),
    "underperforming_profiles": ("hit_rate", "random_hit_rate", "revenue_per_control"),
    "clearance_times": (
        "release_time",
        "release_time_median",
        "release_time_p90",
        "release_time_from_arrival",
        "release_time_from_arrival_median",
        "release_time_from_arrival_p90",
        "inspection_time",
        "inspection_time_median",
        "inspection_time_p90",
    ),
    "released_within": ("released_within",),
    "trend_12_months": ("physical_inspection_rate", "hit_rate", "release_time_median"),
}

# Public KPIs on no page and in no sheet, with the reason.
CLI_ONLY: dict[str, str] = {
    "non_resultant_rate": "1 − hit rate: every page and the report show the hit rate itself; "
    "kept because COMCEC lists it (customs-kpi kpis show non_resultant_rate)",
}


def pages_of(kpi_id: str) -> tuple[str, ...]:
    return tuple(path for path, ids in PAGES.items() if kpi_id in ids)


def sheets_of(kpi_id: str) -> tuple[str, ...]:
    return tuple(sheet for sheet, ids in REPORT_SHEETS.items() if kpi_id in ids)

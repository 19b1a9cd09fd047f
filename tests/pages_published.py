"""A small, fully known published version for the page tests.

Hand-built declarations (deterministic, seeded) are written into a real warehouse, the cube is
rebuilt and a version is published with the ETL's own functions, so the pages read exactly what
production reads. Small on purpose: the numbers the tests assert can be recounted with one SQL
query over the same rows (``expected_*`` helpers below).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from customs_kpi.published import RunStatus
from customs_kpi.settings import Settings, load_settings

OFFICES = ("DKR", "THS", "ZIG")
PROFILES = {
    # id: (name, hit probability when controlled, status)
    "P-GOOD": ("Undervalued electronics", 0.30, "active"),
    "P-MID": ("Textile origin", 0.12, "active"),
    "P-POOR": ("Vehicle parts value band", 0.005, "active"),
    "P-OLD": ("Expired tobacco profile", 0.08, "expired"),
}
FIRST_MONTH = date(2025, 1, 1)
MONTHS = 15  # Jan 2025 .. Mar 2026: year-on-year exists for the last three months
LATEST_MONTH = date(2026, 3, 1)
CHANGE_AT = datetime(2025, 9, 1, 10, 0)  # P-MID modified: hit probability doubles after


@dataclass(frozen=True)
class Built:
    declarations: pl.DataFrame
    version: str


def _month(i: int) -> date:
    index = FIRST_MONTH.year * 12 + FIRST_MONTH.month - 1 + i
    return date(index // 12, index % 12 + 1, 1)


def make_declarations(seed: int = 7, per_month: int = 600) -> pl.DataFrame:
    rng = random.Random(seed)
    rows = []
    for m in range(MONTHS):
        month = _month(m)
        for k in range(per_month):
            office = OFFICES[k % 3]
            lodged = datetime(
                month.year, month.month, 1 + rng.randrange(27), rng.randrange(24), rng.randrange(60)
            )
            # Mostly one profile per declaration, sometimes two (overlap is shown too).
            draw = rng.random()
            names = sorted(PROFILES)
            fired = (
                [rng.choice(names)]
                if draw < 0.30
                else sorted(rng.sample(names, 2))
                if draw < 0.34
                else []
            )
            roll = rng.random()
            if fired and roll < 0.8:
                source, channel = "profile", rng.choice(["red", "red", "yellow"])
            elif roll < 0.84:
                source, channel = "random", rng.choice(["red", "yellow"])
            elif roll < 0.87:
                source, channel = "officer", "red"
            else:
                source, channel = "none", "green"
            result = None
            offence = None
            revenue = 0.0
            if channel != "green":
                if rng.random() < 0.05:
                    result = "pending"
                else:
                    if source == "profile":
                        rates = [
                            PROFILES[p][1] * (2 if p == "P-MID" and lodged >= CHANGE_AT else 1)
                            for p in fired
                        ]
                        p_hit = sum(rates) / len(rates)
                    else:
                        p_hit = 0.05
                    hit = rng.random() < p_hit
                    result = (
                        ("seizure" if rng.random() < 0.2 else "irregularity")
                        if hit
                        else "no_finding"
                    )
                    if hit:
                        offence = rng.choice(["undervaluation", "misclassification", "origin"])
                        revenue = round(rng.uniform(100, 5000), 2)
            arrived = lodged - timedelta(hours=rng.uniform(1, 30))
            assigned = lodged + timedelta(minutes=rng.uniform(1, 30))
            recorded = (
                assigned + timedelta(hours=rng.uniform(2, 40))
                if result not in (None, "pending")
                else None
            )
            released = None
            if result != "pending" and rng.random() > 0.02:
                released = (recorded or assigned) + timedelta(hours=rng.uniform(0.1, 6))
            rows.append(
                {
                    "declaration_id": f"{office}-{month:%Y%m}-{k:04d}",
                    "office_code": office,
                    "lodged_at": lodged,
                    "lodged_month": month,
                    "channel": channel,
                    "selection_source": source,
                    "profile_ids": fired,
                    "control_result": result,
                    "offence_type": offence,
                    "additional_revenue": revenue,
                    "arrived_at": arrived,
                    "channel_assigned_at": assigned,
                    "result_recorded_at": recorded,
                    "released_at": released,
                    "importer_id": f"IMP{rng.randrange(40):03d}",
                    "hs_code": rng.choice(["850440", "620342", "870899", "240220"]),
                    "run_id": 1,
                    "source_name": "canonical",
                    "source_file": "pages-test.csv",
                    "source_row": k + 1,
                }
            )
    return pl.DataFrame(rows, schema_overrides={"profile_ids": pl.List(pl.String)})


def profiles_frame() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "profile_id": pid,
                "name": name,
                "risk_area": "valuation",
                "target_channel": "red",
                "status": status,
                "valid_from": date(2024, 1, 1),
                "valid_to": date(2025, 6, 30) if status == "expired" else date(2027, 12, 31),
                "owner_unit": "Risk unit",
                "review_period_days": 180,
                "last_reviewed_at": date(2025, 9, 1),
                "description": f"{name} (test profile)",
                "run_id": 1,
            }
            for pid, (name, _p, status) in PROFILES.items()
        ]
    )


def changes_frame() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "profile_id": "P-MID",
                "changed_at": datetime(2024, 1, 1, 9),
                "change_type": "created",
                "summary": "Created",
                "changed_by": "risk.unit",
                "run_id": 1,
            },
            {
                "profile_id": "P-MID",
                "changed_at": CHANGE_AT,
                "change_type": "modified",
                "summary": "Narrowed to HS 6203/6204",
                "changed_by": "risk.unit",
                "run_id": 1,
            },
            {
                "profile_id": "P-OLD",
                "changed_at": datetime(2025, 6, 30, 17),
                "change_type": "retired",
                "summary": "Expired",
                "changed_by": "risk.unit",
                "run_id": 1,
            },
        ]
    )


def published_home(home: Path) -> Settings:
    """Settings of a new HOME at ``home`` where :func:`build` has published the known data."""
    settings = load_settings(environ={}, home=home)
    settings.ensure_home()
    build(settings)
    return settings


def build(settings: Settings, *, data_as_of: datetime | None = None) -> Built:
    """Warehouse → cube → published version under ``settings.home``."""
    from etl.cube import rebuild_cube
    from etl.publish import publish
    from etl.warehouse import open_warehouse

    declarations = make_declarations()
    finished = data_as_of or datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    runs = pl.DataFrame(
        [
            {
                "run_id": 1,
                "kind": "load",
                "started_at": finished - timedelta(minutes=2),
                "finished_at": finished,
                "status": RunStatus.SUCCEEDED.value,
                "source_name": "canonical",
                "file_name": "pages-test.csv",
                "file_sha256": "0" * 64,
                "rows_read": declarations.height + 2,
                "rows_inserted": declarations.height,
                "rows_replaced": 0,
                "rows_quarantined": 2,
                "duration_seconds": 1.5,
                "message": None,
            }
        ]
    )
    quarantine = pl.DataFrame(
        [
            {
                "run_id": 1,
                "file_name": "pages-test.csv",
                "source_row": 9001,
                "declaration_id": "X1",
                "rule": "required:lodged_at",
                "reason": "lodged_at is missing",
                "raw_record": "{}",
            },
            {
                "run_id": 1,
                "file_name": "pages-test.csv",
                "source_row": 9002,
                "declaration_id": "X2",
                "rule": "code:channel",
                "reason": "channel 'purple' is not a known channel",
                "raw_record": "{}",
            },
        ]
    )
    hits = (
        declarations.select("declaration_id", "lodged_month", "profile_ids")
        .explode("profile_ids")
        .drop_nulls("profile_ids")
        .rename({"profile_ids": "profile_id"})
    )
    profiles, changes = profiles_frame(), changes_frame()
    with open_warehouse(settings) as con:
        con.begin()
        for table, frame in (
            ("declarations", declarations),
            ("profile_hits", hits),
            ("profiles", profiles),
            ("profile_changes", changes),
            ("runs", runs),
            ("quarantine", quarantine),
        ):
            con.register("frame_view", frame.to_arrow())
            con.sql(f"INSERT INTO {table} BY NAME SELECT * FROM frame_view")
            con.unregister("frame_view")
        rebuild_cube(con, None)
        con.commit()
        version = publish(con, settings, None, 1)
    return Built(declarations=declarations, version=version)

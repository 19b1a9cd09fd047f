"""The canonical declaration record of DATA-CONTRACT.md: columns, kinds, required flags, defaults.

Everything else in the ETL (mapping validation, SQL casts, validation rules, the warehouse insert)
is generated from :data:`CANONICAL`, so a new column is added here once.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kpis.domain import (
    ChangeType,
    Channel,
    ControlResult,
    ProfileStatus,
    SelectionSource,
)


class Kind(StrEnum):
    """How a delivered string is turned into a warehouse value."""

    STRING = "string"
    DATETIME = "datetime"
    DATE = "date"
    DECIMAL = "decimal"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CODE = "code"  # a closed set (an enum of kpis.domain)
    LIST = "list"  # separated strings, stored sorted and de-duplicated


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = False
    default: str | None = None  # canonical value used when the delivered value is empty
    codes: tuple[str, ...] = ()  # allowed values for Kind.CODE
    min_value: float | None = None  # for numbers: smaller values are quarantined

    @property
    def sql_type(self) -> str:
        return _SQL_TYPES[self.kind]


_SQL_TYPES: dict[Kind, str] = {
    Kind.STRING: "VARCHAR",
    Kind.DATETIME: "TIMESTAMP",
    Kind.DATE: "DATE",
    Kind.DECIMAL: "DECIMAL(18, 2)",
    Kind.INTEGER: "INTEGER",
    Kind.BOOLEAN: "BOOLEAN",
    Kind.CODE: "VARCHAR",
    Kind.LIST: "VARCHAR[]",
}

TIMESTAMP_COLUMNS: tuple[str, ...] = (
    "arrived_at",
    "channel_assigned_at",
    "result_recorded_at",
    "paid_at",
    "released_at",
)

# Order = order of the warehouse table `declarations` (before lodged_month and lineage columns).
CANONICAL: tuple[Column, ...] = (
    Column("declaration_id", Kind.STRING, required=True),
    Column("office_code", Kind.STRING, required=True),
    Column("lodged_at", Kind.DATETIME, required=True),
    Column("channel", Kind.CODE, required=True, codes=tuple(c.value for c in Channel)),
    Column(
        "selection_source",
        Kind.CODE,
        default=SelectionSource.UNKNOWN.value,
        codes=tuple(s.value for s in SelectionSource),
    ),
    Column("profile_ids", Kind.LIST),
    Column("control_result", Kind.CODE, codes=tuple(r.value for r in ControlResult)),
    Column("offence_type", Kind.STRING),
    Column("additional_revenue", Kind.DECIMAL, default="0", min_value=0.0),
    *(Column(name, Kind.DATETIME) for name in TIMESTAMP_COLUMNS),
    Column("importer_id", Kind.STRING),
    Column("declarant_id", Kind.STRING),
    Column("hs_code", Kind.STRING),
    Column("origin_country", Kind.STRING),
    Column("procedure", Kind.STRING),
    Column("transport_mode", Kind.STRING),
    Column("is_aeo", Kind.BOOLEAN),
    Column("customs_value", Kind.DECIMAL),
)
BY_NAME: dict[str, Column] = {c.name: c for c in CANONICAL}
CANONICAL_NAMES: tuple[str, ...] = tuple(c.name for c in CANONICAL)
REQUIRED_NAMES: tuple[str, ...] = tuple(c.name for c in CANONICAL if c.required)

# Profile register and change log (DATA-CONTRACT.md "Profile register and change log").
PROFILE_COLUMNS: tuple[Column, ...] = (
    Column("profile_id", Kind.STRING, required=True),
    Column("name", Kind.STRING),
    Column("risk_area", Kind.STRING),
    Column("target_channel", Kind.CODE, codes=tuple(c.value for c in Channel)),
    Column("status", Kind.CODE, required=True, codes=tuple(s.value for s in ProfileStatus)),
    Column("valid_from", Kind.DATE),
    Column("valid_to", Kind.DATE),
    Column("owner_unit", Kind.STRING),
    Column("review_period_days", Kind.INTEGER, min_value=0.0),
    Column("last_reviewed_at", Kind.DATE),
    Column("description", Kind.STRING),
)
PROFILE_CHANGE_COLUMNS: tuple[Column, ...] = (
    Column("profile_id", Kind.STRING, required=True),
    Column("changed_at", Kind.DATETIME, required=True),
    Column("change_type", Kind.CODE, required=True, codes=tuple(c.value for c in ChangeType)),
    Column("summary", Kind.STRING),
    Column("changed_by", Kind.STRING),
)

# Accepted spellings of booleans (after lower-casing and trimming).
TRUE_WORDS: tuple[str, ...] = ("true", "t", "1", "yes", "y")
FALSE_WORDS: tuple[str, ...] = ("false", "f", "0", "no", "n")

# Item-level roll-up (DATA-CONTRACT.md): the most severe result wins.
RESULT_SEVERITY_ORDER: tuple[str, ...] = tuple(
    r.value
    for r in (
        ControlResult.PENDING,
        ControlResult.NO_FINDING,
        ControlResult.IRREGULARITY,
        ControlResult.SEIZURE,
    )
)

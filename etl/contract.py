"""The canonical declaration record of DATA-CONTRACT.md: columns, value types, required, defaults.

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


class ValueType(StrEnum):
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
    value_type: ValueType
    required: bool = False
    default: str | None = None  # canonical value used when the delivered value is empty
    codes: tuple[str, ...] = ()  # allowed values for ValueType.CODE
    min_value: float | None = None  # for numbers: smaller values are quarantined

    @property
    def sql_type(self) -> str:
        return _SQL_TYPES[self.value_type]


_SQL_TYPES: dict[ValueType, str] = {
    ValueType.STRING: "VARCHAR",
    ValueType.DATETIME: "TIMESTAMP",
    ValueType.DATE: "DATE",
    ValueType.DECIMAL: "DECIMAL(18, 2)",
    ValueType.INTEGER: "INTEGER",
    ValueType.BOOLEAN: "BOOLEAN",
    ValueType.CODE: "VARCHAR",
    ValueType.LIST: "VARCHAR[]",
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
    Column("declaration_id", ValueType.STRING, required=True),
    Column("office_code", ValueType.STRING, required=True),
    Column("lodged_at", ValueType.DATETIME, required=True),
    Column("channel", ValueType.CODE, required=True, codes=tuple(c.value for c in Channel)),
    Column(
        "selection_source",
        ValueType.CODE,
        default=SelectionSource.UNKNOWN.value,
        codes=tuple(s.value for s in SelectionSource),
    ),
    Column("profile_ids", ValueType.LIST),
    Column("control_result", ValueType.CODE, codes=tuple(r.value for r in ControlResult)),
    Column("offence_type", ValueType.STRING),
    Column("additional_revenue", ValueType.DECIMAL, default="0", min_value=0.0),
    *(Column(name, ValueType.DATETIME) for name in TIMESTAMP_COLUMNS),
    Column("importer_id", ValueType.STRING),
    Column("declarant_id", ValueType.STRING),
    Column("hs_code", ValueType.STRING),
    Column("origin_country", ValueType.STRING),
    Column("procedure", ValueType.STRING),
    Column("transport_mode", ValueType.STRING),
    Column("is_aeo", ValueType.BOOLEAN),
    Column("customs_value", ValueType.DECIMAL),
)
BY_NAME: dict[str, Column] = {c.name: c for c in CANONICAL}
CANONICAL_NAMES: tuple[str, ...] = tuple(c.name for c in CANONICAL)

# Profile register and change log (DATA-CONTRACT.md "Profile register and change log").
PROFILE_COLUMNS: tuple[Column, ...] = (
    Column("profile_id", ValueType.STRING, required=True),
    Column("name", ValueType.STRING),
    Column("risk_area", ValueType.STRING),
    Column("target_channel", ValueType.CODE, codes=tuple(c.value for c in Channel)),
    Column("status", ValueType.CODE, required=True, codes=tuple(s.value for s in ProfileStatus)),
    Column("valid_from", ValueType.DATE),
    Column("valid_to", ValueType.DATE),
    Column("owner_unit", ValueType.STRING),
    Column("review_period_days", ValueType.INTEGER, min_value=0.0),
    Column("last_reviewed_at", ValueType.DATE),
    Column("description", ValueType.STRING),
)
PROFILE_CHANGE_COLUMNS: tuple[Column, ...] = (
    Column("profile_id", ValueType.STRING, required=True),
    Column("changed_at", ValueType.DATETIME, required=True),
    Column("change_type", ValueType.CODE, required=True, codes=tuple(c.value for c in ChangeType)),
    Column("summary", ValueType.STRING),
    Column("changed_by", ValueType.STRING),
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

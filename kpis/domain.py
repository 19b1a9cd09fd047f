"""Closed sets of the data contract, as enums shared by the ETL, the KPIs and the pages."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    GREEN = "green"  # no control
    YELLOW = "yellow"  # documentary check
    RED = "red"  # physical examination
    BLUE = "blue"  # post-clearance audit


class SelectionSource(StrEnum):
    PROFILE = "profile"
    RANDOM = "random"
    OFFICER = "officer"  # discretionary rerouting
    INTELLIGENCE = "intelligence"
    NONE = "none"
    UNKNOWN = "unknown"


class ControlResult(StrEnum):
    NO_FINDING = "no_finding"
    IRREGULARITY = "irregularity"
    SEIZURE = "seizure"
    PENDING = "pending"


class ProfileStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    RETIRED = "retired"


class ChangeType(StrEnum):
    CREATED = "created"
    MODIFIED = "modified"
    SUSPENDED = "suspended"
    REACTIVATED = "reactivated"
    RETIRED = "retired"
    REVIEWED = "reviewed"


CONTROL_CHANNELS: frozenset[Channel] = frozenset({Channel.YELLOW, Channel.RED, Channel.BLUE})
FINAL_RESULTS: frozenset[ControlResult] = frozenset(
    {ControlResult.NO_FINDING, ControlResult.IRREGULARITY, ControlResult.SEIZURE}
)
HIT_RESULTS: frozenset[ControlResult] = frozenset(
    {ControlResult.IRREGULARITY, ControlResult.SEIZURE}
)

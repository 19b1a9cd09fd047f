"""The three roles of the product, ordered: each role may do everything the one below it may."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"  # management: every KPI page, report downloads
    ANALYST = "analyst"  # risk unit: also profile review actions and declaration drill-down
    ADMIN = "admin"  # also users, data page details, triggering loads

    @property
    def rank(self) -> int:
        return _RANK[self]

    def covers(self, required: Role) -> bool:
        """True when a user with this role may do what ``required`` allows."""
        return self.rank >= required.rank


_RANK: dict[Role, int] = {Role.VIEWER: 1, Role.ANALYST: 2, Role.ADMIN: 3}


def parse_role(value: str | Role) -> Role:
    """A role from its name, with an error that lists the valid names."""
    try:
        return Role(str(value).strip().lower())
    except ValueError:
        valid = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {value!r} (valid: {valid})") from None

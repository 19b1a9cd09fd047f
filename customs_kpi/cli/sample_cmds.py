"""Demo data: sample."""

from __future__ import annotations

from customs_kpi.cli.common import app  # noqa: F401

"""KPI catalogue and values: kpis list | explain | show."""

from __future__ import annotations

from customs_kpi.cli.common import app  # noqa: F401

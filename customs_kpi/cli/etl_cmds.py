"""Loading: load, load-profiles, runs, quarantine, publish."""

from __future__ import annotations

from customs_kpi.cli.common import app  # noqa: F401

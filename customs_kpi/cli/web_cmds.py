"""Serving: serve, worker, jobs."""

from __future__ import annotations

from customs_kpi.cli.common import app  # noqa: F401

"""Shared fixtures. Every test runs with the CUSTOMS_KPI_* environment cleared."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from customs_kpi.settings import ENV_PREFIX, Settings, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    yield


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = load_settings(environ={}, home=tmp_path / "home")
    s.ensure_home()
    return s

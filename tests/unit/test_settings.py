"""Settings: environment variables, their checks, and the rule set they build."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from customs_kpi.cli import app
from customs_kpi.settings import Settings, load_settings
from kpis.flags import FlagConfig, FlagRule
from kpis.review import QueueConfig


def test_defaults_are_the_rule_set_of_kpis_md() -> None:
    settings = load_settings(environ={})
    assert settings.flag_config() == FlagConfig(n_min=30)
    assert settings.queue_config() == QueueConfig(
        flags=FlagConfig(n_min=30), stale_months=6, validity_days=30
    )
    assert settings.audit_retention_days == 1825


def test_environment_sets_the_rule_set() -> None:
    settings = load_settings(
        environ={
            "CUSTOMS_KPI_MIN_SAMPLE": "50",
            "CUSTOMS_KPI_FLAG_WINDOW_MONTHS": "6",
            "CUSTOMS_KPI_FLAG_TARGET_HIT_RATE": "0.05",
            "CUSTOMS_KPI_FLAG_COST_PER_CONTROL": "120.5",
            "CUSTOMS_KPI_FLAG_RECENT_MONTHS": "2",
            "CUSTOMS_KPI_FLAG_HISTORY_MONTHS": "18",
            "CUSTOMS_KPI_FLAG_MIN_LIFT": "1.5",
            "CUSTOMS_KPI_FLAG_POWER": "0.9",
            "CUSTOMS_KPI_FLAG_TREND_ALPHA": "0.01",
            "CUSTOMS_KPI_REVIEW_STALE_MONTHS": "9",
            "CUSTOMS_KPI_REVIEW_VALIDITY_DAYS": "45",
            "CUSTOMS_KPI_AUDIT_RETENTION_DAYS": "0",
        }
    )
    flags = settings.flag_config()
    assert (flags.n_min, flags.window_months, flags.target_hit_rate, flags.cost_per_control) == (
        50,
        6,
        0.05,
        120.5,
    )
    assert (flags.recent_months, flags.history_months, flags.min_lift, flags.power) == (
        2,
        18,
        1.5,
        0.9,
    )
    assert flags.trend_alpha == 0.01
    assert flags.rules == frozenset(FlagRule)
    queue = settings.queue_config()
    assert (queue.flags, queue.stale_months, queue.validity_days) == (flags, 9, 45)
    assert settings.audit_retention_days == 0


def test_an_empty_optional_number_means_unset() -> None:
    settings = load_settings(
        environ={"CUSTOMS_KPI_FLAG_TARGET_HIT_RATE": "", "CUSTOMS_KPI_FLAG_COST_PER_CONTROL": " "}
    )
    assert settings.flag_target_hit_rate is None and settings.flag_cost_per_control is None
    assert settings.flag_config().target_hit_rate == FlagConfig().target_hit_rate


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CUSTOMS_KPI_FLAG_TARGET_HIT_RATE": "5"}, "FLAG_TARGET_HIT_RATE is a fraction"),
        ({"CUSTOMS_KPI_FLAG_TARGET_HIT_RATE": "five"}, "CUSTOMS_KPI_FLAG_TARGET_HIT_RATE: could"),
        ({"CUSTOMS_KPI_FLAG_WINDOW_MONTHS": "0"}, "CUSTOMS_KPI_FLAG_WINDOW_MONTHS must be at"),
        ({"CUSTOMS_KPI_FLAG_COST_PER_CONTROL": "-1"}, "CUSTOMS_KPI_FLAG_COST_PER_CONTROL must not"),
        ({"CUSTOMS_KPI_FLAG_RECENT_MONTHS": "13"}, "CUSTOMS_KPI_FLAG_RECENT_MONTHS must be betw"),
        ({"CUSTOMS_KPI_FLAG_HISTORY_MONTHS": "6"}, "CUSTOMS_KPI_FLAG_HISTORY_MONTHS must be at"),
        ({"CUSTOMS_KPI_FLAG_MIN_LIFT": "1"}, "CUSTOMS_KPI_FLAG_MIN_LIFT must be above 1"),
        ({"CUSTOMS_KPI_FLAG_POWER": "1.2"}, "CUSTOMS_KPI_FLAG_POWER is a probability"),
        ({"CUSTOMS_KPI_FLAG_TREND_ALPHA": "0"}, "CUSTOMS_KPI_FLAG_TREND_ALPHA is a probability"),
        ({"CUSTOMS_KPI_REVIEW_VALIDITY_DAYS": "-3"}, "CUSTOMS_KPI_REVIEW_VALIDITY_DAYS must not"),
        ({"CUSTOMS_KPI_AUDIT_RETENTION_DAYS": "-1"}, "CUSTOMS_KPI_AUDIT_RETENTION_DAYS must not"),
        ({"CUSTOMS_KPI_MIN_SAMPLE": "0"}, "CUSTOMS_KPI_MIN_SAMPLE must be at least 1"),
        ({"CUSTOMS_KPI_WEB_WORKERS": "-2"}, "CUSTOMS_KPI_WEB_WORKERS must be between 0 and 64"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_settings(environ=env)


def test_the_cli_reports_a_bad_setting_without_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["users", "list", "--home", str(tmp_path)],
        env={"CUSTOMS_KPI_FLAG_TARGET_HIT_RATE": "12"},
    )
    assert result.exit_code == 1
    assert "settings: CUSTOMS_KPI_FLAG_TARGET_HIT_RATE is a fraction between 0 and 1" in (
        result.output
    )
    assert "Traceback" not in result.output


def test_settings_objects_check_themselves() -> None:
    with pytest.raises(ValueError, match="CUSTOMS_KPI_REVIEW_STALE_MONTHS"):
        Settings(review_stale_months=0)

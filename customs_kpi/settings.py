"""One typed settings object, read from ``CUSTOMS_KPI_*`` environment variables and CLI flags.

Nothing reads the environment at import time: call :func:`load_settings` and pass the result on.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kpis.flags import FlagConfig
    from kpis.review import QueueConfig

ENV_PREFIX = "CUSTOMS_KPI_"
# Where the monthly reports were kept before they had a folder of their own name: moved to
# ``reports_dir`` by :meth:`Settings.ensure_home` the first time a newer version starts.
OLD_REPORTS_DIR = "snapshots"  # the reports folder's old name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """Every setting of the product, with its default and help text (``metadata['help']``)."""

    home: Path = field(
        default=Path("var"),
        metadata={
            "help": "Folder holding the warehouse, published versions, inbox, quarantine "
            "files, exports and the app-state database."
        },
    )
    timezone: str = field(
        default="UTC",
        metadata={
            "help": "The administration's time zone (IANA name, e.g. Asia/Riyadh): delivered "
            "times with an offset are converted to it (a declaration's month is its local "
            "lodgement date), the worker's nightly and monthly jobs run by its clock, and "
            "times are shown in it. Stored stamps are UTC."
        },
    )
    host: str = field(default="127.0.0.1", metadata={"help": "Address the web app listens on."})
    port: int = field(default=8050, metadata={"help": "Port the web app listens on."})
    web_workers: int = field(
        default=0,
        metadata={
            "help": "Worker processes of the production web server (gunicorn, 4 threads "
            "each); 0 = Flask's development server in one process."
        },
    )
    publish_grace_seconds: int = field(
        default=3600,
        metadata={
            "help": "How long a superseded published version is kept for readers that "
            "still use it before housekeeping removes it, counted from when it stopped being "
            "current (at least 1)."
        },
    )
    freshness_hours: int = field(
        default=48,
        metadata={"help": "A warning is shown when the last successful load is older than this."},
    )
    min_sample: int = field(
        default=30,
        metadata={"help": "Minimum number of controls below which a rate is 'insufficient data'."},
    )
    default_period_months: int = field(
        default=12,
        metadata={
            "help": "The period every page opens with when a link names none: this many "
            "months ending with the latest month of data (the filter bar's presets: last "
            "month, 3, 12 and 24 months)."
        },
    )
    currency: str = field(
        default="",
        metadata={
            "help": "ISO 4217 code of the revenue currency (e.g. XOF, EUR): shown after every "
            "amount on the pages, in the CSV headers of amount columns and in the monthly "
            "report; empty = amounts without a currency."
        },
    )
    secure_cookies: bool = field(
        default=False,
        metadata={"help": "Mark session cookies Secure (set when served behind HTTPS)."},
    )
    proxy_hops: int = field(
        default=0,
        metadata={
            "help": "Reverse proxies in front of the web app (1 behind one nginx) whose "
            "X-Forwarded-For/-Proto/-Host headers give the client's address (login "
            "throttling, audit trail) and scheme; 0 = headers ignored."
        },
    )
    idle_timeout_minutes: int = field(
        default=30, metadata={"help": "A session unused for this long ends."}
    )
    absolute_timeout_hours: int = field(
        default=12, metadata={"help": "A session ends this long after login, whatever its use."}
    )
    inbox_poll_seconds: int = field(
        default=60, metadata={"help": "How often the worker polls HOME/inbox for deliveries."}
    )
    audit_retention_days: int = field(
        default=1825,
        metadata={
            "help": "Audit rows older than this many days are deleted by the worker's daily "
            "housekeeping (0 = keep them forever)."
        },
    )
    # --- The risk unit's rule set (docs/kpis.md defaults) ----------------------------------------
    flag_window_months: int = field(
        default=12,
        metadata={
            "help": "Evidence window of the underperformance rules: months ending with the "
            "evaluation month (the latest month of data on the pages, the month a monthly "
            "report is about). Also the Profiles page's and review queue's default period."
        },
    )
    flag_recent_months: int = field(
        default=3,
        metadata={
            "help": "Recent part of the window: the deterioration test compares it with the "
            "months before, and a flagged profile's severity counts its inspections."
        },
    )
    flag_history_months: int = field(
        default=24,
        metadata={
            "help": "How far back the rules look when the window is too short to decide "
            "whether a profile beats random (never across its latest modification), and the "
            "span of the deterioration trend test."
        },
    )
    flag_change_window_months: int = field(
        default=6,
        metadata={
            "help": "Full months each side of a profile change in its before/after test: the "
            "worse_after_change rule, and the Changes and profile pages' default window."
        },
    )
    flag_min_lift: float = field(
        default=2.0,
        metadata={
            "help": "Lift over random selection a profile is expected to reach: sets the "
            "controls needed to decide 'no evidence of beating random' and the severity's "
            "reference hit rate."
        },
    )
    flag_power: float = field(
        default=0.8,
        metadata={
            "help": "Power of the 'beats random' decision: probability that a profile at the "
            "expected lift shows a lift interval above 1 with the controls required."
        },
    )
    flag_trend_alpha: float = field(
        default=0.001,
        metadata={
            "help": "One-sided significance level of the deterioration tests (strict: every "
            "profile is tested each month)."
        },
    )
    flag_target_hit_rate: float | None = field(
        default=None,
        metadata={
            "help": "Hit-rate target of the below_target rule, a fraction (0.05 = 5 %); "
            "empty = the catalogue's hit_rate target."
        },
    )
    flag_cost_per_control: float | None = field(
        default=None,
        metadata={
            "help": "Cost of one control in the revenue currency: enables the low_yield rule "
            "(revenue per control below it); empty = low_yield off."
        },
    )
    review_stale_months: int = field(
        default=6,
        metadata={"help": "An in-force profile without a hit for this many months is stale."},
    )
    review_validity_days: int = field(
        default=30,
        metadata={"help": "Profiles whose validity ends within this many days join the queue."},
    )

    def __post_init__(self) -> None:
        # Checked when the settings are read, naming the variable, rather than when a page or
        # the report first builds the rule set.
        problems = (
            []
            if _known_zone(self.timezone)
            else [
                f"{ENV_PREFIX}TIMEZONE '{self.timezone}' is not a known time zone (an IANA name "
                "such as Asia/Riyadh, Africa/Casablanca or UTC)"
            ]
        )
        problems += [
            f"{ENV_PREFIX}{name.upper()} {rule}"
            for name, bad, rule in (
                ("min_sample", self.min_sample < 1, "must be at least 1"),
                (
                    "default_period_months",
                    not 1 <= self.default_period_months <= 120,
                    "must be between 1 and 120",
                ),
                (
                    "currency",
                    bool(self.currency)
                    and not (
                        len(self.currency) == 3
                        and self.currency.isalpha()
                        and self.currency.isupper()
                    ),
                    "is a three-letter ISO 4217 code in capitals (XOF, EUR) or empty",
                ),
                (
                    "publish_grace_seconds",
                    self.publish_grace_seconds < 1,
                    "must be at least 1 (readers still on a superseded version need time "
                    "to finish; 0 would remove it under them)",
                ),
                ("web_workers", not 0 <= self.web_workers <= 64, "must be between 0 and 64"),
                ("flag_window_months", self.flag_window_months < 1, "must be at least 1"),
                (
                    "flag_recent_months",
                    not 1 <= self.flag_recent_months <= self.flag_window_months,
                    "must be between 1 and CUSTOMS_KPI_FLAG_WINDOW_MONTHS",
                ),
                (
                    "flag_history_months",
                    self.flag_history_months < self.flag_window_months,
                    "must be at least CUSTOMS_KPI_FLAG_WINDOW_MONTHS",
                ),
                (
                    "flag_change_window_months",
                    not 1 <= self.flag_change_window_months <= 24,
                    "must be between 1 and 24",
                ),
                ("flag_min_lift", not self.flag_min_lift > 1, "must be above 1"),
                ("flag_power", not 0.5 <= self.flag_power < 1, "is a probability in [0.5, 1)"),
                (
                    "flag_trend_alpha",
                    not 0 < self.flag_trend_alpha < 0.5,
                    "is a probability in (0, 0.5)",
                ),
                (
                    "flag_target_hit_rate",
                    self.flag_target_hit_rate is not None
                    and not 0 <= self.flag_target_hit_rate <= 1,
                    "is a fraction between 0 and 1 (0.05 = 5 %)",
                ),
                (
                    "flag_cost_per_control",
                    self.flag_cost_per_control is not None and self.flag_cost_per_control < 0,
                    "must not be negative",
                ),
                ("review_stale_months", self.review_stale_months < 1, "must be at least 1"),
                ("review_validity_days", self.review_validity_days < 0, "must not be negative"),
                ("audit_retention_days", self.audit_retention_days < 0, "must not be negative"),
            )
            if bad
        ]
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The administration's time zone (:attr:`timezone`)."""
        return zoneinfo.ZoneInfo(self.timezone)

    # --- Derived locations inside HOME -------------------------------------------------------
    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def warehouse_lock_path(self) -> Path:
        return self.home / "warehouse.lock"

    @property
    def published_dir(self) -> Path:
        return self.home / "published"

    @property
    def inbox_dir(self) -> Path:
        return self.home / "inbox"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def app_db_path(self) -> Path:
        return self.home / "app.db"

    @property
    def secret_key_path(self) -> Path:
        return self.home / "secret_key"

    def flag_config(self) -> FlagConfig:
        """The underperformance rule set these settings ask for (pages, report, CLI)."""
        from kpis.flags import FlagConfig

        config = FlagConfig(
            n_min=self.min_sample,
            window_months=self.flag_window_months,
            recent_months=self.flag_recent_months,
            history_months=self.flag_history_months,
            change_window_months=self.flag_change_window_months,
            min_lift=self.flag_min_lift,
            power=self.flag_power,
            trend_alpha=self.flag_trend_alpha,
            cost_per_control=self.flag_cost_per_control,
        )
        if self.flag_target_hit_rate is None:
            return config
        return dataclasses.replace(config, target_hit_rate=self.flag_target_hit_rate)

    def queue_config(self) -> QueueConfig:
        """What puts a profile in the review queue, with :meth:`flag_config`'s rule set."""
        from kpis.review import QueueConfig

        return QueueConfig(
            flags=self.flag_config(),
            stale_months=self.review_stale_months,
            validity_days=self.review_validity_days,
        )

    def ensure_home(self) -> None:
        """Create HOME's folders (and move an old HOME's reports folder to its new name)."""
        self._move_old_reports_dir()
        for d in (
            self.home,
            self.published_dir,
            self.inbox_dir,
            self.quarantine_dir,
            self.exports_dir,
            self.reports_dir,
        ):
            d.mkdir(parents=True, exist_ok=True)

    def _move_old_reports_dir(self) -> None:
        old, new = self.home / OLD_REPORTS_DIR, self.reports_dir
        if not old.is_dir():
            return
        try:
            # An empty reports folder (another process just created it) is replaced atomically.
            os.rename(old, new)
        except FileNotFoundError:
            return  # another process moved it first
        except OSError:
            if not old.is_dir():
                return
            log.warning("%s and %s both exist: the reports in %s are not listed", new, old, old)
            return
        log.info("moved the monthly reports from %s to %s", old, new)


def _known_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _coerce(kind: Any, raw: str) -> Any:
    if kind in (bool, "bool"):
        if raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if raw.strip().lower() in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"not a boolean: {raw!r}")
    if kind in (int, "int"):
        return int(raw)
    if kind in (float, "float"):
        return float(raw)
    if kind == "float | None":
        return float(raw) if raw.strip() else None
    if kind in (Path, "Path"):
        return Path(raw)
    return raw


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Defaults, then ``CUSTOMS_KPI_<NAME>`` variables, then explicit overrides (CLI flags).

    Overrides whose value is ``None`` are ignored so CLI options can be passed through as-is.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        key = ENV_PREFIX + f.name.upper()
        if key in env:
            try:
                values[f.name] = _coerce(f.type, env[key])
            except ValueError as exc:
                raise ValueError(f"{key}: {exc}") from exc
    for name, value in overrides.items():
        if value is not None:
            values[name] = Path(value) if name == "home" else value
    return Settings(**values)


def settings_help() -> list[tuple[str, str, Any, str]]:
    """(setting, environment variable, default, help) for every setting: used by docs and tests."""
    return [
        (f.name, ENV_PREFIX + f.name.upper(), f.default, f.metadata.get("help", ""))
        for f in dataclasses.fields(Settings)
    ]

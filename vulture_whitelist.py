"""What vulture (``.venv/bin/vulture``, settings in pyproject.toml ``[tool.vulture]``) takes for
dead code but is used: by a framework, by name, by the data, or as the reference the tests
check a twin against. Dash callbacks, typer commands, Flask views and catalogue rules are left
out by their decorators; everything else goes here, one line each, with the reason.

Not imported by anything: vulture only reads it.
"""

# ruff: noqa: B018, F821
# mypy: ignore-errors

# --- Frameworks call these by name ----------------------------------------------------------------
_.load_config  # gunicorn BaseApplication hook (customs_kpi/cli/web_server.py)
_.get_id  # flask-login UserMixin protocol (dashboard/auth/session.py)
_.version_string  # werkzeug WSGIRequestHandler override (dashboard/auth/setup.py)
_.secret_key  # Flask app attribute (dashboard/auth/setup.py)
_.session_protection  # flask-login LoginManager attribute (dashboard/auth/setup.py)
_.session_expired  # flask.g attribute, read as g.get("session_expired")
_.row_factory  # sqlite3.Connection attribute (appstate/db.py)
wsgi  # dashboard.app:wsgi, the production server's factory (named on gunicorn's command line)

# --- Values of the data contract and CLI choices (members of StrEnums read from data or options) -
_.DRAFT  # kpis.domain.ProfileStatus: a status the profile register may deliver
_.EXPIRED  # kpis.domain.ProfileStatus
_.KEEP  # appstate.review.Decision: a committee decision (the page lists every member)
_.MODIFY  # appstate.review.Decision
_.JSON  # customs_kpi.cli.kpi_cmds.OutputFormat: --format json
_.PARQUET  # customs_kpi.cli.sample_cmds.FileFormat: --format parquet

# --- Written to JSON state files with dataclasses.asdict (read by the CLI and the Data page) ---
_.last_finished_at  # worker.jobs.JobState (HOME/jobs.json)
_.last_duration_seconds  # worker.jobs.JobState
_.finished_at  # worker.queue.Request (HOME/requests/*/done/*.json)
_.event_id  # appstate.review.ReviewEvent: the review_events row's key

# --- Read with getattr -------------------------------------------------------------------------
_.first_callback  # bench.dashboard.BrowserLoad, read by _median_of(r.browser, "first_callback")
_.data_answered  # bench.dashboard.BrowserLoad, read by _median_of(r.browser, "data_answered")

# --- References the tests check the fast twins against ------------------------------------------
hist_bin  # kpis.measures: SQL twin in etl/cube.py, tests compare the cube's buckets with it
hist_value  # kpis.measures: vectorised twin kpis.timecalc.bin_value_expression
FORMULA_PREFIXES  # kpis.formatting: the rule behind _FORMULA_PATTERN; tests check CSVs with it
_.__qualname__  # set on the callbacks dashboard/pages/_frame.py builds (logs, reprs)

# --- Test-facing API -----------------------------------------------------------------------------
_.run_now  # worker.scheduler.Worker: one job run synchronously; the scheduler tests use it
_.schema_version  # appstate.db.Database: PRAGMA user_version; the migration tests assert it

"""The run log (warehouse table ``runs``): one row per ETL run, written by the ETL only.

A run is a load of one delivery, a profile-register load, or a publish
(``etl/migrations/0001_initial.sql``). Its ``status`` is a
:class:`customs_kpi.published.RunStatus` (stored as the enum's strings; in core because the
dashboard reads the run log from the published version).
"""

from __future__ import annotations

import time

import duckdb

from customs_kpi.clock import utc_naive
from customs_kpi.published import RunStatus


def next_run_id(con: duckdb.DuckDBPyConnection) -> int:
    return int(con.sql("SELECT nextval('run_id_seq')").fetchall()[0][0])


def start_run(con: duckdb.DuckDBPyConnection, run_id: int, kind: str, message: str) -> None:
    """A ``running`` row for ``run_id``, started now (finished by :func:`finish_run`)."""
    con.sql(
        "INSERT INTO runs (run_id, kind, started_at, status, message) VALUES ($1, $2, $3, $4, $5)",
        params=[run_id, kind, utc_naive(), RunStatus.RUNNING, message],
    )


def finish_run(
    con: duckdb.DuckDBPyConnection, run_id: int, status: RunStatus, started: float, message: str
) -> None:
    """Record a run's outcome; ``started`` is its ``time.perf_counter()`` at the start."""
    con.sql(
        "UPDATE runs SET status = $2, finished_at = $3, duration_seconds = $4, message = $5 "
        "WHERE run_id = $1",
        params=[run_id, status, utc_naive(), round(time.perf_counter() - started, 3), message],
    )

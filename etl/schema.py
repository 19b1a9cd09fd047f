"""Versioned warehouse migrations, applied automatically whenever the warehouse is opened."""

from __future__ import annotations

from importlib import resources

import duckdb

from customs_kpi.clock import utc_naive

MIGRATIONS_PACKAGE = "etl.migrations"


def _migrations() -> list[tuple[int, str, str]]:
    files = sorted(
        (p for p in resources.files(MIGRATIONS_PACKAGE).iterdir() if p.name.endswith(".sql")),
        key=lambda p: p.name,
    )
    return [(int(p.name.split("_", 1)[0]), p.name, p.read_text(encoding="utf-8")) for p in files]


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    con.sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
    )
    rows = con.sql("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchall()
    return int(rows[0][0])


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply every migration newer than the warehouse's version, each in its own transaction."""
    applied: list[str] = []
    version = current_version(con)
    for number, name, sql in _migrations():
        if number <= version:
            continue
        con.begin()
        try:
            for statement in con.extract_statements(sql):
                con.execute(statement).complete()
            con.sql(  # naive UTC, as every stamp of the warehouse (customs_kpi.clock)
                "INSERT INTO schema_migrations VALUES ($1, $2, $3)",
                params=[number, name, utc_naive()],
            )
            con.commit()
        except Exception:
            con.rollback()
            raise
        applied.append(name)
    return applied

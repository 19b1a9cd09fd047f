"""Opening the warehouse: one read-write process at a time, guarded by a file lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
from filelock import FileLock, Timeout

from customs_kpi.settings import Settings
from etl.schema import migrate


class WarehouseBusy(RuntimeError):
    """Another ETL process holds the warehouse."""


@contextmanager
def open_warehouse(
    settings: Settings, timeout: float = 600.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Yield the read-write connection, migrated to the latest schema.

    The lock is taken before DuckDB opens the file so that a second ETL process waits (up to
    ``timeout`` seconds) instead of failing on DuckDB's own lock. Web processes never open this
    file: they read published versions (customs_kpi.published).
    """
    settings.ensure_home()
    lock = FileLock(str(settings.warehouse_lock_path))
    try:
        lock.acquire(timeout=timeout)
    except Timeout as exc:
        raise WarehouseBusy(
            f"the warehouse {settings.warehouse_path} is busy (another load is running)"
        ) from exc
    try:
        con = duckdb.connect(str(settings.warehouse_path))
        try:
            migrate(con)
            yield con
        finally:
            con.close()
    finally:
        lock.release()

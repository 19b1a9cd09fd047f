"""Benchmark steps, each run in its own process so its peak memory can be measured.

``python -m bench.steps STEP ARGS...`` prints one JSON line: {"seconds": ..., "peak_mb": ..., ...}.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def generate(n: int, months: int, out: str, delivery_rows: int) -> dict[str, Any]:
    """One canonical CSV with n declarations, plus a separate delivery of new declarations."""
    import polars as pl

    from etl.sample import generate_sample, write_single_file

    t0 = time.perf_counter()
    end = date.today().replace(day=1)
    y, m = divmod(end.year * 12 + end.month - 1 - months, 12)
    sample = generate_sample(declarations=n, months=months, seed=7, start=date(y, m + 1, 1))
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_single_file(sample, out_dir / "declarations.csv")
    sample.profiles.write_csv(out_dir / "profiles.csv")
    sample.profile_changes.write_csv(out_dir / "profile_changes.csv")
    # An incremental delivery: the last delivery_rows declarations of a second, disjoint sample.
    extra = generate_sample(declarations=delivery_rows, months=1, seed=8, start=end)
    delivery = extra.declarations.with_columns(
        ("D" + pl.col("declaration_id").cast(pl.String)).alias("declaration_id")
    )
    write_single_file(type(extra)(**{**extra.__dict__, "declarations": delivery}), out_dir / "delivery.csv")
    return {"seconds": time.perf_counter() - t0, "peak_mb": _peak_mb()}


def reference_load(csv: str, db: str) -> dict[str, Any]:
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect(db)
    con.sql(f"CREATE OR REPLACE TABLE t AS SELECT * FROM read_csv('{csv}')")
    rows = con.sql("SELECT count(*) FROM t").fetchall()[0][0]
    con.close()
    return {"seconds": time.perf_counter() - t0, "peak_mb": _peak_mb(), "rows": rows}


def product_load(csv: str, home: str, publish: str) -> dict[str, Any]:
    from customs_kpi.settings import load_settings
    from etl.load import load_file

    settings = load_settings(environ={}, home=Path(home))
    settings.ensure_home()
    t0 = time.perf_counter()
    result = load_file(settings, Path(csv), publish=publish == "1")
    return {
        "seconds": time.perf_counter() - t0,
        "peak_mb": _peak_mb(),
        "status": result.status,
        "inserted": result.rows_inserted,
        "quarantined": result.rows_quarantined,
    }


def product_publish(home: str) -> dict[str, Any]:
    from customs_kpi.settings import load_settings
    from etl.publish import publish
    from etl.warehouse import open_warehouse

    settings = load_settings(environ={}, home=Path(home))
    with open_warehouse(settings) as con:
        t0 = time.perf_counter()
        version = publish(con, settings, None, 0)
        seconds = time.perf_counter() - t0
    return {"seconds": seconds, "peak_mb": _peak_mb(), "version": version}


STEPS = {
    "generate": lambda a: generate(int(a[0]), int(a[1]), a[2], int(a[3])),
    "reference_load": lambda a: reference_load(a[0], a[1]),
    "product_load": lambda a: product_load(a[0], a[1], a[2]),
    "product_publish": lambda a: product_publish(a[0]),
}

if __name__ == "__main__":
    print(json.dumps(STEPS[sys.argv[1]](sys.argv[2:])))

"""Benchmark steps, each run in its own process so its peak memory can be measured.

``python -m bench.steps STEP ARGS...`` prints one JSON line: {"seconds": ..., "peak_mb": ..., ...}.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from kpis.measures import controlled_sql, irregular_sql, seizure_sql


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.year * 12 + d.month - 1 + months, 12)
    return date(y, m + 1, 1)


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
    # Lodged in the last complete month, with ids of their own: all are new declarations.
    last = date(y, m + 1, 1) if months == 0 else _add_months(end, -1)
    extra = generate_sample(declarations=delivery_rows, months=1, seed=8, start=last)
    delivery = extra.declarations.with_columns(
        ("D" + pl.col("declaration_id").cast(pl.String)).alias("declaration_id")
    )
    write_single_file(dataclasses.replace(extra, declarations=delivery), out_dir / "delivery.csv")
    return {"seconds": time.perf_counter() - t0, "peak_mb": _peak_mb()}


def reference_load(csv: str, db: str) -> dict[str, Any]:
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect(db)
    con.sql(f"CREATE OR REPLACE TABLE t AS SELECT * FROM read_csv('{csv}')")
    rows = con.sql("SELECT count(*) FROM t").fetchall()[0][0]
    con.close()
    return {"seconds": time.perf_counter() - t0, "peak_mb": _peak_mb(), "rows": rows}


def _time_calls(module: Any, name: str) -> list[float]:
    """Wrap ``module.name`` so every call's duration is appended to the returned list."""
    seconds: list[float] = []
    original = getattr(module, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - t)

    setattr(module, name, timed)
    return seconds


def product_load(csv: str, home: str, publish: str) -> dict[str, Any]:
    import etl.cube
    import etl.publish
    from customs_kpi.settings import load_settings
    from etl.load import load_file

    settings = load_settings(environ={}, home=Path(home))
    settings.ensure_home()
    publish_seconds = _time_calls(etl.publish, "publish")
    cube_seconds = _time_calls(etl.cube, "rebuild_cube")
    t0 = time.perf_counter()
    result = load_file(settings, Path(csv), publish=publish == "1")
    total = time.perf_counter() - t0
    return {
        "seconds": total - sum(publish_seconds),
        "publish_seconds": sum(publish_seconds),
        "cube_seconds": sum(cube_seconds),
        "peak_mb": _peak_mb(),
        "status": result.status,
        "inserted": result.rows_inserted,
        "quarantined": result.rows_quarantined,
    }


def product_load_profiles(home: str, register: str, changes: str) -> dict[str, Any]:
    """The profile register and change log (so the views show names, statuses and changes)."""
    from customs_kpi.settings import load_settings
    from etl.load import load_profiles

    settings = load_settings(environ={}, home=Path(home))
    t0 = time.perf_counter()
    result = load_profiles(settings, Path(register), Path(changes))
    return {"seconds": time.perf_counter() - t0, "peak_mb": _peak_mb(), "status": result.status}


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


def _timed(fn: Any, repeat: int) -> tuple[float, float, Any]:
    """(first run seconds, median of the next ``repeat`` runs, last result)."""
    t0 = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return first, times[len(times) // 2], result


# The one SQL spelling of the control outcome (kpis.measures), as the ETL's cube uses it.
CONTROLLED = controlled_sql()
IRREGULAR = irregular_sql()
SEIZURE = seizure_sql()


def kpi_queries(home: str, repeat: str) -> dict[str, Any]:
    """The three interactive views, product (published cube + polars engine) vs plain DuckDB
    computing the same figures from the raw declarations of the warehouse."""
    import duckdb

    from customs_kpi.published import current_version
    from customs_kpi.settings import load_settings
    from kpis.cube import CubeFrames
    from kpis.engine import compute
    from kpis.profiles import default_window, profile_detail, profile_table

    n = int(repeat)
    settings = load_settings(environ={}, home=Path(home))
    published = current_version(settings)
    assert published is not None
    t0 = time.perf_counter()
    cube = CubeFrames.from_published(published)
    open_seconds = time.perf_counter() - t0
    start, end = default_window(cube, 12)
    busiest = (
        cube.profiles.group_by("profile_id")
        .agg(__import__("polars").col("controlled").sum())
        .sort("controlled", descending=True)["profile_id"][0]
    )
    trend_ids = (
        "declarations",
        "physical_inspection_rate",
        "hit_rate",
        "seizure_rate",
        "revenue_total",
        "random_share",
        "rerouting_rate",
    )

    def product_profiles() -> Any:
        return profile_table(cube, period=(start, end))

    def product_trend() -> Any:
        return [compute(k, cube, by=["month"]) for k in trend_ids]

    def product_detail() -> Any:
        return profile_detail(cube, busiest)

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    window = f"d.lodged_month BETWEEN DATE '{start}' AND DATE '{end}'"

    def ref_profiles() -> Any:
        return con.sql(f"""
            WITH r AS (SELECT count(*) FILTER (WHERE {CONTROLLED}) AS c,
                              count(*) FILTER (WHERE {IRREGULAR}) AS h
                       FROM declarations d WHERE selection_source = 'random' AND {window})
            SELECT h.profile_id, count(*) AS volume,
                   count(*) FILTER (WHERE {CONTROLLED}) AS controls,
                   count(*) FILTER (WHERE {IRREGULAR}) AS hits,
                   count(*) FILTER (WHERE {SEIZURE}) AS seiz,
                   sum(additional_revenue) AS revenue,
                   count(*) FILTER (WHERE len(profile_ids) = 1 AND {CONTROLLED}) AS sole_controls,
                   any_value(r.h) / nullif(any_value(r.c), 0) AS random_rate
            FROM declarations d JOIN profile_hits h USING (declaration_id), r
            WHERE {window} GROUP BY 1 ORDER BY 1""").fetchall()

    def ref_trend() -> Any:
        return con.sql(f"""
            SELECT lodged_month, count(*), count(*) FILTER (WHERE channel = 'red'),
                   count(*) FILTER (WHERE {CONTROLLED}),
                   count(*) FILTER (WHERE {IRREGULAR}),
                   count(*) FILTER (WHERE {SEIZURE}),
                   sum(additional_revenue), count(*) FILTER (WHERE selection_source = 'random'),
                   count(*) FILTER (WHERE channel = 'red' AND selection_source = 'officer')
            FROM declarations GROUP BY 1 ORDER BY 1""").fetchall()

    def ref_detail() -> Any:
        monthly = con.sql(f"""
            SELECT d.lodged_month, count(*), count(*) FILTER (WHERE {CONTROLLED}),
                   count(*) FILTER (WHERE {IRREGULAR}), sum(additional_revenue)
            FROM declarations d JOIN profile_hits h USING (declaration_id)
            WHERE h.profile_id = '{busiest}' GROUP BY 1 ORDER BY 1""").fetchall()
        by_office = con.sql(f"""
            SELECT office_code, channel, count(*), count(*) FILTER (WHERE {CONTROLLED})
            FROM declarations d JOIN profile_hits h USING (declaration_id)
            WHERE h.profile_id = '{busiest}' AND {window} GROUP BY 1, 2""").fetchall()
        overlaps = con.sql(f"""
            SELECT o.profile_id, count(*) FROM profile_hits h
            JOIN profile_hits o
              ON o.declaration_id = h.declaration_id AND o.profile_id <> h.profile_id
            WHERE h.profile_id = '{busiest}' GROUP BY 1""").fetchall()
        return monthly, by_office, overlaps

    out: dict[str, Any] = {
        "open_seconds": open_seconds,
        "peak_mb": _peak_mb(),
        "profile": busiest,
        "profiles": cube.profiles["profile_id"].n_unique(),
        "cube_rows": {
            name: getattr(cube, name).height
            for name in ("declarations", "profiles", "time_hist", "profile_pairs")
            if hasattr(cube, name)
        },
    }
    for name, product, reference in (
        ("profile_table", product_profiles, ref_profiles),
        ("national_trend", product_trend, ref_trend),
        ("profile_detail", product_detail, ref_detail),
    ):
        first, median, _ = _timed(product, n)
        ref_first, ref_median, _ = _timed(reference, n)
        out[name] = {
            "product_first": first,
            "product": median,
            "reference_first": ref_first,
            "reference": ref_median,
        }
    con.close()
    out["cube_bytes"] = sum(f.stat().st_size for f in published.path.glob("cube_*.parquet"))
    return out


def dashboard(home: str, work_home: str, browser: str = "browser") -> dict[str, Any]:
    """The dashboard pages served from a published HOME (see bench/dashboard.py);
    ``no-browser`` skips the Chromium part."""
    from bench.dashboard import run

    return run(home, work_home, browser != "no-browser")


STEPS = {
    "dashboard": lambda a: dashboard(*a),
    "kpi_queries": lambda a: kpi_queries(a[0], a[1]),
    "generate": lambda a: generate(int(a[0]), int(a[1]), a[2], int(a[3])),
    "reference_load": lambda a: reference_load(a[0], a[1]),
    "product_load": lambda a: product_load(a[0], a[1], a[2]),
    "product_publish": lambda a: product_publish(a[0]),
    "product_load_profiles": lambda a: product_load_profiles(a[0], a[1], a[2]),
}

if __name__ == "__main__":
    print(json.dumps(STEPS[sys.argv[1]](sys.argv[2:])))

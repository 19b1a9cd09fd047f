"""``make bench``: generate data at each requested scale and time the product beside plain DuckDB.

Each figure is printed next to its reference measured in the same run, as a ratio, with the
target from the issue. Results also go to bench/out/results.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.dashboard import result_rows as dashboard_rows
from customs_kpi.published import RunStatus

OUT = Path(__file__).parent / "out"
console = Console(width=150)


def step(*args: str) -> dict[str, Any]:
    """Run one bench step in a fresh process (so peak memory is the step's own)."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.steps", *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        console.print(f"[red]step {args[0]} failed[/]\n{proc.stderr[-3000:]}")
        raise SystemExit(1)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fresh(path: Path) -> Path:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    return path


def bench_scale(n: int, months: int, delivery_rows: int) -> list[dict[str, Any]]:
    d = OUT / f"n{n}"
    rows: list[dict[str, Any]] = []

    def add(figure: str, value: float, ref: float | None, target: str, unit: str = "s") -> None:
        ratio = value / ref if ref else None
        rows.append(
            {
                "scale": n,
                "figure": figure,
                "value": value,
                "reference": ref,
                "ratio": ratio,
                "target": target,
                "unit": unit,
            }
        )

    if not (d / "delivery.csv").exists():
        console.print(f"[bold]generating {n:,} declarations over {months} months…")
        g = step("generate", str(n), str(months), str(d), str(delivery_rows))
        add("generate sample (not a product figure)", g["seconds"], None, "—")
    csv = str(d / "declarations.csv")
    delivery = str(d / "delivery.csv")

    console.print("reference: plain DuckDB CREATE TABLE AS SELECT * FROM read_csv")
    ref = step("reference_load", csv, str(fresh(d / "ref.duckdb")))
    console.print("product: full load (validate, upsert, cube), no publish")
    full = step("product_load", csv, str(fresh(d / "home_full")), "0")
    add("full load of one canonical CSV", full["seconds"], ref["seconds"], "≤ 3× reference")
    add("peak memory of the load process", full["peak_mb"], ref["peak_mb"], "≤ 2048 MB", "MB")
    pub = step("product_publish", str(d / "home_full"))
    add("publish (full, first version)", pub["seconds"], ref["seconds"], "—")

    console.print(f"incremental delivery of {delivery_rows:,} declarations")
    empty = step("product_load", delivery, str(fresh(d / "home_empty")), "1")
    into = step("product_load", delivery, str(d / "home_full"), "1")
    add(
        f"{delivery_rows:,} into {n:,} vs into empty (load + cube rebuild)",
        into["seconds"],
        empty["seconds"],
        "≤ 3× reference",
    )
    add(
        f"cube rebuild inside that delivery (holding {n:,} vs empty)",
        into["cube_seconds"],
        empty["cube_seconds"],
        "—",
    )
    add(
        f"incremental publish after {delivery_rows:,} (holding {n:,} vs empty)",
        into["publish_seconds"],
        empty["publish_seconds"],
        "—",
    )
    add("peak memory, delivery into the large warehouse", into["peak_mb"], None, "≤ 2048 MB", "MB")

    profiles = step(
        "product_load_profiles",
        str(d / "home_full"),
        str(d / "profiles.csv"),
        str(d / "profile_changes.csv"),
    )
    if profiles["status"] != RunStatus.SUCCEEDED:
        console.print(f"[red]profile register not loaded: {profiles}[/]")
    console.print("KPI views: published cube + polars engine vs plain DuckDB on raw declarations")
    k = step("kpi_queries", str(d / "home_full"), "5")
    for name, label in (
        ("profile_table", "profile table, 12 months, every profile"),
        ("national_trend", "national monthly trend (7 KPIs)"),
        ("profile_detail", "one profile's detail"),
    ):
        add(f"{label} (warm)", k[name]["product"], k[name]["reference"], "≤ 0.1× and < 0.25 s")
        add(f"{label} (first call)", k[name]["product_first"], k[name]["reference_first"], "—")
    add("read published cube into memory (once per version)", k["open_seconds"], None, "—")
    add(f"cube size on disk ({k['profiles']} profiles)", k["cube_bytes"] / 1e6, None, "—", "MB")
    add("peak memory of a reader process", k["peak_mb"], None, "≤ 1536 MB", "MB")

    console.print("dashboard: every page served by the real app, loaded in Chromium")
    dash = step("dashboard", str(d / "home_full"), str(d / "home_dash"))
    if dash["note"]:
        console.print(f"[yellow]{dash['note']}")
    before, after = dash["load_average"]
    console.print(f"(machine load average {before:.1f} → {after:.1f} on {dash['cores']} cores)")
    for row in dashboard_rows(dash):
        add(*row)
    return rows


def _fmt(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}" if unit == "MB" else f"{value:,.3f} {unit}"


def print_rows(rows: list[dict[str, Any]]) -> None:
    table = Table("scale", "figure", "product", "reference", "ratio", "target")
    for r in rows:
        table.add_row(
            f"{r['scale']:,}",
            r["figure"],
            _fmt(r["value"], r["unit"]),
            _fmt(r["reference"], r["unit"]) if r["reference"] is not None else "—",
            f"{r['ratio']:.2f}×" if r["ratio"] is not None else "—",
            r["target"],
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--scales", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--delivery", type=int, default=10_000)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for n in args.scales:
        rows += bench_scale(n, args.months, args.delivery)
        print_rows(rows)
    (OUT / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

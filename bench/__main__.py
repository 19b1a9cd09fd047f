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

OUT = Path(__file__).parent / "out"
console = Console()


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
        rows.append({"scale": n, "figure": figure, "value": value, "reference": ref,
                     "ratio": ratio, "target": target, "unit": unit})

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
    empty = step("product_load", delivery, str(fresh(d / "home_empty")), "0")
    into = step("product_load", delivery, str(d / "home_full"), "0")
    add(f"{delivery_rows:,} into {n:,} vs into empty (load)", into["seconds"],
        empty["seconds"], "≤ 3× reference")
    # Same delivery with a fresh id prefix is not needed: publish measured on the next delivery.
    return rows


def print_rows(rows: list[dict[str, Any]]) -> None:
    table = Table("scale", "figure", "product", "reference", "ratio", "target")
    for r in rows:
        unit = r["unit"]
        fmt = (lambda v: f"{v:,.0f} {unit}") if unit == "MB" else (lambda v: f"{v:,.3f} {unit}")
        table.add_row(
            f"{r['scale']:,}", r["figure"], fmt(r["value"]),
            fmt(r["reference"]) if r["reference"] is not None else "—",
            f"{r['ratio']:.2f}×" if r["ratio"] is not None else "—", r["target"],
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

"""Overlap between profiles: which ones fire on the same declarations (redundancy candidates).

For two profiles A and B over a period: ``shared`` = declarations on which both fired,
Jaccard similarity = shared / (volume A + volume B − shared), containment = shared / the smaller
volume (1.0 = the smaller profile never fires without the other). Counts come from the cube's
``cube_profile_pairs`` and the volumes from ``cube_profiles``; an office-scoped caller that
counted the same two frames from its own offices' facts passes them to :func:`rank_pairs`.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from kpis.cube import CubeFrames
from kpis.grain import Period, month_floor, period_conditions, restrict
from kpis.measures import controlled_sql, irregular_sql

Query = tuple[str, list[object]]

PAIR_COLUMNS: tuple[str, ...] = (
    "profile_a",
    "profile_b",
    "shared_declarations",
    "shared_controlled",
    "shared_irregular",
)
RANKED_SCHEMA: dict[str, pl.DataType] = {
    "profile_a": pl.String(),
    "profile_b": pl.String(),
    "declarations_a": pl.Int64(),
    "declarations_b": pl.Int64(),
    "shared_declarations": pl.Int64(),
    "shared_controlled": pl.Int64(),
    "shared_irregular": pl.Int64(),
    "jaccard": pl.Float64(),
    "containment": pl.Float64(),
    "share_of_a": pl.Float64(),
    "share_of_b": pl.Float64(),
}


def cube_pairs(cube: CubeFrames, period: Period | None) -> pl.DataFrame:
    """Pair counts over the period (profile_a < profile_b): :data:`PAIR_COLUMNS`."""
    rows = restrict(cube.profile_pairs, period_conditions(period))
    return rows.group_by("profile_a", "profile_b").agg(
        pl.col("declarations").sum().alias("shared_declarations"),
        pl.col("controlled").sum().alias("shared_controlled"),
        pl.col("irregular").sum().alias("shared_irregular"),
    )


def cube_volumes(cube: CubeFrames, period: Period | None) -> pl.DataFrame:
    """``profile_id``, ``declarations`` (every declaration it fired on) over the period."""
    rows = restrict(cube.profiles, period_conditions(period))
    return rows.group_by("profile_id").agg(pl.col("declarations").sum())


def rank_pairs(
    pairs: pl.DataFrame,
    volumes: pl.DataFrame,
    *,
    min_shared: int = 1,
    profiles: Sequence[str] = (),
) -> pl.DataFrame:
    """Pairs with their similarity, most similar first (Jaccard, then shared declarations,
    then ids). ``min_shared`` drops pairs sharing fewer declarations (noise); ``profiles``
    keeps pairs involving one of them. Columns: :data:`RANKED_SCHEMA`."""
    if pairs.is_empty():
        return pl.DataFrame(schema=RANKED_SCHEMA)
    vol = volumes.select("profile_id", pl.col("declarations").cast(pl.Int64))
    # Normalise the order of each pair so that a caller's frame may list either way round.
    ordered = pairs.select(
        pl.min_horizontal("profile_a", "profile_b").alias("profile_a"),
        pl.max_horizontal("profile_a", "profile_b").alias("profile_b"),
        *(pl.col(c).cast(pl.Int64) for c in PAIR_COLUMNS[2:]),
    )
    ordered = ordered.group_by("profile_a", "profile_b").agg(pl.col(PAIR_COLUMNS[2:]).sum())
    frame = (
        ordered.filter(pl.col("shared_declarations") >= min_shared)
        .join(vol.rename({"profile_id": "profile_a", "declarations": "declarations_a"}),
              on="profile_a", how="left")
        .join(vol.rename({"profile_id": "profile_b", "declarations": "declarations_b"}),
              on="profile_b", how="left")
    )  # fmt: skip
    if profiles:
        wanted = list(profiles)
        frame = frame.filter(pl.col("profile_a").is_in(wanted) | pl.col("profile_b").is_in(wanted))
    a, b, shared = pl.col("declarations_a"), pl.col("declarations_b"), pl.col("shared_declarations")
    union = a + b - shared
    smaller = pl.min_horizontal(a, b)
    frame = frame.with_columns(
        pl.when(union > 0).then(shared / union).alias("jaccard"),
        pl.when(smaller > 0).then(shared / smaller).alias("containment"),
        pl.when(a > 0).then(shared / a).alias("share_of_a"),
        pl.when(b > 0).then(shared / b).alias("share_of_b"),
    )
    return frame.select(list(RANKED_SCHEMA)).sort(
        ["jaccard", "shared_declarations", "profile_a", "profile_b"],
        descending=[True, True, False, False],
        nulls_last=True,
    )


def overlap_pairs(
    cube: CubeFrames,
    period: Period | None,
    *,
    min_shared: int = 1,
    profiles: Sequence[str] = (),
) -> pl.DataFrame:
    """Ranked pairs from the cube over the period (see :func:`rank_pairs`)."""
    return rank_pairs(
        cube_pairs(cube, period), cube_volumes(cube, period), min_shared=min_shared,
        profiles=profiles,
    )  # fmt: skip


def overlap_matrix(ranked: pl.DataFrame, top: int = 20) -> tuple[list[str], list[list[float]]]:
    """Symmetric Jaccard matrix of the ``top`` profiles that appear in the most similar pairs
    (diagonal 1.0, 0.0 where two profiles never fire together): (profile ids, rows)."""
    chosen: list[str] = []
    for a, b in ranked.select("profile_a", "profile_b").iter_rows():
        for pid in (a, b):
            if pid not in chosen and len(chosen) < top:
                chosen.append(pid)
        if len(chosen) >= top:
            break
    chosen.sort()
    index = {pid: i for i, pid in enumerate(chosen)}
    matrix = [[1.0 if i == j else 0.0 for j in range(len(chosen))] for i in range(len(chosen))]
    for a, b, jac in ranked.select("profile_a", "profile_b", "jaccard").iter_rows():
        if a in index and b in index and jac is not None:
            matrix[index[a]][index[b]] = matrix[index[b]][index[a]] = float(jac)
    return chosen, matrix


def facts_queries(period: Period, offices: Sequence[str]) -> tuple[Query, Query]:
    """SQL (with parameters) over the published facts giving the pair frame
    (:data:`PAIR_COLUMNS`) and the volume frame for ``offices``: for office-scoped users, whose
    view of the national pair table would leak other offices' activity."""
    first, last = month_floor(period[0]), month_floor(period[1])
    placeholders = ", ".join("?" for _ in offices)
    scope = f"d.office_code IN ({placeholders})" if offices else "TRUE"
    base: list[object] = [first, last, *offices]

    scoped_hits = (
        "SELECT h.declaration_id, h.lodged_month, h.profile_id, d.channel, d.control_result "
        "FROM profile_hits h JOIN declarations d ON d.declaration_id = h.declaration_id "
        f"AND d.lodged_month = h.lodged_month WHERE h.lodged_month BETWEEN ? AND ? AND {scope}"
    )
    pairs = (
        f"WITH s AS ({scoped_hits}) SELECT a.profile_id AS profile_a, b.profile_id AS profile_b, "
        "count(*) AS shared_declarations, "
        f"count(*) FILTER (WHERE {controlled_sql('a')}) AS shared_controlled, "
        f"count(*) FILTER (WHERE {irregular_sql('a')}) AS shared_irregular "
        "FROM s a JOIN s b ON a.declaration_id = b.declaration_id "
        "AND a.lodged_month = b.lodged_month AND a.profile_id < b.profile_id GROUP BY 1, 2"
    )
    volumes = (
        f"WITH s AS ({scoped_hits}) SELECT profile_id, count(*) AS declarations FROM s GROUP BY 1"
    )
    return (pairs, list(base)), (volumes, list(base))


__all__ = [
    "PAIR_COLUMNS",
    "RANKED_SCHEMA",
    "cube_pairs",
    "cube_volumes",
    "facts_queries",
    "overlap_matrix",
    "overlap_pairs",
    "rank_pairs",
]

"""Declaration-level queries of the profile page, over the published version's fact views (paged and
filtered, never whole tables): offences found, profiles firing together, the latest controlled
declarations. Every query carries the user's office scope (PageContext.office_clause)."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from dashboard import filters as flt
from dashboard.data import PageContext
from kpis.grain import period_conditions, period_end_day, restrict
from kpis.measures import controlled_sql, irregular_sql
from kpis.profiles import profile_overlaps

PAGE_SIZE = 25


def _period(filters: flt.PageFilters) -> tuple[date, date]:
    assert filters.start is not None and filters.end is not None
    return filters.start, period_end_day(filters.end)


def _fact_scope(
    ctx: PageContext, filters: flt.PageFilters, profile_id: str
) -> tuple[str, list[Any]]:
    """WHERE clause over ``declarations d JOIN profile_hits h``: profile, period, the user's
    offices (server-side scope) and channel. The period is stated on both sides of the join so
    both views read only the period's lodged_month partitions."""
    assert filters.start is not None and filters.end is not None
    return _scope_between(ctx, filters, profile_id, filters.start, filters.end)


def _scope_between(
    ctx: PageContext, filters: flt.PageFilters, profile_id: str, first: date, last: date
) -> tuple[str, list[Any]]:
    """:func:`_fact_scope` over the lodged months ``first``..``last`` (within the period)."""
    office_sql, office_params = ctx.office_clause(filters, "d.office_code")
    clauses = [
        "h.profile_id = ?",
        "h.lodged_month BETWEEN ? AND ?",
        "d.lodged_month BETWEEN ? AND ?",
        office_sql,
    ]
    params: list[Any] = [profile_id, first, last, first, last, *office_params]
    if filters.channel is not None:
        clauses.append("d.channel = ?")
        params.append(filters.channel.value)
    return " AND ".join(clauses), params


_FACTS = (
    "declarations d JOIN profile_hits h "
    "ON h.declaration_id = d.declaration_id AND h.lodged_month = d.lodged_month"
)


def offence_frame(ctx: PageContext, filters: flt.PageFilters, profile_id: str) -> pl.DataFrame:
    """Hits by offence type (facts, filtered to the profile, period and scope)."""
    where, params = _fact_scope(ctx, filters, profile_id)
    return ctx.query(
        f"SELECT coalesce(nullif(d.offence_type, ''), 'not recorded') AS offence_type, "
        f"count(*) AS hits, sum(d.additional_revenue)::DOUBLE AS revenue "
        f"FROM {_FACTS} WHERE {where} AND {irregular_sql('d')} "
        f"GROUP BY 1 ORDER BY hits DESC, offence_type LIMIT 50",
        params,
    )


def overlap_frame(ctx: PageContext, filters: flt.PageFilters, profile_id: str) -> pl.DataFrame:
    """Profiles firing on the same declarations. Unscoped users: the cube's pair table.
    Office-scoped users: counted from their own offices' facts (the pair table is national)."""
    assert ctx.cube is not None
    if ctx.viewer.offices is None and ctx.office_filter(filters) is None and not filters.channel:
        return profile_overlaps(ctx.cube, profile_id, _period(filters)).head(20)
    where, params = _fact_scope(ctx, filters, profile_id)
    return ctx.query(
        f"SELECT o.profile_id AS other_profile, count(*) AS declarations, "
        f"count(*) FILTER (WHERE {controlled_sql('d')}) AS controlled, "
        f"count(*) FILTER (WHERE {irregular_sql('d')}) AS irregular "
        f"FROM {_FACTS} JOIN profile_hits o ON o.declaration_id = d.declaration_id "
        f"AND o.lodged_month = d.lodged_month AND o.profile_id <> h.profile_id "
        f"WHERE {where} GROUP BY 1 ORDER BY declarations DESC, other_profile LIMIT 20",
        params,
    )


DECLARATION_COLUMNS = (
    "declaration_id", "lodged_at", "office_code", "channel", "selection_source",
    "control_result", "offence_type", "additional_revenue", "released_at", "importer_id",
    "hs_code", "origin_country",
)  # fmt: skip


def controlled_by_month(
    ctx: PageContext, filters: flt.PageFilters, profile_id: str
) -> pl.DataFrame:
    """The profile's controlled declarations per lodged month, newest first, from the cube
    (``lodged_month``, ``controlled``; months without any left out). The cube's ``controlled``
    measure counts exactly the rows :func:`declarations_frame` lists (same definition, office
    scope and channel), so it gives the total and tells which months hold a page."""
    assert ctx.cube is not None
    rows = restrict(
        ctx.cube.profiles,
        pl.col("profile_id") == profile_id,
        period_conditions(_period(filters)),
        ctx.kpi_filters(filters).conditions(with_profiles=False),
    )
    return (
        rows.group_by("lodged_month")
        .agg(pl.col("controlled").sum())
        .filter(pl.col("controlled") > 0)
        .sort("lodged_month", descending=True)
    )


def page_months(counts: pl.DataFrame, offset: int, size: int) -> tuple[list[date], int]:
    """The lodged months (newest first) holding rows ``offset``..``offset + size - 1`` of a
    newest-first listing whose per-month counts are ``counts`` (see
    :func:`controlled_by_month`), and how many rows the newer months before them hold."""
    months: list[date] = []
    before = covered = 0
    for month, count in counts.select("lodged_month", "controlled").iter_rows():
        if not months and before + count <= offset:
            before += count  # the page starts after this whole month
            continue
        months.append(month)
        covered += count
        if before + covered >= offset + size:
            break
    return months, before


def declarations_frame(
    ctx: PageContext, filters: flt.PageFilters, profile_id: str, page: int
) -> tuple[pl.DataFrame, int]:
    """One page of the profile's controlled declarations, latest first, and the total.

    The total comes from the cube and the page is read from the few lodged_month partitions
    that hold it: scanning every month of the facts took close to a second at 10 M
    declarations, one or two months take a few hundredths."""
    counts = controlled_by_month(ctx, filters, profile_id)
    total = int(counts["controlled"].sum())
    offset = max(page, 0) * PAGE_SIZE
    months, before = page_months(counts, offset, PAGE_SIZE)
    if months:
        where, params = _scope_between(ctx, filters, profile_id, min(months), max(months))
    else:
        where, params = "FALSE", []  # past the end: no rows, same columns
    controlled = controlled_sql("d")
    columns = ", ".join(f"d.{c}" for c in DECLARATION_COLUMNS)
    rows = ctx.query(
        f"SELECT {columns} FROM {_FACTS} WHERE {where} AND {controlled} "
        f"ORDER BY d.lodged_at DESC, d.declaration_id LIMIT {PAGE_SIZE} OFFSET ?",
        [*params, offset - before],
    )
    return rows, total

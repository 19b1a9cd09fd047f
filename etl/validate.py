"""Validate: delivered strings -> typed canonical rows, and quarantine rows with a rule and a
reason.

Everything is generated SQL over the delivery (etl.extract.Source), so a 10 M-row file is read,
cast and checked in one vectorised pass inside DuckDB. A row breaking several rules is
quarantined once: ``rule`` is the first rule it broke, ``reason`` lists every problem, each
naming the column and the value.

Tables created (temporary, in the caller's connection and transaction):

* ``_typed``: every canonical column typed, ``lodged_month``, ``__errors`` and ``__raw`` (the
  delivered record, for bad rows), read straight from the delivery in file order; after
  :func:`validate` it holds only the rows that load (item rows when ``item_level``).
* ``_rows`` (view): ``_typed`` with its 1-based ``source_row``.
* ``_bad``: ``source_row, declaration_id, rule, reason, raw_record`` per quarantined row.
* the relation to load: ``_rows``, or the item roll-up ``_valid``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from etl.contract import (
    CANONICAL,
    FALSE_WORDS,
    RESULT_SEVERITY_ORDER,
    TRUE_WORDS,
    Column,
    ValueType,
)
from etl.extract import Source, quote_ident, quote_literal, staged_rows
from etl.mapping import Mapping

# Lodgement times come in the administration's local time while the server may run in UTC:
# only a lodgement more than this far ahead of the load's clock is "in the future".
FUTURE_TOLERANCE = timedelta(hours=24)

CANONICAL_SQL_COLUMNS: tuple[str, ...] = tuple(c.name for c in CANONICAL)


@dataclass(frozen=True)
class Validated:
    rows_read: int
    rows_quarantined: int
    declarations: int  # rows of the relation to load
    valid_table: str


def _raw(name: str) -> str:
    return quote_ident(name + "__s")


def _case_of(value: str, results: dict[str, str]) -> str:
    """SQL mapping lower(value) to the result SQL of its word (NULL for any other word).

    A CASE chain, not ``IN (...)``: DuckDB plans an IN list of more than a few constants as a
    hash join, which does not keep file order, and source rows come from that order.
    """
    whens = " ".join(f"WHEN {quote_literal(k)} THEN {v}" for k, v in results.items())
    return f"(CASE lower({value}) {whens} END)"


def _source_expr(col: Column, resolved: dict[str, tuple[str, ...]], mapping: Mapping) -> str:
    """The delivered string for ``col`` (NULL when empty), after constants and value mapping."""
    if col.name in mapping.constants:
        expr = quote_literal(mapping.constants[col.name])
    elif col.name in resolved:
        parts = [f"nullif(trim({quote_ident(s)}), '')" for s in resolved[col.name]]
        if len(parts) == 1:
            expr = parts[0]
        else:  # a composite key is only a key when every part is present
            any_missing = " OR ".join(f"{p} IS NULL" for p in parts)
            expr = f"CASE WHEN {any_missing} THEN NULL ELSE concat_ws('-', {', '.join(parts)}) END"
    else:
        expr = "NULL::VARCHAR"
    table = mapping.values.get(col.name)
    if table:
        whens = " ".join(
            f"WHEN {quote_literal(k)} THEN {quote_literal(v)}" for k, v in sorted(table.items())
        )
        expr = f"(CASE lower({expr}) {whens} ELSE {expr} END)"
    if col.default is not None:
        expr = f"coalesce({expr}, {quote_literal(col.default)})"
    return expr


def _typed_expr(col: Column, mapping: Mapping) -> str:
    s = _raw(col.name)
    if col.value_type is ValueType.STRING:
        return s
    if col.value_type is ValueType.CODE:
        return _case_of(s, {code: quote_literal(code) for code in col.codes})
    if col.value_type is ValueType.DATETIME:
        return _datetime_expr(s, mapping.datetime_formats.get(col.name), mapping.timezone)
    if col.value_type is ValueType.DATE:
        return f"try_cast(try_cast({s} AS TIMESTAMP) AS DATE)"
    if col.value_type in (ValueType.DECIMAL, ValueType.INTEGER):
        return f"try_cast({s} AS {col.sql_type})"
    if col.value_type is ValueType.BOOLEAN:
        return _case_of(
            s, {**dict.fromkeys(TRUE_WORDS, "true"), **dict.fromkeys(FALSE_WORDS, "false")}
        )
    sep = quote_literal(mapping.list_separator)
    return (
        f"CASE WHEN {s} IS NULL THEN []::VARCHAR[] ELSE list_sort(list_distinct(list_filter("
        f"list_transform(string_split({s}, {sep}), lambda x: trim(x)), lambda x: x <> ''))) END"
    )


_OFFSET_AFTER_TIME = r"[0-9]:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$"


def _datetime_expr(s: str, formats: tuple[str, ...] | None, timezone: str | None) -> str:
    """A delivered date/time as the administration's local wall-clock time (TIMESTAMP).

    The canonical times are local: a declaration belongs to the month of its local lodgement
    date, so one lodged at 23:30 on 31 January local time is January's whatever the server's
    zone. A time without an offset is taken as local as it is. A time with an offset (``Z``,
    ``+03:00``, ``+0300``, ``-05``; or a ``%z`` format) is converted to ``timezone`` (the
    mapping's ``[source] timezone``, else CUSTOMS_KPI_TIMEZONE) and its offset dropped, so
    ``2025-01-31T20:30:00Z`` is 23:30 on 31 January in Asia/Riyadh, and
    ``2025-01-31 20:30-05:00`` is 04:30 on 1 February there."""
    zone = quote_literal(timezone or "UTC")
    if formats:
        zoned = [f for f in formats if "%z" in f or "%Z" in f]
        plain = [f for f in formats if f not in zoned]
        parts = []
        if zoned:
            listed = ", ".join(quote_literal(f) for f in zoned)
            parts.append(f"timezone({zone}, try_strptime({s}, [{listed}]))")
        if plain:
            parts.append(f"try_strptime({s}, [{', '.join(quote_literal(f) for f in plain)}])")
        return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"
    # An offset follows the time ("…:MM[:SS[.fff]]" then Z, ±HH, ±HHMM or ±HH:MM). One RE2 match
    # is the cheapest exact test DuckDB has here (cheaper than several string searches).
    offset = f"regexp_matches({s}, {quote_literal(_OFFSET_AFTER_TIME)})"
    return (
        f"CASE WHEN {offset} THEN timezone({zone}, try_cast({s} AS TIMESTAMPTZ)) "
        f"ELSE try_cast({s} AS TIMESTAMP) END"
    )


def _expected(col: Column, mapping: Mapping) -> str:
    if col.value_type is ValueType.DATETIME:
        formats = mapping.datetime_formats.get(col.name)
        if formats:
            return "is not a date/time in the format " + " or ".join(formats)
        return "is not an ISO 8601 date/time (e.g. 2024-03-31 14:05:00)"
    if col.value_type is ValueType.DATE:
        return "is not an ISO 8601 date (e.g. 2024-03-31)"
    if col.value_type is ValueType.CODE:
        mapped = " after mapping" if col.name in mapping.values else ""
        return f"is not one of {', '.join(col.codes)}{mapped}"
    if col.value_type is ValueType.BOOLEAN:
        return "is not a boolean (true/false, yes/no, 1/0)"
    if col.value_type is ValueType.INTEGER:
        return "is not a whole number"
    return "is not a number"


def _origin(col: Column, resolved: dict[str, tuple[str, ...]], mapping: Mapping) -> str:
    sources = resolved.get(col.name)
    if mapping.is_identity or not sources:
        return ""
    return f" (from {'-'.join(sources)})"


_STAMP = "strftime(\"{}\", '%Y-%m-%d %H:%M:%S')"


def _below(minimum: float) -> str:
    return " is negative" if minimum == 0 else f" is below {minimum:g}"


def _quoted(sql_value: str) -> str:
    """SQL for the text  'value'  in a reason."""
    return f"'''' || {sql_value} || ''''"


def _error_checks(
    columns: tuple[Column, ...],
    resolved: dict[str, tuple[str, ...]],
    mapping: Mapping,
    now: datetime | None,
) -> list[tuple[str, str, str]]:
    """(condition, rule, reason SQL) for every row rule, in the order rules are reported."""
    checks: list[tuple[str, str, str]] = []
    names = {c.name for c in columns}
    for col in columns:
        s, t = _raw(col.name), quote_ident(col.name)
        origin = _origin(col, resolved, mapping)
        if col.required:
            checks.append(
                (
                    f"{s} IS NULL",
                    f"required:{col.name}",
                    quote_literal(f"{col.name} is empty{origin}"),
                )
            )
        if col.value_type not in (ValueType.STRING, ValueType.LIST):
            reason = (
                f"{quote_literal(col.name + ' ')} || {_quoted(s)} || "
                f"{quote_literal(' ' + _expected(col, mapping) + origin)}"
            )
            checks.append((f"{s} IS NOT NULL AND {t} IS NULL", f"invalid:{col.name}", reason))
        if col.min_value is not None:
            reason = (
                f"{quote_literal(col.name + ' ')} || {_quoted(s)} || "
                f"{quote_literal(_below(col.min_value) + origin)}"
            )
            checks.append((f"{t} < {col.min_value}", f"negative:{col.name}", reason))
    released = _quoted(_STAMP.format("released_at"))
    lodged = _quoted(_STAMP.format("lodged_at"))
    if {"released_at", "lodged_at"} <= names:
        checks.append(
            (
                '"released_at" < "lodged_at"',
                "release_before_lodgement",
                f"'released_at ' || {released} || ' is before lodged_at ' || {lodged}",
            )
        )
    if now is not None and "lodged_at" in names:
        limit = (now + FUTURE_TOLERANCE).strftime("%Y-%m-%d %H:%M:%S")
        when = quote_literal(f" is in the future (loaded at {now:%Y-%m-%d %H:%M})")
        checks.append(
            (
                f"\"lodged_at\" > TIMESTAMP '{limit}'",
                "lodged_in_future",
                f"'lodged_at ' || {lodged} || {when}",
            )
        )
    return checks


def typed_select(
    relation: str,
    columns: tuple[Column, ...],
    resolved: dict[str, tuple[str, ...]],
    mapping: Mapping,
    now: datetime | None,
    *,
    source_row: str | None = None,
    raw_columns: tuple[str, ...] = (),
) -> str:
    """SELECT [source_row,] typed columns, __errors (NULL when the row is valid)
    [, __raw: the delivered record as JSON, for bad rows only] FROM relation."""
    strings = ", ".join(f"{_source_expr(c, resolved, mapping)} AS {_raw(c.name)}" for c in columns)
    typed = ", ".join(f"{_typed_expr(c, mapping)} AS {quote_ident(c.name)}" for c in columns)
    checks = _error_checks(columns, resolved, mapping, now)
    any_bad = " OR ".join(f"coalesce({cond}, false)" for cond, _, _ in checks)
    items = ", ".join(
        f"CASE WHEN coalesce({cond}, false) THEN {{'rule': {quote_literal(rule)}, "
        f"'reason': {reason}}} END"
        for cond, rule, reason in checks
    )
    errors = f"CASE WHEN {any_bad} THEN list_filter([{items}], lambda e: e IS NOT NULL) END"
    # Delivered columns travel under a prefix so they never clash with canonical names.
    passed = "".join(f", {quote_ident(c)} AS {quote_ident('__r_' + c)}" for c in raw_columns)
    raw = ""
    if raw_columns:
        record = ", ".join(f"{quote_literal(c)}: {quote_ident('__r_' + c)}" for c in raw_columns)
        raw = f", CASE WHEN {any_bad} THEN to_json({{{record}}})::VARCHAR END AS __raw"
    row = f"{source_row} AS source_row, " if source_row else ""
    keep = "source_row, " if source_row else ""
    return (
        f"WITH s AS (SELECT {row}{strings}{passed} FROM {relation}), "
        f"t AS (SELECT *, {typed} FROM s) "
        f"SELECT {keep}{', '.join(quote_ident(c.name) for c in columns)}, "
        f"{errors} AS __errors{raw} FROM t"
    )


def raw_record_sql(columns: tuple[str, ...], alias: str) -> str:
    """SQL for a delivered row of ``alias`` as a JSON object (the quarantine's raw_record)."""
    record = ", ".join(f"{quote_literal(c)}: {alias}.{quote_ident(c)}" for c in columns)
    return f"to_json({{{record}}})::VARCHAR"


def _rollup_select() -> str:
    """One row per declaration from its valid item rows (DATA-CONTRACT.md roll-up rules)."""
    severity = " ".join(
        f"WHEN {quote_literal(r)} THEN {i}" for i, r in enumerate(RESULT_SEVERITY_ORDER)
    )
    sev = f"(CASE control_result {severity} END)"
    # Declaration-level attributes (lane, office, trader...) repeat on every item row of an
    # export; the first item row's value is taken. Values of items are summed; timestamps
    # keep the widest span (first arrival/lodgement/assignment, last result/payment/release).
    first = (
        "office_code",
        "channel",
        "selection_source",
        "importer_id",
        "declarant_id",
        "hs_code",
        "origin_country",
        "procedure",
        "transport_mode",
    )
    aggs = {
        "declaration_id": "declaration_id",
        "lodged_at": "min(lodged_at)",
        "profile_ids": "list_sort(list_distinct(flatten(list(profile_ids))))",
        "control_result": f"arg_max(control_result, {sev}) FILTER (control_result IS NOT NULL)",
        "offence_type": f"arg_max(offence_type, coalesce({sev}, -1)) "
        "FILTER (offence_type IS NOT NULL)",
        "additional_revenue": "sum(additional_revenue)::DECIMAL(18, 2)",
        "arrived_at": "min(arrived_at)",
        "channel_assigned_at": "min(channel_assigned_at)",
        "result_recorded_at": "max(result_recorded_at)",
        "paid_at": "max(paid_at)",
        "released_at": "max(released_at)",
        "is_aeo": "bool_or(is_aeo)",
        "customs_value": "sum(customs_value)::DECIMAL(18, 2)",
        **{name: f"arg_min({name}, source_row)" for name in first},
    }
    cols = ", ".join(f"{aggs[c]} AS {quote_ident(c)}" for c in CANONICAL_SQL_COLUMNS)
    return (
        f"SELECT min(source_row) AS source_row, {cols}, count(*) AS item_rows "
        "FROM _rows GROUP BY declaration_id"
    )


def validate(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    resolved: dict[str, tuple[str, ...]],
    mapping: Mapping,
    now: datetime,
) -> Validated:
    """Read, type and check the delivery in one pass; fill ``_bad`` (with the raw record) and
    leave the rows to load in the returned ``valid_table`` (with ``lodged_month``)."""
    select = typed_select(
        source.relation, CANONICAL, resolved, mapping, now, raw_columns=source.columns
    )
    source.run(
        con,
        "CREATE OR REPLACE TEMP TABLE _typed AS SELECT *, date_trunc('month', lodged_at)::DATE "
        f"AS lodged_month FROM ({select})",
    )
    rows, base = staged_rows(con, source.path, "_typed")
    # The table keeps file order, so its row ids give the source rows without a window pass.
    con.sql(
        f"CREATE OR REPLACE TEMP VIEW _rows AS SELECT rowid - {base} + 1 AS source_row, * "
        "FROM _typed"
    )
    con.sql(
        "CREATE OR REPLACE TEMP TABLE _bad (source_row BIGINT, declaration_id VARCHAR, "
        "rule VARCHAR, reason VARCHAR, raw_record VARCHAR)"
    )
    con.sql(
        "INSERT INTO _bad SELECT source_row, declaration_id, __errors[1].rule, "
        "array_to_string(list_transform(__errors, lambda e: e.reason), '; '), __raw "
        "FROM _rows WHERE __errors IS NOT NULL"
    )
    if mapping.item_level:
        # A declaration with one bad item is quarantined whole: loading the other items would
        # understate its revenue or its result.
        con.sql(
            "INSERT INTO _bad SELECT t.source_row, t.declaration_id, "
            "'item_of_quarantined_declaration', 'another item of declaration ''' || "
            "t.declaration_id || ''' was quarantined (row ' || b.rows || ')', NULL "
            "FROM _rows t JOIN (SELECT declaration_id, string_agg(source_row::VARCHAR, ', ' "
            "ORDER BY source_row) AS rows FROM _bad WHERE declaration_id IS NOT NULL "
            "GROUP BY ALL) b USING (declaration_id) WHERE t.__errors IS NULL"
        )
    else:
        _quarantine_duplicates(con)
    _fill_raw_records(con, source)
    if _quarantined(con):
        con.sql(f"DELETE FROM _typed WHERE rowid - {base} + 1 IN (SELECT source_row FROM _bad)")
    if mapping.item_level:
        con.sql(
            "CREATE OR REPLACE TEMP TABLE _valid AS SELECT *, date_trunc('month', lodged_at)::DATE"
            f" AS lodged_month FROM ({_rollup_select()})"
        )
        valid = "_valid"
    else:
        valid = "_rows"
    quarantined = _quarantined(con)
    declarations = _count(con, valid)
    return Validated(
        rows_read=rows,
        rows_quarantined=quarantined,
        declarations=declarations,
        valid_table=valid,
    )


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0])


def _quarantined(con: duckdb.DuckDBPyConnection) -> int:
    """Rows in ``_bad`` so far."""
    return _count(con, "_bad")


def _quarantine_duplicates(con: duckdb.DuckDBPyConnection) -> None:
    """The same id twice in one delivery: nothing says which copy is right, so all go.

    Copies are looked for on 64-bit hashes of the ids first: grouping 10 M integers is several
    times cheaper (and smaller) than grouping 10 M strings. Only the ids whose hash repeats are
    then compared as strings, so a hash collision never quarantines anything.
    """
    con.sql(
        "CREATE OR REPLACE TEMP TABLE _dup_hashes AS SELECT hash(declaration_id) AS h "
        "FROM _typed WHERE declaration_id IS NOT NULL GROUP BY h HAVING count(*) > 1"
    )
    if not _count(con, "_dup_hashes"):
        return
    con.sql(
        "CREATE OR REPLACE TEMP TABLE _dups AS SELECT declaration_id, count(*) AS copies "
        "FROM _typed WHERE declaration_id IS NOT NULL "
        "AND hash(declaration_id) IN (SELECT h FROM _dup_hashes) "
        "GROUP BY declaration_id HAVING count(*) > 1"
    )
    con.sql(
        "CREATE OR REPLACE TEMP TABLE _dup_rows AS SELECT t.source_row, t.declaration_id, "
        "t.__errors IS NOT NULL AS already_bad, 'declaration_id ''' || t.declaration_id || "
        "''' appears ' || d.copies || ' times in this delivery (rows ' || "
        "string_agg(t.source_row::VARCHAR, ', ' ORDER BY t.source_row) OVER "
        "(PARTITION BY t.declaration_id) || ')' AS reason "
        "FROM _rows t JOIN _dups d USING (declaration_id)"
    )
    con.sql(
        "UPDATE _bad SET reason = _bad.reason || '; ' || r.reason FROM _dup_rows r "
        "WHERE r.source_row = _bad.source_row"
    )
    con.sql(
        "INSERT INTO _bad SELECT source_row, declaration_id, 'duplicate:declaration_id', "
        "reason, NULL FROM _dup_rows WHERE NOT already_bad"
    )


def _fill_raw_records(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """Raw records of rows quarantined for what other rows hold (duplicates, sibling items):
    valid on their own, they were not kept in the first pass, so read them again (rare)."""
    missing = int(con.sql("SELECT count(*) FROM _bad WHERE raw_record IS NULL").fetchall()[0][0])
    if not missing:
        return
    source.run(
        con,
        "UPDATE _bad SET raw_record = r.record FROM (SELECT row_number() OVER () AS source_row, "
        f"{raw_record_sql(source.columns, 'f')} AS record FROM {source.relation} f) r "
        "WHERE _bad.raw_record IS NULL AND r.source_row = _bad.source_row",
    )


def top_reasons(con: duckdb.DuckDBPyConnection, limit: int = 5) -> list[tuple[str, int]]:
    """The most frequent quarantine rules of the current validation, most frequent first."""
    rows = con.sql(
        f"SELECT rule, count(*) AS n FROM _bad GROUP BY rule ORDER BY n DESC, rule LIMIT {limit}"
    ).fetchall()
    return [(str(rule), int(n)) for rule, n in rows]

"""The aggregate cube (etl.cube) against independent SQL over the raw warehouse tables.

The warehouse is filled by hand here (SQL inserts with deterministic pseudo-random attributes and
a handful of edge cases), not by the sample generator or the ETL, so these tests pin the cube on
its own. The reference queries are written differently from etl.cube on purpose (CASE sums,
date_diff instead of epoch, profile membership from profile_hits only, Python for pairs and
histogram bins) so that a shared mistake is unlikely.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import date
from itertools import combinations

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from etl.cube import CUBE_TABLES, rebuild_cube
from etl.schema import migrate
from kpis.measures import (
    DECLARATION_DIMENSIONS,
    HIST_RELATIVE_ERROR,
    HIST_ZERO_BIN,
    MEASURE_NAMES,
    PROFILE_DIMENSIONS,
    RELEASED_WITHIN,
    SOLE_MEASURE_NAMES,
    hist_bin,
    hist_value,
)

PROFILES = ["P01", "P02", "P03", "P04", "P05"]

# Declarations with pseudo-random but deterministic attributes over four months. hash() of
# (i, salt) gives independent draws; durations are log-normal-ish so percentiles have tails.
FILL_SQL = """
INSERT INTO declarations (declaration_id, office_code, lodged_at, lodged_month, channel,
    selection_source, profile_ids, control_result, additional_revenue, arrived_at,
    channel_assigned_at, result_recorded_at, released_at, run_id, source_name, source_file,
    source_row)
WITH draws AS (
    SELECT i,
        (hash(i, 'office') % 3)::INTEGER AS o,
        (hash(i, 'chan') % 100)::INTEGER AS c,
        (hash(i, 'src') % 6)::INTEGER AS s,
        (hash(i, 'res') % 10)::INTEGER AS r,
        (hash(i, 'prof') % 32)::INTEGER AS p,
        TIMESTAMP '2024-01-01' + to_minutes(((hash(i, 'when') % (120 * 1440)))::BIGINT)
            + to_seconds((hash(i, 'sec') % 60)::BIGINT) AS lodged_at,
        (hash(i, 'u1') % 1000000) / 1000000.0 AS u1,
        (hash(i, 'u2') % 1000000) / 1000000.0 AS u2,
        (hash(i, 'u3') % 1000000) / 1000000.0 AS u3,
        (hash(i, 'u4') % 1000000) / 1000000.0 AS u4,
        (hash(i, 'miss') % 10)::INTEGER AS miss
    FROM range($start, $stop) t(i)
)
SELECT 'D' || lpad(i::VARCHAR, 6, '0'),
    ['HQ', 'PORT', 'AIRPORT'][o + 1],
    lodged_at,
    date_trunc('month', lodged_at)::DATE,
    CASE WHEN c < 60 THEN 'green' WHEN c < 80 THEN 'yellow' WHEN c < 95 THEN 'red'
         ELSE 'blue' END AS channel,
    ['profile', 'random', 'officer', 'intelligence', 'none', 'unknown'][s + 1],
    list_sort(list_distinct(list_filter(['P01', 'P02', 'P03', 'P04', 'P05'],
        lambda x, k: (p >> (k - 1)) & 1 = 1 AND (p % 5 <> 0 OR k = 1)))),
    CASE WHEN c < 60 AND r < 9 THEN NULL
         WHEN r < 5 THEN 'no_finding' WHEN r < 7 THEN 'irregularity'
         WHEN r < 8 THEN 'seizure' WHEN r < 9 THEN 'pending' ELSE NULL END,
    CASE WHEN r BETWEEN 5 AND 7 THEN round(u1 * 5000, 2) ELSE 0 END,
    CASE WHEN miss < 8 THEN lodged_at - to_seconds((exp(u2 * 8) * 60)::BIGINT) END,
    CASE WHEN miss <> 3 THEN lodged_at + to_seconds((exp(u3 * 6) * 10)::BIGINT) END,
    CASE WHEN miss NOT IN (3, 4) AND c >= 60
         THEN lodged_at + to_seconds((exp(u3 * 6) * 10 + exp(u4 * 10) * 30)::BIGINT) END,
    CASE WHEN miss <> 9 THEN lodged_at + to_seconds((exp(u4 * 12) * 3)::BIGINT) END,
    1, 'canonical', 'hand.csv', i
FROM draws
"""

# Edge cases: boundaries of released_within, zero and sub-second durations, a negative stage,
# an empty result string, a green declaration with a result, a lone profile, pending controls.
EDGE_SQL = """
INSERT INTO declarations (declaration_id, office_code, lodged_at, lodged_month, channel,
    selection_source, profile_ids, control_result, additional_revenue, arrived_at,
    channel_assigned_at, result_recorded_at, released_at, run_id, source_name, source_file,
    source_row)
VALUES
 ('E1', 'HQ', '2024-02-10 08:00:00', '2024-02-01', 'red', 'profile', ['P02'], 'seizure',
  1234.56, '2024-02-10 07:00:00', '2024-02-10 08:00:00', '2024-02-10 09:00:00',
  '2024-02-10 09:00:00', 2, 'canonical', 'edge.csv', 1),
 ('E2', 'HQ', '2024-02-11 08:00:00', '2024-02-01', 'green', 'none', [], 'irregularity',
  0, NULL, '2024-02-11 08:00:00', NULL, '2024-02-11 08:00:00', 2, 'canonical', 'edge.csv', 2),
 ('E3', 'HQ', '2024-02-12 08:00:00', '2024-02-01', 'yellow', 'officer', ['P01', 'P04'], '',
  0, '2024-02-12 09:00:00', '2024-02-12 08:00:00.5', NULL, '2024-02-13 08:00:00', 2,
  'canonical', 'edge.csv', 3),
 ('E4', 'PORT', '2024-03-01 00:00:00', '2024-03-01', 'red', 'random', ['P01', 'P03', 'P05'],
  'pending', 0, '2024-02-28 00:00:00', '2024-03-01 00:10:00', NULL, NULL, 2, 'canonical',
  'edge.csv', 4),
 ('E5', 'PORT', '2024-03-31 23:59:59', '2024-03-01', 'blue', 'intelligence', ['P05'],
  'irregularity', 99.99, NULL, '2024-04-01 00:00:00', '2024-04-02 00:00:00',
  '2024-04-03 23:59:59', 2, 'canonical', 'edge.csv', 5)
"""

HITS_SQL = """
INSERT INTO profile_hits
SELECT declaration_id, unnest(profile_ids), lodged_month FROM declarations
"""

# Reference measures per declaration: CASE sums and date_diff, nothing shared with etl.cube.
REFERENCE_SQL = """
CREATE OR REPLACE TEMP TABLE ref AS
SELECT d.declaration_id, d.lodged_month, d.office_code, d.channel, d.selection_source,
    CASE WHEN channel <> 'green' AND control_result IN ('no_finding', 'irregularity', 'seizure')
         THEN 1 ELSE 0 END AS controlled,
    CASE WHEN channel <> 'green' AND control_result IN ('irregularity', 'seizure')
         THEN 1 ELSE 0 END AS irregular,
    CASE WHEN channel <> 'green' AND control_result = 'seizure' THEN 1 ELSE 0 END AS seizure,
    CASE WHEN channel <> 'green' AND coalesce(nullif(control_result, ''), 'pending') = 'pending'
         THEN 1 ELSE 0 END AS pending,
    CAST(additional_revenue AS DOUBLE) AS revenue,
    CASE WHEN released_at IS NULL THEN 0 ELSE 1 END AS released,
    date_diff('microsecond', lodged_at, released_at) / 3.6e9 AS release_hours,
    CASE WHEN released_at IS NOT NULL AND arrived_at IS NOT NULL THEN 1 ELSE 0 END
        AS released_from_arrival,
    date_diff('microsecond', arrived_at, released_at) / 3.6e9 AS release_from_arrival_hours,
    CASE WHEN channel = 'red' AND channel_assigned_at IS NOT NULL
              AND result_recorded_at IS NOT NULL THEN 1 ELSE 0 END AS inspections_timed,
    CASE WHEN channel = 'red'
         THEN date_diff('microsecond', channel_assigned_at, result_recorded_at) / 3.6e9 END
        AS inspection_hours,
    CASE WHEN arrived_at IS NOT NULL THEN 1 ELSE 0 END AS stage_arrival_lodgement,
    date_diff('microsecond', arrived_at, lodged_at) / 3.6e9 AS stage_arrival_lodgement_hours,
    CASE WHEN channel_assigned_at IS NOT NULL THEN 1 ELSE 0 END AS stage_lodgement_channel,
    date_diff('microsecond', lodged_at, channel_assigned_at) / 3.6e9
        AS stage_lodgement_channel_hours,
    CASE WHEN channel_assigned_at IS NOT NULL AND result_recorded_at IS NOT NULL
         THEN 1 ELSE 0 END AS stage_channel_result,
    date_diff('microsecond', channel_assigned_at, result_recorded_at) / 3.6e9
        AS stage_channel_result_hours,
    CASE WHEN result_recorded_at IS NOT NULL AND released_at IS NOT NULL THEN 1 ELSE 0 END
        AS stage_result_release,
    date_diff('microsecond', result_recorded_at, released_at) / 3.6e9
        AS stage_result_release_hours,
    {within}
FROM declarations d
"""
WITHIN_SQL = ",\n    ".join(
    f"CASE WHEN released_at <= lodged_at + INTERVAL {h} HOUR THEN 1 ELSE 0 END AS {name}"
    for h, name in RELEASED_WITHIN
)

N_DECLARATIONS = 3000


def _fill(con: duckdb.DuckDBPyConnection, start: int, stop: int) -> None:
    con.sql(FILL_SQL, params={"start": start, "stop": stop})


def _open() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    migrate(con)
    return con


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    con = _open()
    _fill(con, 0, N_DECLARATIONS)
    con.sql(EDGE_SQL)
    con.sql(HITS_SQL)
    rebuild_cube(con, None)
    yield con
    con.close()


def _reference(con: duckdb.DuckDBPyConnection) -> None:
    con.sql(REFERENCE_SQL.format(within=WITHIN_SQL))


def _sums(con: duckdb.DuckDBPyConnection, source: str, grain: list[str], measures: list[str]):
    cols = ", ".join(f"coalesce(sum({m}), 0)::DOUBLE AS {m}" for m in measures)
    group = ", ".join(grain)
    return (
        con.sql(f"SELECT {group}, {cols} FROM {source} GROUP BY ALL ORDER BY {group}")
        .pl()
        .sort(grain)
    )


def _assert_frames_close(actual: pl.DataFrame, expected: pl.DataFrame, keys: list[str]) -> None:
    assert actual.height == expected.height
    assert actual.select(keys).equals(expected.select(keys))
    for col in expected.columns:
        if col in keys:
            continue
        a, e = actual[col].to_list(), expected[col].to_list()
        for x, y, k in zip(a, e, actual.select(keys).rows(), strict=True):
            assert x == pytest.approx(y, rel=1e-9, abs=1e-6), f"{col} at {k}: {x} != {y}"


def test_cube_tables_have_exactly_the_contract_columns(con: duckdb.DuckDBPyConnection) -> None:
    def columns(table: str) -> list[str]:
        return [r[0] for r in con.sql(f"DESCRIBE {table}").fetchall()]

    assert columns("cube_declarations") == [*DECLARATION_DIMENSIONS, *MEASURE_NAMES]
    assert columns("cube_profiles") == [*PROFILE_DIMENSIONS, *MEASURE_NAMES, *SOLE_MEASURE_NAMES]
    assert columns("cube_time_hist") == [*DECLARATION_DIMENSIONS, "metric", "bin", "count"]
    assert columns("cube_profile_pairs") == [
        "lodged_month",
        "profile_a",
        "profile_b",
        "declarations",
        "controlled",
        "irregular",
    ]


def test_fixture_covers_what_the_cube_must_handle(con: duckdb.DuckDBPyConnection) -> None:
    # Guard against a fixture that silently stopped exercising the interesting cases.
    facts = con.sql(
        """SELECT count(DISTINCT lodged_month), count(DISTINCT channel),
                  count(DISTINCT selection_source), count_if(len(profile_ids) = 0),
                  count_if(len(profile_ids) = 1), count_if(len(profile_ids) >= 2),
                  count_if(control_result = 'seizure' AND channel <> 'green'),
                  count_if(control_result = 'pending'), count_if(released_at IS NULL),
                  count_if(arrived_at IS NULL)
           FROM declarations"""
    ).fetchall()[0]
    months, channels, sources, no_profile, one, several, seizures, pending, open_, no_arr = facts
    assert months == 4 and channels == 4 and sources == 6
    assert min(no_profile, one, several, seizures, pending, open_, no_arr) >= 20


@pytest.mark.parametrize(
    "grain",
    [
        ["lodged_month"],
        ["office_code", "channel"],
        ["selection_source", "lodged_month"],
        ["lodged_month", "office_code", "channel", "selection_source"],
        ["channel"],
    ],
)
def test_declaration_measures_equal_raw_sql(
    con: duckdb.DuckDBPyConnection, grain: list[str]
) -> None:
    _reference(con)
    measures = list(MEASURE_NAMES)
    measures[measures.index("declarations")] = "declarations"
    expected = _sums(con, "(SELECT *, 1 AS declarations FROM ref)", grain, measures)
    actual = _sums(con, "cube_declarations", grain, measures)
    _assert_frames_close(actual, expected, grain)


def test_edge_rows_counted_by_hand() -> None:
    con = _open()
    con.sql(EDGE_SQL)
    con.sql(HITS_SQL)
    rebuild_cube(con, None)
    cube = {
        (r["office_code"], r["channel"]): r
        for r in con.sql("SELECT * FROM cube_declarations").pl().to_dicts()
    }
    assert len(cube) == 5 and all(r["declarations"] == 1 for r in cube.values())
    zeros = dict.fromkeys(MEASURE_NAMES[1:], 0)
    all_within = {name: 1 for _, name in RELEASED_WITHIN}
    expected = {
        # Red seizure: released exactly 1 h after lodgement (counts as "within 1 h").
        ("HQ", "red"): {
            **zeros,
            **all_within,
            "controlled": 1,
            "irregular": 1,
            "seizure": 1,
            "revenue": 1234.56,
            "released": 1,
            "release_hours": 1.0,
            "released_from_arrival": 1,
            "release_from_arrival_hours": 2.0,
            "inspections_timed": 1,
            "inspection_hours": 1.0,
            "stage_arrival_lodgement": 1,
            "stage_arrival_lodgement_hours": 1.0,
            "stage_lodgement_channel": 1,
            "stage_lodgement_channel_hours": 0.0,
            "stage_channel_result": 1,
            "stage_channel_result_hours": 1.0,
            "stage_result_release": 1,
            "stage_result_release_hours": 0.0,
        },
        # Green with a result: not a control; released at once.
        ("HQ", "green"): {
            **zeros,
            **all_within,
            "released": 1,
            "release_hours": 0.0,
            "stage_lodgement_channel": 1,
        },
        # Yellow with an empty result: pending; arrival after lodgement gives a negative stage.
        ("HQ", "yellow"): {
            **zeros,
            "pending": 1,
            "released": 1,
            "release_hours": 24.0,
            "released_from_arrival": 1,
            "release_from_arrival_hours": 23.0,
            "stage_arrival_lodgement": 1,
            "stage_arrival_lodgement_hours": -1.0,
            "stage_lodgement_channel": 1,
            "stage_lodgement_channel_hours": 0.5 / 3600,
            "released_within_24h": 1,
            "released_within_48h": 1,
            "released_within_72h": 1,
        },
        # Red pending, not released, no result time: open, not timed.
        ("PORT", "red"): {
            **zeros,
            "pending": 1,
            "stage_arrival_lodgement": 1,
            "stage_arrival_lodgement_hours": 48.0,
            "stage_lodgement_channel": 1,
            "stage_lodgement_channel_hours": 10 / 60,
        },
        # Blue audit: a control, but inspection time is for red only; released after 72 h.
        ("PORT", "blue"): {
            **zeros,
            "controlled": 1,
            "irregular": 1,
            "revenue": 99.99,
            "released": 1,
            "release_hours": 72.0,
            "released_within_72h": 1,
            "stage_lodgement_channel": 1,
            "stage_lodgement_channel_hours": 1 / 3600,
            "stage_channel_result": 1,
            "stage_channel_result_hours": 24.0,
            "stage_result_release": 1,
            "stage_result_release_hours": 48 - 1 / 3600,
        },
    }
    for cell, measures in expected.items():
        for name, value in measures.items():
            assert cube[cell][name] == pytest.approx(value, abs=1e-9), (cell, name)
    bins = con.sql(
        "SELECT office_code, channel, metric, bin FROM cube_time_hist ORDER BY ALL"
    ).fetchall()
    assert bins == sorted(
        [
            ("HQ", "red", "release", hist_bin(1.0)),
            ("HQ", "red", "release_from_arrival", hist_bin(2.0)),
            ("HQ", "red", "inspection", hist_bin(1.0)),
            ("HQ", "green", "release", HIST_ZERO_BIN),
            ("HQ", "yellow", "release", hist_bin(24.0)),
            ("HQ", "yellow", "release_from_arrival", hist_bin(23.0)),
            ("PORT", "blue", "release", hist_bin(72.0)),
        ]
    )


@pytest.mark.parametrize(
    "grain",
    [["profile_id"], ["profile_id", "lodged_month"], ["profile_id", "channel", "office_code"]],
)
def test_profile_measures_equal_raw_sql(con: duckdb.DuckDBPyConnection, grain: list[str]) -> None:
    _reference(con)
    # Membership and "sole" from profile_hits only (the cube reads profile_ids for "sole").
    con.sql(
        """CREATE OR REPLACE TEMP TABLE ref_profiles AS
           SELECT h.profile_id, r.*, 1 AS declarations,
                  (SELECT count(*) FROM profile_hits h2
                   WHERE h2.declaration_id = h.declaration_id) = 1 AS alone
           FROM profile_hits h JOIN ref r ON r.declaration_id = h.declaration_id"""
    )
    source = """(SELECT *,
                   CASE WHEN alone THEN 1 ELSE 0 END AS sole_declarations,
                   CASE WHEN alone THEN controlled ELSE 0 END AS sole_controlled,
                   CASE WHEN alone THEN irregular ELSE 0 END AS sole_irregular,
                   CASE WHEN alone THEN revenue ELSE 0 END AS sole_revenue
                 FROM ref_profiles)"""
    measures = [*MEASURE_NAMES, *SOLE_MEASURE_NAMES]
    expected = _sums(con, source, grain, measures)
    actual = _sums(con, "cube_profiles", grain, measures)
    _assert_frames_close(actual, expected, grain)
    assert set(actual["profile_id"]) == set(PROFILES)


def test_sole_measures_on_hand_made_rows() -> None:
    con = _open()
    con.sql(
        """INSERT INTO declarations (declaration_id, office_code, lodged_at, lodged_month,
               channel, selection_source, profile_ids, control_result, additional_revenue,
               run_id, source_name, source_file, source_row)
           VALUES ('a', 'HQ', '2024-05-02', '2024-05-01', 'red', 'profile', ['X'],
                   'irregularity', 10, 1, 'c', 'f', 1),
                  ('b', 'HQ', '2024-05-03', '2024-05-01', 'red', 'profile', ['X', 'Y'],
                   'seizure', 20, 1, 'c', 'f', 2),
                  ('c', 'HQ', '2024-05-04', '2024-05-01', 'yellow', 'profile', ['X'],
                   'no_finding', 0, 1, 'c', 'f', 3),
                  ('d', 'HQ', '2024-05-05', '2024-05-01', 'green', 'profile', ['Y'],
                   NULL, 0, 1, 'c', 'f', 4),
                  -- out of order and repeated (the contract says sorted and distinct; the
                  -- cube must not count X twice or see a pair Y-X)
                  ('e', 'HQ', '2024-05-06', '2024-05-01', 'green', 'profile', ['Y', 'X', 'Y'],
                   NULL, 0, 1, 'c', 'f', 5),
                  ('f', 'HQ', '2024-05-07', '2024-05-01', 'red', 'profile', ['X', 'X'],
                   'seizure', 5, 1, 'c', 'f', 6)"""
    )
    rebuild_cube(con, None)
    rebuild_cube(con, None)
    got = {
        r[0]: r[1:]
        for r in con.sql(
            """SELECT profile_id, sum(declarations), sum(controlled), sum(irregular),
                      sum(revenue), sum(sole_declarations), sum(sole_controlled),
                      sum(sole_irregular), sum(sole_revenue)
               FROM cube_profiles GROUP BY 1"""
        ).fetchall()
    }
    assert got["X"] == (5, 4, 3, 35.0, 3, 3, 2, 15.0)
    assert got["Y"] == (3, 1, 1, 20.0, 1, 0, 0, 0.0)
    pairs = con.sql("SELECT * FROM cube_profile_pairs").fetchall()
    assert pairs == [(date(2024, 5, 1), "X", "Y", 2, 1, 1)]


def test_profile_pairs_equal_python_count(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.sql(
        """SELECT d.lodged_month, list(h.profile_id ORDER BY h.profile_id),
                  any_value(d.channel), any_value(d.control_result)
           FROM profile_hits h JOIN declarations d USING (declaration_id)
           GROUP BY d.declaration_id, d.lodged_month"""
    ).fetchall()
    expected: Counter[tuple[date, str, str, str]] = Counter()
    for month, profiles, channel, result in rows:
        controlled = channel != "green" and result in ("no_finding", "irregularity", "seizure")
        irregular = controlled and result in ("irregularity", "seizure")
        for a, b in combinations(profiles, 2):
            expected[(month, a, b, "declarations")] += 1
            expected[(month, a, b, "controlled")] += int(controlled)
            expected[(month, a, b, "irregular")] += int(irregular)
    actual: Counter[tuple[date, str, str, str]] = Counter()
    for month, a, b, n, c, i in con.sql("SELECT * FROM cube_profile_pairs").fetchall():
        assert a < b
        actual[(month, a, b, "declarations")] += n
        actual[(month, a, b, "controlled")] += c
        actual[(month, a, b, "irregular")] += i
    assert +actual == +expected
    assert sum(v for k, v in expected.items() if k[3] == "declarations") > 100


def _durations(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    # (month, office, channel, source, metric, hours) for every timed declaration.
    return con.sql(
        """SELECT lodged_month, office_code, channel, selection_source, 'release',
                  date_diff('microsecond', lodged_at, released_at) / 3.6e9
           FROM declarations WHERE released_at IS NOT NULL
           UNION ALL
           SELECT lodged_month, office_code, channel, selection_source, 'release_from_arrival',
                  date_diff('microsecond', arrived_at, released_at) / 3.6e9
           FROM declarations WHERE released_at IS NOT NULL AND arrived_at IS NOT NULL
           UNION ALL
           SELECT lodged_month, office_code, channel, selection_source, 'inspection',
                  date_diff('microsecond', channel_assigned_at, result_recorded_at) / 3.6e9
           FROM declarations WHERE channel = 'red' AND channel_assigned_at IS NOT NULL
             AND result_recorded_at IS NOT NULL"""
    ).fetchall()


def test_time_histogram_bins_match_python_hist_bin(con: duckdb.DuckDBPyConnection) -> None:
    expected: Counter[tuple] = Counter()
    for *key, hours in _durations(con):
        expected[(*key, hist_bin(hours))] += 1
    actual = Counter(
        {tuple(r[:-1]): r[-1] for r in con.sql("SELECT * FROM cube_time_hist").fetchall()}
    )
    assert actual == expected
    # Timed counts agree with the additive measures too.
    released = con.sql("SELECT sum(released) FROM cube_declarations").fetchall()[0][0]
    in_hist = con.sql("SELECT sum(count) FROM cube_time_hist WHERE metric = 'release'").fetchall()[
        0
    ][0]
    assert in_hist == released


def _hist_quantile(bins: dict[int, int], q: float) -> float:
    # Same rank rule as DuckDB's quantile_disc: the ceil(q * n)-th smallest value (1-based).
    n = sum(bins.values())
    rank = max(1, math.ceil(q * n - 1e-9))
    seen = 0
    for b in sorted(bins):
        seen += bins[b]
        if seen >= rank:
            return hist_value(b)
    raise AssertionError("unreachable")


@pytest.mark.parametrize("metric", ["release", "release_from_arrival", "inspection"])
def test_histogram_percentiles_within_one_percent(
    con: duckdb.DuckDBPyConnection, metric: str
) -> None:
    exact_sql = {
        "release": ("lodged_at", "released_at", "TRUE"),
        "release_from_arrival": ("arrived_at", "released_at", "TRUE"),
        "inspection": ("channel_assigned_at", "result_recorded_at", "channel = 'red'"),
    }
    start, end, where = exact_sql[metric]
    quantiles = [0.1, 0.5, 0.9, 0.99]
    # Grains: national, per channel, per office x month (a roll-up of many cube cells).
    for group in ["'all'", "channel", "office_code || ' ' || lodged_month"]:
        exact = con.sql(
            f"""SELECT {group} AS g,
                       quantile_disc(date_diff('microsecond', {start}, {end}) / 3.6e9, $q)
                FROM declarations
                WHERE {start} IS NOT NULL AND {end} IS NOT NULL AND {where}
                GROUP BY 1""",
            params={"q": quantiles},
        ).fetchall()
        hist_rows = con.sql(
            f"""SELECT {group} AS g, bin, sum(count)::BIGINT FROM cube_time_hist
                WHERE metric = $m GROUP BY 1, 2""",
            params={"m": metric},
        ).fetchall()
        bins: dict[str, dict[int, int]] = {}
        for g, b, n in hist_rows:
            bins.setdefault(g, {})[b] = n
        assert len(exact) >= 1 and set(bins) == {g for g, _ in exact}
        for g, values in exact:
            for q, value in zip(quantiles, values, strict=True):
                approx = _hist_quantile(bins[g], q)
                if value <= 1 / 3600:
                    assert approx == 0.0
                else:
                    assert abs(approx - value) <= HIST_RELATIVE_ERROR * value, (g, q)


CUBE_KEYS: dict[str, list[str]] = {
    "cube_declarations": list(DECLARATION_DIMENSIONS),
    "cube_profiles": list(PROFILE_DIMENSIONS),
    "cube_time_hist": [*DECLARATION_DIMENSIONS, "metric", "bin"],
    "cube_profile_pairs": ["lodged_month", "profile_a", "profile_b"],
}


def _cube_frames(con: duckdb.DuckDBPyConnection) -> dict[str, pl.DataFrame]:
    # Sorted by each table's key (unique per row), so frames compare row by row.
    return {t: con.sql(f"SELECT * FROM {t}").pl().sort(k) for t, k in CUBE_KEYS.items()}


def _assert_cubes_equal(left: pl.DataFrame, right: pl.DataFrame) -> None:
    # Counts exactly; hour and revenue sums to 1e-9: parallel aggregation adds doubles in a
    # varying order, which changes the last bits, not the figures.
    assert_frame_equal(left, right, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


def test_incremental_rebuild_of_one_month_equals_full_rebuild(
    con: duckdb.DuckDBPyConnection,
) -> None:
    before = _cube_frames(con)
    # A delivery touching March only: late results, new declarations, a replaced profile set.
    con.sql(
        """UPDATE declarations SET control_result = 'irregularity', additional_revenue = 777
           WHERE lodged_month = DATE '2024-03-01' AND channel = 'red'
             AND control_result = 'pending'"""
    )
    con.sql(
        """UPDATE declarations SET profile_ids = ['P02', 'P03'], released_at = NULL
           WHERE lodged_month = DATE '2024-03-01' AND declaration_id LIKE '%7'"""
    )
    _fill(con, N_DECLARATIONS, N_DECLARATIONS + 400)
    con.sql(
        f"""DELETE FROM declarations WHERE lodged_month <> DATE '2024-03-01'
            AND source_row >= {N_DECLARATIONS}"""
    )
    con.sql("DELETE FROM profile_hits WHERE lodged_month = DATE '2024-03-01'")
    con.sql(
        """INSERT INTO profile_hits SELECT declaration_id, unnest(profile_ids), lodged_month
           FROM declarations WHERE lodged_month = DATE '2024-03-01'"""
    )
    con.begin()
    rebuild_cube(con, [date(2024, 3, 17)])  # any day stands for its month
    con.commit()
    incremental = _cube_frames(con)
    for table in CUBE_TABLES:
        assert not incremental[table].equals(before[table]), f"{table} did not change"
        # Other months untouched.
        others = pl.col("lodged_month") != date(2024, 3, 1)
        _assert_cubes_equal(incremental[table].filter(others), before[table].filter(others))
    rebuild_cube(con, None)
    full = _cube_frames(con)
    for table in CUBE_TABLES:
        _assert_cubes_equal(incremental[table], full[table])


def test_rebuild_runs_in_the_callers_transaction(con: duckdb.DuckDBPyConnection) -> None:
    before = _cube_frames(con)
    con.begin()
    con.sql("DELETE FROM declarations WHERE lodged_month = DATE '2024-01-01'")
    rebuild_cube(con, {date(2024, 1, 1)})
    assert con.sql(
        "SELECT count(*) FROM cube_declarations WHERE lodged_month = DATE '2024-01-01'"
    ).fetchall() == [(0,)]
    con.rollback()
    after = _cube_frames(con)
    for table in CUBE_TABLES:
        assert after[table].equals(before[table])


def test_empty_month_list_changes_nothing(con: duckdb.DuckDBPyConnection) -> None:
    before = _cube_frames(con)
    con.sql("DELETE FROM declarations")
    rebuild_cube(con, [])
    after = _cube_frames(con)
    for table in CUBE_TABLES:
        assert after[table].equals(before[table])

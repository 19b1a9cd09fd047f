-- Aggregate cube, version 2. Column names and meaning: kpis/measures.py (the contract).
-- Built only by etl.cube.rebuild_cube(), per lodged_month; published as Parquet with each
-- snapshot so that interactive pages never scan raw declarations.
-- Counts are BIGINT; hour sums and revenue are DOUBLE so that ratios computed downstream keep
-- full precision (polars Decimal division truncates to the dividend's scale).

CREATE TABLE cube_declarations (
    lodged_month                   DATE    NOT NULL,
    office_code                    VARCHAR NOT NULL,
    channel                        VARCHAR NOT NULL,
    selection_source               VARCHAR NOT NULL,
    declarations                   BIGINT  NOT NULL,
    controlled                     BIGINT  NOT NULL,
    irregular                      BIGINT  NOT NULL,
    seizure                        BIGINT  NOT NULL,
    pending                        BIGINT  NOT NULL,
    revenue                        DOUBLE  NOT NULL,
    released                       BIGINT  NOT NULL,
    release_hours                  DOUBLE  NOT NULL,
    released_from_arrival          BIGINT  NOT NULL,
    release_from_arrival_hours     DOUBLE  NOT NULL,
    inspections_timed              BIGINT  NOT NULL,
    inspection_hours               DOUBLE  NOT NULL,
    stage_arrival_lodgement        BIGINT  NOT NULL,
    stage_arrival_lodgement_hours  DOUBLE  NOT NULL,
    stage_lodgement_channel        BIGINT  NOT NULL,
    stage_lodgement_channel_hours  DOUBLE  NOT NULL,
    stage_channel_result           BIGINT  NOT NULL,
    stage_channel_result_hours     DOUBLE  NOT NULL,
    stage_result_release           BIGINT  NOT NULL,
    stage_result_release_hours     DOUBLE  NOT NULL,
    released_within_1h             BIGINT  NOT NULL,
    released_within_3h             BIGINT  NOT NULL,
    released_within_6h             BIGINT  NOT NULL,
    released_within_24h            BIGINT  NOT NULL,
    released_within_48h            BIGINT  NOT NULL,
    released_within_72h            BIGINT  NOT NULL
);

-- Same measures per profile that fired, plus the sole_* measures (profile set = {profile_id}).
CREATE TABLE cube_profiles (
    profile_id                     VARCHAR NOT NULL,
    lodged_month                   DATE    NOT NULL,
    office_code                    VARCHAR NOT NULL,
    channel                        VARCHAR NOT NULL,
    selection_source               VARCHAR NOT NULL,
    declarations                   BIGINT  NOT NULL,
    controlled                     BIGINT  NOT NULL,
    irregular                      BIGINT  NOT NULL,
    seizure                        BIGINT  NOT NULL,
    pending                        BIGINT  NOT NULL,
    revenue                        DOUBLE  NOT NULL,
    released                       BIGINT  NOT NULL,
    release_hours                  DOUBLE  NOT NULL,
    released_from_arrival          BIGINT  NOT NULL,
    release_from_arrival_hours     DOUBLE  NOT NULL,
    inspections_timed              BIGINT  NOT NULL,
    inspection_hours               DOUBLE  NOT NULL,
    stage_arrival_lodgement        BIGINT  NOT NULL,
    stage_arrival_lodgement_hours  DOUBLE  NOT NULL,
    stage_lodgement_channel        BIGINT  NOT NULL,
    stage_lodgement_channel_hours  DOUBLE  NOT NULL,
    stage_channel_result           BIGINT  NOT NULL,
    stage_channel_result_hours     DOUBLE  NOT NULL,
    stage_result_release           BIGINT  NOT NULL,
    stage_result_release_hours     DOUBLE  NOT NULL,
    released_within_1h             BIGINT  NOT NULL,
    released_within_3h             BIGINT  NOT NULL,
    released_within_6h             BIGINT  NOT NULL,
    released_within_24h            BIGINT  NOT NULL,
    released_within_48h            BIGINT  NOT NULL,
    released_within_72h            BIGINT  NOT NULL,
    sole_declarations              BIGINT  NOT NULL,
    sole_controlled                BIGINT  NOT NULL,
    sole_irregular                 BIGINT  NOT NULL,
    sole_revenue                   DOUBLE  NOT NULL
);

-- Mergeable log-bucket histogram of durations (kpis.measures.hist_bin): percentiles within 1 %.
CREATE TABLE cube_time_hist (
    lodged_month      DATE    NOT NULL,
    office_code       VARCHAR NOT NULL,
    channel           VARCHAR NOT NULL,
    selection_source  VARCHAR NOT NULL,
    metric            VARCHAR NOT NULL,           -- release | release_from_arrival | inspection
    bin               INTEGER NOT NULL,
    count             BIGINT  NOT NULL
);

-- How often two profiles fire on the same declaration (profile_a < profile_b).
CREATE TABLE cube_profile_pairs (
    lodged_month  DATE    NOT NULL,
    profile_a     VARCHAR NOT NULL,
    profile_b     VARCHAR NOT NULL,
    declarations  BIGINT  NOT NULL,
    controlled    BIGINT  NOT NULL,
    irregular     BIGINT  NOT NULL
);

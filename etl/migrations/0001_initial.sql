-- Warehouse schema, version 1. Grain and meaning: ../shared/design/DATA-CONTRACT.md.
-- Applied once by etl.schema.migrate(); never edit after it has shipped, add 0002_... instead.

-- One row per declaration: the latest delivered version wins (see etl.load).
CREATE TABLE declarations (
    declaration_id       VARCHAR   NOT NULL,
    office_code          VARCHAR   NOT NULL,
    lodged_at            TIMESTAMP NOT NULL,
    lodged_month         DATE      NOT NULL,      -- date_trunc('month', lodged_at): partition key
    channel              VARCHAR   NOT NULL,      -- green | yellow | red | blue
    selection_source     VARCHAR   NOT NULL,      -- profile | random | officer | intelligence | none | unknown
    profile_ids          VARCHAR[] NOT NULL,      -- every profile that fired, sorted, may be empty
    control_result       VARCHAR,                 -- no_finding | irregularity | seizure | pending | NULL
    offence_type         VARCHAR,
    additional_revenue   DECIMAL(18, 2) NOT NULL DEFAULT 0,
    arrived_at           TIMESTAMP,
    channel_assigned_at  TIMESTAMP,
    result_recorded_at   TIMESTAMP,
    paid_at              TIMESTAMP,
    released_at          TIMESTAMP,
    importer_id          VARCHAR,
    declarant_id         VARCHAR,
    hs_code              VARCHAR,
    origin_country       VARCHAR,
    procedure            VARCHAR,
    transport_mode       VARCHAR,
    is_aeo               BOOLEAN,
    customs_value        DECIMAL(18, 2),
    -- lineage
    run_id               BIGINT    NOT NULL,      -- run that delivered this version
    source_name          VARCHAR   NOT NULL,      -- [source].name of the mapping, or 'canonical'
    source_file          VARCHAR   NOT NULL,      -- file name as delivered
    source_row           BIGINT    NOT NULL       -- 1-based data row in that file (header excluded)
);

-- One row per (declaration, profile that fired): the bridge for profile grain KPIs.
CREATE TABLE profile_hits (
    declaration_id VARCHAR NOT NULL,
    profile_id     VARCHAR NOT NULL,
    lodged_month   DATE    NOT NULL
);

-- Profile register: one row per profile (latest delivered register wins per profile_id).
CREATE TABLE profiles (
    profile_id          VARCHAR PRIMARY KEY,
    name                VARCHAR,
    risk_area           VARCHAR,
    target_channel      VARCHAR,
    status              VARCHAR NOT NULL,         -- draft | active | suspended | expired | retired
    valid_from          DATE,
    valid_to            DATE,
    owner_unit          VARCHAR,
    review_period_days  INTEGER,
    last_reviewed_at    DATE,
    description         VARCHAR,
    run_id              BIGINT NOT NULL
);

-- Profile change log: one row per event.
CREATE TABLE profile_changes (
    profile_id   VARCHAR   NOT NULL,
    changed_at   TIMESTAMP NOT NULL,
    change_type  VARCHAR   NOT NULL,              -- created | modified | suspended | reactivated | retired | reviewed
    summary      VARCHAR,
    changed_by   VARCHAR,
    run_id       BIGINT    NOT NULL
);

-- Run log: one row per ETL run (load of one file, profile register load, rebuild, publish).
CREATE SEQUENCE run_id_seq START 1;
CREATE TABLE runs (
    run_id             BIGINT PRIMARY KEY,
    kind               VARCHAR   NOT NULL,        -- load | load-profiles | publish | rebuild
    started_at         TIMESTAMP NOT NULL,
    finished_at        TIMESTAMP,
    status             VARCHAR   NOT NULL,        -- running | succeeded | failed | skipped
    source_name        VARCHAR,
    file_name          VARCHAR,
    file_sha256        VARCHAR,
    rows_read          BIGINT DEFAULT 0,
    rows_inserted      BIGINT DEFAULT 0,
    rows_replaced      BIGINT DEFAULT 0,
    rows_quarantined   BIGINT DEFAULT 0,
    duration_seconds   DOUBLE,
    message            VARCHAR
);

-- Content hashes of files already loaded: loading the same bytes again changes nothing.
CREATE TABLE loaded_files (
    file_sha256  VARCHAR PRIMARY KEY,
    file_name    VARCHAR NOT NULL,
    run_id       BIGINT  NOT NULL,
    loaded_at    TIMESTAMP NOT NULL
);

-- Quarantined rows: file, row number, reason, and the raw row as delivered (JSON).
CREATE TABLE quarantine (
    run_id          BIGINT  NOT NULL,
    file_name       VARCHAR NOT NULL,
    source_row      BIGINT  NOT NULL,             -- 1-based data row in the file (header excluded)
    declaration_id  VARCHAR,
    rule            VARCHAR NOT NULL,             -- short machine name, e.g. 'required:lodged_at'
    reason          VARCHAR NOT NULL,             -- human message naming the column and value
    raw_record      VARCHAR                        -- the source row as JSON
);

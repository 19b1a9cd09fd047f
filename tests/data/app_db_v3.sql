-- An app.db as the code before appstate/ left it (schema version 3; the review tables were
-- created by dashboard/review_state.py, outside the migrations): dumped with iterdump().
BEGIN TRANSACTION;
CREATE TABLE app_meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
INSERT INTO "app_meta" VALUES('throttle_salt','78bfcdb26e5cc4931abda80de3f65569');
CREATE TABLE audit (
        audit_id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        user_name TEXT,
        role TEXT,
        remote_addr TEXT,
        action TEXT NOT NULL,
        target TEXT,
        details TEXT
    );
INSERT INTO "audit" VALUES(1,'2026-12-04T21:12:43.912+00:00','ana','analyst','10.0.0.1','review.start','profile:P7','{"decision": null, "from": "flagged", "profile_id": "P7", "rationale": "committee", "to": "under_review"}');
INSERT INTO "audit" VALUES(2,'2026-12-04T21:12:43.920+00:00','ana','analyst','10.0.0.1','review.decide','profile:P7','{"decision": "retire", "from": "under_review", "profile_id": "P7", "rationale": "Hit rate too low", "to": "decided"}');
CREATE TABLE "login_throttle" (
        kind TEXT NOT NULL CHECK (kind IN ('pair', 'account', 'address')),
        key TEXT NOT NULL,
        failures INTEGER NOT NULL,
        last_failure_at REAL NOT NULL,
        next_allowed_at REAL NOT NULL,
        locked_at REAL,
        locked_until REAL,
        PRIMARY KEY (kind, key)
    );
CREATE TABLE review_events (
        event_id INTEGER PRIMARY KEY,
        profile_id TEXT NOT NULL,
        from_state TEXT NOT NULL,
        to_state TEXT NOT NULL,
        decision TEXT,
        rationale TEXT,
        user_name TEXT NOT NULL,
        role TEXT,
        at TEXT NOT NULL,
        audit_id INTEGER NOT NULL
    );
INSERT INTO "review_events" VALUES(1,'P7','flagged','under_review',NULL,'committee','ana','analyst','2026-12-04T21:12:43.912+00:00',1);
INSERT INTO "review_events" VALUES(2,'P7','under_review','decided','retire','Hit rate too low','ana','analyst','2026-12-04T21:12:43.920+00:00',2);
CREATE TABLE review_state (
        profile_id TEXT PRIMARY KEY,
        state TEXT NOT NULL CHECK (state IN ('flagged', 'under_review', 'decided')),
        decision TEXT CHECK (decision IN ('keep', 'modify', 'suspend', 'retire')),
        rationale TEXT,
        updated_by TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
INSERT INTO "review_state" VALUES('P7','decided','retire','Hit rate too low','ana','2026-12-04T21:12:43.920+00:00');
CREATE TABLE sessions (
        session_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
        csrf_token TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_seen_at REAL NOT NULL,
        remote_addr TEXT,
        user_agent TEXT,
        ended_at REAL,
        end_reason TEXT
    );
CREATE TABLE user_offices (
        user_id INTEGER NOT NULL REFERENCES users(user_id) ON DELETE CASCADE,
        office_code TEXT NOT NULL,
        PRIMARY KEY (user_id, office_code)
    );
INSERT INTO "user_offices" VALUES(2,'DKR01');
CREATE TABLE users (
        user_id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL CHECK (role IN ('viewer', 'analyst', 'admin')),
        password_hash TEXT NOT NULL,
        is_disabled INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        password_changed_at TEXT NOT NULL,
        last_login_at TEXT
    , must_change_password INTEGER NOT NULL DEFAULT 0);
INSERT INTO "users" VALUES(1,'adam','admin','$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo',0,'2026-12-04T21:12:43.876+00:00','2026-12-04T21:12:43.876+00:00','2026-12-04T21:12:43.876+00:00',NULL,0);
INSERT INTO "users" VALUES(2,'ana','analyst','$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo',0,'2026-12-04T21:12:43.898+00:00','2026-12-04T21:12:43.898+00:00','2026-12-04T21:12:43.898+00:00',NULL,0);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX audit_at ON audit(at);
CREATE INDEX audit_user ON audit(user_name, at);
CREATE INDEX login_throttle_last ON login_throttle(last_failure_at);
CREATE INDEX review_events_profile ON review_events(profile_id, event_id);
COMMIT;
PRAGMA user_version = 3;

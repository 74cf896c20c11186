-- Schema 2 on PostgreSQL: what the Company answers besides receipts
-- (issue #13), as SQLite's migration 2.
CREATE TABLE statement_receipts (
    statement_id TEXT PRIMARY KEY,
    subject      TEXT NOT NULL,
    install_id   TEXT NOT NULL,
    event_id     TEXT NOT NULL UNIQUE REFERENCES events (id),
    kind         TEXT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX statement_receipts_by_subject ON statement_receipts (subject);
CREATE TABLE legal_holds (
    subject    TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE reports (
    report_id   TEXT PRIMARY KEY,
    subject     TEXT NOT NULL,
    install_id  TEXT NOT NULL,
    body        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    closed_by   TEXT
);
CREATE INDEX reports_by_subject ON reports (subject);
CREATE TABLE unblock_decisions (
    decision_id TEXT PRIMARY KEY,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    decided_at  TEXT NOT NULL
);
CREATE INDEX unblock_decisions_by_subject ON unblock_decisions (subject);

-- Schema 2: what the Company answers besides receipts (issue #13).
-- Receipts of delivery of written statements (§6.1.5, §10.4), one per
-- statement, signed when its event was first stored.
CREATE TABLE statement_receipts (
    statement_id TEXT PRIMARY KEY,
    subject      TEXT NOT NULL,
    install_id   TEXT NOT NULL,
    event_id     TEXT NOT NULL UNIQUE REFERENCES events (id),
    kind         TEXT NOT NULL,
    body         TEXT NOT NULL
) STRICT;
CREATE INDEX statement_receipts_by_subject ON statement_receipts (subject);
-- Processing that continues on a legal basis after a withdrawal, per
-- subject, as the operator set it (a JSON array of legal holds).
CREATE TABLE legal_holds (
    subject    TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
-- Compromise reports (§5.7): the subject's access is blocked while one is
-- open; an unblock decision closes it.
CREATE TABLE reports (
    report_id   TEXT PRIMARY KEY,
    subject     TEXT NOT NULL,
    install_id  TEXT NOT NULL,
    body        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    closed_by   TEXT
) STRICT;
CREATE INDEX reports_by_subject ON reports (subject);
CREATE TABLE unblock_decisions (
    decision_id TEXT PRIMARY KEY,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    decided_at  TEXT NOT NULL
) STRICT;
CREATE INDEX unblock_decisions_by_subject ON unblock_decisions (subject);

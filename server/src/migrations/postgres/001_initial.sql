-- Schema 1 of the sync server on PostgreSQL: the tables of SQLite's
-- migration 1 (installations and their chain heads, events, receipts,
-- published policies). Integers are BIGINT, text is TEXT.

CREATE TABLE installs (
    install_id TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    head_seq   BIGINT NOT NULL,
    head_hash  TEXT NOT NULL
);
-- Exactly-once by constraint: one row per event id, and one per place in
-- an installation's chain, whichever server stored it.
CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    install_id  TEXT NOT NULL REFERENCES installs (install_id),
    seq         BIGINT NOT NULL,
    hash        TEXT NOT NULL,
    body        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (install_id, seq)
);
CREATE TABLE receipts (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    install_id TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX receipts_by_install ON receipts (install_id);
CREATE INDEX installs_by_subject ON installs (subject);
CREATE TABLE policies (
    policy_id    TEXT NOT NULL,
    version      BIGINT NOT NULL,
    locale       TEXT NOT NULL,
    hash         TEXT NOT NULL,
    signed       TEXT NOT NULL,
    published_at TEXT NOT NULL,
    PRIMARY KEY (policy_id, version, locale)
);

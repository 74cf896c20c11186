-- Schema 1 of the sync server: exactly the schema that servers before
-- versioned migrations created (their `SCHEMA`, run on every start), statement
-- for statement, so that their databases (user_version 0) are adopted as they
-- are. It keeps `IF NOT EXISTS` for that reason only (see `MIGRATIONS` in
-- storage.rs); later migrations are plain and run exactly once.

CREATE TABLE IF NOT EXISTS installs (
    install_id TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    head_seq   INTEGER NOT NULL,
    head_hash  TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS events (
    id          TEXT PRIMARY KEY,
    install_id  TEXT NOT NULL REFERENCES installs (install_id),
    seq         INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    body        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (install_id, seq)
) STRICT;
CREATE TABLE IF NOT EXISTS receipts (
    id         INTEGER PRIMARY KEY,
    install_id TEXT NOT NULL,
    body       TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS receipts_by_install ON receipts (install_id);
CREATE TABLE IF NOT EXISTS policies (
    policy_id    TEXT NOT NULL,
    version      INTEGER NOT NULL,
    locale       TEXT NOT NULL,
    hash         TEXT NOT NULL,
    signed       TEXT NOT NULL,
    published_at TEXT NOT NULL,
    PRIMARY KEY (policy_id, version, locale)
) STRICT;

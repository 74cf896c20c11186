-- Schema 1 of the consent store.

-- Marks the file as a consent store ("ALYC"), told apart from other SQLCipher files.
PRAGMA application_id = 1095522627;

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- The ledger. `body` is the canonical JSON of the whole event, hash included;
-- seq and id are repeated as columns and checked against the body by verify.
-- No index on id: nothing looks an event up by id (the outbox and the acks
-- use seq), so an index would only cost a page write per decision; the
-- chain check catches an inserted row, and the server keeps ids unique.
CREATE TABLE events (
    seq  INTEGER PRIMARY KEY,
    id   TEXT NOT NULL,
    body TEXT NOT NULL
) STRICT;

-- Append-only: the app never updates or deletes an event. (Someone with the
-- key can drop these triggers; the hash chain is what catches that.)
CREATE TRIGGER events_are_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'consent events are append-only'); END;
CREATE TRIGGER events_are_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'consent events are append-only'); END;

-- Events waiting for the server's acknowledgement, written in the same
-- transaction as the event itself. Keyed by the event's sequence number (the
-- rowid), so that queueing an event touches no extra index page.
CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY REFERENCES events (seq),
    event_id   TEXT NOT NULL,
    state      TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'parked')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
) STRICT;

-- Every policy text the app has shown or may show, by version and language.
CREATE TABLE policies (
    policy_id TEXT NOT NULL,
    version   INTEGER NOT NULL,
    locale    TEXT NOT NULL,
    hash      TEXT NOT NULL,
    body      TEXT NOT NULL,
    stored_at TEXT NOT NULL,
    PRIMARY KEY (policy_id, version, locale)
) STRICT;
CREATE INDEX policies_by_hash ON policies (hash);

CREATE TABLE catalogs (
    version   INTEGER PRIMARY KEY,
    body      TEXT NOT NULL,
    stored_at TEXT NOT NULL
) STRICT;

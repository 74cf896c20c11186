-- Schema 2: the server's signed receipts, and which events each one covers.

CREATE TABLE receipts (
    id          INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    body        TEXT NOT NULL
) STRICT;

-- An event leaves the outbox in the same transaction as its ack is written.
CREATE TABLE acks (
    seq        INTEGER PRIMARY KEY REFERENCES events (seq),
    receipt_id INTEGER NOT NULL REFERENCES receipts (id)
) STRICT;

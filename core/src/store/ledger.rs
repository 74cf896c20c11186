//! The ledger's rows: appending an event (with its outbox entry and the
//! state snapshot, in one transaction), the chain head, reading events.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::*;

/// The row of one event as stored, before it is trusted.
#[derive(Debug, Clone)]
pub(crate) struct StoredEvent {
    /// The `seq` column.
    pub(crate) seq: u64,
    /// The `id` column (the event's UUID as text).
    pub(crate) id: String,
    /// The event's canonical JSON, as appended.
    pub(crate) body: String,
}

impl Store {
    /// The hash of event `seq`, if the ledger holds it.
    pub fn event_hash(&self, seq: u64) -> Result<Option<String>, StoreError> {
        let body: Option<String> = self
            .conn
            .prepare_cached("SELECT body FROM events WHERE seq = ?1")?
            .query_row([seq as i64], |r| r.get(0))
            .optional()?;
        Ok(match body {
            Some(body) => Some(
                decode_event(&StoredEvent {
                    seq,
                    id: String::new(),
                    body,
                })?
                .hash,
            ),
            None => None,
        })
    }

    /// The last event's sequence number and hash, as recorded beside the
    /// events (so that removing events from the end is detectable).
    pub fn head(&self) -> Result<(u64, String), StoreError> {
        let seq = self
            .meta("head_seq")?
            .map(|s| s.parse::<u64>())
            .transpose()
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        let hash = self.meta("head_hash")?;
        Ok((
            seq.unwrap_or(0),
            hash.unwrap_or_else(|| GENESIS_HASH.to_string()),
        ))
    }

    /// Appends one event, durably, and queues it for upload, in one
    /// transaction. `build` receives the next sequence number and the previous
    /// hash and returns the finished event (with its hash) and the snapshot of
    /// the state fold after it, which is kept in the same transaction.
    /// `expected_seq` is the sequence number the caller last saw; if another
    /// connection appended since, nothing is written and
    /// [`StoreError::HeadMoved`] tells the caller to read again.
    pub fn append(
        &mut self,
        expected_seq: u64,
        build: impl FnOnce(u64, &str) -> (Event, String),
    ) -> Result<Event, StoreError> {
        let mut build = Some(build);
        let mut events = self.append_many(expected_seq, 1, |_, seq, prev| {
            (build.take().expect("called once"))(seq, prev)
        })?;
        Ok(events.remove(0))
    }

    /// Appends `count` events in one transaction: all of them, or none (a
    /// decision and the statement it produces). `build(i, seq, prev_hash)`
    /// makes the `i`-th, linked to the one before; the snapshot kept is the
    /// last one's.
    pub fn append_many(
        &mut self,
        expected_seq: u64,
        count: usize,
        mut build: impl FnMut(usize, u64, &str) -> (Event, String),
    ) -> Result<Vec<Event>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let read_meta = |key: &str| -> Result<Option<String>, rusqlite::Error> {
            tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
        };
        let head = read_meta("head_seq")?
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        if head != expected_seq {
            return Err(StoreError::HeadMoved {
                expected: expected_seq,
                found: head,
            });
        }
        let mut prev = read_meta("head_hash")?.unwrap_or_else(|| GENESIS_HASH.to_string());
        let mut events = Vec::with_capacity(count);
        let mut snapshot = String::new();
        for i in 0..count {
            let seq = head + 1 + i as u64;
            let (event, fold) = build(i, seq, &prev);
            debug_assert_eq!(event.seq, seq);
            let body = crate::canonical::to_canonical_json(&event)
                .map_err(|e| StoreError::Internal(format!("an event does not serialise: {e}")))?;
            let body = String::from_utf8(body).expect("canonical JSON is UTF-8");
            let id = event.id.to_string();
            tx.execute(
                "INSERT INTO events (seq, id, body) VALUES (?1, ?2, ?3)",
                params![seq as i64, id, body],
            )?;
            tx.execute(
                "INSERT INTO outbox (event_id, seq) VALUES (?1, ?2)",
                params![id, seq as i64],
            )?;
            prev = event.hash.clone();
            snapshot = fold;
            events.push(event);
        }
        if let Some(last) = events.last() {
            for (key, value) in [
                ("head_seq", last.seq.to_string()),
                ("head_hash", last.hash.clone()),
                (FOLD_SNAPSHOT, snapshot),
            ] {
                upsert_meta(&tx, key, &value)?;
            }
        }
        tx.commit()?;
        Ok(events)
    }

    /// The kept snapshot of the state fold, if any (see `state::LedgerFold`).
    pub fn fold_snapshot(&self) -> Result<Option<String>, StoreError> {
        self.meta(FOLD_SNAPSHOT)
    }

    /// Keeps a snapshot of the state fold computed from the whole ledger
    /// (a store written before snapshots existed, or one written elsewhere).
    pub fn put_fold_snapshot(&self, snapshot: &str) -> Result<(), StoreError> {
        self.set_meta(FOLD_SNAPSHOT, snapshot)
    }

    /// Every event row as stored, in sequence order.
    pub(crate) fn stored_events(&self) -> Result<Vec<StoredEvent>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, id, body FROM events ORDER BY seq")?;
        let rows = stmt.query_map([], |r| {
            Ok(StoredEvent {
                seq: r.get::<_, i64>(0)? as u64,
                id: r.get(1)?,
                body: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Every event, decoded, in sequence order.
    pub fn events(&self) -> Result<Vec<Event>, StoreError> {
        self.stored_events()?
            .into_iter()
            .map(|row| decode_event(&row))
            .collect()
    }

    /// How many events the ledger holds.
    pub(crate) fn event_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// The newest event, decoded (it lives on the ledger's last page).
    pub fn last_event(&self) -> Result<Option<Event>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT seq, id, body FROM events ORDER BY seq DESC LIMIT 1",
                [],
                |r| {
                    Ok(StoredEvent {
                        seq: r.get::<_, i64>(0)? as u64,
                        id: r.get(1)?,
                        body: r.get(2)?,
                    })
                },
            )
            .optional()?;
        row.map(|row| decode_event(&row)).transpose()
    }
}

/// Decodes a stored row. A row whose body does not parse is reported as a
/// broken ledger by `verify`; here it is an error naming the event.
pub(crate) fn decode_event(row: &StoredEvent) -> Result<Event, StoreError> {
    serde_json::from_str(&row.body).map_err(|e| {
        StoreError::Decode(format!(
            "event #{} ({}) does not decode: {e}",
            row.seq, row.id
        ))
    })
}

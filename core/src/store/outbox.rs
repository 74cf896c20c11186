//! What waits for upload, what the server acknowledged (receipts and the
//! events each covers), parking, and importing a restored ledger.

use rusqlite::{params, TransactionBehavior};

use super::*;

/// Where a queued event stands (the `state` column's two values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutboxState {
    /// Waiting for the next upload.
    Pending,
    /// Refused by the server with a reason; kept, sent again only after
    /// `retry_parked`.
    Parked,
}

/// An event waiting to be uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OutboxEntry {
    /// The event's UUID, as text.
    pub(crate) event_id: String,
    /// The event's sequence number.
    pub(crate) seq: u64,
    /// Pending or parked.
    pub(crate) state: OutboxState,
    /// Failed upload attempts so far.
    pub(crate) attempts: u32,
    /// The last failure or the server's reason for parking, if any.
    pub(crate) last_error: Option<String>,
}

impl Store {
    /// Every parked event, oldest first (no limit: a status must show them all).
    pub(crate) fn parked(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_where("state = 'parked'", usize::MAX)
    }

    fn outbox_where(&self, filter: &str, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT event_id, seq, state, attempts, last_error FROM outbox WHERE {filter} ORDER BY seq LIMIT ?1"
        ))?;
        let rows = stmt.query_map([limit.min(i64::MAX as usize) as i64], |r| {
            let state: String = r.get(2)?;
            Ok(OutboxEntry {
                event_id: r.get(0)?,
                seq: r.get::<_, i64>(1)? as u64,
                state: if state == "parked" {
                    OutboxState::Parked
                } else {
                    OutboxState::Pending
                },
                attempts: r.get::<_, i64>(3)? as u32,
                last_error: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// How many events wait in the outbox, pending or parked.
    pub(crate) fn outbox_len(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// The oldest events waiting for upload (not parked), at most `limit`,
    /// as stored: their canonical JSON goes on the wire as it is.
    pub(crate) fn pending_events(&self, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT e.seq, e.id, e.body FROM outbox o JOIN events e ON e.seq = o.seq \
             WHERE o.state = 'pending' ORDER BY o.seq LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(StoredEvent {
                    seq: r.get::<_, i64>(0)? as u64,
                    id: r.get(1)?,
                    body: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Counts of events waiting (pending, parked).
    pub fn outbox_counts(&self) -> Result<(u64, u64), StoreError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'parked') FROM outbox",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }

    /// Notes a failed attempt on these events (they stay queued).
    pub fn note_attempt(&self, seqs: &[u64], error: &str) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE seq = ?1",
        )?;
        for seq in seqs {
            stmt.execute(params![*seq as i64, error])?;
        }
        Ok(())
    }

    /// Keeps a verified receipt and takes the events it covers out of the
    /// outbox, in one transaction.
    pub fn record_receipt(
        &mut self,
        received_at: &str,
        body: &str,
        seqs: &[u64],
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO receipts (received_at, body) VALUES (?1, ?2)",
            params![received_at, body],
        )?;
        let receipt_id = tx.last_insert_rowid();
        {
            let mut ack =
                tx.prepare_cached("INSERT OR IGNORE INTO acks (seq, receipt_id) VALUES (?1, ?2)")?;
            let mut dequeue = tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
            for seq in seqs {
                ack.execute(params![*seq as i64, receipt_id])?;
                dequeue.execute(params![*seq as i64])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Parks the pending events from `seq` on (they link to it, so none of
    /// them can be accepted before it). They stay, with the reason.
    pub fn park_from(&self, seq: u64, reason: &str) -> Result<u64, StoreError> {
        Ok(self.conn.execute(
            "UPDATE outbox SET state = 'parked', last_error = ?2 WHERE seq >= ?1 AND state = 'pending'",
            params![seq as i64, reason],
        )? as u64)
    }

    /// Puts parked events back in the queue (after the cause was fixed).
    pub fn unpark_all(&self) -> Result<u64, StoreError> {
        Ok(self.conn.execute(
            "UPDATE outbox SET state = 'pending' WHERE state = 'parked'",
            [],
        )? as u64)
    }

    /// Every kept receipt (JSON), oldest first.
    pub fn receipts(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT body FROM receipts ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// How many receipts are kept.
    pub fn receipt_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM receipts", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// The sequence numbers marked as acknowledged.
    pub fn acked_seqs(&self) -> Result<std::collections::BTreeSet<u64>, StoreError> {
        self.seqs("SELECT seq FROM acks")
    }

    /// The sequence numbers waiting in the outbox (pending or parked).
    pub fn outbox_seqs(&self) -> Result<std::collections::BTreeSet<u64>, StoreError> {
        self.seqs("SELECT seq FROM outbox")
    }

    fn seqs(&self, sql: &str) -> Result<std::collections::BTreeSet<u64>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
        let mut out = std::collections::BTreeSet::new();
        for seq in rows {
            out.insert(seq? as u64);
        }
        Ok(out)
    }

    /// How many events a receipt covers.
    pub fn acknowledged_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM acks", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Fills an empty store with a ledger restored from the server: the
    /// events (already verified by the caller), the receipts that cover them,
    /// and the installation they belong to. Nothing goes to the outbox: the
    /// server has them all. Refused if the store already holds events.
    pub fn import_restored(
        &mut self,
        install_id: &str,
        events: &[Event],
        receipts: &[(String, String, Vec<u64>)],
        fold_snapshot: &str,
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: i64 = tx.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
        if existing > 0 {
            return Err(StoreError::NotEmpty {
                events: existing as u64,
            });
        }
        for event in events {
            let body =
                String::from_utf8(crate::canonical::to_canonical_json(event).map_err(|e| {
                    StoreError::Internal(format!("an event does not serialise: {e}"))
                })?)
                .expect("canonical JSON is UTF-8");
            tx.execute(
                "INSERT INTO events (seq, id, body) VALUES (?1, ?2, ?3)",
                params![event.seq as i64, event.id.to_string(), body],
            )?;
        }
        for (received_at, body, seqs) in receipts {
            tx.execute(
                "INSERT INTO receipts (received_at, body) VALUES (?1, ?2)",
                params![received_at, body],
            )?;
            let receipt_id = tx.last_insert_rowid();
            for seq in seqs {
                tx.execute(
                    "INSERT OR IGNORE INTO acks (seq, receipt_id) VALUES (?1, ?2)",
                    params![*seq as i64, receipt_id],
                )?;
            }
        }
        let (head_seq, head_hash) = events
            .last()
            .map(|e| (e.seq, e.hash.clone()))
            .unwrap_or((0, GENESIS_HASH.to_string()));
        for (key, value) in [
            ("install_id", install_id.to_string()),
            ("head_seq", head_seq.to_string()),
            ("head_hash", head_hash),
            (FOLD_SNAPSHOT, fold_snapshot.to_string()),
        ] {
            upsert_meta(&tx, key, &value)?;
        }
        tx.commit()?;
        Ok(())
    }
}

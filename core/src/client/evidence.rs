//! The evidence a user or an auditor reads: the history, the export, and
//! `verify`, which checks everything the proof rests on.

use super::*;

/// The outcome of `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct VerifyReport {
    /// Events in the ledger, all chained.
    pub events: i64,
    /// Hash of the last event (64 zeros for an empty ledger): the value to
    /// compare with a receipt's or an export's chain head.
    pub head_hash: String,
    /// Signed receipts checked against the trusted keys and the ledger.
    pub receipts: i64,
    /// Events covered by a verified receipt.
    pub acknowledged: i64,
    /// Events waiting for upload (not yet covered by a receipt).
    pub waiting: i64,
    /// SQLCipher's page HMACs and SQLite's structure both checked out.
    pub file_integrity_ok: bool,
}

/// A cheap look at the ledger's integrity, for `status`: the newest event
/// (the last page of the ledger) against the chain head and the state
/// snapshot kept beside it. It is no proof: `verify` is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntegrityGlance {
    /// The newest event, the chain head and the snapshot agree.
    pub head_consistent: bool,
    /// What disagrees, if anything.
    pub problem: Option<String>,
    /// Receipts kept, which `verify` checks against the server keys.
    pub receipts: i64,
}

impl ConsentClient {
    /// The user's whole history, oldest first (§8.2).
    pub fn history(&self) -> Result<Vec<Event>, ConsentError> {
        Ok(self.lock().store.events()?)
    }

    /// How many events the ledger holds.
    pub fn event_count(&self) -> u64 {
        self.lock().fold.seq
    }

    /// The history as a self-contained, verifiable JSON document: the
    /// events, the policy texts they were given under, and the server's
    /// signed receipts.
    pub fn export(&self) -> Result<String, ConsentError> {
        let mut inner = self.lock_fresh()?;
        let events = inner.store.events()?;
        let (head_seq, head_hash) = inner.store.head()?;
        let mut hashes: Vec<String> = events.iter().map(|e| e.policy.hash.clone()).collect();
        hashes.sort();
        hashes.dedup();
        let export = Export {
            format: EXPORT_FORMAT.into(),
            exported_at: ledger::format_time(inner.clock.now()),
            install_id: inner.install_id.clone(),
            subject: inner.state()?.subject,
            hash_rule: HASH_RULE.into(),
            head: ChainHead {
                events: head_seq,
                hash: head_hash,
            },
            policies: inner.store.policies_by_hash(&hashes)?,
            events,
            receipts: inner.kept_receipts()?,
        };
        Ok(serde_json::to_string_pretty(&export).expect("an export serialises"))
    }

    /// Checks everything the proof rests on: the hash chain up to the
    /// recorded head, the state snapshot against a full fold, every kept
    /// receipt (signature against the configured server keys; each event it
    /// acknowledges present and equal; its chain head inside the ledger),
    /// that every event is either acknowledged or waiting for upload, and
    /// SQLCipher's page HMACs with SQLite's structure check. Names the first
    /// broken event or receipt. Writes nothing.
    pub fn verify(&self) -> Result<VerifyReport, ConsentError> {
        let inner = self.lock_fresh()?;
        // Pages first: a damaged page would otherwise surface as whatever
        // row it happens to hold.
        let problems = inner.store.integrity_problems()?;
        if !problems.is_empty() {
            return Err(StoreError::Damaged {
                reason: format!("the page check found: {}", problems.join("; ")),
            }
            .into());
        }
        let rows = inner.store.stored_events()?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let event = decode_event(row).map_err(|e| ChainBreak {
                seq: row.seq,
                id: row.id.clone(),
                reason: e.to_string(),
            })?;
            if event.seq != row.seq || event.id.to_string() != row.id {
                return Err(ChainBreak {
                    seq: row.seq,
                    id: row.id.clone(),
                    reason: "its stored number or id does not match its content".into(),
                }
                .into());
            }
            events.push(event);
        }
        let (head_seq, head_hash) = inner.store.head()?;
        let report = ledger::verify_chain(&events, Some((head_seq, &head_hash)))?;
        if LedgerFold::of(&events) != inner.fold {
            return Err(ConsentError::IntegrityCheckFailed(
                "the kept state snapshot does not match the ledger: it was altered".into(),
            ));
        }
        let receipts = inner.kept_receipts()?;
        if !receipts.is_empty() && inner.server_keys.is_empty() {
            return Err(ConsentError::NoTrustedKey {
                count: receipts.len(),
            });
        }
        let coverage = check_receipts(&receipts, &inner.install_id, &events, &inner.server_keys)?;
        crate::proof::check_signed_events(&events, &inner.server_keys).map_err(|e| match e {
            crate::proof::SignedEventsError::Broken(b) => ConsentError::LedgerBroken(b),
            crate::proof::SignedEventsError::NoTrustedKey { count } => {
                ConsentError::NoTrustedKey { count }
            }
        })?;
        // Each event is either acknowledged by a receipt or still queued:
        // one that is neither would never reach the server.
        let covered: std::collections::BTreeSet<u64> = receipts
            .iter()
            .flat_map(|r| r.body.acknowledged.iter().map(|a| a.seq))
            .collect();
        let acks = inner.store.acked_seqs()?;
        if let Some(seq) = acks.iter().find(|seq| !covered.contains(seq)) {
            return Err(ConsentError::IntegrityCheckFailed(format!(
                "event #{seq} is marked as acknowledged, and no kept receipt acknowledges it"
            )));
        }
        let queued = inner.store.outbox_seqs()?;
        let waiting = queued.len() as u64;
        for event in &events {
            if !covered.contains(&event.seq) && !queued.contains(&event.seq) {
                return Err(ConsentError::IntegrityCheckFailed(format!(
                    "event #{} is neither acknowledged by a receipt nor waiting for upload: its outbox entry was removed",
                    event.seq
                )));
            }
        }
        Ok(VerifyReport {
            events: report.events as i64,
            head_hash: report.head_hash,
            receipts: coverage.receipts as i64,
            acknowledged: coverage.acknowledged as i64,
            waiting: waiting as i64,
            file_integrity_ok: true,
        })
    }

    /// A cheap integrity look for `status` (see [`IntegrityGlance`]).
    pub fn integrity_glance(&self) -> Result<IntegrityGlance, ConsentError> {
        let inner = self.lock_fresh()?;
        let (head_seq, head_hash) = inner.store.head()?;
        let last = inner.store.last_event()?;
        let problem = match &last {
            None if head_seq != 0 => Some(format!(
                "the chain head says {head_seq} event(s) and the ledger holds none"
            )),
            Some(event) if event.seq != head_seq || event.hash != head_hash => Some(format!(
                "the newest event is #{} and the chain head says #{head_seq}",
                event.seq
            )),
            _ if inner.fold.seq != head_seq || inner.fold.head_hash != head_hash => {
                Some("the state snapshot does not match the chain head".into())
            }
            _ => None,
        };
        Ok(IntegrityGlance {
            head_consistent: problem.is_none(),
            problem,
            receipts: inner.store.receipt_count()? as i64,
        })
    }
}

impl Inner {
    /// The kept receipts, decoded.
    pub(super) fn kept_receipts(&self) -> Result<Vec<Receipt>, ConsentError> {
        self.store
            .receipts()?
            .iter()
            .enumerate()
            .map(|(i, body)| {
                serde_json::from_str(body).map_err(|e| {
                    StoreError::Decode(format!("kept receipt #{} does not decode: {e}", i + 1))
                        .into()
                })
            })
            .collect()
    }
}

//! The history as ISO/IEC TS 27560 consent records (see [`crate::iso27560`]).

use super::*;
use crate::iso27560::{self, Sources};

impl ConsentClient {
    /// The ledger as consent records in the structure of ISO/IEC TS 27560
    /// and the Kantara consent receipt: one record per consent (the
    /// policy's, each permission decision), with its controller, notice,
    /// purposes, data categories, lawful basis, status history and the
    /// signed receipts that cover each event. JSON that validates against
    /// the schema at [`iso27560::SCHEMA_PATH`]. A read: writes nothing, like
    /// [`ConsentClient::export`].
    pub fn export_iso27560(&self) -> Result<String, ConsentError> {
        let mut inner = self.lock_fresh()?;
        let events = inner.store.events()?;
        let (head_seq, head_hash) = inner.store.head()?;
        let mut hashes: Vec<String> = events.iter().map(|e| e.policy.hash.clone()).collect();
        hashes.sort();
        hashes.dedup();
        let mut policies = inner.store.policies_by_hash(&hashes)?;
        // The controller is read from the authoritative text when the one
        // an event names is in another language.
        for (doc, _) in &inner.current {
            if !policies.contains(doc) {
                policies.push(doc.clone());
            }
        }
        let receipts = inner.kept_receipts()?;
        let subject = inner.state()?.subject;
        let set = iso27560::build(&Sources {
            generated_at: ledger::format_time(inner.clock.now()),
            install_id: &inner.install_id,
            subject: &subject,
            head: ChainHead {
                events: head_seq,
                hash: head_hash,
            },
            events: &events,
            receipts: &receipts,
            policies: &policies,
            catalog: &inner.catalog,
        })
        .map_err(|e| ConsentError::IntegrityCheckFailed(e.to_string()))?;
        Ok(serde_json::to_string_pretty(&set).expect("a record set serialises"))
    }
}

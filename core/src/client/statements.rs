//! The written statements the ledger holds (§6.1.5 withdrawals, §10.4
//! objections), as the user sees, shares and exports them, each with the
//! Company's signed receipt of delivery once sync brought it.

use super::*;
use crate::statement::{Statement, StatementKind};
use crate::sync::wire::{LegalHold, StatementReceipt};

/// A written statement, ready to show, share or send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct StatementInfo {
    /// The statement's id (UUID).
    pub id: String,
    /// A withdrawal (§6.1.5) or an objection (§10.4).
    pub kind: StatementKind,
    /// When it was made: UTC, RFC 3339 with milliseconds.
    pub issued_at: String,
    /// The same instant in the device's local time, if the shell gave its
    /// UTC offset.
    pub issued_at_local: Option<String>,
    /// The ledger event that records it.
    pub seq: i64,
    /// SHA-256 of its canonical JSON, as the ledger records it.
    pub hash: String,
    /// Its title, in Russian.
    pub title: String,
    /// The statement in Russian, plain text (for e-mail or a share sheet).
    pub text: String,
    /// The statement in Russian, Markdown.
    pub markdown: String,
    /// The statement as canonical JSON: the bytes its hash is over.
    pub json: String,
    /// A `mailto:` link to the Company's address (from the policy), with
    /// subject and body filled in: what a shell opens for §10.4 (and may
    /// offer for §6.1.5).
    pub mailto: String,
    /// The address it goes to, as the policy names it.
    pub recipient: String,
    /// When the Company received it (from its signed receipt), once sync
    /// delivered it.
    pub delivered_at: Option<String>,
    /// Processing the Company continues on a legal basis despite the
    /// withdrawal, as its receipt says.
    pub continuing: Vec<LegalHold>,
    /// The signed receipt of delivery as JSON, once delivered.
    pub receipt_json: Option<String>,
}

impl StatementInfo {
    fn of(seq: u64, statement: &Statement, hash: &str, receipt: Option<&StatementReceipt>) -> Self {
        StatementInfo {
            id: statement.id.to_string(),
            kind: statement.kind,
            issued_at: statement.issued_at.clone(),
            issued_at_local: statement.issued_at_local.clone(),
            seq: seq as i64,
            hash: hash.to_string(),
            title: statement.kind.title_ru().to_string(),
            text: statement.to_text(),
            markdown: statement.to_markdown(),
            json: statement.canonical_json(),
            mailto: statement.mailto(),
            recipient: statement.controller.email.clone(),
            delivered_at: receipt.map(|r| r.body.received_at.clone()),
            continuing: receipt
                .map(|r| r.body.continuing.clone())
                .unwrap_or_default(),
            receipt_json: receipt
                .map(|r| serde_json::to_string_pretty(r).expect("a receipt serialises")),
        }
    }
}

impl ConsentClient {
    /// Every written statement of the ledger, oldest first, with its
    /// receipt of delivery when there is one. A read: writes nothing.
    pub fn statements(&self) -> Result<Vec<StatementInfo>, ConsentError> {
        let events = self.lock_fresh()?.store.events()?;
        Ok(statements_of(&events))
    }

    /// One statement by id (see [`ConsentClient::statements`]).
    pub fn statement(&self, id: &str) -> Result<StatementInfo, ConsentError> {
        self.statements()?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| ConsentError::Statement(format!("no statement {id:?} is in the ledger")))
    }

    /// The device's offset from UTC changed (the user travelled): later
    /// statements give local time in the new offset.
    pub fn set_utc_offset(&self, seconds: Option<i32>) {
        self.lock().utc_offset = seconds;
    }
}

/// The statements of `events` joined with their receipts of delivery.
pub(crate) fn statements_of(events: &[Event]) -> Vec<StatementInfo> {
    let receipts: Vec<&StatementReceipt> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StatementDelivered { receipt } => Some(receipt),
            _ => None,
        })
        .collect();
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StatementIssued {
                statement,
                statement_hash,
            } => {
                let receipt = receipts
                    .iter()
                    .find(|r| r.body.statement_id == statement.id)
                    .copied();
                Some(StatementInfo::of(e.seq, statement, statement_hash, receipt))
            }
            _ => None,
        })
        .collect()
}

//! The proof of a consent: the hash chain of the ledger *and* the server's
//! signed receipts over it. One check of receipts against a ledger serves
//! every place that relies on them: `verify` of a store, the export
//! verifier, restore, and each upload. A ledger that is shorter than its
//! receipts, or differs from them, fails and the receipt is named: a
//! holder of the store's key can re-hash a chain, but cannot sign a receipt.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::ledger::{verify_chain, ChainBreak, ChainHead, ChainReport, Event};
use crate::policy::PolicyDocument;
use crate::sync::wire::{EventsPage, Receipt};

/// Format tag of an export. Version 2 carries the receipts; version 1
/// exports (no receipts) still verify.
pub const EXPORT_FORMAT: &str = "altyn-consent-export/2";
const EXPORT_FORMAT_V1: &str = "altyn-consent-export/1";

/// How to recompute an event's and a policy's hash and check a receipt's
/// signature, in words: every export carries it ([`Export::hash_rule`]) so
/// that it can be checked without this library.
pub const HASH_RULE: &str = "hash = lowercase hex SHA-256 of the UTF-8 bytes \"altyn-consent/event/v1\\n\" followed by the event as JSON without its \"hash\" member, object keys sorted by their UTF-8 bytes, no whitespace; prev_hash of event 1 is 64 zeros, of event n the hash of event n-1. A policy's hash is the same rule with \"altyn-consent/policy/v1\\n\" over the whole document. A receipt's signature is Ed25519 over the UTF-8 bytes \"altyn-consent/receipt/v1\\n\" followed by its body in the same canonical JSON.";

/// A receipt that does not prove what it should.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("receipt #{index} (received {received_at}, key {key_id}): {reason}")]
pub struct ReceiptProblem {
    /// 1-based position among the receipts checked.
    pub index: usize,
    /// The receipt's server time (UTC, RFC 3339), to find it in a list.
    pub received_at: String,
    /// Which server key it names (first 16 hex digits of the key's
    /// SHA-256).
    pub key_id: String,
    /// What it fails to prove: an unknown key or a bad signature, another
    /// installation, an event removed or altered, a rewritten chain.
    pub reason: String,
}

/// What a set of receipts proves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Receipts checked, all valid.
    pub receipts: u64,
    /// Distinct events acknowledged by a verified receipt.
    pub acknowledged: u64,
    /// The highest acknowledged sequence number (0 if none).
    pub last_acknowledged: u64,
}

/// Checks what the ledger itself carries as proof: each written statement
/// against its recorded hash and the events it names, each receipt of
/// delivery and each unblock decision against the trusted server keys and
/// the statement or reports it names. Returns how many signed documents it
/// checked; `keys` may be empty only if there are none. A failure names the
/// event as a [`ChainBreak`]: the ledger holds a forged or altered document.
pub fn check_signed_events(
    events: &[Event],
    keys: &[VerifyingKey],
) -> Result<usize, SignedEventsError> {
    use crate::ledger::EventKind;
    let broken = |e: &Event, reason: String| {
        SignedEventsError::Broken(ChainBreak {
            seq: e.seq,
            id: e.id.to_string(),
            reason,
        })
    };
    let signed = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::StatementDelivered { .. } | EventKind::AccessRestored { .. }
            )
        })
        .count();
    if signed > 0 && keys.is_empty() {
        return Err(SignedEventsError::NoTrustedKey { count: signed });
    }
    for (i, e) in events.iter().enumerate() {
        let earlier = &events[..i];
        match &e.kind {
            EventKind::StatementIssued {
                statement,
                statement_hash,
            } => {
                if &statement.hash() != statement_hash {
                    return Err(broken(
                        e,
                        "its statement does not match the statement hash it records".into(),
                    ));
                }
                if statement.install_id != e.install_id {
                    return Err(broken(e, "its statement names another installation".into()));
                }
                for r in &statement.events {
                    let ok = earlier
                        .iter()
                        .any(|x| x.id == r.id && x.seq == r.seq && x.hash == r.hash);
                    if !ok {
                        return Err(broken(
                            e,
                            format!("its statement rests on event #{} which the ledger does not hold as named", r.seq),
                        ));
                    }
                }
            }
            EventKind::StatementDelivered { receipt } => {
                receipt
                    .verify(keys)
                    .map_err(|err| broken(e, format!("its receipt of delivery: {err}")))?;
                let issued = earlier.iter().find_map(|x| match &x.kind {
                    EventKind::StatementIssued {
                        statement,
                        statement_hash,
                    } if statement.id == receipt.body.statement_id => Some((x.id, statement_hash)),
                    _ => None,
                });
                match issued {
                    Some((event_id, hash))
                        if *hash == receipt.body.statement_hash
                            && event_id == receipt.body.event_id => {}
                    _ => {
                        return Err(broken(
                            e,
                            "its receipt of delivery names a statement the ledger does not hold as named".into(),
                        ))
                    }
                }
            }
            EventKind::AccessRestored { decision } => {
                decision
                    .verify(keys)
                    .map_err(|err| broken(e, format!("its unblock decision: {err}")))?;
                let reported = decision.body.reports.iter().all(|r| {
                    earlier.iter().any(|x| {
                        x.id == *r && matches!(x.kind, EventKind::CompromiseReported { .. })
                    })
                });
                if !reported || decision.body.reports.is_empty() {
                    return Err(broken(
                        e,
                        "its unblock decision closes a report the ledger does not hold".into(),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(signed)
}

/// Why [`check_signed_events`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedEventsError {
    /// A document inside the ledger was forged or altered.
    #[error(transparent)]
    Broken(#[from] ChainBreak),
    /// The ledger holds signed documents and no server key was given.
    #[error(
        "the ledger holds {count} document(s) signed by the server and no server key was given to check them: \
         pass the server's public key (CLI: --server-key or --server-data-dir)"
    )]
    NoTrustedKey {
        /// How many signed documents.
        count: usize,
    },
}

/// Checks receipts against a ledger (`events` in sequence order from #1):
/// each signature against the trusted keys, each installation id, each
/// acknowledged event (number, id and hash) present and equal in the
/// ledger, and each receipt's chain head inside the ledger and equal.
pub fn check_receipts(
    receipts: &[Receipt],
    install_id: &str,
    events: &[Event],
    keys: &[VerifyingKey],
) -> Result<Coverage, ReceiptProblem> {
    let mut acked: BTreeMap<u64, ()> = BTreeMap::new();
    for (i, receipt) in receipts.iter().enumerate() {
        let problem = |reason: String| ReceiptProblem {
            index: i + 1,
            received_at: receipt.body.received_at.clone(),
            key_id: receipt.body.key_id.clone(),
            reason,
        };
        receipt.verify(keys).map_err(|e| problem(e.to_string()))?;
        if receipt.body.install_id != install_id {
            return Err(problem("it is for another installation".into()));
        }
        let ledger_len = events.len() as u64;
        let event_at = |seq: u64| -> Option<&Event> {
            if seq == 0 || seq > ledger_len {
                None
            } else {
                events.get((seq - 1) as usize)
            }
        };
        for ack in &receipt.body.acknowledged {
            let Some(event) = event_at(ack.seq) else {
                return Err(problem(format!(
                    "it acknowledges event #{} and the ledger ends at #{ledger_len}: events were removed",
                    ack.seq
                )));
            };
            if event.id != ack.id || event.hash != ack.hash {
                return Err(problem(format!(
                    "event #{} in the ledger is not the one the server acknowledged (id or hash differ): it was altered or replaced",
                    ack.seq
                )));
            }
            acked.insert(ack.seq, ());
        }
        let head = &receipt.body.head;
        if head.events > 0 {
            match event_at(head.events) {
                None => {
                    return Err(problem(format!(
                        "the server's chain then ended at event #{} and the ledger ends at #{ledger_len}: events were removed",
                        head.events
                    )))
                }
                Some(event) if event.hash != head.hash => {
                    return Err(problem(format!(
                        "the server's chain then ended at event #{} with another hash: the ledger was rewritten",
                        head.events
                    )))
                }
                Some(_) => {}
            }
        }
    }
    Ok(Coverage {
        receipts: receipts.len() as u64,
        acknowledged: acked.len() as u64,
        last_acknowledged: acked.keys().next_back().copied().unwrap_or(0),
    })
}

/// A subject's whole history in one self-contained JSON document (§8.2): the
/// events with their chain, every policy text they refer to, and the
/// server's signed receipts, so anyone can check it without this library
/// (see `core/docs/verifying-an-export.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// [`EXPORT_FORMAT`] (`altyn-consent-export/1` still verifies).
    pub format: String,
    /// When the export was made: UTC, RFC 3339 with milliseconds.
    pub exported_at: String,
    /// The installation whose ledger this is.
    pub install_id: String,
    /// Whose consent it is: the last linked account id, else the install
    /// id. The verifier checks it against the events.
    pub subject: String,
    /// How to recompute an event hash and check a receipt, in words.
    pub hash_rule: String,
    /// The ledger's end as the store recorded it apart from the events, so
    /// events cut from the end are caught.
    pub head: ChainHead,
    /// Every policy text an event refers to (by hash), in full.
    pub policies: Vec<PolicyDocument>,
    /// The whole ledger, oldest first.
    pub events: Vec<Event>,
    /// The server's signed receipts over these events, oldest first.
    #[serde(default)]
    pub receipts: Vec<Receipt>,
}

/// Why an export does not verify ([`verify_export`]). Every variant but
/// [`ExportError::NoTrustedKey`] means the document was altered, forged,
/// cut or is not an export: do not rely on it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// Not an export: not its JSON, an unknown format, events of another
    /// installation than it names, or a subject its events do not have.
    #[error("not an Altyn Consent export: {0}")]
    Malformed(String),
    /// The hash chain is broken at the event named (altered, removed,
    /// reordered, or cut from the end).
    #[error(transparent)]
    Broken(#[from] ChainBreak),
    /// An event refers to a policy text the export does not include, so
    /// what the user agreed to cannot be shown.
    #[error("event #{seq} refers to policy {policy_id} v{version} with hash {hash}, and the export holds no such text")]
    MissingPolicy {
        /// The event's sequence number.
        seq: u64,
        /// The policy id it names.
        policy_id: String,
        /// The version it names.
        version: i32,
        /// The text's hash it names.
        hash: String,
    },
    /// A receipt does not verify against the given server keys, or does
    /// not match the events: the ledger was altered after the server
    /// acknowledged it, or the receipt was forged.
    #[error(transparent)]
    Receipt(#[from] ReceiptProblem),
    /// The export carries receipts and no server key was given: verify
    /// again with the server's public key. Nothing is wrong with it yet.
    #[error(
        "the export carries {count} signed receipt(s) and no server key was given to check them: \
         pass the server's public key (CLI: --server-key or --server-data-dir)"
    )]
    NoTrustedKey {
        /// How many receipts it carries.
        count: usize,
    },
}

/// What an export proves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// The chain: its length and last hash, every link checked.
    pub chain: ChainReport,
    /// What the server's receipts acknowledge of it.
    pub coverage: Coverage,
}

/// Checks an export: format, every policy's hash, the whole chain up to the
/// stated head, that every event's policy is included, and every receipt
/// against the trusted server keys and the events.
///
/// ```rust
/// use std::sync::Arc;
///
/// use altyn_consent_core::proof::{verify_export, ExportError};
/// use altyn_consent_core::store::MemoryKeyProvider;
/// use altyn_consent_core::{AppContext, ClientConfig, ConsentClient};
///
/// let dir = tempfile::tempdir()?;
/// let client = ConsentClient::open(ClientConfig::new(
///     dir.path(),
///     AppContext::new("desktop", "1.0.0", "linux"),
///     Arc::new(MemoryKeyProvider::default()),
/// ))?;
/// let policy = client.policy("ru");
/// client.accept_policy(policy.version, &policy.hash(), "ru", true)?;
/// let export = client.export()?;
///
/// // Never synced, so no receipts: no server key is needed.
/// let report = verify_export(export.as_bytes(), &[])?;
/// assert_eq!(report.chain.events, 1);
/// assert_eq!(report.coverage.receipts, 0);
///
/// // An edited event no longer matches its hash.
/// let forged = export.replacen("\"age_confirmed\": true", "\"age_confirmed\": false", 1);
/// let err = verify_export(forged.as_bytes(), &[]).unwrap_err();
/// assert!(matches!(err, ExportError::Broken(ref b) if b.seq == 1), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn verify_export(
    bytes: &[u8],
    server_keys: &[VerifyingKey],
) -> Result<ExportReport, ExportError> {
    let export: Export =
        serde_json::from_slice(bytes).map_err(|e| ExportError::Malformed(e.to_string()))?;
    if export.format != EXPORT_FORMAT && export.format != EXPORT_FORMAT_V1 {
        return Err(ExportError::Malformed(format!(
            "format {:?}, expected {EXPORT_FORMAT:?}",
            export.format
        )));
    }
    let chain = verify_chain(
        &export.events,
        Some((export.head.events, &export.head.hash)),
    )?;
    if let Some(first) = export.events.first() {
        if first.install_id != export.install_id {
            return Err(ExportError::Malformed(
                "its events belong to another installation than the one it names".into(),
            ));
        }
    }
    // Whose consent it is: the account the ledger was last linked to, else
    // the installation. A relabelled export names someone else.
    let subject = export
        .events
        .iter()
        .rev()
        .find_map(|e| match &e.kind {
            crate::ledger::EventKind::AccountLinked { account_id } => Some(account_id.as_str()),
            _ => None,
        })
        .unwrap_or(export.install_id.as_str());
    if export.subject != subject {
        return Err(ExportError::Malformed(format!(
            "it names subject {:?} and its ledger is {:?}'s",
            export.subject, subject
        )));
    }
    let hashes: Vec<String> = export.policies.iter().map(PolicyDocument::hash).collect();
    for event in &export.events {
        if !hashes.contains(&event.policy.hash) {
            return Err(ExportError::MissingPolicy {
                seq: event.seq,
                policy_id: event.policy.id.clone(),
                version: event.policy.version,
                hash: event.policy.hash.clone(),
            });
        }
    }
    if !export.receipts.is_empty() && server_keys.is_empty() {
        return Err(ExportError::NoTrustedKey {
            count: export.receipts.len(),
        });
    }
    check_signed_events(&export.events, server_keys).map_err(|e| match e {
        SignedEventsError::Broken(b) => ExportError::Broken(b),
        SignedEventsError::NoTrustedKey { count } => ExportError::NoTrustedKey { count },
    })?;
    let coverage = check_receipts(
        &export.receipts,
        &export.install_id,
        &export.events,
        server_keys,
    )?;
    Ok(ExportReport { chain, coverage })
}

/// A restore payload that proved itself: the events of one installation,
/// each covered by a verified receipt, and those receipts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestorePlan {
    /// The installation whose ledger is restored (this device continues
    /// it).
    pub install_id: String,
    /// Its events in sequence order from #1, the chain checked.
    pub events: Vec<Event>,
    /// Each receipt with the sequence numbers it acknowledges.
    pub receipts: Vec<(Receipt, Vec<u64>)>,
    /// The end of the restored chain.
    pub head: ChainHead,
}

/// Checks what the server returned for a restore: the installation whose
/// newest event is the most recent (by time, then by count), its chain link
/// by link, every event covered by a verified receipt with its hash, and
/// the signed documents the ledger carries ([`check_signed_events`]).
/// `Ok(None)`: the server holds no events for the subject.
pub fn check_restore_page(
    page: &EventsPage,
    server_keys: &[VerifyingKey],
) -> Result<Option<RestorePlan>, String> {
    let mut by_install: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for event in &page.events {
        by_install.entry(&event.install_id).or_default().push(event);
    }
    // Times are fixed-width UTC (`ledger::format_time`), so they order as
    // text; an unparsable one is refused by the chain check below anyway.
    let newest = |events: &Vec<&Event>| -> (Option<time::OffsetDateTime>, usize) {
        let at = events
            .iter()
            .filter_map(|e| crate::ledger::parse_time(&e.at))
            .max();
        (at, events.len())
    };
    let Some((install_id, events)) = by_install
        .iter()
        .max_by(|a, b| newest(a.1).cmp(&newest(b.1)))
    else {
        return Ok(None);
    };
    let mut events: Vec<Event> = events.iter().map(|e| (*e).clone()).collect();
    events.sort_by_key(|e| e.seq);
    let chain = verify_chain(&events, None).map_err(|e| e.to_string())?;
    let receipts: Vec<Receipt> = page
        .receipts
        .iter()
        .filter(|r| r.body.install_id == *install_id)
        .cloned()
        .collect();
    if receipts.is_empty() {
        return Err("the server returned events without a signed receipt".into());
    }
    let coverage =
        check_receipts(&receipts, install_id, &events, server_keys).map_err(|e| e.to_string())?;
    // The documents inside the ledger (statements, receipts of delivery,
    // unblock decisions) must check out too before anything is written.
    check_signed_events(&events, server_keys).map_err(|e| e.to_string())?;
    if coverage.acknowledged != events.len() as u64 {
        let covered: std::collections::BTreeSet<u64> = receipts
            .iter()
            .flat_map(|r| r.body.acknowledged.iter().map(|a| a.seq))
            .collect();
        let missing = events
            .iter()
            .find(|e| !covered.contains(&e.seq))
            .map(|e| e.seq)
            .unwrap_or(0);
        return Err(format!(
            "event #{missing} is not covered by a signed receipt with its hash"
        ));
    }
    Ok(Some(RestorePlan {
        install_id: install_id.to_string(),
        receipts: receipts
            .into_iter()
            .map(|r| {
                let seqs = r.body.acknowledged.iter().map(|a| a.seq).collect();
                (r, seqs)
            })
            .collect(),
        head: ChainHead {
            events: chain.events,
            hash: chain.head_hash,
        },
        events,
    }))
}

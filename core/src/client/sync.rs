//! The client's side of sync: one pass uploads the outbox (exactly once,
//! whatever the network does), keeps the receipts, and brings new policy
//! versions; restore rebuilds a fresh store from the server.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::Serialize;

use super::{ConsentClient, ConsentError};
use crate::error::ErrorKind;
use crate::policy::diff::{diff, PolicyDiff};
use crate::policy::FALLBACK_LOCALE;
use crate::proof::{check_restore_page, RestorePlan};
use crate::state::{ConsentState, LedgerFold, PolicyStatus};
use crate::store::{OutboxEntry, StoreError};
use crate::sync::transport::Outcome;
use crate::sync::wire::{Receipt, UploadBatch};
use crate::sync::{SyncConfig, SyncError, SyncReport, Transport};

/// What waits for upload and what the server has confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    pub pending: u64,
    pub parked: u64,
    /// Parked events with the server's reason, oldest first.
    pub parked_events: Vec<ParkedEvent>,
    /// Events covered by a verified receipt.
    pub acknowledged: u64,
    pub receipts: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParkedEvent {
    pub seq: u64,
    pub event_id: String,
    pub reason: String,
}

const ETAG_KEY: &str = "policy_etag";

impl ConsentClient {
    /// One sync pass: uploads what waits, keeps the receipts, fetches the
    /// current policy. Returns what it did and when to run again; never
    /// drops an event.
    pub async fn sync(&self, config: &SyncConfig) -> Result<SyncReport, ConsentError> {
        if config.server_keys.is_empty() {
            return Err(SyncError::Config(
                "no server key is configured, so receipts could not be verified".into(),
            )
            .into());
        }
        let transport = Transport::new(config)?;
        let mut report = SyncReport::default();
        let mut token = transport.token(false)?;
        let mut refreshed = false;
        let mut batch_size = config.batch_size.max(1);
        let mut backoff = backoff(config);
        let mut attempts = 0usize;
        let install_id = self.lock().install_id.clone();
        let waiting_at_start = self.lock().store.outbox_counts()?.0;

        loop {
            let events = self.lock().store.pending_events(batch_size)?;
            let (Some(first), Some(last)) = (events.first(), events.last()) else {
                break;
            };
            let (first_seq, last_seq) = (first.seq, last.seq);
            let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
            let expected = events
                .iter()
                .map(Expected::of)
                .collect::<Result<Vec<_>, _>>()?;
            report.sent += events.len() as u64;
            // The stored canonical JSON goes on the wire as it is.
            let body = UploadBatch::encode_from_bodies(
                &install_id,
                events.iter().map(|e| e.body.as_str()),
            );
            drop(events);
            tracing::debug!(first_seq, last_seq, "uploading a batch");
            match transport.upload(&token, body).await {
                Outcome::Done(receipt) => {
                    let head = &receipt.body.head;
                    let head_known = head.events == 0
                        || self.lock().store.event_hash(head.events)?.as_deref()
                            == Some(head.hash.as_str());
                    let checked = check_receipt(&receipt, &install_id, &expected, config).and_then(|()| {
                        // The same rule `verify` applies later: the server's
                        // chain head must be a link of this ledger.
                        head_known.then_some(()).ok_or_else(|| {
                            format!(
                                "the server's receipt says its chain ends at event #{} with a hash this ledger does not have",
                                head.events
                            )
                        })
                    });
                    if let Err(why) = checked {
                        // A server that does not prove what it holds has not
                        // acknowledged anything: the events stay queued.
                        self.lock().store.note_attempt(&seqs, &why)?;
                        report.stop(ErrorKind::ServerRejected, why);
                        report.next_retry_in_secs = Some(config.max_wait.as_secs());
                        break;
                    }
                    let body = serde_json::to_string(&receipt).expect("a receipt serialises");
                    self.lock()
                        .store
                        .record_receipt(&receipt.body.received_at, &body, &seqs)?;
                    report.acknowledged += seqs.len() as u64;
                    report.receipts += 1;
                    if let Some(progress) = &config.progress {
                        progress(report.acknowledged, waiting_at_start);
                    }
                    attempts = 0;
                    backoff = self::backoff(config);
                }
                Outcome::Retry {
                    reason,
                    retry_after,
                } => {
                    attempts += 1;
                    self.lock().store.note_attempt(&seqs, &reason)?;
                    let delay =
                        retry_after.unwrap_or_else(|| backoff.next().unwrap_or(config.max_wait));
                    if attempts >= config.max_attempts || delay > config.max_wait {
                        report.stop(ErrorKind::Network, reason);
                        report.next_retry_in_secs = Some(delay.as_secs().max(1));
                        break;
                    }
                    tracing::info!(
                        delay_ms = delay.as_millis() as u64,
                        "upload will be retried"
                    );
                    tokio::time::sleep(delay).await;
                }
                Outcome::Unauthorized if !refreshed => {
                    token = transport.token(true)?;
                    refreshed = true;
                }
                Outcome::Unauthorized => {
                    report.stop(
                        ErrorKind::ServerRejected,
                        "the server refused the access token, also a fresh one: the user must sign in again".into(),
                    );
                    break;
                }
                Outcome::TooLarge if batch_size > 1 => batch_size = (batch_size / 2).max(1),
                Outcome::TooLarge => {
                    let reason = "413: the server refuses this event as too large".to_string();
                    report.parked += self.lock().store.park_from(first_seq, &reason)?;
                    report.stop(ErrorKind::ServerRejected, reason);
                    break;
                }
                Outcome::Rejected { status, error } => {
                    let named = error
                        .seq
                        .or_else(|| {
                            expected
                                .iter()
                                .find(|e| Some(e.id.to_string()) == error.event_id)
                                .map(|e| e.seq)
                        })
                        .filter(|seq| seqs.contains(seq))
                        .unwrap_or(first_seq);
                    let reason = format!("{status} {}: {}", error.error, error.message);
                    tracing::warn!(status, seq = named, "events parked");
                    report.parked += self.lock().store.park_from(named, &reason)?;
                    report.stop(ErrorKind::ServerRejected, reason);
                    break;
                }
                Outcome::Insecure(why) => {
                    report.stop(ErrorKind::Network, why);
                    break;
                }
                Outcome::NotModified => {
                    report.stop(
                        ErrorKind::ServerRejected,
                        "the server answered 304 to an upload".into(),
                    );
                    break;
                }
            }
        }

        if report.stopped_because.is_none() {
            match self.refresh_policy(&transport, &token, config).await {
                Ok(updated) => report.policy_updated_to = updated,
                Err((kind, why)) => report.stop(kind, why),
            }
        }
        let (pending, _) = self.lock().store.outbox_counts()?;
        report.pending = pending;
        if pending > 0 && report.next_retry_in_secs.is_none() {
            report.next_retry_in_secs = Some(config.min_backoff.as_secs().max(1));
        }
        Ok(report)
    }

    /// Fetches the current policy (conditional on the ETag), verifies the
    /// publisher's signature and installs it. A bad or missing signature, or
    /// a different text under a known version, is refused and the previous
    /// policy stays. Returns the new version if it changed.
    pub(super) async fn refresh_policy(
        &self,
        transport: &Transport,
        token: &str,
        config: &SyncConfig,
    ) -> Result<Option<u32>, (ErrorKind, String)> {
        let (policy_id, etag) = {
            let inner = self.lock();
            (
                inner.policy_id.clone(),
                inner.store.meta(ETAG_KEY).ok().flatten(),
            )
        };
        match transport
            .fetch_policy(token, &policy_id, FALLBACK_LOCALE, etag.as_deref())
            .await
        {
            Outcome::NotModified => Ok(None),
            Outcome::Done((signed, new_etag)) => {
                let doc = signed.verify(&config.policy_keys).map_err(|e| {
                    (
                        ErrorKind::ServerRejected,
                        format!("the server's policy was refused and the current one kept: {e}"),
                    )
                })?;
                let version = doc.version;
                let changed = self.install_policy(doc).map_err(|e| {
                    (
                        ErrorKind::ServerRejected,
                        format!("the server's policy was refused: {e}"),
                    )
                })?;
                if let Some(etag) = new_etag {
                    let _ = self.lock().store.set_meta(ETAG_KEY, &etag);
                }
                Ok(changed.then_some(version))
            }
            Outcome::Retry { reason, .. } => Err((
                ErrorKind::Network,
                format!("the policy could not be fetched: {reason}"),
            )),
            Outcome::Insecure(why) => Err((ErrorKind::Network, why)),
            Outcome::Unauthorized => Err((
                ErrorKind::ServerRejected,
                "the server refused the access token for the policy".into(),
            )),
            Outcome::TooLarge => Err((
                ErrorKind::ServerRejected,
                "the server's policy is too large".into(),
            )),
            Outcome::Rejected { status, error } => Err((
                ErrorKind::ServerRejected,
                format!("the policy request was refused: {status} {}", error.message),
            )),
        }
    }

    /// What waits for upload, what is parked and why, and what the server
    /// has confirmed with receipts.
    pub fn sync_status(&self) -> Result<SyncStatus, ConsentError> {
        let inner = self.lock_fresh()?;
        let (pending, parked) = inner.store.outbox_counts()?;
        let parked_events = inner
            .store
            .outbox(10_000)?
            .into_iter()
            .filter(|e: &OutboxEntry| e.state == "parked")
            .map(|e| ParkedEvent {
                seq: e.seq,
                event_id: e.event_id,
                reason: e.last_error.unwrap_or_default(),
            })
            .collect();
        Ok(SyncStatus {
            pending,
            parked,
            parked_events,
            acknowledged: inner.store.acknowledged_count()?,
            receipts: inner.store.receipts()?.len() as u64,
        })
    }

    /// Puts parked events back in the queue, once the cause is fixed (a
    /// server fix, an app update). Returns how many.
    pub fn retry_parked(&self) -> Result<u64, ConsentError> {
        Ok(self.lock_fresh()?.store.unpark_all()?)
    }

    /// The kept receipts, oldest first.
    pub fn receipts(&self) -> Result<Vec<Receipt>, ConsentError> {
        let bodies = self.lock().store.receipts()?;
        bodies
            .iter()
            .map(|b| {
                serde_json::from_str(b).map_err(|e| {
                    StoreError::Decode(format!("a kept receipt does not decode: {e}")).into()
                })
            })
            .collect()
    }

    /// §10.3: while a new version waits for consent, what changed since the
    /// version the user accepted, clause by clause.
    pub fn policy_changes(&self) -> Result<Option<PolicyDiff>, ConsentError> {
        let mut inner = self.lock_fresh()?;
        let PolicyStatus::ReconsentRequired { from_version, .. } = inner.state()?.policy else {
            return Ok(None);
        };
        let policy_id = inner.policy_id.clone();
        let current = inner.text_for(FALLBACK_LOCALE).clone();
        let Some(old) = inner
            .store
            .policy(&policy_id, from_version, &current.locale)?
        else {
            return Ok(None);
        };
        Ok(Some(diff(&old, &current)))
    }

    /// Rebuilds an empty store from the server: the events of the subject's
    /// most recent installation, checked link by link and against the signed
    /// receipts, then the current policy. This device continues that
    /// installation's ledger. Nothing is written if any check fails; a store
    /// that already holds events is refused ([`ErrorKind::StoreNotEmpty`]).
    pub async fn restore_from_server(
        &self,
        config: &SyncConfig,
    ) -> Result<ConsentState, ConsentError> {
        let existing = self.lock_fresh()?.store.event_count()?;
        if existing > 0 {
            return Err(StoreError::NotEmpty { events: existing }.into());
        }
        let transport = Transport::new(config)?;
        let (plan, token) = fetch_restore_plan(&transport, config).await?;
        let Some(plan) = plan else {
            return Err(ConsentError::ServerRejected(
                "the server holds no events for this account".into(),
            ));
        };
        self.import_plan(&plan)?;
        tracing::info!(
            events = plan.events.len(),
            "ledger restored from the server"
        );
        let _ = self.refresh_policy(&transport, &token, config).await;
        self.state()
    }

    /// [`ConsentClient::verify`], then the ledger against the server's own
    /// copy: every receipt the server holds for this installation is
    /// checked against the ledger like the kept ones, so receipts deleted
    /// from the store (and the events after them rewritten or removed) are
    /// caught, and so is a server copy longer than the ledger. Writes nothing.
    pub async fn verify_online(
        &self,
        config: &SyncConfig,
    ) -> Result<OnlineVerifyReport, ConsentError> {
        let local = self.verify()?;
        let transport = Transport::new(config)?;
        let (page, _) = fetch_events_page(&transport).await?;
        let (install_id, events) = {
            let inner = self.lock_fresh()?;
            (inner.install_id.clone(), inner.store.events()?)
        };
        let receipts: Vec<_> = page
            .receipts
            .into_iter()
            .filter(|r| r.body.install_id == install_id)
            .collect();
        let coverage =
            crate::proof::check_receipts(&receipts, &install_id, &events, &config.server_keys)
                .map_err(|problem| {
                    ConsentError::IntegrityCheckFailed(format!(
                        "against the server's copy, {problem}"
                    ))
                })?;
        let server_events = page
            .events
            .iter()
            .filter(|e| e.install_id == install_id)
            .count() as u64;
        if server_events > local.events {
            return Err(ConsentError::IntegrityCheckFailed(format!(
                "the server holds {server_events} events of this installation and the ledger {}: events were removed",
                local.events
            )));
        }
        Ok(OnlineVerifyReport {
            local,
            server_receipts: coverage.receipts,
            server_acknowledged: coverage.acknowledged,
        })
    }

    /// Writes a verified restore plan into this (empty) store.
    pub(super) fn import_plan(&self, plan: &RestorePlan) -> Result<(), ConsentError> {
        let fold = LedgerFold::of(&plan.events);
        let mut inner = self.lock_fresh()?;
        let snapshot = serde_json::to_string(&fold).expect("a fold serialises");
        let receipts: Vec<(String, String, Vec<u64>)> = plan
            .receipts
            .iter()
            .map(|(r, seqs)| {
                (
                    r.body.received_at.clone(),
                    serde_json::to_string(r).expect("a receipt serialises"),
                    seqs.clone(),
                )
            })
            .collect();
        inner
            .store
            .import_restored(&plan.install_id, &plan.events, &receipts, &snapshot)?;
        inner.install_id = plan.install_id.clone();
        inner.fold = fold;
        inner.invalidate();
        Ok(())
    }
}

/// What [`ConsentClient::verify_online`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnlineVerifyReport {
    pub local: super::VerifyReport,
    /// The server's receipts for this installation, all checked.
    pub server_receipts: u64,
    /// Events the server acknowledged, all present and equal in the ledger.
    pub server_acknowledged: u64,
}

/// Fetches the subject's events and receipts and checks them (see
/// [`check_restore_page`]). Writes nothing. Returns the token that worked.
pub(super) async fn fetch_restore_plan(
    transport: &Transport,
    config: &SyncConfig,
) -> Result<(Option<RestorePlan>, String), ConsentError> {
    let (page, token) = fetch_events_page(transport).await?;
    let plan = check_restore_page(&page, &config.server_keys).map_err(ConsentError::ServerProof)?;
    Ok((plan, token))
}

/// The subject's events and receipts as the server holds them.
async fn fetch_events_page(
    transport: &Transport,
) -> Result<(crate::sync::wire::EventsPage, String), ConsentError> {
    let mut token = transport.token(false)?;
    let mut page = transport.fetch_events(&token).await;
    if matches!(page, Outcome::Unauthorized) {
        token = transport.token(true)?;
        page = transport.fetch_events(&token).await;
    }
    let page = match page {
        Outcome::Done(page) => page,
        Outcome::Retry { reason, .. } => return Err(ConsentError::Network(reason)),
        Outcome::Insecure(why) => return Err(ConsentError::Network(why)),
        Outcome::Unauthorized => {
            return Err(ConsentError::ServerRejected(
                "the server refused the access token, also a fresh one".into(),
            ))
        }
        Outcome::Rejected { status, error } => {
            return Err(ConsentError::ServerRejected(format!(
                "{status} {}",
                error.message
            )))
        }
        Outcome::TooLarge | Outcome::NotModified => {
            return Err(ConsentError::ServerRejected(
                "an answer the API does not promise".into(),
            ))
        }
    };
    Ok((page, token))
}

fn backoff(config: &SyncConfig) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(config.min_backoff)
        .with_max_delay(config.max_wait)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

/// What a receipt must say of one uploaded event.
struct Expected {
    id: uuid::Uuid,
    seq: u64,
    hash: String,
}

impl Expected {
    fn of(row: &crate::store::StoredEvent) -> Result<Expected, ConsentError> {
        #[derive(serde::Deserialize)]
        struct HashOnly {
            hash: String,
        }
        let bad =
            |why: String| StoreError::Decode(format!("event #{} does not decode: {why}", row.seq));
        let HashOnly { hash } = serde_json::from_str(&row.body).map_err(|e| bad(e.to_string()))?;
        let id = uuid::Uuid::parse_str(&row.id).map_err(|e| bad(e.to_string()))?;
        Ok(Expected {
            id,
            seq: row.seq,
            hash,
        })
    }
}

/// A receipt proves the upload only if a trusted key signed it and it names
/// every event of the batch with its hash.
fn check_receipt(
    receipt: &Receipt,
    install_id: &str,
    expected: &[Expected],
    config: &SyncConfig,
) -> Result<(), String> {
    receipt
        .verify(&config.server_keys)
        .map_err(|e| format!("the server's receipt was refused: {e}"))?;
    if receipt.body.install_id != install_id {
        return Err("the server's receipt is for another installation".into());
    }
    let acked: std::collections::HashMap<(uuid::Uuid, u64), &str> = receipt
        .body
        .acknowledged
        .iter()
        .map(|a| ((a.id, a.seq), a.hash.as_str()))
        .collect();
    for event in expected {
        if acked.get(&(event.id, event.seq)) != Some(&event.hash.as_str()) {
            return Err(format!(
                "the server's receipt does not cover event #{} with its hash",
                event.seq
            ));
        }
    }
    Ok(())
}

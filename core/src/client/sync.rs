//! The client's side of sync: one pass uploads the outbox (exactly once,
//! whatever the network does), keeps the receipts, and brings new policy
//! versions; restore rebuilds a fresh store from the server.

use std::time::SystemTime;

use serde::Serialize;

use super::{ConsentClient, ConsentError};
use crate::policy::diff::{diff, PolicyDiff};
use crate::policy::FALLBACK_LOCALE;
use crate::proof::{check_restore_page, RestorePlan};
use crate::state::{ConsentState, LedgerFold, PolicyStatus};
use crate::store::StoreError;
use crate::sync::api::{read, Api, Outcome};
use crate::sync::engine::{Batch, Decision, Expected, StopReason, UploadEngine};
use crate::sync::http::HttpTransport;
use crate::sync::wire::{Receipt, SignedPolicy, UploadBatch};
use crate::sync::{SyncConfig, SyncError, SyncReport};

/// What waits for upload and what the server has confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct SyncStatus {
    /// Events waiting for upload.
    pub pending: i64,
    /// Events the server refused, kept with its reason.
    pub parked: i64,
    /// Parked events with the server's reason, oldest first.
    pub parked_events: Vec<ParkedEvent>,
    /// Events covered by a verified receipt.
    pub acknowledged: i64,
    /// Signed receipts kept.
    pub receipts: i64,
}

/// An event the server refused: kept, not sent again until
/// [`ConsentClient::retry_parked`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct ParkedEvent {
    /// The event's number in the ledger.
    pub seq: i64,
    /// The event's id (UUID).
    pub event_id: String,
    /// The server's status and reason, e.g. `409 conflict: ...`. The
    /// events after a refused one carry its reason: they link to it.
    pub reason: String,
}

const ETAG_KEY: &str = "policy_etag";
/// Meta key of the batch size a 413 cut the upload down to.
const BATCH_SIZE_KEY: &str = "upload_batch_size";

impl ConsentClient {
    /// One sync pass: uploads what waits, keeps the receipts, fetches the
    /// current policy. Returns what it did and when to run again; never
    /// drops an event. The sync engine decides (its decision table is in
    /// `sync/engine.rs`); the configured transport performs each request;
    /// this loop applies the decisions to the store.
    pub async fn sync(&self, config: &SyncConfig) -> Result<SyncReport, ConsentError> {
        if config.server_keys.is_empty() {
            return Err(SyncError::Config(
                "no server key is configured, so receipts could not be verified".into(),
            )
            .into());
        }
        let api = Api::new(&config.base_url)?;
        let http = config.http()?;
        let mut report = SyncReport::default();
        let mut token = config.token(false).await?;
        let (install_id, remembered, waiting_at_start) = {
            let inner = self.lock();
            let remembered = inner
                .store
                .meta(BATCH_SIZE_KEY)?
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(config.batch_size);
            (
                inner.install_id.clone(),
                remembered,
                inner.store.outbox_counts()?.0,
            )
        };
        let mut engine = UploadEngine::new(config.engine(), remembered, config.deadline);

        // §5.7: compromise reports go first, ahead of every waiting event.
        if let Some(stop) = self
            .send_reports(http.as_ref(), &api, &token, &mut report)
            .await?
        {
            report.stop = Some(stop);
        }

        // The upload, then what the Company answers to it (receipts of
        // delivery of statements, an unblock decision). Recording those
        // appends events, which go up in one more round.
        let mut rounds = 0;
        while report.stop.is_none() {
            rounds += 1;
            loop {
                if !engine.may_send(SystemTime::now()) {
                    report.stop = Some(StopReason::Deadline);
                    break;
                }
                let events = self.lock().store.pending_events(engine.batch_size())?;
                if events.is_empty() {
                    break;
                }
                let batch = Batch {
                    install_id: install_id.clone(),
                    events: events
                        .iter()
                        .map(expected_of)
                        .collect::<Result<Vec<_>, _>>()?,
                };
                let seqs = batch.seqs();
                report.sent += seqs.len() as i64;
                // The stored canonical JSON goes on the wire as it is.
                let body = UploadBatch::encode_from_bodies(
                    &install_id,
                    events.iter().map(|e| e.body.as_str()),
                );
                drop(events);
                tracing::debug!(
                    first_seq = batch.first_seq(),
                    events = seqs.len(),
                    "uploading a batch"
                );
                let answer = http.send(api.upload(&token, body)).await;
                let decision = {
                    let inner = self.lock();
                    let hash_at = |seq: u64| inner.store.event_hash(seq).ok().flatten();
                    engine.decide(
                        &batch,
                        answer,
                        &config.server_keys,
                        &hash_at,
                        SystemTime::now(),
                    )
                };
                match decision {
                    Decision::Acknowledged(receipt) => {
                        let body = serde_json::to_string(&receipt).expect("a receipt serialises");
                        self.lock().store.record_receipt(
                            &receipt.body.received_at,
                            &body,
                            &seqs,
                        )?;
                        let batch_seqs: std::collections::HashSet<u64> =
                            seqs.iter().copied().collect();
                        report.acknowledged += receipt
                            .body
                            .acknowledged
                            .iter()
                            .filter(|a| batch_seqs.contains(&a.seq))
                            .count() as i64;
                        report.receipts += 1;
                        if let Some(progress) = &config.progress {
                            progress(report.acknowledged as u64, waiting_at_start);
                        }
                    }
                    Decision::Retry { delay, reason } => {
                        self.lock().store.note_attempt(&seqs, &reason)?;
                        tracing::info!(
                            delay_ms = delay.as_millis() as u64,
                            "upload will be retried"
                        );
                        tokio::time::sleep(delay).await;
                    }
                    Decision::RefreshToken => token = config.token(true).await?,
                    Decision::Shrink { batch_size } => {
                        // Remembered, so that the next pass does not start at
                        // a size the server refuses.
                        self.lock()
                            .store
                            .set_meta(BATCH_SIZE_KEY, &batch_size.to_string())?;
                    }
                    Decision::Park { from_seq, reason } => {
                        tracing::warn!(seq = from_seq, "events parked");
                        report.parked += self.lock().store.park_from(from_seq, &reason)? as i64;
                        report.stop = Some(StopReason::Parked { detail: reason });
                        break;
                    }
                    Decision::Stop(stop) => {
                        if matches!(
                            stop,
                            StopReason::Unreachable { .. } | StopReason::BadReceipt { .. }
                        ) {
                            self.lock().store.note_attempt(&seqs, &stop.to_string())?;
                        }
                        report.stop = Some(stop);
                        break;
                    }
                }
            }
            if report.stop.is_some() || rounds == 3 {
                break;
            }
            let restored = match self
                .fetch_unblock(http.as_ref(), &api, &token, config)
                .await?
            {
                Ok(n) => n,
                Err(stop) => {
                    report.stop = Some(stop);
                    break;
                }
            };
            report.access_restored |= restored > 0;
            let delivered = match self
                .fetch_statement_receipts(http.as_ref(), &api, &token, config)
                .await?
            {
                Ok(n) => n,
                Err(stop) => {
                    report.stop = Some(stop);
                    break;
                }
            };
            report.statements_delivered += delivered as i64;
            if restored + delivered == 0 {
                break;
            }
        }

        if report.stop.is_none() {
            match self
                .refresh_policy(http.as_ref(), &api, &token, config)
                .await
            {
                Ok(updated) => report.policy_updated_to = updated,
                Err(stop) => report.stop = Some(stop),
            }
        }
        let (pending, _) = self.lock().store.outbox_counts()?;
        report.pending = pending as i64;
        if pending > 0 {
            report.next_retry_in_secs = Some(engine.next_pass_in().as_secs().max(1) as i64);
        }
        Ok(report)
    }

    /// Fetches the current policy (conditional on the ETag), verifies the
    /// publisher's signature and installs it. A bad or missing signature, or
    /// a different text under a known version, is refused and the previous
    /// policy stays. Returns the new version if it changed.
    pub(super) async fn refresh_policy(
        &self,
        http: &dyn HttpTransport,
        api: &Api,
        token: &str,
        config: &SyncConfig,
    ) -> Result<Option<i32>, StopReason> {
        let (policy_id, etag) = {
            let inner = self.lock();
            (
                inner.policy_id.clone(),
                inner.store.meta(ETAG_KEY).ok().flatten(),
            )
        };
        let request = api.policy(token, &policy_id, FALLBACK_LOCALE, etag.as_deref());
        let refused = |detail: String| StopReason::Policy { detail };
        match read::<SignedPolicy>(http.send(request).await) {
            Outcome::NotModified => Ok(None),
            Outcome::Done(signed, new_etag) => {
                let doc = signed.verify(&config.policy_keys).map_err(|e| {
                    refused(format!(
                        "the server's policy was refused and the current one kept: {e}"
                    ))
                })?;
                let version = doc.version;
                let changed = self
                    .install_policy(doc)
                    .map_err(|e| refused(format!("the server's policy was refused: {e}")))?;
                if let Some(etag) = new_etag {
                    let _ = self.lock().store.set_meta(ETAG_KEY, &etag);
                }
                Ok(changed.then_some(version))
            }
            Outcome::Retry { reason } => Err(StopReason::Unreachable {
                detail: format!("the policy could not be fetched: {reason}"),
            }),
            Outcome::Insecure(detail) => Err(StopReason::Insecure { detail }),
            Outcome::Unauthorized => Err(refused(
                "the server refused the access token for the policy".into(),
            )),
            Outcome::Rejected { status, error } => Err(refused(format!(
                "the policy request was refused: {status} {}",
                error.message
            ))),
        }
    }

    /// What waits for upload, what is parked and why, and what the server
    /// has confirmed with receipts.
    pub fn sync_status(&self) -> Result<SyncStatus, ConsentError> {
        let inner = self.lock_fresh()?;
        let (pending, parked) = inner.store.outbox_counts()?;
        let parked_events = inner
            .store
            .parked()?
            .into_iter()
            .map(|e| ParkedEvent {
                seq: e.seq as i64,
                event_id: e.event_id,
                reason: e.last_error.unwrap_or_default(),
            })
            .collect();
        Ok(SyncStatus {
            pending: pending as i64,
            parked: parked as i64,
            parked_events,
            acknowledged: inner.store.acknowledged_count()? as i64,
            receipts: inner.store.receipts()?.len() as i64,
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
    /// that already holds events is refused ([`crate::ErrorKind::StoreNotEmpty`]).
    pub async fn restore_from_server(
        &self,
        config: &SyncConfig,
    ) -> Result<ConsentState, ConsentError> {
        let existing = self.lock_fresh()?.store.event_count()?;
        if existing > 0 {
            return Err(StoreError::NotEmpty { events: existing }.into());
        }
        let api = Api::new(&config.base_url)?;
        let http = config.http()?;
        let (plan, token) = fetch_restore_plan(http.as_ref(), &api, config).await?;
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
        let _ = self
            .refresh_policy(http.as_ref(), &api, &token, config)
            .await;
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
        let api = Api::new(&config.base_url)?;
        let http = config.http()?;
        let (page, _) = fetch_events_page(http.as_ref(), &api, config).await?;
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
        if server_events > local.events as u64 {
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
    /// What the offline [`ConsentClient::verify`] found first.
    pub local: super::VerifyReport,
    /// The server's receipts for this installation, all checked.
    pub server_receipts: u64,
    /// Events the server acknowledged, all present and equal in the ledger.
    pub server_acknowledged: u64,
}

/// Fetches the subject's events and receipts and checks them (see
/// [`check_restore_page`]). Writes nothing. Returns the token that worked.
pub(super) async fn fetch_restore_plan(
    http: &dyn HttpTransport,
    api: &Api,
    config: &SyncConfig,
) -> Result<(Option<RestorePlan>, String), ConsentError> {
    let (page, token) = fetch_events_page(http, api, config).await?;
    let plan = check_restore_page(&page, &config.server_keys).map_err(ConsentError::ServerProof)?;
    Ok((plan, token))
}

/// Events per page of `GET /v1/events`.
const EVENTS_PAGE: usize = 1000;
/// Pages at most (10 million events): a server that never ends its pages
/// is refused, not followed for ever.
const MAX_PAGES: usize = 10_000;

/// The subject's events and receipts as the server holds them, page after
/// page, put together (a server without paging sends one page).
async fn fetch_events_page(
    http: &dyn HttpTransport,
    api: &Api,
    config: &SyncConfig,
) -> Result<(crate::sync::wire::EventsPage, String), ConsentError> {
    let mut token = config.token(false).await?;
    let mut all = crate::sync::wire::EventsPage {
        events: Vec::new(),
        receipts: Vec::new(),
        next: None,
    };
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let request = |token: &str| api.events(token, EVENTS_PAGE, after.as_deref());
        let mut page = read(http.send(request(&token)).await);
        if matches!(page, Outcome::Unauthorized) {
            token = config.token(true).await?;
            page = read(http.send(request(&token)).await);
        }
        let page: crate::sync::wire::EventsPage = match page {
            Outcome::Done(page, _) => page,
            Outcome::Retry { reason } => return Err(ConsentError::Network(reason)),
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
            Outcome::NotModified => {
                return Err(ConsentError::ServerRejected(
                    "an answer the API does not promise".into(),
                ))
            }
        };
        all.events.extend(page.events);
        all.receipts.extend(page.receipts);
        match page.next {
            Some(next) if Some(&next) == after.as_ref() => {
                return Err(ConsentError::ServerRejected(
                    "the server sent the same page cursor twice".into(),
                ))
            }
            Some(next) => after = Some(next),
            None => return Ok((all, token)),
        }
    }
    Err(ConsentError::ServerRejected(format!(
        "the server's events did not end within {MAX_PAGES} pages"
    )))
}

/// What a receipt must say of one stored event.
fn expected_of(row: &crate::store::StoredEvent) -> Result<Expected, ConsentError> {
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

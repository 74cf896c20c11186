//! What a sync pass exchanges with the Company besides the ledger: the
//! compromise reports sent ahead of everything else (§5.7), the signed
//! unblock decisions that lift a block, and the signed receipts of delivery
//! of written statements (§6.1.5, §10.4). Every signed answer is checked
//! against the server keys before it is recorded in the ledger, where
//! `verify` checks it again.

use std::collections::HashSet;

use super::*;
use crate::sync::api::{read, Api, Outcome};
use crate::sync::engine::StopReason;
use crate::sync::http::HttpTransport;
use crate::sync::wire::{
    AccessStatus, ReportAck, ReportUpload, StatementReceipt, StatementReceiptsPage,
};
use crate::sync::{SyncConfig, SyncReport};

const REPORT_SENT_PREFIX: &str = "report_sent:";

/// A failed request's stop, in the pass's words.
fn stop_of<T>(what: &str, outcome: Outcome<T>) -> StopReason {
    match outcome {
        Outcome::Retry { reason } => StopReason::Unreachable {
            detail: format!("{what}: {reason}"),
        },
        Outcome::Insecure(detail) => StopReason::Insecure { detail },
        Outcome::Unauthorized => StopReason::Unauthorized,
        Outcome::Rejected { status, error } => StopReason::BadReceipt {
            detail: format!("{what} was refused: {status} {}", error.message),
        },
        Outcome::Done(..) | Outcome::NotModified => StopReason::BadReceipt {
            detail: format!("{what}: an answer the API does not promise"),
        },
    }
}

impl ConsentClient {
    /// §5.7: sends every open compromise report the server has not
    /// confirmed yet, ahead of the ledger's upload, so that the Company can
    /// block access at once even when many events wait.
    pub(super) async fn send_reports(
        &self,
        http: &dyn HttpTransport,
        api: &Api,
        token: &str,
        report: &mut SyncReport,
    ) -> Result<Option<StopReason>, ConsentError> {
        let (install_id, waiting) = {
            let inner = self.lock();
            let open = inner.fold.open_reports();
            if open.is_empty() {
                return Ok(None);
            }
            let mut waiting = Vec::new();
            for event in inner.store.events()? {
                let id = event.id.to_string();
                if open.contains(&id)
                    && inner
                        .store
                        .meta(&format!("{REPORT_SENT_PREFIX}{id}"))?
                        .is_none()
                {
                    waiting.push(event);
                }
            }
            (inner.install_id.clone(), waiting)
        };
        for event in waiting {
            let id = event.id;
            let body = serde_json::to_vec(&ReportUpload {
                install_id: install_id.clone(),
                event,
            })
            .expect("a report serialises");
            match read::<ReportAck>(http.send(api.report(token, body)).await) {
                Outcome::Done(ack, _) if ack.report_id == id => {
                    self.lock()
                        .store
                        .set_meta(&format!("{REPORT_SENT_PREFIX}{id}"), &ack.received_at)?;
                    report.reports_sent += 1;
                    tracing::info!("compromise report delivered ahead of the upload");
                }
                Outcome::Done(..) => {
                    return Ok(Some(StopReason::BadReceipt {
                        detail: "the server acknowledged another report than the one sent".into(),
                    }))
                }
                other => return Ok(Some(stop_of("the compromise report", other))),
            }
        }
        Ok(None)
    }

    /// While access is blocked: asks the server for the Company's unblock
    /// decisions, checks each (signature by a server key, the subject, the
    /// reports it closes are open here) and records the ones that close an
    /// open report. Returns how many it recorded.
    pub(super) async fn fetch_unblock(
        &self,
        http: &dyn HttpTransport,
        api: &Api,
        token: &str,
        config: &SyncConfig,
    ) -> Result<Result<usize, StopReason>, ConsentError> {
        if self.lock().fold.open_reports().is_empty() {
            return Ok(Ok(0));
        }
        let status = match read::<AccessStatus>(http.send(api.access(token)).await) {
            Outcome::Done(status, _) => status,
            other => return Ok(Err(stop_of("the access status", other))),
        };
        let mut recorded = 0;
        for decision in status.decisions {
            let mut inner = self.lock_fresh()?;
            let state = inner.state()?;
            let open: HashSet<String> = inner.fold.open_reports().into_iter().collect();
            let closes_open = decision
                .body
                .reports
                .iter()
                .any(|r| open.contains(&r.to_string()));
            if !closes_open {
                continue;
            }
            if let Err(e) = decision.verify(&config.server_keys) {
                return Ok(Err(StopReason::BadReceipt {
                    detail: format!(
                        "the unblock decision was refused and access stays blocked: {e}"
                    ),
                }));
            }
            // The server names the user as its token does: the linked
            // account, or before linking the subject its receipts name.
            let known_subject = decision.body.subject == state.subject
                || inner
                    .kept_receipts()?
                    .iter()
                    .any(|r| r.body.subject == decision.body.subject);
            if !known_subject {
                return Ok(Err(StopReason::BadReceipt {
                    detail: "the unblock decision names another subject; access stays blocked"
                        .into(),
                }));
            }
            let policy = inner.authoritative_ref();
            inner.record(policy, EventKind::AccessRestored { decision })?;
            recorded += 1;
        }
        Ok(Ok(recorded))
    }

    /// Asks for the receipts of delivery of the statements the server holds
    /// (acknowledged events) and has not answered yet; checks each
    /// (signature, the statement's id, hash and event) and records it.
    /// Returns how many it recorded.
    pub(super) async fn fetch_statement_receipts(
        &self,
        http: &dyn HttpTransport,
        api: &Api,
        token: &str,
        config: &SyncConfig,
    ) -> Result<Result<usize, StopReason>, ConsentError> {
        // (statement id, hash, event id) of acknowledged, undelivered ones.
        let waiting: Vec<(uuid::Uuid, String, uuid::Uuid)> = {
            let inner = self.lock();
            let events = inner.store.events()?;
            let acked = inner.store.acked_seqs()?;
            let delivered: HashSet<uuid::Uuid> = events
                .iter()
                .filter_map(|e| match &e.kind {
                    EventKind::StatementDelivered { receipt } => Some(receipt.body.statement_id),
                    _ => None,
                })
                .collect();
            events
                .iter()
                .filter(|e| acked.contains(&e.seq))
                .filter_map(|e| match &e.kind {
                    EventKind::StatementIssued {
                        statement,
                        statement_hash,
                    } if !delivered.contains(&statement.id) => {
                        Some((statement.id, statement_hash.clone(), e.id))
                    }
                    _ => None,
                })
                .collect()
        };
        if waiting.is_empty() {
            return Ok(Ok(0));
        }
        let page =
            match read::<StatementReceiptsPage>(http.send(api.statement_receipts(token)).await) {
                Outcome::Done(page, _) => page,
                other => return Ok(Err(stop_of("the statement receipts", other))),
            };
        let mut recorded = 0;
        for (statement_id, hash, event_id) in waiting {
            let Some(receipt) = page
                .receipts
                .iter()
                .find(|r| r.body.statement_id == statement_id)
            else {
                continue;
            };
            if let Err(problem) = check_statement_receipt(receipt, &hash, event_id, config) {
                return Ok(Err(StopReason::BadReceipt { detail: problem }));
            }
            let mut inner = self.lock_fresh()?;
            let policy = inner.authoritative_ref();
            inner.record(
                policy,
                EventKind::StatementDelivered {
                    receipt: receipt.clone(),
                },
            )?;
            recorded += 1;
        }
        Ok(Ok(recorded))
    }
}

/// A receipt of delivery must be signed by a server key and name the
/// statement's hash and the event that carried it.
fn check_statement_receipt(
    receipt: &StatementReceipt,
    hash: &str,
    event_id: uuid::Uuid,
    config: &SyncConfig,
) -> Result<(), String> {
    receipt
        .verify(&config.server_keys)
        .map_err(|e| format!("a statement's receipt of delivery was refused: {e}"))?;
    if receipt.body.statement_hash != hash || receipt.body.event_id != event_id {
        return Err(
            "a statement's receipt of delivery names another text than the ledger holds; it was refused"
                .into(),
        );
    }
    Ok(())
}

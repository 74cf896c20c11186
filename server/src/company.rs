//! The Company's side beyond receipts (issue #13): receipts of delivery of
//! written statements with the processing that continues on a legal basis
//! (§6.1.5, §10.4), compromise reports that block a subject's access, and
//! signed unblock decisions (§5.7). The operator's endpoints sit under
//! `/v1/admin/` behind their own tokens (`--admin-tokens`).

use std::sync::Arc;

use altyn_consent_core::ledger::{Event, EventKind};
use altyn_consent_core::statement::StatementKind;
use altyn_consent_core::sync::wire::{
    key_id, AccessStatus, LegalHold, ReportAck, ReportUpload, StatementReceipt,
    StatementReceiptBody, StatementReceiptsPage, UnblockBody, UnblockDecision,
    STATEMENT_RECEIPT_FORMAT, UNBLOCK_FORMAT,
};
use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::db::{params, Sql};
use crate::storage::{decode, now, Refusal, Storage};
use crate::{refusal, subject_of, AppState};

/// Called inside ingestion's transaction for each event stored for the
/// first time: a statement gets its signed receipt of delivery (with the
/// subject's legal holds, for a withdrawal), a compromise report blocks.
pub(crate) fn on_new_event(
    tx: &mut dyn Sql,
    subject: &str,
    install_id: &str,
    event: &Event,
    body: &str,
    received_at: &str,
    key: &SigningKey,
) -> Result<(), Refusal> {
    match &event.kind {
        EventKind::StatementIssued {
            statement,
            statement_hash,
        } => {
            let continuing = if statement.kind == StatementKind::Withdrawal {
                holds_of(tx, subject)?
            } else {
                Vec::new()
            };
            let receipt = StatementReceipt::sign(
                key,
                StatementReceiptBody {
                    format: STATEMENT_RECEIPT_FORMAT.into(),
                    key_id: key_id(&key.verifying_key()),
                    subject: subject.into(),
                    install_id: install_id.into(),
                    statement_id: statement.id,
                    statement_hash: statement_hash.clone(),
                    event_id: event.id,
                    received_at: received_at.into(),
                    continuing,
                },
            );
            tx.execute(
                "INSERT INTO statement_receipts (statement_id, subject, install_id, event_id, kind, body) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                params![
                    statement.id.to_string(),
                    subject,
                    install_id,
                    event.id.to_string(),
                    match statement.kind {
                        StatementKind::Withdrawal => "withdrawal",
                        StatementKind::Objection => "objection",
                    },
                    serde_json::to_string(&receipt).expect("a receipt serialises")
                ],
            )?;
        }
        EventKind::CompromiseReported { .. } => {
            tx.execute(
                "INSERT INTO reports (report_id, subject, install_id, body, received_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                params![event.id.to_string(), subject, install_id, body, received_at],
            )?;
        }
        _ => {}
    }
    Ok(())
}

fn holds_of(tx: &mut dyn Sql, subject: &str) -> Result<Vec<LegalHold>, Refusal> {
    match tx.query_opt(
        "SELECT body FROM legal_holds WHERE subject = $1",
        params![subject],
    )? {
        Some(row) => decode(&row.text(0)?),
        None => Ok(Vec::new()),
    }
}

fn decisions_of(tx: &mut dyn Sql, subject: &str) -> Result<Vec<UnblockDecision>, Refusal> {
    tx.query(
        "SELECT body FROM unblock_decisions WHERE subject = $1 ORDER BY decided_at, decision_id",
        params![subject],
    )?
    .iter()
    .map(|row| decode(&row.text(0)?))
    .collect()
}

/// The subject's open reports, oldest first; `lock`: kept from other
/// writers until the transaction ends.
fn open_reports(tx: &mut dyn Sql, subject: &str, lock: bool) -> Result<Vec<Uuid>, Refusal> {
    let sql = format!(
        "SELECT report_id FROM reports WHERE subject = $1 AND closed_by IS NULL ORDER BY received_at, report_id{}",
        if lock { tx.for_update() } else { "" }
    );
    tx.query(&sql, params![subject])?
        .iter()
        .map(|row| {
            let id = row.text(0)?;
            Uuid::parse_str(&id).map_err(|_| {
                tracing::error!("a stored report id is not a UUID");
                Refusal::new(500, "internal", "a stored record could not be read")
            })
        })
        .collect()
}

impl Storage {
    /// §5.7: stores a report sent ahead of the upload (idempotent by its
    /// event id) and answers whether the subject is now blocked.
    pub fn store_report(&self, subject: &str, upload: &ReportUpload) -> Result<ReportAck, Refusal> {
        let event = &upload.event;
        if !matches!(event.kind, EventKind::CompromiseReported { .. }) {
            return Err(Refusal::new(
                400,
                "bad_request",
                "the event is not a compromise report",
            ));
        }
        if altyn_consent_core::ledger::parse_time(&event.at).is_none() {
            return Err(Refusal::new(
                400,
                "bad_request",
                "the report's time (at) is not a UTC date-time (RFC 3339)",
            )
            .about(event));
        }
        if !crate::plain_text(&upload.install_id) {
            return Err(Refusal::new(
                400,
                "bad_request",
                "install_id must be 1 to 256 characters, none of them a control character",
            ));
        }
        if event.install_id != upload.install_id {
            return Err(Refusal::new(
                400,
                "bad_request",
                "the report belongs to another installation",
            )
            .about(event));
        }
        if event.subject != subject && event.subject != event.install_id {
            return Err(
                Refusal::new(403, "forbidden", "the report belongs to another subject")
                    .about(event),
            );
        }
        if event.compute_hash() != event.hash {
            return Err(Refusal::new(
                422,
                "broken_chain",
                "the report's content does not match its hash",
            )
            .about(event));
        }
        let body = serde_json::to_string(event).expect("an event serialises");
        let (received_at, closed) = self.run(true, |tx| {
            let owner = tx
                .query_opt(
                    "SELECT subject FROM installs WHERE install_id = $1",
                    params![&upload.install_id],
                )?
                .map(|row| row.text(0))
                .transpose()?;
            if owner.is_some_and(|o| o != subject) {
                return Err(Refusal::new(
                    403,
                    "forbidden",
                    "this installation belongs to another subject",
                ));
            }
            tx.execute(
                "INSERT INTO reports (report_id, subject, install_id, body, received_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                params![event.id.to_string(), subject, &upload.install_id, body, now()],
            )?;
            let row = tx
                .query_opt(
                    "SELECT received_at, closed_by FROM reports WHERE report_id = $1",
                    params![event.id.to_string()],
                )?
                .expect("the report was just stored");
            Ok((row.text(0)?, row.opt_text(1)?))
        })?;
        tracing::info!("compromise report received; the subject's access is blocked");
        Ok(ReportAck {
            report_id: event.id,
            received_at,
            blocked: closed.is_none(),
        })
    }

    /// Whether `subject` is blocked, and the decisions made for it.
    pub fn access_of(&self, subject: &str) -> Result<AccessStatus, Refusal> {
        self.run(false, |tx| {
            let open = open_reports(tx, subject, false)?;
            Ok(AccessStatus {
                blocked: !open.is_empty(),
                open_reports: open,
                decisions: decisions_of(tx, subject)?,
            })
        })
    }

    /// The receipts of delivery of `subject`'s statements.
    pub fn statement_receipts_of(&self, subject: &str) -> Result<Vec<StatementReceipt>, Refusal> {
        self.run(false, |tx| {
            tx.query(
                "SELECT s.body FROM statement_receipts s JOIN events e ON e.id = s.event_id WHERE s.subject = $1 ORDER BY e.install_id, e.seq",
                params![subject],
            )?
            .iter()
            .map(|row| decode(&row.text(0)?))
            .collect()
        })
    }

    /// The operator sets the processing that continues for `subject` on a
    /// legal basis; later withdrawal receipts carry it.
    pub fn set_legal_holds(&self, subject: &str, holds: &[LegalHold]) -> Result<(), Refusal> {
        for hold in holds {
            let date_ok = hold.until.as_deref().is_none_or(|d| {
                time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
                    .is_ok()
            });
            if hold.categories.is_empty() || hold.basis.trim().is_empty() || !date_ok {
                return Err(Refusal::new(
                    400,
                    "bad_request",
                    "a legal hold needs categories, a basis and, if it ends, an until date YYYY-MM-DD",
                ));
            }
        }
        self.run(true, |tx| {
            // Categories are the ids the newest published policy names (§2.3).
            let newest = tx.query_opt(
                "SELECT signed FROM policies WHERE locale = 'ru' ORDER BY version DESC LIMIT 1",
                &[],
            )?;
            if let Some(row) = newest {
                let signed: altyn_consent_core::sync::wire::SignedPolicy = decode(&row.text(0)?)?;
                let known: Vec<String> = signed
                    .policy
                    .data_categories()
                    .into_iter()
                    .map(|c| c.id)
                    .collect();
                if let Some(unknown) = holds
                    .iter()
                    .flat_map(|h| h.categories.iter())
                    .find(|c| !known.contains(c))
                {
                    return Err(Refusal::new(
                        400,
                        "bad_request",
                        format!(
                            "{unknown:?} is not a data category of the policy (§2.3); known: {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
            tx.execute(
                "INSERT INTO legal_holds (subject, body, updated_at) VALUES ($1, $2, $3) ON CONFLICT (subject) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
                params![subject, serde_json::to_string(holds).expect("holds serialise"), now()],
            )?;
            Ok(())
        })
    }

    /// §5.7: the Company restores `subject`'s access: every open report is
    /// closed by one signed decision. 409 if none is open.
    pub fn unblock(&self, subject: &str, key: &SigningKey) -> Result<UnblockDecision, Refusal> {
        self.run(true, |tx| {
            let reports = open_reports(tx, subject, true)?;
            if reports.is_empty() {
                return Err(Refusal::new(
                    409,
                    "conflict",
                    "the subject has no open report: access is not blocked",
                ));
            }
            let decision = UnblockDecision::sign(
                key,
                UnblockBody {
                    format: UNBLOCK_FORMAT.into(),
                    key_id: key_id(&key.verifying_key()),
                    decision_id: Uuid::now_v7(),
                    subject: subject.into(),
                    reports,
                    decided_at: now(),
                },
            );
            let id = decision.body.decision_id.to_string();
            tx.execute(
                "INSERT INTO unblock_decisions (decision_id, subject, body, decided_at) VALUES ($1, $2, $3, $4)",
                params![&id, subject, serde_json::to_string(&decision).expect("serialises"), &decision.body.decided_at],
            )?;
            for report in &decision.body.reports {
                tx.execute(
                    "UPDATE reports SET closed_by = $2 WHERE report_id = $1",
                    params![report.to_string(), &id],
                )?;
            }
            Ok(decision)
        })
    }

    /// Open reports, for the operator, oldest first.
    pub fn open_report_list(&self) -> Result<Vec<OpenReport>, Refusal> {
        let rows = self.run(false, |tx| {
            tx.query(
                "SELECT report_id, subject, received_at, body FROM reports WHERE closed_by IS NULL ORDER BY received_at, report_id",
                &[],
            )?
            .iter()
            .map(|row| Ok((row.text(0)?, row.text(1)?, row.text(2)?, row.text(3)?)))
            .collect::<Result<Vec<_>, Refusal>>()
        })?;
        rows.into_iter()
            .map(|(report_id, subject, received_at, body)| {
                let event: Event = decode(&body)?;
                let (concern, details) = match event.kind {
                    EventKind::CompromiseReported { concern, details } => {
                        (concern.as_str().to_string(), details)
                    }
                    _ => (String::new(), String::new()),
                };
                Ok(OpenReport {
                    report_id,
                    subject,
                    received_at,
                    reported_at: event.at,
                    concern,
                    details,
                })
            })
            .collect()
    }
}

/// An open compromise report, as the operator's list shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenReport {
    pub report_id: String,
    pub subject: String,
    pub received_at: String,
    pub reported_at: String,
    pub concern: String,
    pub details: String,
}

/// Runs storage work off the async threads (both engines block).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Refusal> + Send + 'static,
) -> Result<T, Refusal> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|_| {
        Err(Refusal::new(
            500,
            "internal",
            "the request failed inside the server",
        ))
    })
}

fn answer<T: Serialize>(result: Result<T, Refusal>) -> Response {
    match result {
        Ok(value) => Json(value).into_response(),
        Err(r) => refusal(r),
    }
}

/// `POST /v1/reports`
pub(crate) async fn post_report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let subject = match subject_of(&state, &headers) {
        Ok(s) => s,
        Err(r) => return refusal(r),
    };
    let upload: ReportUpload = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => {
            return refusal(Refusal::new(
                400,
                "bad_request",
                format!("the body is not a report: {e}"),
            ))
        }
    };
    let s = state.clone();
    answer(blocking(move || s.storage.store_report(&subject, &upload)).await)
}

/// `GET /v1/access`
pub(crate) async fn get_access(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let subject = match subject_of(&state, &headers) {
        Ok(s) => s,
        Err(r) => return refusal(r),
    };
    let s = state.clone();
    answer(blocking(move || s.storage.access_of(&subject)).await)
}

/// `GET /v1/statements`
pub(crate) async fn get_statements(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Response {
    let subject = match subject_of(&state, &headers) {
        Ok(s) => s,
        Err(r) => return refusal(r),
    };
    let s = state.clone();
    answer(
        blocking(move || {
            s.storage
                .statement_receipts_of(&subject)
                .map(|receipts| StatementReceiptsPage { receipts })
        })
        .await,
    )
}

/// The operator's token, checked against `--admin-tokens`.
fn check_admin(state: &AppState, headers: &HeaderMap) -> Result<(), Refusal> {
    if state.admin_tokens.is_empty() {
        return Err(Refusal::new(
            403,
            "forbidden",
            "the admin API is not enabled on this server (--admin-tokens)",
        ));
    }
    let token = crate::bearer_token(headers)
        .ok_or_else(|| Refusal::new(401, "unauthorized", "an admin bearer token is required"))?;
    if state.admin_tokens.iter().any(|t| t == token) {
        Ok(())
    } else {
        Err(Refusal::new(
            401,
            "unauthorized",
            "the admin token is not valid",
        ))
    }
}

/// A subject named in an admin path.
fn check_subject(subject: &str) -> Result<(), Refusal> {
    if crate::plain_text(subject) {
        Ok(())
    } else {
        Err(Refusal::new(
            400,
            "bad_request",
            "the subject must be 1 to 256 characters, none of them a control character",
        ))
    }
}

/// `GET /v1/admin/reports`
pub(crate) async fn admin_reports(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = check_admin(&state, &headers) {
        return refusal(r);
    }
    let s = state.clone();
    answer(
        blocking(move || {
            s.storage
                .open_report_list()
                .map(|reports| serde_json::json!({ "reports": reports }))
        })
        .await,
    )
}

/// The body of `PUT /v1/admin/subjects/{subject}/legal-holds`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LegalHolds {
    pub holds: Vec<LegalHold>,
}

/// `PUT /v1/admin/subjects/{subject}/legal-holds`
pub(crate) async fn admin_legal_holds(
    State(state): State<Arc<AppState>>,
    UrlPath(subject): UrlPath<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = check_admin(&state, &headers) {
        return refusal(r);
    }
    if let Err(r) = check_subject(&subject) {
        return refusal(r);
    }
    let holds: LegalHolds = match serde_json::from_slice(&body) {
        Ok(h) => h,
        Err(e) => {
            return refusal(Refusal::new(
                400,
                "bad_request",
                format!("the body is not a list of legal holds: {e}"),
            ))
        }
    };
    let s = state.clone();
    answer(
        blocking(move || {
            s.storage
                .set_legal_holds(&subject, &holds.holds)
                .map(|()| holds)
        })
        .await,
    )
}

/// `POST /v1/admin/subjects/{subject}/unblock`
pub(crate) async fn admin_unblock(
    State(state): State<Arc<AppState>>,
    UrlPath(subject): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = check_admin(&state, &headers) {
        return refusal(r);
    }
    if let Err(r) = check_subject(&subject) {
        return refusal(r);
    }
    let s = state.clone();
    answer(blocking(move || s.storage.unblock(&subject, &s.receipt_key)).await)
}

//! The upload engine, sans I/O: it decides how many events to send next and
//! what each answer means, and does nothing else. It reads no clock (the
//! time is handed in), touches no store and no socket; the client's sync
//! loop reads the outbox, performs each request through an
//! [`HttpTransport`](super::http::HttpTransport) and applies the decision.
//! So the whole decision table is tested without a network (below).
//!
//! Each answer has exactly one consequence for the queued events:
//!
//! | answer | decision |
//! |---|---|
//! | 2xx with a receipt that a trusted key signed, naming every event of the batch with its hash, whose chain head is a link of this ledger | `Acknowledged`: the events leave the outbox, the receipt is kept |
//! | 2xx whose body is not a receipt, or a receipt that proves too little | `Retry` (a server that does not prove what it holds has acknowledged nothing); after the attempts, `Stop(BadReceipt)` |
//! | 5xx, 408, 429, a timeout, a reset, a cut-off body | `Retry` after `Retry-After` (seconds or an HTTP date) or exponential backoff with jitter; `Stop(Unreachable)` after `max_attempts`, or when the wait is longer than `max_wait` or passes the deadline |
//! | 413 | `Shrink` to half the batch; a single event too large is `Park`ed |
//! | 401 | `RefreshToken` once; a second 401 is `Stop(Unauthorized)` |
//! | any other 4xx | `Park` the event named (or the first of the batch) and those after it, with the reason: never dropped |
//! | a TLS failure (wrong certificate, pin mismatch) | `Stop(Insecure)`: nothing was sent |
//!
//! Where we differ from telemetry uploaders (Glean deletes a ping on 4xx):
//! a consent record is never dropped, so 4xx parks and reports.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use ed25519_dalek::VerifyingKey;
use serde::Serialize;
use uuid::Uuid;

use super::http::{HttpFailure, HttpResponse};
use super::wire::{ApiError, Receipt};
use crate::error::ErrorKind;

/// What the engine needs of the sync configuration.
#[derive(Debug, Clone)]
pub(crate) struct EngineConfig {
    pub(crate) batch_size: usize,
    pub(crate) max_attempts: usize,
    pub(crate) max_wait: Duration,
    pub(crate) min_backoff: Duration,
}

/// What a receipt must say of one uploaded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expected {
    pub(crate) id: Uuid,
    pub(crate) seq: u64,
    pub(crate) hash: String,
}

/// One batch as sent: its events, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    pub(crate) install_id: String,
    pub(crate) events: Vec<Expected>,
}

impl Batch {
    pub(crate) fn first_seq(&self) -> u64 {
        self.events.first().map(|e| e.seq).unwrap_or(0)
    }

    pub(crate) fn seqs(&self) -> Vec<u64> {
        self.events.iter().map(|e| e.seq).collect()
    }
}

/// Why a pass ended before the outbox was empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum StopReason {
    /// The server could not be reached, or stayed busy (5xx, 429,
    /// timeouts) through the attempts of this pass. Nothing is lost.
    Unreachable {
        /// The last failure, e.g. `the server answered 503`.
        detail: String,
    },
    /// The token was refused, also a fresh one: the user must sign in again.
    Unauthorized,
    /// The server refused events (a 4xx that cannot succeed as it is): they
    /// are parked with the reason, never dropped.
    Parked {
        /// The server's status and reason, e.g. `409 conflict: ...`.
        detail: String,
    },
    /// The server's answers did not prove the upload (a receipt refused).
    BadReceipt {
        /// What the receipt failed to prove.
        detail: String,
    },
    /// TLS refused the server (certificate, pin): nothing was sent.
    Insecure {
        /// TLS's reason.
        detail: String,
    },
    /// The new policy could not be fetched or was refused; the current one stays.
    Policy {
        /// Why (an unknown or bad signature, a conflicting text, the
        /// server's refusal).
        detail: String,
    },
    /// The pass's deadline came (a background task about to expire).
    Deadline,
}

#[cfg_attr(feature = "ffi", uniffi::export)]
impl StopReason {
    /// The kind of this stop, for the shell to act on: `Network` (try again
    /// at the report's `next_retry_in_secs`) or `ServerRejected`.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StopReason::Unreachable { .. } | StopReason::Insecure { .. } | StopReason::Deadline => {
                ErrorKind::Network
            }
            StopReason::Unauthorized
            | StopReason::Parked { .. }
            | StopReason::BadReceipt { .. }
            | StopReason::Policy { .. } => ErrorKind::ServerRejected,
        }
    }

    /// The stop in words, for a log or a developer (never personal data).
    pub fn message(&self) -> String {
        self.to_string()
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Unreachable { detail } => write!(f, "the server could not be reached: {detail}"),
            StopReason::Unauthorized => f.write_str(
                "the server refused the access token, also a fresh one: the user must sign in again",
            ),
            StopReason::Parked { detail } => write!(f, "events parked: {detail}"),
            StopReason::BadReceipt { detail } => write!(f, "{detail}"),
            StopReason::Insecure { detail } => write!(f, "{detail}"),
            StopReason::Policy { detail } => write!(f, "{detail}"),
            StopReason::Deadline => f.write_str("the pass reached its deadline; the rest waits for the next pass"),
        }
    }
}

/// What to do after an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The receipt proves the batch: keep it, take the events out of the outbox.
    Acknowledged(Box<Receipt>),
    /// Send the same events again after `delay`.
    Retry { delay: Duration, reason: String },
    /// Send again with at most this many events.
    Shrink { batch_size: usize },
    /// Ask the token provider for a fresh token, then send again.
    RefreshToken,
    /// Park the events from `from_seq` on (they link to it), with the
    /// reason, and end the pass.
    Park { from_seq: u64, reason: String },
    /// End the pass.
    Stop(StopReason),
}

/// The engine of one pass.
pub(crate) struct UploadEngine {
    config: EngineConfig,
    batch_size: usize,
    refreshed: bool,
    attempts: usize,
    backoff: Box<dyn Iterator<Item = Duration> + Send>,
    deadline: Option<SystemTime>,
    /// The wait a stopped retry asked for (the server's `Retry-After` or
    /// the backoff): when the next pass should run.
    next_pass: Option<Duration>,
}

fn backoff(config: &EngineConfig) -> Box<dyn Iterator<Item = Duration> + Send> {
    Box::new(
        ExponentialBuilder::default()
            .with_min_delay(config.min_backoff)
            .with_max_delay(config.max_wait)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build(),
    )
}

impl UploadEngine {
    /// `batch_size` is where the pass starts (a size cut down by 413 in an
    /// earlier pass is remembered by the caller and handed in here).
    pub(crate) fn new(
        config: EngineConfig,
        batch_size: usize,
        deadline: Option<SystemTime>,
    ) -> Self {
        let backoff = backoff(&config);
        UploadEngine {
            batch_size: batch_size.clamp(1, config.batch_size.max(1)),
            config,
            refreshed: false,
            attempts: 0,
            backoff,
            deadline,
            next_pass: None,
        }
    }

    /// How many events to send next.
    pub(crate) fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Whether the pass may start another request at `now`.
    pub(crate) fn may_send(&self, now: SystemTime) -> bool {
        self.deadline.is_none_or(|d| now < d)
    }

    /// What the answer to `batch` means. `trusted` are the server keys;
    /// `hash_at(seq)` gives this ledger's hash of event `seq`, to check the
    /// chain head the receipt names.
    pub(crate) fn decide(
        &mut self,
        batch: &Batch,
        answer: Result<HttpResponse, HttpFailure>,
        trusted: &[VerifyingKey],
        hash_at: &dyn Fn(u64) -> Option<String>,
        now: SystemTime,
    ) -> Decision {
        let response = match answer {
            Err(HttpFailure::Insecure(detail)) => {
                return Decision::Stop(StopReason::Insecure { detail })
            }
            Err(HttpFailure::Network(reason)) => return self.retry(reason, None, now, false),
            Ok(response) => response,
        };
        let status = response.status;
        match status {
            200..=299 => {
                let receipt = match serde_json::from_slice::<Receipt>(&response.body) {
                    Ok(receipt) => receipt,
                    Err(e) => {
                        return self.retry(
                            format!("the server's answer is not a receipt: {e}"),
                            None,
                            now,
                            true,
                        )
                    }
                };
                match check_receipt(&receipt, batch, trusted, hash_at) {
                    Ok(()) => {
                        self.attempts = 0;
                        self.backoff = backoff(&self.config);
                        Decision::Acknowledged(Box::new(receipt))
                    }
                    Err(why) => self.retry(why, None, now, true),
                }
            }
            401 if !self.refreshed => {
                self.refreshed = true;
                Decision::RefreshToken
            }
            401 => Decision::Stop(StopReason::Unauthorized),
            413 if self.batch_size > 1 && batch.events.len() > 1 => {
                self.batch_size = (batch.events.len() / 2).max(1);
                Decision::Shrink {
                    batch_size: self.batch_size,
                }
            }
            413 => Decision::Park {
                from_seq: batch.first_seq(),
                reason: "413: the server refuses this event as too large".into(),
            },
            408 | 429 | 500..=599 => {
                let retry_after = response
                    .header("retry-after")
                    .and_then(|v| parse_retry_after(v, now));
                self.retry(
                    format!("the server answered {status}"),
                    retry_after,
                    now,
                    false,
                )
            }
            _ => {
                let error = serde_json::from_slice::<ApiError>(&response.body).ok();
                let named = error
                    .as_ref()
                    .and_then(|e| {
                        e.seq.or_else(|| {
                            batch
                                .events
                                .iter()
                                .find(|x| Some(x.id.to_string()) == e.event_id)
                                .map(|x| x.seq)
                        })
                    })
                    .filter(|seq| batch.events.iter().any(|e| e.seq == *seq))
                    .unwrap_or(batch.first_seq());
                let reason = match error {
                    Some(e) => format!("{status} {}: {}", e.error, e.message),
                    None => format!("{status}: the server refused the batch"),
                };
                Decision::Park {
                    from_seq: named,
                    reason,
                }
            }
        }
    }

    /// Another attempt of the same batch, or the end of the pass.
    fn retry(
        &mut self,
        reason: String,
        retry_after: Option<Duration>,
        now: SystemTime,
        bad_receipt: bool,
    ) -> Decision {
        self.attempts += 1;
        let delay =
            retry_after.unwrap_or_else(|| self.backoff.next().unwrap_or(self.config.max_wait));
        let stop = |reason: String| {
            if bad_receipt {
                StopReason::BadReceipt { detail: reason }
            } else {
                StopReason::Unreachable { detail: reason }
            }
        };
        if self.attempts >= self.config.max_attempts || delay > self.config.max_wait {
            self.next_pass = Some(delay);
            return Decision::Stop(stop(reason));
        }
        if self.deadline.is_some_and(|d| now + delay >= d) {
            return Decision::Stop(StopReason::Deadline);
        }
        Decision::Retry { delay, reason }
    }

    /// When to run the next pass while events still wait: the wait the
    /// last stopped retry asked for, else the first backoff step.
    pub(crate) fn next_pass_in(&self) -> Duration {
        self.next_pass.unwrap_or(self.config.min_backoff)
    }
}

/// `Retry-After` as seconds or as an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A receipt proves the upload only if a trusted key signed it, it is for
/// this installation, it names every event of the batch with its hash, and
/// the chain head it names is a link of this ledger (the rule `verify`
/// applies to kept receipts, see `proof::check_receipts`).
pub(crate) fn check_receipt(
    receipt: &Receipt,
    batch: &Batch,
    trusted: &[VerifyingKey],
    hash_at: &dyn Fn(u64) -> Option<String>,
) -> Result<(), String> {
    receipt
        .verify(trusted)
        .map_err(|e| format!("the server's receipt was refused: {e}"))?;
    if receipt.body.install_id != batch.install_id {
        return Err("the server's receipt is for another installation".into());
    }
    let acked: HashMap<(Uuid, u64), &str> = receipt
        .body
        .acknowledged
        .iter()
        .map(|a| ((a.id, a.seq), a.hash.as_str()))
        .collect();
    for event in &batch.events {
        if acked.get(&(event.id, event.seq)) != Some(&event.hash.as_str()) {
            return Err(format!(
                "the server's receipt does not cover event #{} with its hash",
                event.seq
            ));
        }
    }
    let head = &receipt.body.head;
    if head.events > 0 && hash_at(head.events).as_deref() != Some(head.hash.as_str()) {
        return Err(format!(
            "the server's receipt says its chain ends at event #{} with a hash this ledger does not have",
            head.events
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The decision table, case by case, without a network.

    use super::*;
    use crate::ledger::ChainHead;
    use crate::sync::wire::{
        generate_signing_key, key_id, AckedEvent, ReceiptBody, RECEIPT_FORMAT,
    };
    use ed25519_dalek::SigningKey;

    fn config() -> EngineConfig {
        EngineConfig {
            batch_size: 500,
            max_attempts: 4,
            max_wait: Duration::from_secs(30),
            min_backoff: Duration::from_millis(500),
        }
    }

    fn batch(seqs: std::ops::RangeInclusive<u64>) -> Batch {
        Batch {
            install_id: "install-1".into(),
            events: seqs
                .map(|seq| Expected {
                    id: Uuid::from_u128(seq as u128),
                    seq,
                    hash: format!("h{seq}"),
                })
                .collect(),
        }
    }

    fn ledger(seq: u64) -> Option<String> {
        (1..=10).contains(&seq).then(|| format!("h{seq}"))
    }

    fn receipt(key: &SigningKey, batch: &Batch, acked: &[u64], head: u64) -> Receipt {
        Receipt::sign(
            key,
            ReceiptBody {
                format: RECEIPT_FORMAT.into(),
                key_id: key_id(&key.verifying_key()),
                subject: "s".into(),
                install_id: batch.install_id.clone(),
                received_at: "2026-12-01T00:00:00.000Z".into(),
                acknowledged: acked
                    .iter()
                    .map(|seq| AckedEvent {
                        id: Uuid::from_u128(*seq as u128),
                        seq: *seq,
                        hash: format!("h{seq}"),
                    })
                    .collect(),
                head: ChainHead {
                    events: head,
                    hash: format!("h{head}"),
                },
            },
        )
    }

    fn response(
        status: u16,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<HttpResponse, HttpFailure> {
        HttpResponse::canned(status, headers, body)
    }

    fn json(receipt: &Receipt) -> Vec<u8> {
        serde_json::to_vec(receipt).unwrap()
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000)
    }

    fn decide(
        engine: &mut UploadEngine,
        b: &Batch,
        answer: Result<HttpResponse, HttpFailure>,
        key: &SigningKey,
    ) -> Decision {
        engine.decide(b, answer, &[key.verifying_key()], &ledger, now())
    }

    #[test]
    fn a_receipt_that_covers_the_batch_acknowledges_it() {
        let key = generate_signing_key();
        let b = batch(1..=3);
        let mut e = UploadEngine::new(config(), 500, None);
        let r = receipt(&key, &b, &[1, 2, 3], 3);
        assert_eq!(
            decide(&mut e, &b, response(201, &[], &json(&r)), &key),
            Decision::Acknowledged(Box::new(r))
        );
        // A server that already held more of the chain (an earlier pass whose
        // receipt was lost) names a later head: fine if it is our link.
        let r = receipt(&key, &b, &[1, 2, 3], 7);
        assert!(matches!(
            decide(&mut e, &b, response(200, &[], &json(&r)), &key),
            Decision::Acknowledged(_)
        ));
    }

    #[test]
    fn receipts_that_prove_too_little_or_too_much_acknowledge_nothing() {
        let key = generate_signing_key();
        let other = generate_signing_key();
        let b = batch(1..=3);
        let cases: Vec<(Receipt, &str)> = vec![
            (receipt(&key, &b, &[1, 2], 3), "does not cover event #3"),
            (
                receipt(&other, &b, &[1, 2, 3], 3),
                "not signed by a trusted key",
            ),
            (receipt(&key, &b, &[1, 2, 3], 11), "chain ends at event #11"),
            (
                {
                    let mut r = receipt(&key, &b, &[1, 2, 3], 3);
                    r.body.acknowledged[1].hash = "forged".into();
                    r
                },
                "altered or forged",
            ),
            (
                {
                    let mut b2 = b.clone();
                    b2.install_id = "install-2".into();
                    receipt(&key, &b2, &[1, 2, 3], 3)
                },
                "another installation",
            ),
        ];
        for (r, why) in cases {
            let mut e = UploadEngine::new(config(), 500, None);
            match decide(&mut e, &b, response(201, &[], &json(&r)), &key) {
                Decision::Retry { reason, .. } => assert!(reason.contains(why), "{reason}"),
                other => panic!("{why}: {other:?}"),
            }
        }
        // After the attempts, the pass stops with the receipt as the reason.
        let mut e = UploadEngine::new(config(), 500, None);
        let bad = json(&receipt(&key, &b, &[1], 1));
        let mut last = None;
        for _ in 0..4 {
            last = Some(decide(&mut e, &b, response(201, &[], &bad), &key));
        }
        assert!(
            matches!(last, Some(Decision::Stop(StopReason::BadReceipt { .. }))),
            "{last:?}"
        );
    }

    #[test]
    fn a_cut_off_or_unreadable_body_is_retried() {
        let key = generate_signing_key();
        let b = batch(1..=3);
        let mut e = UploadEngine::new(config(), 500, None);
        let full = json(&receipt(&key, &b, &[1, 2, 3], 3));
        assert!(matches!(
            decide(
                &mut e,
                &b,
                response(201, &[], &full[..full.len() / 2]),
                &key
            ),
            Decision::Retry { .. }
        ));
        assert!(matches!(
            decide(
                &mut e,
                &b,
                Err(HttpFailure::Network("the body was cut off".into())),
                &key
            ),
            Decision::Retry { .. }
        ));
    }

    #[test]
    fn server_errors_and_busy_answers_are_retried_then_stop_the_pass() {
        let key = generate_signing_key();
        let b = batch(1..=3);
        for status in [408, 429, 500, 502, 503, 504, 599] {
            let mut e = UploadEngine::new(config(), 500, None);
            for attempt in 1..=4 {
                let d = decide(&mut e, &b, response(status, &[], b"{}"), &key);
                if attempt < 4 {
                    match d {
                        Decision::Retry { delay, .. } => assert!(delay <= Duration::from_secs(30)),
                        other => panic!("{status}: {other:?}"),
                    }
                } else {
                    assert!(
                        matches!(d, Decision::Stop(StopReason::Unreachable { .. })),
                        "{status}: {d:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn retry_after_is_honoured_as_seconds_and_as_an_http_date() {
        let key = generate_signing_key();
        let b = batch(1..=1);
        let mut e = UploadEngine::new(config(), 500, None);
        assert_eq!(
            decide(
                &mut e,
                &b,
                response(503, &[("Retry-After", "7")], b""),
                &key
            ),
            Decision::Retry {
                delay: Duration::from_secs(7),
                reason: "the server answered 503".into()
            }
        );
        let at = httpdate::fmt_http_date(now() + Duration::from_secs(12));
        assert_eq!(
            decide(
                &mut e,
                &b,
                response(429, &[("retry-after", &at)], b""),
                &key
            ),
            Decision::Retry {
                delay: Duration::from_secs(12),
                reason: "the server answered 429".into()
            }
        );
        // A date in the past means now; a wait longer than max_wait ends the
        // pass (the shell schedules the next one).
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now()), None);
        let mut e = UploadEngine::new(config(), 500, None);
        assert!(matches!(
            decide(
                &mut e,
                &b,
                response(503, &[("Retry-After", "3600")], b""),
                &key
            ),
            Decision::Stop(StopReason::Unreachable { .. })
        ));
        assert_eq!(e.next_pass_in(), Duration::from_secs(3600));
    }

    #[test]
    fn too_large_halves_the_batch_and_parks_a_single_event() {
        let key = generate_signing_key();
        let mut e = UploadEngine::new(config(), 500, None);
        let b = batch(1..=10);
        assert_eq!(
            decide(&mut e, &b, response(413, &[], b""), &key),
            Decision::Shrink { batch_size: 5 }
        );
        assert_eq!(e.batch_size(), 5);
        let b = batch(1..=5);
        assert_eq!(
            decide(&mut e, &b, response(413, &[], b""), &key),
            Decision::Shrink { batch_size: 2 }
        );
        let b = batch(3..=3);
        let mut e = UploadEngine::new(config(), 1, None);
        assert!(matches!(
            decide(&mut e, &b, response(413, &[], b""), &key),
            Decision::Park { from_seq: 3, .. }
        ));
        // A size remembered from an earlier pass is where the next one starts.
        assert_eq!(UploadEngine::new(config(), 62, None).batch_size(), 62);
        assert_eq!(UploadEngine::new(config(), 0, None).batch_size(), 1);
        assert_eq!(UploadEngine::new(config(), 9000, None).batch_size(), 500);
    }

    #[test]
    fn unauthorized_refreshes_the_token_once() {
        let key = generate_signing_key();
        let b = batch(1..=2);
        let mut e = UploadEngine::new(config(), 500, None);
        assert_eq!(
            decide(&mut e, &b, response(401, &[], b""), &key),
            Decision::RefreshToken
        );
        assert_eq!(
            decide(&mut e, &b, response(401, &[], b""), &key),
            Decision::Stop(StopReason::Unauthorized)
        );
    }

    #[test]
    fn other_client_errors_park_from_the_event_named_never_drop() {
        let key = generate_signing_key();
        let b = batch(4..=8);
        let body = |seq: Option<u64>, id: Option<u64>| {
            serde_json::to_vec(&ApiError {
                error: "broken_chain".into(),
                message: "no".into(),
                event_id: id.map(|i| Uuid::from_u128(i as u128).to_string()),
                seq,
            })
            .unwrap()
        };
        for (status, b_body, from) in [
            (409, body(Some(6), None), 6),
            (422, body(None, Some(7)), 7),
            (400, body(Some(99), None), 4),
            (403, b"not json".to_vec(), 4),
            (404, body(None, None), 4),
        ] {
            let mut e = UploadEngine::new(config(), 500, None);
            match decide(&mut e, &b, response(status, &[], &b_body), &key) {
                Decision::Park { from_seq, reason } => {
                    assert_eq!(from_seq, from, "{status}");
                    assert!(reason.starts_with(&status.to_string()), "{reason}");
                }
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[test]
    fn tls_failures_stop_at_once() {
        let key = generate_signing_key();
        let b = batch(1..=1);
        let mut e = UploadEngine::new(config(), 500, None);
        assert!(matches!(
            decide(
                &mut e,
                &b,
                Err(HttpFailure::Insecure("pin mismatch".into())),
                &key
            ),
            Decision::Stop(StopReason::Insecure { .. })
        ));
    }

    #[test]
    fn a_deadline_stops_the_pass_cleanly() {
        let key = generate_signing_key();
        let b = batch(1..=1);
        let deadline = now() + Duration::from_secs(5);
        let mut e = UploadEngine::new(config(), 500, Some(deadline));
        assert!(e.may_send(now()));
        assert!(!e.may_send(deadline));
        // A wait that would pass the deadline is not taken.
        assert_eq!(
            decide(
                &mut e,
                &b,
                response(503, &[("Retry-After", "10")], b""),
                &key
            ),
            Decision::Stop(StopReason::Deadline)
        );
    }

    #[test]
    fn every_stop_has_a_kind() {
        for stop in [
            StopReason::Unreachable { detail: "x".into() },
            StopReason::Insecure { detail: "x".into() },
            StopReason::Deadline,
        ] {
            assert_eq!(stop.kind(), ErrorKind::Network, "{stop}");
        }
        for stop in [
            StopReason::Unauthorized,
            StopReason::Parked { detail: "x".into() },
            StopReason::BadReceipt { detail: "x".into() },
            StopReason::Policy { detail: "x".into() },
        ] {
            assert_eq!(stop.kind(), ErrorKind::ServerRejected, "{stop}");
        }
    }
}

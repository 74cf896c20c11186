//! Sync with the backend: the outbox goes up in batches, exactly once; signed
//! receipts come back and are kept as the proof; new policy versions come
//! down, signed. The core decides what to send and what each answer means;
//! `transport` performs the requests.
//!
//! Each answer has exactly one consequence for the queued events:
//! - 2xx with a receipt that verifies: the events leave the outbox, the receipt is kept;
//! - 5xx, 408, 429, timeout, reset, cut-off or unreadable body: they stay, retried with
//!   exponential backoff and jitter, `Retry-After` honoured;
//! - 413: the batch is halved; a single event too large is parked;
//! - 401: the token provider is asked for a fresh token once, then the pass stops;
//! - any other 4xx: the event named (and those after it, which link to it) are
//!   parked with the reason, never dropped;
//! - a TLS failure (wrong certificate, pin mismatch): nothing was sent; the pass stops.

pub mod transport;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

pub use transport::{spki_pin, StaticToken, TokenProvider, Transport};

/// How to reach and trust the backend.
#[derive(Clone)]
pub struct SyncConfig {
    /// `https://...` (or `http://` to loopback, for development).
    pub base_url: String,
    /// Keys whose signature on a receipt is trusted.
    pub server_keys: Vec<VerifyingKey>,
    /// Keys whose signature on a policy text is trusted (built into the app).
    pub policy_keys: Vec<VerifyingKey>,
    /// An extra CA to trust besides the web PKI roots (development).
    pub extra_ca_pem: Option<String>,
    /// If not empty, the server's key must match one of these SPKI pins.
    pub spki_pins: Vec<String>,
    pub token_provider: Arc<dyn TokenProvider>,
    pub request_timeout: Duration,
    /// Events per upload request.
    pub batch_size: usize,
    /// Attempts per request within one pass before the pass gives up.
    pub max_attempts: usize,
    /// The longest wait within a pass; a longer `Retry-After` ends the pass
    /// and becomes its `next_retry_in`.
    pub max_wait: Duration,
    /// First backoff delay; doubles per attempt, with jitter.
    pub min_backoff: Duration,
    /// Told after each acknowledged batch: (acknowledged so far in this pass,
    /// waiting at the start of the pass). For a progress bar.
    pub progress: Option<Arc<dyn Fn(u64, u64) + Send + Sync>>,
}

impl SyncConfig {
    pub fn new(base_url: impl Into<String>, token_provider: Arc<dyn TokenProvider>) -> Self {
        SyncConfig {
            base_url: base_url.into(),
            server_keys: Vec::new(),
            policy_keys: Vec::new(),
            extra_ca_pem: None,
            spki_pins: Vec::new(),
            token_provider,
            request_timeout: Duration::from_secs(20),
            batch_size: 500,
            max_attempts: 4,
            max_wait: Duration::from_secs(30),
            min_backoff: Duration::from_millis(500),
            progress: None,
        }
    }
}

impl SyncReport {
    /// Ends the pass early, for this reason.
    pub fn stop(&mut self, kind: crate::error::ErrorKind, why: String) {
        self.stop_kind = Some(kind);
        self.stopped_because = Some(why);
    }

    /// Whether the pass ended without doing all it set out to do.
    pub fn stopped_early(&self) -> bool {
        self.stopped_because.is_some()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("sync is not configured correctly: {0}")]
    Config(String),
    #[error("the access token could not be obtained: {0}")]
    Token(String),
}

/// What one sync pass did, for the shell to show and to schedule the next
/// pass (WorkManager, BGTaskScheduler).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Events sent in requests during this pass (retries count again).
    pub sent: u64,
    /// Events the server acknowledged with a verified receipt in this pass.
    pub acknowledged: u64,
    /// Events parked in this pass (a 4xx that cannot succeed).
    pub parked: u64,
    /// Events still waiting for upload after the pass.
    pub pending: u64,
    /// Receipts kept in this pass.
    pub receipts: u64,
    /// When to run the next pass, if events still wait (seconds from now).
    pub next_retry_in_secs: Option<u64>,
    /// Why the pass stopped early, if it did.
    pub stopped_because: Option<String>,
    /// The kind of that stop: `network` (try again later) or
    /// `server_rejected` (the server refused, or did not prove the upload).
    pub stop_kind: Option<crate::error::ErrorKind>,
    /// A new policy version arrived in this pass.
    pub policy_updated_to: Option<u32>,
}

//! Sync with the backend: the outbox goes up in batches, exactly once; signed
//! receipts come back and are kept as the proof; new policy versions come
//! down, signed. Shaped as Mozilla Glean's upload manager is: the
//! engine (`sync/engine.rs`, internal) decides what to send next and what
//! each answer means (its decision table is documented and tested there,
//! with no I/O); an [`http::HttpTransport`] performs one request; the API
//! module (`sync/api.rs`, internal) builds the requests; [`wire`] is what
//! travels. `client::sync` runs the loop.

pub(crate) mod api;
pub(crate) mod engine;
pub mod http;
pub mod wire;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ed25519_dalek::VerifyingKey;
use serde::Serialize;

pub use engine::StopReason;
use http::ReqwestTransport;
pub use http::{spki_pin, HttpTransport};

/// Supplies the access token. The shell implements it (the app's login),
/// and may take its time: a refresh is usually a network call of its own.
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync {
    /// The current token.
    async fn token(&self) -> Result<String, TokenError>;
    /// A fresh token, after the server answered 401 to the current one.
    async fn refresh(&self) -> Result<String, TokenError>;
}

/// Why no token could be had. The message must not hold the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Nobody is signed in: the pass stops, nothing is lost; sync again
    /// after sign-in (kind `SyncSetup`).
    #[error("no user is signed in: sign in, then sync again")]
    SignedOut,
    /// The token could not be had now (the login service unreachable, a
    /// locked keystore): nothing is lost; try again later (kind `Network`).
    #[error("the access token could not be had now: {reason}")]
    Unavailable {
        /// Why, in words (never the token).
        reason: String,
    },
}

/// A fixed token, for development and tests.
pub struct StaticToken(pub String);

#[async_trait::async_trait]
impl TokenProvider for StaticToken {
    async fn token(&self) -> Result<String, TokenError> {
        Ok(self.0.clone())
    }
    async fn refresh(&self) -> Result<String, TokenError> {
        Ok(self.0.clone())
    }
}

/// How to reach and trust the backend: [`SyncConfig::new`] or
/// [`SyncConfig::from_settings`], then set the fields that differ. It will
/// grow (`#[non_exhaustive]`).
#[derive(Clone)]
#[non_exhaustive]
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
    /// Where the access token comes from (the app's login).
    pub token_provider: Arc<dyn TokenProvider>,
    /// How long one request may take, connecting included.
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
    /// The app's own HTTP stack (OkHttp, URLSession), if it hands one in;
    /// otherwise reqwest over rustls with the settings above.
    pub transport: Option<Arc<dyn HttpTransport>>,
    /// When the pass must end (a background task's expiry): no request
    /// starts, and no wait is taken, past it.
    pub deadline: Option<SystemTime>,
}

impl SyncConfig {
    /// A configuration for `base_url` with no trusted keys, no pins, and
    /// these defaults: 20 s per request, 500 events per batch, 4 attempts,
    /// waits of 0.5 s (doubling) up to 30 s, no deadline, the default
    /// transport. Add the server and policy keys before syncing.
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
            transport: None,
            deadline: None,
        }
    }

    /// The transport this configuration asks for.
    pub fn http(&self) -> Result<Arc<dyn HttpTransport>, SyncError> {
        match &self.transport {
            Some(transport) => Ok(transport.clone()),
            None => Ok(Arc::new(ReqwestTransport::new(self)?)),
        }
    }

    /// A fresh or the current token from the token provider.
    pub async fn token(&self, fresh: bool) -> Result<String, SyncError> {
        let token = if fresh {
            self.token_provider.refresh().await
        } else {
            self.token_provider.token().await
        };
        token.map_err(SyncError::Token)
    }

    pub(crate) fn engine(&self) -> engine::EngineConfig {
        engine::EngineConfig {
            batch_size: self.batch_size.max(1),
            max_attempts: self.max_attempts.max(1),
            max_wait: self.max_wait,
            min_backoff: self.min_backoff,
        }
    }
}

/// How to reach and trust the backend, as an app or the terminal states it:
/// strings and numbers, checked by [`SyncConfig::from_settings`]. Keys are
/// 64 hex digits. In Rust: [`SyncSettings::new`], then set the fields that
/// differ (`#[non_exhaustive]`: it will grow); Kotlin and Swift get a
/// constructor whose optional fields have these defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
#[non_exhaustive]
pub struct SyncSettings {
    /// `https://...`; `http://` only to loopback (development).
    pub base_url: String,
    /// Keys whose signature on a receipt is trusted.
    pub server_keys: Vec<String>,
    /// Keys whose signature on a policy text is trusted.
    pub policy_keys: Vec<String>,
    /// An extra CA (PEM) to trust besides the web PKI roots (development).
    #[cfg_attr(feature = "ffi", uniffi(default = None))]
    pub extra_ca_pem: Option<String>,
    /// SPKI pins (`sha256/...`); empty means no pinning.
    #[cfg_attr(feature = "ffi", uniffi(default = []))]
    pub spki_pins: Vec<String>,
    /// How long one request may take, in milliseconds.
    #[cfg_attr(feature = "ffi", uniffi(default = 20000))]
    pub request_timeout_ms: i64,
    /// Attempts per request within one pass.
    #[cfg_attr(feature = "ffi", uniffi(default = 4))]
    pub max_attempts: i32,
    /// The pass ends cleanly this many milliseconds after it starts (set it
    /// a little under a BGTask's or JobScheduler job's remaining time): no
    /// request starts and no wait is taken past it; the report's stop is
    /// `Deadline` and what waits is for the next pass.
    #[cfg_attr(feature = "ffi", uniffi(default = None))]
    pub deadline_ms: Option<i64>,
}

impl SyncSettings {
    /// Settings for `base_url` with the defaults above and no keys yet.
    pub fn new(base_url: impl Into<String>) -> Self {
        SyncSettings {
            base_url: base_url.into(),
            server_keys: Vec::new(),
            policy_keys: Vec::new(),
            extra_ca_pem: None,
            spki_pins: Vec::new(),
            request_timeout_ms: 20_000,
            max_attempts: 4,
            deadline_ms: None,
        }
    }
}

#[cfg_attr(feature = "ffi", uniffi::export)]
impl SyncSettings {
    /// These settings cut so that a pass ends within `budget_ms` (a
    /// background task's window: BGAppRefreshTask, a JobScheduler job): no
    /// request starts after the deadline, and one that started just before
    /// it is cut by the request timeout, so the timeout is at most a third
    /// of the budget and the deadline the budget less that timeout (or the
    /// settings' own deadline, if earlier). The token provider's own calls
    /// are the app's to bound.
    pub fn within_budget(&self, budget_ms: i64) -> SyncSettings {
        let budget_ms = budget_ms.max(3);
        let mut bounded = self.clone();
        bounded.request_timeout_ms = self.request_timeout_ms.clamp(1, budget_ms / 3);
        let latest = budget_ms - bounded.request_timeout_ms;
        bounded.deadline_ms = Some(self.deadline_ms.map_or(latest, |own| own.min(latest)));
        bounded
    }
}

/// Reads public keys written as 64 hex digits; `what` names them in the
/// error (`server`, `policy`).
pub fn parse_keys(keys: &[String], what: &str) -> Result<Vec<VerifyingKey>, SyncError> {
    keys.iter()
        .map(|k| {
            wire::parse_verifying_key(k).map_err(|e| SyncError::Config(format!("{what} key: {e}")))
        })
        .collect()
}

impl SyncConfig {
    /// The configuration the settings describe; a bad key is a
    /// [`SyncError::Config`] naming which list it is in. The deadline, if
    /// any, counts from now.
    pub fn from_settings(
        settings: SyncSettings,
        token_provider: Arc<dyn TokenProvider>,
    ) -> Result<Self, SyncError> {
        let mut config = SyncConfig::new(settings.base_url, token_provider);
        config.server_keys = parse_keys(&settings.server_keys, "server")?;
        config.policy_keys = parse_keys(&settings.policy_keys, "policy")?;
        config.extra_ca_pem = settings.extra_ca_pem;
        config.spki_pins = settings.spki_pins;
        config.request_timeout = Duration::from_millis(settings.request_timeout_ms.max(1) as u64);
        config.max_attempts = settings.max_attempts.max(1) as usize;
        config.deadline = settings
            .deadline_ms
            .map(|ms| SystemTime::now() + Duration::from_millis(ms.max(0) as u64));
        Ok(config)
    }
}

impl SyncReport {
    /// Why the pass stopped early, in words.
    pub fn stopped_because(&self) -> Option<String> {
        self.stop.as_ref().map(ToString::to_string)
    }

    /// The kind of the early stop: `network` (try again at
    /// `next_retry_in_secs`) or `server_rejected`.
    pub fn stop_kind(&self) -> Option<crate::error::ErrorKind> {
        self.stop.as_ref().map(StopReason::kind)
    }
}

/// Why a sync could not start or go on. Through the client: kind
/// `sync_setup`, except [`TokenError::Unavailable`] (kind `network`).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The configuration is wrong (what: the URL, a key, the CA, a pin, the
    /// TLS or HTTP client setup). Fix it; nothing was sent.
    #[error("sync is not configured correctly: {0}")]
    Config(String),
    /// The token provider gave no token: sign in, or try again later.
    /// Nothing was lost.
    #[error(transparent)]
    Token(TokenError),
}

/// What one sync pass did, for the shell to show and to schedule the next
/// pass (WorkManager, BGTaskScheduler).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct SyncReport {
    /// Events sent in requests during this pass (retries count again).
    pub sent: i64,
    /// Events the server acknowledged with a verified receipt in this pass
    /// (counted from the receipts, not from what was sent).
    pub acknowledged: i64,
    /// Events parked in this pass (a 4xx that cannot succeed).
    pub parked: i64,
    /// Events still waiting for upload after the pass.
    pub pending: i64,
    /// Receipts kept in this pass.
    pub receipts: i64,
    /// When to run the next pass, if events still wait (seconds from now).
    pub next_retry_in_secs: Option<i64>,
    /// Why the pass stopped early, if it did.
    pub stop: Option<StopReason>,
    /// A new policy version arrived in this pass.
    pub policy_updated_to: Option<i32>,
    /// §5.7: compromise reports delivered in this pass, ahead of the upload.
    pub reports_sent: i64,
    /// §6.1.5, §10.4: written statements whose signed receipt of delivery
    /// arrived (and was recorded) in this pass.
    pub statements_delivered: i64,
    /// §5.7: the Company's signed unblock decision arrived in this pass and
    /// access is restored.
    pub access_restored: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_within_a_budget_end_a_pass_inside_it() {
        let settings = SyncSettings::new("https://consent.example.kz/");
        let bounded = settings.within_budget(25_000);
        assert_eq!(bounded.request_timeout_ms, 8_333);
        assert_eq!(bounded.deadline_ms, Some(25_000 - 8_333));
        // A request started at the deadline ends by the budget.
        assert!(bounded.deadline_ms.unwrap() + bounded.request_timeout_ms <= 25_000);
        // A large budget keeps the settings' timeout, and an earlier own
        // deadline stays.
        let mut own = settings.clone();
        own.deadline_ms = Some(1_000);
        let roomy = own.within_budget(480_000);
        assert_eq!(roomy.request_timeout_ms, 20_000);
        assert_eq!(roomy.deadline_ms, Some(1_000));
        // A nonsense budget still gives a usable pass.
        let tiny = settings.within_budget(0);
        assert!(tiny.request_timeout_ms >= 1 && tiny.deadline_ms.unwrap() >= 1);
    }
}

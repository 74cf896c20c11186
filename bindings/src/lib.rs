//! The one library Android and iOS apps link (`libaltyn_consent`): the
//! consent core exported through UniFFI. No rule lives here, and no copy of
//! a type: every call forwards to `altyn-consent-core`, whose records and
//! enums are UniFFI types themselves (its `ffi` feature). This crate holds
//! the exported object, the traits the app implements (keystore, token,
//! HTTP, observer, log sink) and the error mapping.
//!
//! Generated names come from each crate's `uniffi.toml`: Kotlin packages
//! `kz.altyncoin.consent` (this crate) and `kz.altyncoin.consent.core` (the
//! core's records), Swift module `AltynConsent` for both.

use std::path::PathBuf;
use std::sync::Arc;

use altyn_consent_core as core;
use zeroize::Zeroizing;

mod error;
mod logging;
mod types;

pub use error::{ConsentError, HttpError, PlatformError, TokenError};
pub use logging::{set_log_sink, LogLevel, LogSink};
pub use types::*;

// The core's records and enums the API speaks in, exported as they are.
pub use core::client::{ParkedEvent, SyncStatus};
pub use core::policy::diff::{ChangeKind, ClauseChange, PolicyDiff, Span, SpanKind};
pub use core::policy::PolicyRef;
pub use core::sync::{StopReason, SyncReport, SyncSettings};
pub use core::views::{HistoryEntry, PermissionInfo, PolicySection, PolicyText, ReceiptInfo};
pub use core::{
    ConsentState, ErrorKind, OsStatus, PermissionState, PolicyStatus, RecoveryReport, UserConsent,
    VerifyReport,
};

uniffi::setup_scaffolding!("altyn_consent");

/// The platform keystore, implemented by the shell: Android Keystore
/// (the key wrapped by a non-exportable Keystore key), iOS Keychain.
#[uniffi::export(with_foreign)]
pub trait KeyProvider: Send + Sync {
    /// The bytes saved under `store_id`, or null if there are none or they
    /// are gone for good (a wrapping key invalidated): the core then reports
    /// the store's key as lost. Throw `PlatformError.Locked` for a locked or
    /// busy keystore (the core says: try again), `Failed` for anything else.
    fn load_key(&self, store_id: String) -> Result<Option<Vec<u8>>, PlatformError>;
    /// Saves (or replaces) the bytes under `store_id`: a new store's
    /// 32-byte key, and the installation marker (the id
    /// `altyn-consent-installation`, its value the store id), which is
    /// saved again when a recovered store replaces a lost one.
    fn save_key(&self, store_id: String, key: Vec<u8>) -> Result<(), PlatformError>;
}

/// The app's access token for the sync backend. Both calls may suspend
/// (Kotlin `suspend`, Swift `async`): a refresh is usually a request to the
/// app's login service. Throw `TokenError.SignedOut` when nobody is signed
/// in (the pass stops with `SyncSetup`), `Unavailable` when the token cannot
/// be had now (the pass stops with `Network`: try later). Nothing is lost.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync {
    /// The current token.
    async fn token(&self) -> Result<String, TokenError>;
    /// A fresh token, after the server refused the current one.
    async fn refresh(&self) -> Result<String, TokenError>;
}

/// The app's own HTTP stack, if it wants TLS, pins and proxies to follow
/// the platform (OkHttp, URLSession) instead of the library's rustls: it
/// performs one request and reports what came back. It must not retry (the
/// core decides) and must not log requests (they carry the token).
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait HttpClient: Send + Sync {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError>;
}

struct AppHttp(Arc<dyn HttpClient>);

#[async_trait::async_trait]
impl core::sync::HttpTransport for AppHttp {
    async fn send(
        &self,
        request: core::sync::http::HttpRequest,
    ) -> Result<core::sync::http::HttpResponse, core::sync::http::HttpFailure> {
        use core::sync::http::{HttpFailure, Method};
        let request = HttpRequest {
            method: match request.method {
                Method::Get => "GET".into(),
                Method::Post => "POST".into(),
            },
            url: request.url,
            headers: request
                .headers
                .into_iter()
                .map(|(name, value)| HttpHeader { name, value })
                .collect(),
            body: request.body,
        };
        match self.0.send(request).await {
            Ok(r) => Ok(core::sync::http::HttpResponse {
                status: u16::try_from(r.status)
                    .ok()
                    .filter(|s| (100..=599).contains(s))
                    .ok_or_else(|| {
                        HttpFailure::Network(format!(
                            "the app's HTTP client reported status {}, which is no HTTP status",
                            r.status
                        ))
                    })?,
                headers: r.headers.into_iter().map(|h| (h.name, h.value)).collect(),
                body: r.body,
            }),
            Err(HttpError::Network { reason }) => Err(HttpFailure::Network(reason)),
            Err(HttpError::Insecure { reason }) => Err(HttpFailure::Insecure(reason)),
        }
    }
}

/// Told when the consent state changes, so a UI can update. Called on the
/// thread that made the change, never while the core holds its lock.
#[uniffi::export(with_foreign)]
pub trait StateObserver: Send + Sync {
    fn on_state_changed(&self, state: ConsentState);
}

struct Keys(Arc<dyn KeyProvider>);

impl core::store::KeyProvider for Keys {
    fn load(&self, store_id: &str) -> Result<Option<Zeroizing<Vec<u8>>>, core::store::KeyError> {
        self.0
            .load_key(store_id.to_string())
            .map(|k| k.map(Zeroizing::new))
            .map_err(key_error)
    }

    fn save(&self, store_id: &str, key: &[u8]) -> Result<(), core::store::KeyError> {
        self.0
            .save_key(store_id.to_string(), key.to_vec())
            .map_err(key_error)
    }
}

/// A locked keystore stays "locked" (try again), never "lost".
fn key_error(e: PlatformError) -> core::store::KeyError {
    match e {
        PlatformError::Locked { reason } => core::store::KeyError::Locked(reason),
        PlatformError::Failed { reason } => core::store::KeyError::Unavailable(reason),
    }
}

struct Tokens(Arc<dyn TokenProvider>);

#[async_trait::async_trait]
impl core::sync::TokenProvider for Tokens {
    async fn token(&self) -> Result<String, core::sync::TokenError> {
        self.0.token().await.map_err(Into::into)
    }
    async fn refresh(&self) -> Result<String, core::sync::TokenError> {
        self.0.refresh().await.map_err(Into::into)
    }
}

struct Observer(Arc<dyn StateObserver>);

impl core::StateObserver for Observer {
    fn state_changed(&self, state: &core::ConsentState) {
        self.0.on_state_changed(state.clone());
    }
}

/// The consent client: one per store, shared by the whole app. Every
/// method is safe to call from any thread; the blocking ones do local disk
/// work only (one small transaction) and `sync` is `suspend` / `async`.
#[derive(uniffi::Object)]
pub struct ConsentCore {
    client: core::ConsentClient,
    /// Set when this core was made by `recover`.
    recovery: Option<RecoveryReport>,
}

type Result<T, E = ConsentError> = std::result::Result<T, E>;

#[uniffi::export(async_runtime = "tokio")]
impl ConsentCore {
    /// Opens (or creates) the encrypted store in `config.data_dir`. Fails
    /// with a precise error, changing nothing, on a wrong or missing key, a
    /// damaged file or a store from a newer app.
    ///
    /// Only a true first start creates a store. A store that is missing
    /// (`StoreMissing`: e.g. an iOS reinstall, whose Keychain outlived the
    /// app's files), damaged (`StoreDamaged`) or without its key (`KeyLost`)
    /// is reported and left alone: call [`ConsentCore::recover`]. `KeyLocked`
    /// is transient: try again later; `StoreTooNew`: ask for an update.
    #[uniffi::constructor]
    pub fn open(config: OpenConfig, key_provider: Arc<dyn KeyProvider>) -> Result<Arc<Self>> {
        let config = client_config(config, key_provider)?;
        Ok(Arc::new(ConsentCore {
            client: core::ConsentClient::open(config)?,
            recovery: None,
        }))
    }

    /// Recovers a store that `open` reported as `StoreMissing`,
    /// `StoreDamaged` or `KeyLost` (anything else is refused and left
    /// alone). With `settings`, the server's copy is fetched and checked
    /// first (a network failure changes nothing: call again later); then the
    /// old files are moved into `quarantine/` beside the store (kept), a new
    /// store is created, the server's ledger imported, and the loss recorded
    /// as its own event. Without `settings` (offline), the new ledger starts
    /// with the loss. [`ConsentCore::recovery`] tells what happened.
    #[uniffi::constructor]
    pub async fn recover(
        config: OpenConfig,
        key_provider: Arc<dyn KeyProvider>,
        settings: Option<SyncSettings>,
        tokens: Option<Arc<dyn TokenProvider>>,
    ) -> Result<Arc<Self>> {
        let config = client_config(config, key_provider)?;
        let sync = match (settings, tokens) {
            (Some(settings), Some(tokens)) => Some(sync_config(settings, tokens)?),
            (None, _) => None,
            (Some(_), None) => {
                return Err(ConsentError::SyncSetup {
                    reason: "recovery from the server needs a token provider".into(),
                })
            }
        };
        let recovered = core::ConsentClient::recover(config, sync.as_ref()).await?;
        Ok(Arc::new(ConsentCore {
            client: recovered.client,
            recovery: Some(recovered.report),
        }))
    }

    /// What `recover` did, if this core was made by it.
    pub fn recovery(&self) -> Option<RecoveryReport> {
        self.recovery.clone()
    }

    /// The current policy in the best available language for `locale`
    /// (falls back to Russian, the authoritative text).
    pub fn policy(&self, locale: String) -> PolicyText {
        PolicyText::of(&self.client.policy(&locale))
    }

    /// Languages the current policy is available in.
    pub fn policy_locales(&self) -> Vec<String> {
        self.client.policy_locales()
    }

    /// The device permissions the app may ask for, with their purposes.
    pub fn permissions(&self, locale: String) -> Vec<PermissionInfo> {
        self.client
            .catalog()
            .permissions
            .iter()
            .map(|p| PermissionInfo::of(p, &locale))
            .collect()
    }

    pub fn state(&self) -> Result<ConsentState> {
        Ok(self.client.state()?)
    }

    /// Records acceptance of the text shown, with the 18+ attestation.
    pub fn accept_policy(
        &self,
        version: i32,
        hash: String,
        locale: String,
        age_confirmed: bool,
    ) -> Result<ConsentState> {
        Ok(self
            .client
            .accept_policy(version, &hash, &locale, age_confirmed)?)
    }

    /// §10.4: the user objects to the current version.
    pub fn object_to_policy(
        &self,
        version: i32,
        hash: String,
        locale: String,
    ) -> Result<ConsentState> {
        Ok(self.client.object_to_policy(version, &hash, &locale)?)
    }

    /// §10.2: the notice of the current version was shown.
    pub fn record_notice_shown(
        &self,
        version: i32,
        hash: String,
        locale: String,
    ) -> Result<ConsentState> {
        Ok(self.client.record_notice_shown(version, &hash, &locale)?)
    }

    /// The user allows or refuses one device function in the app.
    pub fn set_permission(&self, permission: String, granted: bool) -> Result<ConsentState> {
        Ok(self.client.set_permission(&permission, granted)?)
    }

    /// What the OS says about a permission; only a change is recorded.
    pub fn report_os_status(&self, permission: String, status: OsStatus) -> Result<ConsentState> {
        Ok(self.client.report_os_status(&permission, status)?)
    }

    /// §6.1.5: withdraws the consent to one permission.
    pub fn withdraw(&self, permission: String) -> Result<ConsentState> {
        Ok(self.client.withdraw(&permission)?)
    }

    /// §6.1.5: withdraws every consent, the policy's included.
    pub fn withdraw_all(&self) -> Result<ConsentState> {
        Ok(self.client.withdraw_all()?)
    }

    /// §6.1.5: withdraws the consent for one purpose (a §4.2 clause id such
    /// as `4.2.5`): every permission consented to for it.
    pub fn withdraw_purpose(&self, purpose: String) -> Result<ConsentState> {
        Ok(self.client.withdraw_purpose(&purpose)?)
    }

    /// §6.1.5, §10.4: the written statements each withdrawal and objection
    /// drew up, oldest first: Russian text and Markdown to show or share
    /// (the platform share sheet), canonical JSON, a `mailto:` link to the
    /// address the policy names, and the Company's receipt of delivery
    /// once sync brought it (with any processing that continues on a
    /// legal basis). A read.
    pub fn statements(&self) -> Result<Vec<core::client::StatementInfo>> {
        Ok(self.client.statements()?)
    }

    /// One statement by id.
    pub fn statement(&self, id: String) -> Result<core::client::StatementInfo> {
        Ok(self.client.statement(&id)?)
    }

    /// §5.7: the user reports unauthorised access or a suspected breach.
    /// Access is blocked (`ConsentState.access_blocked`) pending the
    /// Company's review; new grants fail with `AccessBlocked`; the next
    /// sync sends the report first, and a later one brings the Company's
    /// signed unblock decision. `details` are the user's words (may be
    /// empty, at most 4,000 characters).
    pub fn report_compromise(
        &self,
        concern: core::ledger::Concern,
        details: String,
    ) -> Result<ConsentState> {
        Ok(self.client.report_compromise(concern, &details)?)
    }

    /// The device's offset from UTC in seconds (e.g. 18000), so that
    /// statements also give the local time; call after open and when the
    /// time zone changes. `None`: UTC only.
    pub fn set_utc_offset(&self, seconds: Option<i32>) {
        self.client.set_utc_offset(seconds)
    }

    /// The ledger as ISO/IEC TS 27560 consent records (JSON; the schema is
    /// `core/schema/iso-27560-consent-records.schema.json`). A read.
    pub fn export_iso27560(&self) -> Result<String> {
        Ok(self.client.export_iso27560()?)
    }

    /// Links the installation to the user's account (after login).
    pub fn link_account(&self, account_id: String) -> Result<ConsentState> {
        Ok(self.client.link_account(&account_id)?)
    }

    /// Every recorded decision, oldest first.
    pub fn history(&self) -> Result<Vec<HistoryEntry>> {
        Ok(self
            .client
            .history()?
            .iter()
            .map(HistoryEntry::from)
            .collect())
    }

    /// A self-contained, verifiable export of the ledger (JSON).
    pub fn export(&self) -> Result<String> {
        Ok(self.client.export()?)
    }

    /// Checks everything the proof rests on: every page of the file, the
    /// hash chain, the kept state, and every kept receipt against the
    /// server keys of `OpenConfig.server_keys` and the ledger. Writes
    /// nothing. `VerificationFailed` names the broken event or receipt.
    pub fn verify(&self) -> Result<VerifyReport> {
        Ok(self.client.verify()?)
    }

    /// `verify`, then the ledger against the server's own copy: every
    /// receipt the server holds for this installation must match the
    /// ledger (catches receipts deleted from the store). Writes nothing.
    pub async fn verify_online(
        &self,
        settings: SyncSettings,
        tokens: Arc<dyn TokenProvider>,
    ) -> Result<VerifyReport> {
        let config = sync_config(settings, tokens)?;
        Ok(self.client.verify_online(&config).await?.local)
    }

    /// What changed since the accepted version, when re-consent is due.
    pub fn policy_changes(&self) -> Result<Option<PolicyDiff>> {
        Ok(self.client.policy_changes()?)
    }

    pub fn sync_status(&self) -> Result<SyncStatus> {
        Ok(self.client.sync_status()?)
    }

    /// Puts parked events back in the queue (after the cause was fixed).
    pub fn retry_parked(&self) -> Result<i64> {
        Ok(self.client.retry_parked()? as i64)
    }

    /// The server's signed receipts, verified when they arrived.
    pub fn receipts(&self) -> Result<Vec<ReceiptInfo>> {
        Ok(self
            .client
            .receipts()?
            .iter()
            .map(ReceiptInfo::from)
            .collect())
    }

    /// One sync pass: uploads what waits, keeps the signed receipts, fetches
    /// a newer policy. Never drops an event; schedule the next pass from
    /// `next_retry_in_secs`.
    pub async fn sync(
        &self,
        settings: SyncSettings,
        tokens: Arc<dyn TokenProvider>,
    ) -> Result<SyncReport> {
        let config = sync_config(settings, tokens)?;
        Ok(self.client.sync(&config).await?)
    }

    /// [`ConsentCore::sync`] through the app's own HTTP stack.
    pub async fn sync_with_client(
        &self,
        settings: SyncSettings,
        tokens: Arc<dyn TokenProvider>,
        http: Arc<dyn HttpClient>,
    ) -> Result<SyncReport> {
        let mut config = sync_config(settings, tokens)?;
        config.transport = Some(Arc::new(AppHttp(http)));
        Ok(self.client.sync(&config).await?)
    }

    /// Fills an empty store from the server (a new device): the chain and
    /// every receipt are verified before anything is written.
    pub async fn restore_from_server(
        &self,
        settings: SyncSettings,
        tokens: Arc<dyn TokenProvider>,
    ) -> Result<ConsentState> {
        let config = sync_config(settings, tokens)?;
        Ok(self.client.restore_from_server(&config).await?)
    }

    /// Registers an observer; returns the handle to remove it with.
    pub fn add_observer(&self, observer: Arc<dyn StateObserver>) -> i64 {
        self.client.add_observer(Arc::new(Observer(observer))) as i64
    }

    /// Removes the observer registered under `handle`; false if none was.
    pub fn remove_observer(&self, handle: i64) -> bool {
        u64::try_from(handle).is_ok_and(|h| self.client.remove_observer(h))
    }
}

/// The golden journey's constructor (feature `replay`): in the bindings of
/// this repository's tests only, never in an app build.
#[cfg(feature = "replay")]
#[uniffi::export]
impl ConsentCore {
    /// FOR GOLDEN-JOURNEY TESTS ONLY, never in an app: a client whose clock
    /// starts at `start_at` (RFC 3339) and moves one second per event, and
    /// whose ids are counted, so that a journey gives the same hashes on
    /// every platform.
    #[uniffi::constructor]
    pub fn open_for_replay(
        config: OpenConfig,
        key_provider: Arc<dyn KeyProvider>,
        start_at: String,
    ) -> Result<Arc<Self>> {
        let start =
            time::OffsetDateTime::parse(&start_at, &time::format_description::well_known::Rfc3339)
                .map_err(|e| ConsentError::InvalidRequest {
                    reason: format!("start_at must be an RFC 3339 time: {e}"),
                })?;
        let config = client_config(config, key_provider)?.replaying(start);
        Ok(Arc::new(ConsentCore {
            client: core::ConsentClient::open(config)?,
            recovery: None,
        }))
    }
}

fn client_config(
    config: OpenConfig,
    key_provider: Arc<dyn KeyProvider>,
) -> Result<core::ClientConfig> {
    let server_keys = core::sync::parse_keys(&config.server_keys, "server")
        .map_err(|e| ConsentError::from(core::ConsentError::from(e)))?;
    let mut client = core::ClientConfig::new(
        PathBuf::from(config.data_dir),
        config.app.into(),
        Arc::new(Keys(key_provider)),
    );
    client.server_keys = server_keys;
    Ok(client)
}

fn sync_config(
    settings: SyncSettings,
    tokens: Arc<dyn TokenProvider>,
) -> Result<core::sync::SyncConfig> {
    core::sync::SyncConfig::from_settings(settings, Arc::new(Tokens(tokens)))
        .map_err(|e| core::ConsentError::from(e).into())
}

/// Version of this library (recorded in every event).
#[uniffi::export]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Verifies an export offline (a compliance officer's check): every hash,
/// the chain, the head, every policy text, and every signed receipt against
/// `server_keys` (64 hex digits each; needed when the export carries
/// receipts). Returns the number of events.
#[uniffi::export]
pub fn verify_export(json: String, server_keys: Vec<String>) -> Result<i64> {
    let keys = core::sync::parse_keys(&server_keys, "server")
        .map_err(|e| ConsentError::from(core::ConsentError::from(e)))?;
    core::proof::verify_export(json.as_bytes(), &keys)
        .map(|r| r.chain.events as i64)
        .map_err(|e| {
            let kind = match e {
                core::proof::ExportError::NoTrustedKey { .. } => core::ErrorKind::SyncSetup,
                _ => core::ErrorKind::VerificationFailed,
            };
            ConsentError::of_kind(kind, e.to_string())
        })
}

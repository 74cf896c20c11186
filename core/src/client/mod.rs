//! `ConsentClient`: the one API every shell uses. It checks each request
//! against the rules, records it in the ledger, and returns the new state.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;

use ed25519_dalek::VerifyingKey;

use crate::error::ErrorKind;
use crate::ledger::{
    self, AppContext, ChainBreak, ChainHead, Clock, Decision, Event, EventKind, IdSource,
    RandomIds, SystemClock, WithdrawalScope,
};
use crate::permissions::{CatalogError, OsStatus, PermissionCatalog, UserConsent};
use crate::policy::{select_locale, PolicyDocument, PolicyError, PolicyRef, FALLBACK_LOCALE};
use crate::proof::{check_receipts, Export, ReceiptProblem, EXPORT_FORMAT, HASH_RULE};
use crate::state::{ConsentState, LedgerFold, PolicyStatus};
use crate::store::{
    decode_event, Access, KeyProvider, Store, StoreError, StoreKey, DEFAULT_INSTALLATION_MARKER,
};
use crate::sync::wire::Receipt;

mod recover;
mod sync;
pub use recover::{Recovered, RecoveryReport};
pub use sync::{OnlineVerifyReport, SyncStatus};

/// Longest account id accepted from a shell.
const MAX_ACCOUNT_ID: usize = 128;

/// Errors of the client API. Each says what went wrong and what to do; none
/// carries personal data or key material.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("acceptance needs the user's explicit confirmation of being 18 or older (preamble, §11.1); nothing was recorded")]
    AgeNotConfirmed,
    #[error(
        "the policy shown (version {offered_version}, hash {offered_hash}) is not the current one \
         (version {current_version}, hash {current_hash}); show the current policy and ask again. Nothing was recorded"
    )]
    StalePolicy {
        offered_version: u32,
        offered_hash: String,
        current_version: u32,
        current_hash: String,
    },
    #[error("the current policy has no {locale:?} text; available: {available}")]
    UnknownLocale { locale: String, available: String },
    #[error("the policy must be accepted before permissions are decided (it is now {status}); nothing was recorded")]
    PolicyNotAccepted { status: String },
    #[error("there is no consent to withdraw for {what}: it is {state}")]
    NothingToWithdraw { what: String, state: String },
    #[error("account id must be 1 to {MAX_ACCOUNT_ID} visible characters")]
    InvalidAccountId,
    #[error(transparent)]
    LedgerBroken(#[from] ChainBreak),
    #[error("the consent store failed its integrity check: {0}")]
    IntegrityCheckFailed(String),
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
    #[error(transparent)]
    Receipt(#[from] ReceiptProblem),
    #[error(
        "the store holds {count} signed receipt(s) and no server key is configured to check them: \
         give the server's public key (CLI: --server-key or --server-data-dir)"
    )]
    NoTrustedKey { count: usize },
    #[error("the server could not be reached: {0}. Nothing was lost; try again later")]
    Network(String),
    #[error("the server refused: {0}")]
    ServerRejected(String),
    #[error("the server's answer does not prove itself: {0}. Nothing was written")]
    ServerProof(String),
    #[error("nothing to recover: {0}")]
    NothingToRecover(String),
}

impl ConsentError {
    /// The kind of failure, which decides what the caller does (see
    /// [`ErrorKind`]); never look at the message.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ConsentError::Store(e) => e.kind(),
            ConsentError::Policy(_)
            | ConsentError::Catalog(_)
            | ConsentError::UnknownLocale { .. }
            | ConsentError::NothingToWithdraw { .. }
            | ConsentError::InvalidAccountId
            | ConsentError::NothingToRecover(_) => ErrorKind::InvalidRequest,
            ConsentError::AgeNotConfirmed => ErrorKind::AgeNotConfirmed,
            ConsentError::StalePolicy { .. } => ErrorKind::StalePolicy,
            ConsentError::PolicyNotAccepted { .. } => ErrorKind::PolicyNotAccepted,
            ConsentError::LedgerBroken(_)
            | ConsentError::IntegrityCheckFailed(_)
            | ConsentError::Receipt(_) => ErrorKind::VerificationFailed,
            ConsentError::NoTrustedKey { .. } => ErrorKind::SyncSetup,
            ConsentError::Sync(_) => ErrorKind::SyncSetup,
            ConsentError::Network(_) => ErrorKind::Network,
            ConsentError::ServerRejected(_) | ConsentError::ServerProof(_) => {
                ErrorKind::ServerRejected
            }
        }
    }
}

/// What a shell hands in to open the client.
#[derive(Clone)]
pub struct ClientConfig {
    /// Folder of the store (app-private storage on a device).
    pub data_dir: PathBuf,
    pub context: AppContext,
    pub key_provider: Arc<dyn KeyProvider>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
    /// Policy texts shipped with the app, for the first start offline (§10.6).
    pub bundled_policies: Vec<PolicyDocument>,
    pub bundled_catalog: PermissionCatalog,
    /// The server keys whose receipts `verify` trusts (built into the app,
    /// like the sync configuration's). Empty: a store with receipts cannot
    /// be fully verified, and `verify` says so.
    pub server_keys: Vec<VerifyingKey>,
    /// The keystore entry that remembers this installation's store (see
    /// [`DEFAULT_INSTALLATION_MARKER`]). One app has one store and keeps the
    /// default; a desktop tool with several store folders names one each.
    pub installation_marker: String,
}

impl ClientConfig {
    pub fn new(
        data_dir: impl Into<PathBuf>,
        context: AppContext,
        key_provider: Arc<dyn KeyProvider>,
    ) -> Self {
        ClientConfig {
            data_dir: data_dir.into(),
            context,
            key_provider,
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            bundled_policies: vec![PolicyDocument::bundled()],
            bundled_catalog: PermissionCatalog::bundled(),
            server_keys: Vec::new(),
            installation_marker: DEFAULT_INSTALLATION_MARKER.to_string(),
        }
    }
}

/// The outcome of `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub events: u64,
    pub head_hash: String,
    /// Signed receipts checked against the trusted keys and the ledger.
    pub receipts: u64,
    /// Events covered by a verified receipt.
    pub acknowledged: u64,
    /// Events waiting for upload (not yet covered by a receipt).
    pub waiting: u64,
    /// SQLCipher's page HMACs and SQLite's structure both checked out.
    pub file_integrity_ok: bool,
}

/// A cheap look at the ledger's integrity, for `status`: the newest event
/// (the last page of the ledger) against the chain head and the state
/// snapshot kept beside it. It is no proof: `verify` is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntegrityGlance {
    /// The newest event, the chain head and the snapshot agree.
    pub head_consistent: bool,
    /// What disagrees, if anything.
    pub problem: Option<String>,
    /// Receipts kept, which `verify` checks against the server keys.
    pub receipts: u64,
}

/// Told whenever the consent state changes (a decision recorded, a new
/// policy installed, a restore, another process appended), so a UI can
/// update. Called on the thread that made the change, after the client's
/// lock is released: an observer may call the client again.
pub trait StateObserver: Send + Sync {
    fn state_changed(&self, state: &ConsentState);
}

pub struct ConsentClient {
    inner: Mutex<Inner>,
    observers: Observers,
}

/// The registered observers, and the number of the last change told to
/// them: with two threads racing, the newer state wins and an older one is
/// never told after it.
#[derive(Default)]
struct Observers {
    list: Mutex<Vec<(u64, Arc<dyn StateObserver>)>>,
    next_id: AtomicU64,
    last_told: AtomicU64,
}

impl Observers {
    fn any(&self) -> bool {
        !self
            .list
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    fn tell(&self, change: u64, state: &ConsentState) {
        if self.last_told.fetch_max(change, Ordering::SeqCst) >= change {
            return;
        }
        let list: Vec<_> = self
            .list
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, o)| o.clone())
            .collect();
        for observer in list {
            observer.state_changed(state);
        }
    }
}

/// The client's lock. When it is released after a change, the observers
/// are told the new state (outside the lock).
struct Locked<'a> {
    guard: Option<MutexGuard<'a, Inner>>,
    observers: &'a Observers,
}

impl Deref for Locked<'_> {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        self.guard.as_ref().expect("held until drop")
    }
}

impl DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Inner {
        self.guard.as_mut().expect("held until drop")
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let Some(mut inner) = self.guard.take() else {
            return;
        };
        if inner.told == inner.changes || !self.observers.any() {
            return;
        }
        inner.told = inner.changes;
        let change = inner.changes;
        let state = inner.state();
        drop(inner);
        if let Ok(state) = state {
            self.observers.tell(change, &state);
        }
    }
}

struct Inner {
    store: Store,
    data_dir: PathBuf,
    context: AppContext,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdSource>,
    server_keys: Vec<VerifyingKey>,
    policy_id: String,
    install_id: String,
    /// The ledger folded up to its last event; kept in the store beside the
    /// ledger, so a start does not read every event.
    fold: LedgerFold,
    /// The fold of `events`, kept until the next change.
    cached_state: Option<ConsentState>,
    /// Every text of the newest version of the policy, one per locale, with
    /// its reference (hashing a 60 KB text on every decision would dominate
    /// the cost of recording it).
    current: Vec<(PolicyDocument, PolicyRef)>,
    catalog: PermissionCatalog,
    /// Changes so far (events, policies, catalogs), and the count the
    /// observers were last told of.
    changes: u64,
    told: u64,
}

impl ConsentClient {
    /// Opens the store and brings in the bundled policy and catalog. Only a
    /// true first start creates a store. Fails with an error of its own kind
    /// ([`ConsentError::kind`]), changing nothing, on a store that is
    /// missing, damaged, keyless, locked or from a newer app.
    pub fn open(config: ClientConfig) -> Result<Self, ConsentError> {
        Self::open_as(config, Access::ReadWrite)
    }

    /// Opens the store for reading: status, history, export, verify. No
    /// file of the store is created, changed or deleted, and the files and
    /// their folder may be read-only. Before a first start it fails with
    /// [`ErrorKind::NoStoreYet`]; anything that would record fails with
    /// [`ErrorKind::InvalidRequest`].
    pub fn open_read_only(config: ClientConfig) -> Result<Self, ConsentError> {
        Self::open_as(config, Access::ReadOnly)
    }

    fn open_as(config: ClientConfig, access: Access) -> Result<Self, ConsentError> {
        let ids = config.ids.clone();
        let store = Store::open_with(
            &config.data_dir,
            StoreKey::Provider(config.key_provider.as_ref()),
            access,
            &config.installation_marker,
            || ids.install_id().to_string(),
        )?;
        Self::from_store(store, config)
    }

    /// Opens an unencrypted store with the same library, for benchmarks that
    /// need a plain-SQLite baseline in the same run.
    #[cfg(feature = "bench-support")]
    pub fn open_plaintext_baseline(config: ClientConfig) -> Result<Self, ConsentError> {
        let ids = config.ids.clone();
        let store = Store::open(&config.data_dir, StoreKey::PlaintextBaseline, || {
            ids.install_id().to_string()
        })?;
        Self::from_store(store, config)
    }

    fn from_store(store: Store, config: ClientConfig) -> Result<Self, ConsentError> {
        let policy_id = config
            .bundled_policies
            .first()
            .map(|p| p.id.clone())
            .unwrap_or_else(|| config.bundled_catalog.policy_id.clone());
        let read_only = store.is_read_only();
        let mut current = if read_only {
            // A read stores nothing: the bundled texts count in memory.
            let mut docs = store.latest_policies(&policy_id)?;
            let newest_stored = docs.first().map(|d| d.version).unwrap_or(0);
            let bundled: Vec<PolicyDocument> = config
                .bundled_policies
                .iter()
                .filter(|d| d.id == policy_id)
                .cloned()
                .collect();
            let newest_bundled = bundled.iter().map(|d| d.version).max().unwrap_or(0);
            if newest_bundled > newest_stored {
                docs = bundled
                    .into_iter()
                    .filter(|d| d.version == newest_bundled)
                    .collect();
            } else if newest_bundled == newest_stored {
                for doc in bundled.into_iter().filter(|d| d.version == newest_bundled) {
                    if !docs.iter().any(|d| d.locale == doc.locale) {
                        docs.push(doc);
                    }
                }
            }
            with_refs(docs)
        } else {
            for doc in &config.bundled_policies {
                store.put_policy(doc)?;
            }
            with_refs(store.latest_policies(&policy_id)?)
        };
        current.sort_by(|a, b| a.0.locale.cmp(&b.0.locale));
        if current.is_empty() {
            return Err(PolicyError::Empty {
                what: format!("no text of policy {policy_id} is bundled or stored"),
            }
            .into());
        }
        let catalog = match store.latest_catalog()? {
            Some(stored) if stored.version >= config.bundled_catalog.version => stored,
            _ => {
                if !read_only {
                    store.put_catalog(&config.bundled_catalog)?;
                }
                config.bundled_catalog
            }
        };
        let install_id = store.install_id()?;
        let fold = load_fold(&store)?;
        let inner = Inner {
            store,
            data_dir: config.data_dir,
            context: config.context,
            clock: config.clock,
            ids: config.ids,
            server_keys: config.server_keys,
            policy_id,
            install_id,
            fold,
            cached_state: None,
            current,
            catalog,
            changes: 0,
            told: 0,
        };
        Ok(ConsentClient {
            inner: Mutex::new(inner),
            observers: Observers::default(),
        })
    }

    /// The lock, with the ledger re-read if another connection appended.
    fn lock_fresh(&self) -> Result<Locked<'_>, ConsentError> {
        let mut inner = self.lock();
        inner.refresh_if_moved()?;
        Ok(inner)
    }

    fn lock(&self) -> Locked<'_> {
        // A panic while holding the lock cannot leave the store half-written
        // (every write is one transaction), so a poisoned lock is safe to use.
        Locked {
            guard: Some(self.inner.lock().unwrap_or_else(|p| p.into_inner())),
            observers: &self.observers,
        }
    }

    /// Registers an observer of state changes; returns its handle for
    /// [`ConsentClient::remove_observer`].
    pub fn add_observer(&self, observer: Arc<dyn StateObserver>) -> u64 {
        let id = self.observers.next_id.fetch_add(1, Ordering::SeqCst);
        self.observers
            .list
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, observer));
        id
    }

    /// Removes an observer; returns whether it was registered.
    pub fn remove_observer(&self, handle: u64) -> bool {
        let mut list = self
            .observers
            .list
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let before = list.len();
        list.retain(|(id, _)| *id != handle);
        list.len() != before
    }

    /// The current policy in the best available language for `locale`.
    pub fn policy(&self, locale: &str) -> PolicyDocument {
        self.lock().text_for(locale).clone()
    }

    /// The languages the current policy is available in.
    pub fn policy_locales(&self) -> Vec<String> {
        self.lock()
            .current
            .iter()
            .map(|(d, _)| d.locale.clone())
            .collect()
    }

    pub fn catalog(&self) -> PermissionCatalog {
        self.lock().catalog.clone()
    }

    pub fn state(&self) -> Result<ConsentState, ConsentError> {
        self.lock_fresh()?.state()
    }

    /// Records acceptance of the policy text shown (`version`, `hash`,
    /// `locale`) with the 18+ attestation. Accepting a version that is already
    /// accepted records nothing new.
    pub fn accept_policy(
        &self,
        version: u32,
        hash: &str,
        locale: &str,
        age_confirmed: bool,
    ) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        // Preamble, §11.1: the app is for adults; no attestation, no consent.
        if !age_confirmed {
            return Err(ConsentError::AgeNotConfirmed);
        }
        let (shown, locale) = inner.check_current(version, hash, locale)?;
        if let PolicyStatus::Accepted { version: v, .. } = inner.state()?.policy {
            if v == version {
                return inner.state();
            }
        }
        inner.record(
            shown,
            EventKind::PolicyAccepted {
                locale,
                age_confirmed: true,
            },
        )?;
        inner.state()
    }

    /// §10.4: records the user's objection to the current version.
    pub fn object_to_policy(
        &self,
        version: u32,
        hash: &str,
        locale: &str,
    ) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        let (shown, locale) = inner.check_current(version, hash, locale)?;
        if let PolicyStatus::Objected { version: v, .. } = inner.state()?.policy {
            if v == version {
                return inner.state();
            }
        }
        inner.record(shown, EventKind::PolicyObjected { locale })?;
        inner.state()
    }

    /// §10.2: records that the notice of the current version was shown.
    pub fn record_notice_shown(
        &self,
        version: u32,
        hash: &str,
        locale: &str,
    ) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        let (shown, locale) = inner.check_current(version, hash, locale)?;
        let previous_version = match inner.state()?.policy {
            PolicyStatus::ReconsentRequired { from_version, .. } => Some(from_version),
            _ => None,
        };
        inner.record(
            shown,
            EventKind::PolicyNoticeShown {
                locale,
                previous_version,
            },
        )?;
        inner.state()
    }

    /// §2.4, §6.1.3: the user allows or refuses one device function, for the
    /// purposes the catalog names. The same decision again records nothing.
    pub fn set_permission(
        &self,
        permission: &str,
        granted: bool,
    ) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        let purposes = inner.catalog.get(permission)?.purposes.clone();
        let state = inner.state()?;
        if !state.can_proceed {
            return Err(ConsentError::PolicyNotAccepted {
                status: describe_policy_status(&state.policy),
            });
        }
        let current = state
            .permission(permission)
            .expect("catalog permissions are in the state");
        let wanted = if granted {
            UserConsent::Granted
        } else {
            UserConsent::Denied
        };
        if current.consent == wanted && current.consented_purposes == purposes {
            return Ok(state);
        }
        let decision = if granted {
            Decision::Granted
        } else {
            Decision::Denied
        };
        let policy = inner.authoritative_ref();
        inner.record(
            policy,
            EventKind::PermissionDecided {
                permission: permission.to_string(),
                decision,
                purposes,
            },
        )?;
        inner.state()
    }

    /// The shell reports what the OS says. Only a change is recorded, so a
    /// shell may report on every start.
    pub fn report_os_status(
        &self,
        permission: &str,
        status: OsStatus,
    ) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        inner.catalog.get(permission)?;
        let state = inner.state()?;
        let unchanged = state
            .permission(permission)
            .is_some_and(|p| p.os_status == status && inner.fold.os_status_reported(permission));
        if unchanged {
            return Ok(state);
        }
        let policy = inner.authoritative_ref();
        inner.record(
            policy,
            EventKind::OsStatusChanged {
                permission: permission.to_string(),
                status,
            },
        )?;
        inner.state()
    }

    /// §6.1.5: withdraws the consent to one permission, at once.
    pub fn withdraw(&self, permission: &str) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        inner.catalog.get(permission)?;
        let state = inner.state()?;
        let consent = state
            .permission(permission)
            .map(|p| p.consent)
            .unwrap_or(UserConsent::NeverAsked);
        if consent != UserConsent::Granted {
            return Err(ConsentError::NothingToWithdraw {
                what: permission.to_string(),
                state: consent.to_string(),
            });
        }
        let policy = inner.authoritative_ref();
        inner.record(
            policy,
            EventKind::ConsentWithdrawn {
                scope: WithdrawalScope::Permission(permission.to_string()),
            },
        )?;
        inner.state()
    }

    /// §6.1.5: withdraws every consent, the policy's included. The app goes
    /// back to the policy screen.
    pub fn withdraw_all(&self) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        let state = inner.state()?;
        let anything_granted = state
            .permissions
            .iter()
            .any(|p| p.consent == UserConsent::Granted);
        let policy_consented = matches!(
            state.policy,
            PolicyStatus::Accepted { .. } | PolicyStatus::ReconsentRequired { .. }
        );
        if !anything_granted && !policy_consented {
            return Err(ConsentError::NothingToWithdraw {
                what: "the policy".into(),
                state: describe_policy_status(&state.policy),
            });
        }
        let policy = inner.authoritative_ref();
        inner.record(
            policy,
            EventKind::ConsentWithdrawn {
                scope: WithdrawalScope::All,
            },
        )?;
        inner.state()
    }

    /// Links this installation to the user's account: later events carry the
    /// account id as their subject.
    pub fn link_account(&self, account_id: &str) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        let valid = !account_id.is_empty()
            && account_id.chars().count() <= MAX_ACCOUNT_ID
            && account_id.chars().all(|c| c.is_ascii_graphic());
        if !valid {
            return Err(ConsentError::InvalidAccountId);
        }
        if inner.state()?.subject == account_id {
            return inner.state();
        }
        let policy = inner.authoritative_ref();
        inner.record(
            policy,
            EventKind::AccountLinked {
                account_id: account_id.to_string(),
            },
        )?;
        inner.state()
    }

    /// Stores a new policy text (e.g. fetched and verified by sync). A newer
    /// version becomes current, which asks the user to consent again (§10).
    /// Returns whether the current version changed.
    pub fn install_policy(&self, doc: PolicyDocument) -> Result<bool, ConsentError> {
        let mut inner = self.lock_fresh()?;
        if inner.store.is_read_only() {
            return Err(StoreError::ReadOnly.into());
        }
        doc.validate()?;
        if doc.id != inner.policy_id {
            return Err(PolicyError::Invalid {
                reason: format!("policy {:?} is not {:?}", doc.id, inner.policy_id),
            }
            .into());
        }
        inner.catalog.validate_against(&doc)?;
        let before = inner.current[0].1.version;
        inner.store.put_policy(&doc)?;
        inner.current = with_refs(inner.store.latest_policies(&inner.policy_id.clone())?);
        inner.invalidate();
        Ok(inner.current[0].1.version != before)
    }

    /// Replaces the permission catalog with a newer version.
    pub fn update_catalog(&self, json: &[u8]) -> Result<PermissionCatalog, ConsentError> {
        let mut inner = self.lock_fresh()?;
        if inner.store.is_read_only() {
            return Err(StoreError::ReadOnly.into());
        }
        let catalog = PermissionCatalog::parse(json)?;
        catalog.check_replaces(&inner.catalog)?;
        catalog.validate_against(inner.text_for(FALLBACK_LOCALE))?;
        inner.store.put_catalog(&catalog)?;
        inner.catalog = catalog.clone();
        inner.invalidate();
        Ok(catalog)
    }

    /// The user's whole history, oldest first (§8.2).
    pub fn history(&self) -> Result<Vec<Event>, ConsentError> {
        Ok(self.lock().store.events()?)
    }

    /// How many events the ledger holds.
    pub fn event_count(&self) -> u64 {
        self.lock().fold.seq
    }

    /// The history as a self-contained, verifiable JSON document: the
    /// events, the policy texts they were given under, and the server's
    /// signed receipts.
    pub fn export(&self) -> Result<String, ConsentError> {
        let mut inner = self.lock_fresh()?;
        let events = inner.store.events()?;
        let (head_seq, head_hash) = inner.store.head()?;
        let mut hashes: Vec<String> = events.iter().map(|e| e.policy.hash.clone()).collect();
        hashes.sort();
        hashes.dedup();
        let export = Export {
            format: EXPORT_FORMAT.into(),
            exported_at: ledger::format_time(inner.clock.now()),
            install_id: inner.install_id.clone(),
            subject: inner.state()?.subject,
            hash_rule: HASH_RULE.into(),
            head: ChainHead {
                events: head_seq,
                hash: head_hash,
            },
            policies: inner.store.policies_by_hash(&hashes)?,
            events,
            receipts: inner.kept_receipts()?,
        };
        Ok(serde_json::to_string_pretty(&export).expect("an export serialises"))
    }

    /// Checks everything the proof rests on: the hash chain up to the
    /// recorded head, the state snapshot against a full fold, every kept
    /// receipt (signature against the configured server keys; each event it
    /// acknowledges present and equal; its chain head inside the ledger),
    /// that every event is either acknowledged or waiting for upload, and
    /// SQLCipher's page HMACs with SQLite's structure check. Names the first
    /// broken event or receipt. Writes nothing.
    pub fn verify(&self) -> Result<VerifyReport, ConsentError> {
        let inner = self.lock_fresh()?;
        // Pages first: a damaged page would otherwise surface as whatever
        // row it happens to hold.
        let problems = inner.store.integrity_problems()?;
        if !problems.is_empty() {
            return Err(StoreError::Damaged {
                reason: format!("the page check found: {}", problems.join("; ")),
            }
            .into());
        }
        let rows = inner.store.stored_events()?;
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let event = decode_event(row).map_err(|e| ChainBreak {
                seq: row.seq,
                id: row.id.clone(),
                reason: e.to_string(),
            })?;
            if event.seq != row.seq || event.id.to_string() != row.id {
                return Err(ChainBreak {
                    seq: row.seq,
                    id: row.id.clone(),
                    reason: "its stored number or id does not match its content".into(),
                }
                .into());
            }
            events.push(event);
        }
        let (head_seq, head_hash) = inner.store.head()?;
        let report = ledger::verify_chain(&events, Some((head_seq, &head_hash)))?;
        if LedgerFold::of(&events) != inner.fold {
            return Err(ConsentError::IntegrityCheckFailed(
                "the kept state snapshot does not match the ledger: it was altered".into(),
            ));
        }
        let receipts = inner.kept_receipts()?;
        if !receipts.is_empty() && inner.server_keys.is_empty() {
            return Err(ConsentError::NoTrustedKey {
                count: receipts.len(),
            });
        }
        let coverage = check_receipts(&receipts, &inner.install_id, &events, &inner.server_keys)?;
        // Each event is either acknowledged by a receipt or still queued:
        // one that is neither would never reach the server.
        let covered: std::collections::BTreeSet<u64> = receipts
            .iter()
            .flat_map(|r| r.body.acknowledged.iter().map(|a| a.seq))
            .collect();
        let acks = inner.store.acked_seqs()?;
        if let Some(seq) = acks.iter().find(|seq| !covered.contains(seq)) {
            return Err(ConsentError::IntegrityCheckFailed(format!(
                "event #{seq} is marked as acknowledged, and no kept receipt acknowledges it"
            )));
        }
        let queued = inner.store.outbox_seqs()?;
        let waiting = queued.len() as u64;
        for event in &events {
            if !covered.contains(&event.seq) && !queued.contains(&event.seq) {
                return Err(ConsentError::IntegrityCheckFailed(format!(
                    "event #{} is neither acknowledged by a receipt nor waiting for upload: its outbox entry was removed",
                    event.seq
                )));
            }
        }
        Ok(VerifyReport {
            events: report.events,
            head_hash: report.head_hash,
            receipts: coverage.receipts,
            acknowledged: coverage.acknowledged,
            waiting,
            file_integrity_ok: true,
        })
    }

    /// A cheap integrity look for `status` (see [`IntegrityGlance`]).
    pub fn integrity_glance(&self) -> Result<IntegrityGlance, ConsentError> {
        let inner = self.lock_fresh()?;
        let (head_seq, head_hash) = inner.store.head()?;
        let last = inner.store.last_event()?;
        let problem = match &last {
            None if head_seq != 0 => Some(format!(
                "the chain head says {head_seq} event(s) and the ledger holds none"
            )),
            Some(event) if event.seq != head_seq || event.hash != head_hash => Some(format!(
                "the newest event is #{} and the chain head says #{head_seq}",
                event.seq
            )),
            _ if inner.fold.seq != head_seq || inner.fold.head_hash != head_hash => {
                Some("the state snapshot does not match the chain head".into())
            }
            _ => None,
        };
        Ok(IntegrityGlance {
            head_consistent: problem.is_none(),
            problem,
            receipts: inner.store.receipt_count()?,
        })
    }

    /// Turns off the fsync per event, to fill a store for a benchmark fast.
    #[cfg(feature = "bench-support")]
    pub fn relax_durability_for_bulk_load(&self) -> Result<(), ConsentError> {
        self.lock().store.set_synchronous(false)?;
        Ok(())
    }

    /// Events waiting for upload.
    pub fn pending_upload(&self) -> Result<u64, ConsentError> {
        Ok(self.lock().store.outbox_len()?)
    }

    /// The store's file path, for diagnostics.
    pub fn store_path(&self) -> PathBuf {
        self.lock().store.path().to_path_buf()
    }

    /// Whether this client was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.lock().store.is_read_only()
    }

    /// Files that an earlier recovery moved aside (kept for investigation),
    /// oldest first.
    pub fn quarantined(&self) -> Vec<crate::store::Quarantined> {
        crate::store::list_quarantine(&self.lock().data_dir)
    }
}

impl Inner {
    /// Something the state depends on changed.
    fn invalidate(&mut self) {
        self.cached_state = None;
        self.changes += 1;
    }

    fn state(&mut self) -> Result<ConsentState, ConsentError> {
        if self.cached_state.is_none() {
            let current = self.authoritative_ref();
            self.cached_state = Some(self.fold.state(&self.install_id, &current, &self.catalog));
        }
        Ok(self.cached_state.clone().expect("filled above"))
    }

    fn current_for(&self, locale: &str) -> &(PolicyDocument, PolicyRef) {
        let locales: Vec<&str> = self
            .current
            .iter()
            .map(|(d, _)| d.locale.as_str())
            .collect();
        let chosen =
            select_locale(&locales, locale).expect("the current policy has at least one text");
        self.current
            .iter()
            .find(|(d, _)| d.locale == chosen)
            .expect("chosen from these texts")
    }

    fn text_for(&self, locale: &str) -> &PolicyDocument {
        &self.current_for(locale).0
    }

    /// The current version in the authoritative language (Russian): what
    /// events other than policy decisions are recorded under.
    fn authoritative_ref(&self) -> PolicyRef {
        self.current_for(FALLBACK_LOCALE).1.clone()
    }

    /// The text the user was shown must be the current version, and exactly
    /// the stored text of it.
    fn check_current(
        &self,
        version: u32,
        hash: &str,
        locale: &str,
    ) -> Result<(PolicyRef, String), ConsentError> {
        let current = self.authoritative_ref();
        let (shown, shown_ref) = self
            .current
            .iter()
            .find(|(d, _)| d.locale.eq_ignore_ascii_case(locale))
            .ok_or_else(|| ConsentError::UnknownLocale {
                locale: locale.to_string(),
                available: self
                    .current
                    .iter()
                    .map(|(d, _)| d.locale.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        if version != shown_ref.version || hash != shown_ref.hash {
            return Err(ConsentError::StalePolicy {
                offered_version: version,
                offered_hash: hash.to_string(),
                current_version: current.version,
                current_hash: shown_ref.hash.clone(),
            });
        }
        Ok((shown_ref.clone(), shown.locale.clone()))
    }

    /// Reads the ledger again if another connection (another process on the
    /// same store, e.g. two terminal commands) appended since we last looked,
    /// so that every rule is checked against the latest state.
    fn refresh_if_moved(&mut self) -> Result<(), ConsentError> {
        let (head_seq, _) = self.store.head()?;
        if head_seq != self.fold.seq {
            self.fold = load_fold(&self.store)?;
            self.invalidate();
        }
        Ok(())
    }

    /// The kept receipts, decoded.
    fn kept_receipts(&self) -> Result<Vec<Receipt>, ConsentError> {
        self.store
            .receipts()?
            .iter()
            .enumerate()
            .map(|(i, body)| {
                serde_json::from_str(body).map_err(|e| {
                    StoreError::Decode(format!("kept receipt #{} does not decode: {e}", i + 1))
                        .into()
                })
            })
            .collect()
    }

    fn record(&mut self, policy: PolicyRef, kind: EventKind) -> Result<Event, ConsentError> {
        if self.store.is_read_only() {
            return Err(StoreError::ReadOnly.into());
        }
        let install_id = self.install_id.clone();
        let subject = self.state()?.subject;
        let (id, at, context) = (
            self.ids.event_id(),
            ledger::format_time(self.clock.now()),
            self.context.clone(),
        );
        let mut next_fold = self.fold.clone();
        let event = self.store.append(self.fold.seq, |seq, prev| {
            let mut event = Event {
                id,
                seq,
                at,
                install_id,
                subject,
                policy,
                context,
                kind,
                prev_hash: prev.to_string(),
                hash: String::new(),
            };
            event.hash = event.compute_hash();
            next_fold.apply(&event);
            let snapshot = serde_json::to_string(&next_fold).expect("a fold serialises");
            (event, snapshot)
        })?;
        self.fold = next_fold;
        self.invalidate();
        tracing::info!(
            seq = event.seq,
            kind = event.kind.name(),
            "consent event recorded"
        );
        Ok(event)
    }
}

fn with_refs(docs: Vec<PolicyDocument>) -> Vec<(PolicyDocument, PolicyRef)> {
    docs.into_iter()
        .map(|d| {
            let r = d.reference();
            (d, r)
        })
        .collect()
}

/// The kept fold if it matches the ledger's head; otherwise a fold of the
/// whole ledger, which is then kept.
fn load_fold(store: &Store) -> Result<LedgerFold, ConsentError> {
    let (head_seq, head_hash) = store.head()?;
    if let Some(snapshot) = store.fold_snapshot()? {
        if let Ok(fold) = serde_json::from_str::<LedgerFold>(&snapshot) {
            if fold.seq == head_seq && fold.head_hash == head_hash {
                return Ok(fold);
            }
        }
    }
    let fold = LedgerFold::of(&store.events()?);
    if fold.seq > 0 && !store.is_read_only() {
        store.put_fold_snapshot(&serde_json::to_string(&fold).expect("a fold serialises"))?;
    }
    Ok(fold)
}

/// A one-line description of a policy status, for screens and the CLI.
pub fn describe_policy_status(status: &PolicyStatus) -> String {
    match status {
        PolicyStatus::NeverAccepted => "never accepted".into(),
        PolicyStatus::Accepted { version, .. } => format!("accepted (version {version})"),
        PolicyStatus::ReconsentRequired {
            from_version,
            to_version,
        } => {
            format!(
                "waiting for consent to version {to_version} (version {from_version} was accepted)"
            )
        }
        PolicyStatus::Objected { version, .. } => format!("objected to (version {version})"),
        PolicyStatus::Withdrawn { .. } => "withdrawn".into(),
    }
}

//! `ConsentClient`: the one API every shell uses. It checks each request
//! against the rules, records it in the ledger, and returns the new state.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
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
use crate::statement::StatementKind;
use crate::store::{
    decode_event, Access, KeyProvider, Store, StoreError, StoreKey, DEFAULT_INSTALLATION_MARKER,
};
use crate::sync::wire::Receipt;

mod company;
mod decisions;
mod error;
mod evidence;
mod iso_export;
mod observers;
mod recover;
mod statements;
mod sync;

pub use error::ConsentError;
pub use evidence::{IntegrityGlance, VerifyReport};
use observers::Observers;
pub use observers::StateObserver;
pub use recover::{Recovered, RecoveryReport};
pub use statements::StatementInfo;
pub use sync::{OnlineVerifyReport, ParkedEvent, SyncStatus};

/// Longest account id accepted from a shell.
const MAX_ACCOUNT_ID: usize = 128;
/// Longest compromise report details accepted (§5.7), in characters.
const MAX_REPORT_DETAILS: usize = 4_000;

/// What a shell hands in to open the client: [`ClientConfig::new`], then
/// set the fields that differ. It will grow (`#[non_exhaustive]`). The
/// clock and the ids are the system's (UTC time of the decision, UUID v7);
/// only the golden journey replaces them (`ClientConfig::replaying`,
/// feature `replay`).
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Folder of the store (app-private storage on a device).
    pub data_dir: PathBuf,
    /// The app and device every event records (no personal data).
    pub context: AppContext,
    /// The platform keystore that keeps the store's key.
    pub key_provider: Arc<dyn KeyProvider>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) ids: Arc<dyn IdSource>,
    /// Policy texts shipped with the app, for the first start offline (§10.6).
    pub bundled_policies: Vec<PolicyDocument>,
    /// The permission catalog shipped with the app; a newer stored one
    /// (from [`ConsentClient::update_catalog`]) wins.
    pub bundled_catalog: PermissionCatalog,
    /// The server keys whose receipts `verify` trusts (built into the app,
    /// like the sync configuration's). Empty: a store with receipts cannot
    /// be fully verified, and `verify` says so.
    pub server_keys: Vec<VerifyingKey>,
    /// The keystore entry that remembers this installation's store (see
    /// [`DEFAULT_INSTALLATION_MARKER`]). One app has one store and keeps the
    /// default; a desktop tool with several store folders names one each.
    pub installation_marker: String,
    /// The device's offset from UTC in seconds (e.g. 18000 for Almaty), so
    /// that written statements also give the local time; `None` gives UTC
    /// only. Change it later with [`ConsentClient::set_utc_offset`].
    pub utc_offset_seconds: Option<i32>,
}

impl ClientConfig {
    /// A configuration for the store in `data_dir`, with the bundled policy
    /// and catalog of this library, no trusted server keys, and the
    /// default installation marker.
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
            utc_offset_seconds: None,
        }
    }

    /// FOR THE GOLDEN JOURNEY ONLY (feature `replay`, never in an app): a
    /// clock that starts at `start` and moves one second per event, and
    /// counted ids, so that a journey gives the same hashes everywhere.
    #[cfg(feature = "replay")]
    pub fn replaying(mut self, start: time::OffsetDateTime) -> Self {
        self.clock = Arc::new(ledger::SteppingClock::new(start));
        self.ids = Arc::new(ledger::CountingIds::default());
        self
    }

    /// FOR REPLAYS AND SEED GENERATORS ONLY (feature `replay`, never in an
    /// app): the caller's own clock and id source, e.g. the fuzz corpus
    /// generator's fixed ones.
    #[cfg(feature = "replay")]
    pub fn with_clock_and_ids(mut self, clock: Arc<dyn Clock>, ids: Arc<dyn IdSource>) -> Self {
        self.clock = clock;
        self.ids = ids;
        self
    }
}

/// The consent API. Open one per store and share it between the screens
/// of a shell (it is `Send + Sync`; calls are serialised inside). Each
/// decision is checked against the rules, recorded as one ledger event,
/// and answered with the new [`ConsentState`]; a refused one records
/// nothing and says why in a [`ConsentError`] of one [`ErrorKind`].
///
/// ```rust
/// use std::sync::Arc;
///
/// use altyn_consent_core::store::MemoryKeyProvider;
/// use altyn_consent_core::{AppContext, ClientConfig, ConsentClient, ErrorKind, UserConsent};
///
/// let dir = tempfile::tempdir()?;
/// let config = ClientConfig::new(
///     dir.path(),
///     AppContext::new("desktop", "1.0.0", "linux"),
///     Arc::new(MemoryKeyProvider::default()),
/// );
/// // A first start: the store is created, the bundled policy brought in.
/// let client = ConsentClient::open(config)?;
/// assert!(!client.state()?.can_proceed);
///
/// // The user read the Russian text and confirmed being 18 or older.
/// let policy = client.policy("ru");
/// let refused = client.accept_policy(policy.version, &policy.hash(), &policy.locale, false);
/// assert_eq!(refused.unwrap_err().kind(), ErrorKind::AgeNotConfirmed);
/// let state = client.accept_policy(policy.version, &policy.hash(), &policy.locale, true)?;
/// assert!(state.can_proceed);
///
/// // §2.4: the camera, allowed in the app; the OS has not granted it yet.
/// client.set_permission("camera", true)?;
/// let state = client.state()?;
/// let camera = state.permission("camera").expect("in the bundled catalog");
/// assert_eq!(camera.consent, UserConsent::Granted);
/// assert!(!camera.may_use);
///
/// // Two events, chained; nothing uploaded yet.
/// let report = client.verify()?;
/// assert_eq!((report.events, report.waiting), (2, 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ConsentClient {
    inner: Mutex<Inner>,
    observers: Observers,
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
    /// The device's UTC offset in seconds, for statements' local time.
    utc_offset: Option<i32>,
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
            // A stored catalog of an older format lacks facts this build
            // relies on (the platform table, what a partial grant means):
            // the bundled one wins over it, whatever its version.
            Some(stored)
                if stored.version >= config.bundled_catalog.version
                    && stored.format >= config.bundled_catalog.format =>
            {
                stored
            }
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
            utc_offset: config.utc_offset_seconds,
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

    /// The permission catalog in force (the newer of the bundled and the
    /// stored one).
    pub fn catalog(&self) -> PermissionCatalog {
        self.lock().catalog.clone()
    }

    /// The consent state now, for the policy screen and every permission
    /// switch. Re-reads the ledger first if another connection appended.
    /// Fails only when the store cannot be read ([`ConsentError::Store`]).
    pub fn state(&self) -> Result<ConsentState, ConsentError> {
        self.lock_fresh()?.state()
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
            let mut state = self.fold.state(&self.install_id, &current, &self.catalog);
            state.revision = self.changes as i64;
            self.cached_state = Some(state);
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

//! The encrypted local store: SQLCipher through rusqlite, keyed with a random
//! 256-bit raw key (no passphrase KDF on open), schema by numbered migrations.
//!
//! Beside the database lives `consent.keycheck.json`: the store's id (which
//! names its key in the keystore) and a hash of the key. It is what tells
//! "the key is wrong or lost" apart from "the file is damaged", the canary of
//! Mozilla's application-services. No error path deletes or rewrites data.

pub mod keys;
mod lifecycle;

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};
use rusqlite_migration::{Migrations, M};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::ledger::{Event, GENESIS_HASH};
use crate::permissions::PermissionCatalog;
use crate::policy::PolicyDocument;
#[cfg(feature = "desktop-keyring")]
pub use keys::KeyringKeyProvider;
pub use keys::{
    write_private_file, FileKeyProvider, KeyError, KeyProvider, MemoryKeyProvider, KEY_LEN,
};
pub use lifecycle::{list_quarantine, quarantine, Quarantined, QUARANTINE_DIR, STORE_FILES};

use crate::error::ErrorKind;
#[cfg(feature = "bench-support")]
use lifecycle::create_private_dir;

pub const DB_FILE: &str = "consent.db";
pub const KEYCHECK_FILE: &str = "consent.keycheck.json";
/// `PRAGMA application_id` of a consent store ("ALYC").
const APPLICATION_ID: i32 = 0x414C_5943;
const KEYCHECK_DOMAIN: &[u8] = b"altyn-consent/keycheck/v1\n";
const SQLITE_PLAIN_HEADER: &[u8] = b"SQLite format 3\0";
/// Meta key of the state fold snapshot.
const FOLD_SNAPSHOT: &str = "fold_snapshot";

/// The schema migrations, in order; the newest version is their count.
const MIGRATIONS: [&str; 2] = [
    include_str!("migrations/001_initial.sql"),
    include_str!("migrations/002_receipts.sql"),
];

fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
}

/// `PRAGMA application_id` is set by the first migration (as "ALYC").
#[cfg(test)]
#[test]
fn the_first_migration_sets_the_application_id() {
    assert!(MIGRATIONS[0].contains(&format!("PRAGMA application_id = {APPLICATION_ID};")));
    migrations().validate().expect("the migrations are valid");
}

/// The newest schema version this build knows.
pub fn latest_schema_version() -> usize {
    MIGRATIONS.len()
}

/// Why a store could not be opened or used. Each variant says what went
/// wrong and what to do; [`StoreError::kind`] is what callers act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "there is no consent store in {dir} yet: nothing has been recorded on this installation. \
         A command that records a decision creates it"
    )]
    NoStoreYet { dir: String },
    #[error(
        "the consent store in {dir} is gone, but {trace}: an earlier installation's ledger was lost or moved. \
         Nothing was created, so that the loss is not hidden. Put the store back if you have it, \
         or recover (CLI: `altyn-consent recover`): that starts a new ledger whose first event records the loss, \
         and restores from the server what it holds"
    )]
    StoreMissing {
        dir: String,
        /// The lost store's id, when a trace names it.
        store_id: Option<String>,
        /// What shows that a store existed.
        trace: String,
    },
    #[error(
        "the database key does not open this consent store (the key check in {KEYCHECK_FILE} does not match): \
         the store's own key is not in the keystore. Nothing was changed. If the keystore was reset or not restored \
         after a device transfer, recover: the store is kept aside and the consents are restored from the server"
    )]
    WrongKey,
    #[error(
        "the keystore holds no key for this consent store (id {store_id}); it may have been cleared, \
         or not restored on a new device. Nothing was changed: restore the keystore, \
         or recover (the store is kept aside and the consents are restored from the server)"
    )]
    KeyMissing { store_id: String },
    #[error(
        "the keystore is locked or busy ({0}). Nothing is wrong with the consent store: try again later \
         (e.g. after the device is unlocked); do not recover"
    )]
    KeyLocked(String),
    #[error(
        "the keystore could not be used: {0}. The consent store was not touched: fix the keystore and try again"
    )]
    KeyUnavailable(String),
    #[error("the keystore returned a key of {len} bytes; a consent store key has {KEY_LEN}. Nothing was changed: recover if the key cannot be found")]
    BadKeyLength { len: usize },
    #[error("{path} is not an Altyn consent store: {reason}. It was left as it is")]
    NotAConsentStore { path: String, reason: String },
    #[error(
        "the consent store is damaged: {reason}. It was left as it is: keep it for investigation, \
         then recover (the store is kept aside and the consents are restored from the server)"
    )]
    Damaged { reason: String },
    #[error(
        "the consent store was written by a newer version of the app (schema {found}; this version knows up to {supported}). \
         Update the app; the store was not changed"
    )]
    SchemaTooNew { found: usize, supported: usize },
    #[error(
        "the consent store has schema {found} and this version writes {supported}; a read-only command cannot upgrade it. \
         Run a command that records something (or open the app) once, then read again"
    )]
    SchemaTooOld { found: usize, supported: usize },
    #[error(
        "the consent store was opened read-only (for a read); nothing can be recorded through it"
    )]
    ReadOnly,
    #[error(
        "the consent store's files cannot be written ({0}): the file or its folder is read-only \
         for this user, or the disk is. Nothing was recorded; reads still work"
    )]
    NotWritable(String),
    #[error(
        "restore needs an empty store, and this one already holds {events} event(s). Nothing was written; \
         restore on a fresh installation, or recover a store that cannot be read"
    )]
    NotEmpty { events: u64 },
    #[error("storage error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("a bug in the consent library: {0}. Nothing was recorded; please report it")]
    Internal(String),
    #[error("could not read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "a stored record could not be read although its page checks out: {0}. It was written by \
         something other than this library: keep the store as it is for investigation"
    )]
    Decode(String),
    #[error(transparent)]
    Conflict(#[from] crate::policy::PolicyError),
    #[error("another connection recorded events meanwhile (expected #{expected}, found #{found}); read the store again")]
    HeadMoved { expected: u64, found: u64 },
}

impl From<KeyError> for StoreError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Locked(why) => StoreError::KeyLocked(why),
            KeyError::Unavailable(why) => StoreError::KeyUnavailable(why),
        }
    }
}

/// SQLite's codes decide: a page that does not decrypt or does not hold a
/// valid b-tree is damage, wherever in the file it is.
impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
                StoreError::Damaged {
                    reason: format!("a page does not decrypt or does not hold valid data ({e})"),
                }
            }
            Some(ErrorCode::ReadOnly) => StoreError::NotWritable(e.to_string()),
            _ => StoreError::Sqlite(e),
        }
    }
}

impl StoreError {
    /// The kind of failure, which decides what the caller does.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NoStoreYet { .. } => ErrorKind::NoStoreYet,
            StoreError::StoreMissing { .. } => ErrorKind::StoreMissing,
            StoreError::WrongKey
            | StoreError::KeyMissing { .. }
            | StoreError::BadKeyLength { .. } => ErrorKind::KeyLost,
            // A keystore that fails for another reason than "no such key"
            // is never a reason to give up a store: it is retried.
            StoreError::KeyLocked(_) | StoreError::KeyUnavailable(_) => ErrorKind::KeyLocked,
            StoreError::NotAConsentStore { .. } | StoreError::Damaged { .. } => {
                ErrorKind::StoreDamaged
            }
            // Its pages decrypt and check out, yet a record does not read:
            // something other than this library wrote it. That is evidence,
            // kept for investigation, never "recovered" away.
            StoreError::Decode(_) => ErrorKind::VerificationFailed,
            StoreError::Internal(_) => ErrorKind::Internal,
            StoreError::SchemaTooNew { .. } => ErrorKind::StoreTooNew,
            StoreError::NotEmpty { .. } => ErrorKind::StoreNotEmpty,
            StoreError::Conflict(_) | StoreError::ReadOnly => ErrorKind::InvalidRequest,
            StoreError::SchemaTooOld { .. }
            | StoreError::NotWritable(_)
            | StoreError::Sqlite(_)
            | StoreError::Io { .. }
            | StoreError::HeadMoved { .. } => ErrorKind::Storage,
        }
    }
}

/// What opens the database.
pub enum StoreKey<'a> {
    Provider(&'a dyn KeyProvider),
    /// Plain SQLite with the same library, as a benchmark baseline only.
    #[cfg(feature = "bench-support")]
    PlaintextBaseline,
}

/// How a store is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Creates the store on a true first start, migrates, records.
    ReadWrite,
    /// Reads only: no file of the store is created, changed or deleted,
    /// and the files and their folder may be read-only.
    ReadOnly,
}

/// Name of the keystore entry that remembers which store an installation
/// has (its value is the store id). It is what tells a first start from a
/// store that went missing when the folder is empty: iOS keeps Keychain
/// items across a reinstall, and a desktop keeps its key folder.
pub const DEFAULT_INSTALLATION_MARKER: &str = "altyn-consent-installation";

#[derive(Serialize, Deserialize)]
struct KeyCheck {
    format: u32,
    store_id: String,
    key_check: String,
    /// Set while the store is being created; a crash then leaves a first
    /// start to finish, not a lost store.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pending: bool,
    /// Set (with `pending`) while a recovery builds this store: it is
    /// complete only once the loss is recorded, so a crash before that is
    /// found and recovered again, never taken for an ordinary store.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    recovering: bool,
}

fn key_check(key: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(KEYCHECK_DOMAIN);
    h.update(key);
    hex::encode(h.finalize())
}

/// The row of one event as stored, before it is trusted.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub seq: u64,
    pub id: String,
    pub body: String,
}

/// An event waiting to be uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub event_id: String,
    pub seq: u64,
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    store_id: String,
    read_only: bool,
    /// The key check to complete once a recovery has recorded the loss.
    recovery_check: Option<KeyCheck>,
}

impl Store {
    /// Opens the store in `dir` for reading and writing, creating it (and
    /// its key) only on a true first start.
    pub fn open(
        dir: &Path,
        key: StoreKey<'_>,
        new_install_id: impl FnOnce() -> String,
    ) -> Result<Store, StoreError> {
        Self::open_with(
            dir,
            key,
            Access::ReadWrite,
            DEFAULT_INSTALLATION_MARKER,
            new_install_id,
        )
    }

    /// Opens the store in `dir`. Only a true first start (no store file, no
    /// key check, no earlier installation's trace in the folder or marker in
    /// the keystore) creates one, and only with [`Access::ReadWrite`]. Every
    /// other state that is not a readable store is an error of its own kind,
    /// and nothing is created, changed or deleted.
    pub fn open_with(
        dir: &Path,
        key: StoreKey<'_>,
        access: Access,
        marker: &str,
        new_install_id: impl FnOnce() -> String,
    ) -> Result<Store, StoreError> {
        let path = dir.join(DB_FILE);
        let read_only = access == Access::ReadOnly;
        let provider = match key {
            #[cfg(feature = "bench-support")]
            StoreKey::PlaintextBaseline => {
                create_private_dir(dir)?;
                let mut store = Store {
                    conn: Connection::open(&path)?,
                    path,
                    store_id: "plaintext-baseline".into(),
                    read_only: false,
                    recovery_check: None,
                };
                store.configure(false)?;
                store.migrate()?;
                store.ensure_install_id(new_install_id)?;
                return Ok(store);
            }
            StoreKey::Provider(provider) => provider,
        };
        let (check, key, creating) = match lifecycle::probe(dir, provider, marker)? {
            lifecycle::Found::Existing(check) => {
                let key = load_key(provider, &check)?;
                if !read_only {
                    // Before any byte of the store changes: stores created
                    // before the marker existed get it; a recovered
                    // installation points it at its new store.
                    let marked = provider.load(marker)?;
                    if marked.as_deref().map(|m| m.as_slice()) != Some(check.store_id.as_bytes()) {
                        provider.save(marker, check.store_id.as_bytes())?;
                    }
                }
                (check, key, false)
            }
            lifecycle::Found::FirstStart if read_only => {
                return Err(StoreError::NoStoreYet {
                    dir: dir.display().to_string(),
                })
            }
            lifecycle::Found::FirstStart => {
                let (check, key) = lifecycle::begin_creation(dir, provider, marker, false)?;
                (check, key, true)
            }
            lifecycle::Found::CreationInterrupted(check) if read_only => {
                let _ = check;
                return Err(StoreError::NoStoreYet {
                    dir: dir.display().to_string(),
                });
            }
            lifecycle::Found::CreationInterrupted(mut check) => {
                let key = match provider.load(&check.store_id)? {
                    Some(key) => key,
                    None if !path.exists() => {
                        // The keystore lost the key of a store that was
                        // never written: nothing is encrypted with it yet,
                        // so the first start goes on with a new key.
                        let key = new_key()?;
                        provider.save(&check.store_id, &key)?;
                        check.key_check = key_check(&key);
                        write_keycheck(&dir.join(KEYCHECK_FILE), &check)?;
                        key
                    }
                    None => {
                        return Err(StoreError::KeyMissing {
                            store_id: check.store_id,
                        })
                    }
                };
                check_key(&key, &check)?;
                provider.save(marker, check.store_id.as_bytes())?;
                (check, key, true)
            }
        };

        let mut store = Store {
            conn: lifecycle::connect(&path, read_only)?,
            path,
            store_id: check.store_id.clone(),
            read_only,
            recovery_check: None,
        };
        store.unlock(&key)?;
        store.configure(!creating)?;
        if read_only {
            store.check_schema_readable()?;
            if store.meta("install_id")?.is_none() {
                return Err(StoreError::Damaged {
                    reason: "it has no installation id".into(),
                });
            }
            return Ok(store);
        }
        store.migrate()?;
        store.ensure_install_id(new_install_id)?;
        if creating {
            lifecycle::finish_creation(dir, &check)?;
        }
        Ok(store)
    }

    /// Creates a new store in a folder whose store files were moved aside
    /// by recovery, whatever traces of the old one remain (its quarantine,
    /// the keystore marker, which now names the new store).
    pub fn create_replacing(
        dir: &Path,
        key: StoreKey<'_>,
        marker: &str,
        new_install_id: impl FnOnce() -> String,
    ) -> Result<Store, StoreError> {
        let provider = match key {
            StoreKey::Provider(provider) => provider,
            #[cfg(feature = "bench-support")]
            StoreKey::PlaintextBaseline => return Self::open(dir, key, new_install_id),
        };
        if let Some(name) = STORE_FILES.iter().find(|name| dir.join(name).exists()) {
            return Err(StoreError::NotAConsentStore {
                path: dir.join(name).display().to_string(),
                reason: "a store file is still in the folder; recovery moves them aside first"
                    .into(),
            });
        }
        let (check, key) = lifecycle::begin_creation(dir, provider, marker, true)?;
        let mut store = Store {
            conn: lifecycle::connect(&dir.join(DB_FILE), false)?,
            path: dir.join(DB_FILE),
            store_id: check.store_id.clone(),
            read_only: false,
            recovery_check: Some(check),
        };
        store.unlock(&key)?;
        store.configure(false)?;
        store.migrate()?;
        store.ensure_install_id(new_install_id)?;
        Ok(store)
    }

    /// Completes a store made by [`Store::create_replacing`], once the
    /// recovery has recorded the loss in it. Until then, opening it reports
    /// an interrupted recovery.
    pub fn finish_recovery(&mut self) -> Result<(), StoreError> {
        if let Some(check) = self.recovery_check.take() {
            let dir = self.path.parent().unwrap_or(Path::new("."));
            lifecycle::finish_creation(dir, &check)?;
        }
        Ok(())
    }

    /// The hash of event `seq`, if the ledger holds it.
    pub fn event_hash(&self, seq: u64) -> Result<Option<String>, StoreError> {
        let body: Option<String> = self
            .conn
            .prepare_cached("SELECT body FROM events WHERE seq = ?1")?
            .query_row([seq as i64], |r| r.get(0))
            .optional()?;
        Ok(match body {
            Some(body) => Some(
                decode_event(&StoredEvent {
                    seq,
                    id: String::new(),
                    body,
                })?
                .hash,
            ),
            None => None,
        })
    }

    fn unlock(&self, key: &[u8]) -> Result<(), StoreError> {
        let pragma = Zeroizing::new(format!("PRAGMA key = \"x'{}'\";", hex::encode(key)));
        self.conn.execute_batch(&pragma)?;
        // SQLCipher would print its own decryption failures to stderr
        // (or logcat); our errors say the same, in words a user can act on.
        self.conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
        Ok(())
    }

    fn ensure_install_id(
        &mut self,
        new_install_id: impl FnOnce() -> String,
    ) -> Result<(), StoreError> {
        if self.meta("install_id")?.is_none() {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            for (key, value) in [
                ("install_id", new_install_id()),
                (
                    "created_at",
                    crate::ledger::format_time(time::OffsetDateTime::now_utc()),
                ),
            ] {
                upsert_meta(&tx, key, &value)?;
            }
            tx.commit()?;
        }
        Ok(())
    }

    fn configure(&mut self, existed: bool) -> Result<(), StoreError> {
        // The first read decrypts page 1: with a right key (checked above) a
        // failure here means the file is damaged.
        let app_id: i32 = self
            .conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))?;
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
        if existed && (tables == 0 || app_id != APPLICATION_ID) {
            return Err(StoreError::NotAConsentStore {
                path: self.path.display().to_string(),
                reason: if tables == 0 {
                    "it holds no tables".into()
                } else {
                    format!("its application id is {app_id:#x}, not {APPLICATION_ID:#x}")
                },
            });
        }
        self.conn.busy_timeout(std::time::Duration::from_secs(5))?;
        if self.read_only {
            // Belt and braces: the connection is opened read-only as well.
            self.conn
                .execute_batch("PRAGMA query_only = 1; PRAGMA cache_size = -16000;")?;
            return Ok(());
        }
        // WAL + FULL: a transaction is on disk when commit returns. The page
        // cache may grow to 16 MB (SQLite's default is 2 MB), so that a sync
        // of a large store does not decrypt the same pages again (10k events:
        // 752 ms with 2 MB, ~505 ms with 8 MB, ~410 ms with 16 MB). SQLite
        // allocates cache pages only as it reads them, so a typical store
        // (hundreds of events, under 1 MB) uses far less than the ceiling.
        self.conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -16000;",
        )?;
        Ok(())
    }

    fn schema_version(&self) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize)
    }

    fn check_schema_readable(&self) -> Result<(), StoreError> {
        let found = self.schema_version()?;
        let supported = latest_schema_version();
        if found > supported {
            return Err(StoreError::SchemaTooNew { found, supported });
        }
        if found < supported {
            return Err(StoreError::SchemaTooOld { found, supported });
        }
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let found = self.schema_version()?;
        let supported = latest_schema_version();
        if found > supported {
            return Err(StoreError::SchemaTooNew { found, supported });
        }
        if found == supported {
            return Ok(());
        }
        migrations().to_latest(&mut self.conn).map_err(|e| match e {
            rusqlite_migration::Error::RusqliteError { err, .. } => StoreError::from(err),
            other => StoreError::Internal(format!("schema migration failed: {other}")),
        })
    }

    /// Whether this store was opened for reading only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// `false` turns off the fsync per transaction: only for filling a store
    /// in a benchmark. The store's own default is always `FULL`.
    #[cfg(feature = "bench-support")]
    pub fn set_synchronous(&self, full: bool) -> Result<(), StoreError> {
        self.conn.execute_batch(if full {
            "PRAGMA synchronous = FULL;"
        } else {
            "PRAGMA synchronous = OFF;"
        })?;
        Ok(())
    }

    pub fn store_id(&self) -> &str {
        &self.store_id
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        Ok(upsert_meta(&self.conn, key, value)?)
    }

    pub fn install_id(&self) -> Result<String, StoreError> {
        self.meta("install_id")?
            .ok_or_else(|| StoreError::Decode("the store has no install id".into()))
    }

    /// The last event's sequence number and hash, as recorded beside the
    /// events (so that removing events from the end is detectable).
    pub fn head(&self) -> Result<(u64, String), StoreError> {
        let seq = self
            .meta("head_seq")?
            .map(|s| s.parse::<u64>())
            .transpose()
            .map_err(|e| StoreError::Decode(e.to_string()))?;
        let hash = self.meta("head_hash")?;
        Ok((
            seq.unwrap_or(0),
            hash.unwrap_or_else(|| GENESIS_HASH.to_string()),
        ))
    }

    /// Appends one event, durably, and queues it for upload, in one
    /// transaction. `build` receives the next sequence number and the previous
    /// hash and returns the finished event (with its hash) and the snapshot of
    /// the state fold after it, which is kept in the same transaction.
    /// `expected_seq` is the sequence number the caller last saw; if another
    /// connection appended since, nothing is written and
    /// [`StoreError::HeadMoved`] tells the caller to read again.
    pub fn append(
        &mut self,
        expected_seq: u64,
        build: impl FnOnce(u64, &str) -> (Event, String),
    ) -> Result<Event, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let read_meta = |key: &str| -> Result<Option<String>, rusqlite::Error> {
            tx.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
        };
        let head = read_meta("head_seq")?
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        if head != expected_seq {
            return Err(StoreError::HeadMoved {
                expected: expected_seq,
                found: head,
            });
        }
        let seq = head + 1;
        let prev = read_meta("head_hash")?.unwrap_or_else(|| GENESIS_HASH.to_string());
        let (event, snapshot) = build(seq, &prev);
        debug_assert_eq!(event.seq, seq);
        let body = crate::canonical::to_canonical_json(&event)
            .map_err(|e| StoreError::Internal(format!("an event does not serialise: {e}")))?;
        let body = String::from_utf8(body).expect("canonical JSON is UTF-8");
        let id = event.id.to_string();
        tx.execute(
            "INSERT INTO events (seq, id, body) VALUES (?1, ?2, ?3)",
            params![seq as i64, id, body],
        )?;
        tx.execute(
            "INSERT INTO outbox (event_id, seq) VALUES (?1, ?2)",
            params![id, seq as i64],
        )?;
        for (key, value) in [
            ("head_seq", seq.to_string()),
            ("head_hash", event.hash.clone()),
            (FOLD_SNAPSHOT, snapshot),
        ] {
            upsert_meta(&tx, key, &value)?;
        }
        tx.commit()?;
        Ok(event)
    }

    /// The kept snapshot of the state fold, if any (see `state::LedgerFold`).
    pub fn fold_snapshot(&self) -> Result<Option<String>, StoreError> {
        self.meta(FOLD_SNAPSHOT)
    }

    /// Keeps a snapshot of the state fold computed from the whole ledger
    /// (a store written before snapshots existed, or one written elsewhere).
    pub fn put_fold_snapshot(&self, snapshot: &str) -> Result<(), StoreError> {
        self.set_meta(FOLD_SNAPSHOT, snapshot)
    }

    /// Every event row as stored, in sequence order.
    pub fn stored_events(&self) -> Result<Vec<StoredEvent>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, id, body FROM events ORDER BY seq")?;
        let rows = stmt.query_map([], |r| {
            Ok(StoredEvent {
                seq: r.get::<_, i64>(0)? as u64,
                id: r.get(1)?,
                body: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Every event, decoded, in sequence order.
    pub fn events(&self) -> Result<Vec<Event>, StoreError> {
        self.stored_events()?
            .into_iter()
            .map(|row| decode_event(&row))
            .collect()
    }

    pub fn event_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// Stores a policy text. The same id, version and locale with another
    /// hash is refused as a conflict; the stored text stays.
    pub fn put_policy(&self, doc: &PolicyDocument) -> Result<bool, StoreError> {
        if let Some(existing) = self.policy(&doc.id, doc.version, &doc.locale)? {
            existing.check_no_conflict(doc)?;
            return Ok(false);
        }
        let body = serde_json::to_string(doc)
            .map_err(|e| StoreError::Internal(format!("a policy does not serialise: {e}")))?;
        self.conn.execute(
            "INSERT INTO policies (policy_id, version, locale, hash, body, stored_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![doc.id, doc.version, doc.locale, doc.hash(), body, crate::ledger::format_time(time::OffsetDateTime::now_utc())],
        )?;
        Ok(true)
    }

    pub fn policy(
        &self,
        id: &str,
        version: u32,
        locale: &str,
    ) -> Result<Option<PolicyDocument>, StoreError> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM policies WHERE policy_id = ?1 AND version = ?2 AND locale = ?3",
                params![id, version, locale],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| decode_policy(&b)).transpose()
    }

    /// Every stored text of the newest stored version of policy `id`.
    pub fn latest_policies(&self, id: &str) -> Result<Vec<PolicyDocument>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT body FROM policies WHERE policy_id = ?1 AND version = (SELECT max(version) FROM policies WHERE policy_id = ?1) ORDER BY locale",
        )?;
        let bodies = stmt
            .query_map([id], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        bodies.iter().map(|b| decode_policy(b)).collect()
    }

    /// Every stored policy text whose hash is among `hashes`.
    pub fn policies_by_hash(&self, hashes: &[String]) -> Result<Vec<PolicyDocument>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT body FROM policies WHERE hash = ?1")?;
        let mut out = Vec::new();
        for hash in hashes {
            if let Some(body) = stmt
                .query_row([hash], |r| r.get::<_, String>(0))
                .optional()?
            {
                out.push(decode_policy(&body)?);
            }
        }
        Ok(out)
    }

    pub fn put_catalog(&self, catalog: &PermissionCatalog) -> Result<(), StoreError> {
        let body = serde_json::to_string(catalog)
            .map_err(|e| StoreError::Internal(format!("a catalog does not serialise: {e}")))?;
        self.conn.execute(
            "INSERT OR IGNORE INTO catalogs (version, body, stored_at) VALUES (?1, ?2, ?3)",
            params![
                catalog.version,
                body,
                crate::ledger::format_time(time::OffsetDateTime::now_utc())
            ],
        )?;
        Ok(())
    }

    /// The newest stored permission catalog, if any.
    pub fn latest_catalog(&self) -> Result<Option<PermissionCatalog>, StoreError> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM catalogs ORDER BY version DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| {
            PermissionCatalog::parse(b.as_bytes()).map_err(|e| StoreError::Decode(e.to_string()))
        })
        .transpose()
    }

    /// Events not yet acknowledged by the server, oldest first.
    pub fn outbox(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT event_id, seq, state, attempts, last_error FROM outbox ORDER BY seq LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(OutboxEntry {
                event_id: r.get(0)?,
                seq: r.get::<_, i64>(1)? as u64,
                state: r.get(2)?,
                attempts: r.get::<_, i64>(3)? as u32,
                last_error: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub fn outbox_len(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// The oldest events waiting for upload (not parked), at most `limit`,
    /// as stored: their canonical JSON goes on the wire as it is.
    pub fn pending_events(&self, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT e.seq, e.id, e.body FROM outbox o JOIN events e ON e.seq = o.seq \
             WHERE o.state = 'pending' ORDER BY o.seq LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(StoredEvent {
                    seq: r.get::<_, i64>(0)? as u64,
                    id: r.get(1)?,
                    body: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Counts of events waiting (pending, parked).
    pub fn outbox_counts(&self) -> Result<(u64, u64), StoreError> {
        Ok(self.conn.query_row(
            "SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FILTER (WHERE state = 'parked') FROM outbox",
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }

    /// Notes a failed attempt on these events (they stay queued).
    pub fn note_attempt(&self, seqs: &[u64], error: &str) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?2 WHERE seq = ?1",
        )?;
        for seq in seqs {
            stmt.execute(params![*seq as i64, error])?;
        }
        Ok(())
    }

    /// Keeps a verified receipt and takes the events it covers out of the
    /// outbox, in one transaction.
    pub fn record_receipt(
        &mut self,
        received_at: &str,
        body: &str,
        seqs: &[u64],
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO receipts (received_at, body) VALUES (?1, ?2)",
            params![received_at, body],
        )?;
        let receipt_id = tx.last_insert_rowid();
        {
            let mut ack =
                tx.prepare_cached("INSERT OR IGNORE INTO acks (seq, receipt_id) VALUES (?1, ?2)")?;
            let mut dequeue = tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
            for seq in seqs {
                ack.execute(params![*seq as i64, receipt_id])?;
                dequeue.execute(params![*seq as i64])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Parks the pending events from `seq` on (they link to it, so none of
    /// them can be accepted before it). They stay, with the reason.
    pub fn park_from(&self, seq: u64, reason: &str) -> Result<u64, StoreError> {
        Ok(self.conn.execute(
            "UPDATE outbox SET state = 'parked', last_error = ?2 WHERE seq >= ?1 AND state = 'pending'",
            params![seq as i64, reason],
        )? as u64)
    }

    /// Puts parked events back in the queue (after the cause was fixed).
    pub fn unpark_all(&self) -> Result<u64, StoreError> {
        Ok(self.conn.execute(
            "UPDATE outbox SET state = 'pending' WHERE state = 'parked'",
            [],
        )? as u64)
    }

    /// Every kept receipt (JSON), oldest first.
    pub fn receipts(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT body FROM receipts ORDER BY id")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// How many receipts are kept.
    pub fn receipt_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM receipts", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// The sequence numbers marked as acknowledged.
    pub fn acked_seqs(&self) -> Result<std::collections::BTreeSet<u64>, StoreError> {
        self.seqs("SELECT seq FROM acks")
    }

    /// The sequence numbers waiting in the outbox (pending or parked).
    pub fn outbox_seqs(&self) -> Result<std::collections::BTreeSet<u64>, StoreError> {
        self.seqs("SELECT seq FROM outbox")
    }

    fn seqs(&self, sql: &str) -> Result<std::collections::BTreeSet<u64>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map([], |r| r.get::<_, i64>(0))?;
        let mut out = std::collections::BTreeSet::new();
        for seq in rows {
            out.insert(seq? as u64);
        }
        Ok(out)
    }

    /// The newest event, decoded (it lives on the ledger's last page).
    pub fn last_event(&self) -> Result<Option<Event>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT seq, id, body FROM events ORDER BY seq DESC LIMIT 1",
                [],
                |r| {
                    Ok(StoredEvent {
                        seq: r.get::<_, i64>(0)? as u64,
                        id: r.get(1)?,
                        body: r.get(2)?,
                    })
                },
            )
            .optional()?;
        row.map(|row| decode_event(&row)).transpose()
    }

    /// How many events a receipt covers.
    pub fn acknowledged_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM acks", [], |r| r.get::<_, i64>(0))? as u64)
    }

    /// Fills an empty store with a ledger restored from the server: the
    /// events (already verified by the caller), the receipts that cover them,
    /// and the installation they belong to. Nothing goes to the outbox: the
    /// server has them all. Refused if the store already holds events.
    pub fn import_restored(
        &mut self,
        install_id: &str,
        events: &[Event],
        receipts: &[(String, String, Vec<u64>)],
        fold_snapshot: &str,
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: i64 = tx.query_row("SELECT count(*) FROM events", [], |r| r.get(0))?;
        if existing > 0 {
            return Err(StoreError::NotEmpty {
                events: existing as u64,
            });
        }
        for event in events {
            let body =
                String::from_utf8(crate::canonical::to_canonical_json(event).map_err(|e| {
                    StoreError::Internal(format!("an event does not serialise: {e}"))
                })?)
                .expect("canonical JSON is UTF-8");
            tx.execute(
                "INSERT INTO events (seq, id, body) VALUES (?1, ?2, ?3)",
                params![event.seq as i64, event.id.to_string(), body],
            )?;
        }
        for (received_at, body, seqs) in receipts {
            tx.execute(
                "INSERT INTO receipts (received_at, body) VALUES (?1, ?2)",
                params![received_at, body],
            )?;
            let receipt_id = tx.last_insert_rowid();
            for seq in seqs {
                tx.execute(
                    "INSERT OR IGNORE INTO acks (seq, receipt_id) VALUES (?1, ?2)",
                    params![*seq as i64, receipt_id],
                )?;
            }
        }
        let (head_seq, head_hash) = events
            .last()
            .map(|e| (e.seq, e.hash.clone()))
            .unwrap_or((0, GENESIS_HASH.to_string()));
        for (key, value) in [
            ("install_id", install_id.to_string()),
            ("head_seq", head_seq.to_string()),
            ("head_hash", head_hash),
            (FOLD_SNAPSHOT, fold_snapshot.to_string()),
        ] {
            upsert_meta(&tx, key, &value)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// SQLCipher's page-by-page HMAC check and SQLite's structural check.
    /// Returns the problems found; empty means the file is sound.
    pub fn integrity_problems(&self) -> Result<Vec<String>, StoreError> {
        let mut problems = Vec::new();
        let is_encrypted = self.store_id != "plaintext-baseline";
        if is_encrypted {
            let mut stmt = self.conn.prepare("PRAGMA cipher_integrity_check")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            for row in rows {
                problems.push(row?);
            }
        }
        let result: String = self
            .conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))?;
        if result != "ok" {
            problems.push(result);
        }
        Ok(problems)
    }

    /// Direct access for tests that tamper with the file as an attacker
    /// with the key would.
    #[doc(hidden)]
    pub fn connection_for_tests(&self) -> &Connection {
        &self.conn
    }
}

fn new_key() -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let mut key = Zeroizing::new(vec![0u8; KEY_LEN]);
    getrandom::fill(&mut key)
        .map_err(|e| StoreError::KeyUnavailable(format!("no system randomness: {e}")))?;
    Ok(key)
}

/// The key of an existing store, checked against its key check.
fn load_key(
    provider: &dyn KeyProvider,
    check: &KeyCheck,
) -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let key = provider
        .load(&check.store_id)?
        .ok_or_else(|| StoreError::KeyMissing {
            store_id: check.store_id.clone(),
        })?;
    check_key(&key, check)?;
    Ok(key)
}

fn check_key(key: &[u8], check: &KeyCheck) -> Result<(), StoreError> {
    if key.len() != KEY_LEN {
        return Err(StoreError::BadKeyLength { len: key.len() });
    }
    if key_check(key) != check.key_check {
        return Err(StoreError::WrongKey);
    }
    Ok(())
}

fn write_keycheck(path: &Path, check: &KeyCheck) -> Result<(), StoreError> {
    let json = serde_json::to_vec_pretty(check).expect("key check serialises");
    keys::write_private_file(path, &json).map_err(|source| StoreError::Io {
        path: path.display().to_string(),
        source,
    })
}

fn upsert_meta(conn: &Connection, key: &str, value: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

fn read_keycheck(path: &Path) -> Result<Option<KeyCheck>, StoreError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::NotAConsentStore {
                    path: path.display().to_string(),
                    reason: format!("the key check file is unreadable ({e})"),
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StoreError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

fn check_not_plain_sqlite(path: &Path) -> Result<(), StoreError> {
    let mut header = [0u8; 16];
    let read = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut header))
        .map_err(|source| StoreError::Io {
            path: path.display().to_string(),
            source,
        })?;
    if read == 16 && header == SQLITE_PLAIN_HEADER {
        return Err(StoreError::NotAConsentStore {
            path: path.display().to_string(),
            reason: "it is an unencrypted SQLite database".into(),
        });
    }
    Ok(())
}

/// Decodes a stored row. A row whose body does not parse is reported as a
/// broken ledger by `verify`; here it is an error naming the event.
pub fn decode_event(row: &StoredEvent) -> Result<Event, StoreError> {
    serde_json::from_str(&row.body).map_err(|e| {
        StoreError::Decode(format!(
            "event #{} ({}) does not decode: {e}",
            row.seq, row.id
        ))
    })
}

fn decode_policy(body: &str) -> Result<PolicyDocument, StoreError> {
    PolicyDocument::parse(body.as_bytes())
        .map_err(|e| StoreError::Decode(format!("a stored policy does not parse: {e}")))
}

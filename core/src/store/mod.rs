//! The encrypted local store: SQLCipher through rusqlite, keyed with a random
//! 256-bit raw key (no passphrase KDF on open), schema by numbered migrations.
//!
//! Beside the database lives `consent.keycheck.json`: the store's id (which
//! names its key in the keystore) and a hash of the key. It is what tells
//! "the key is wrong or lost" apart from "the file is damaged", the canary of
//! Mozilla's application-services. No error path deletes or rewrites data.

mod documents;
pub mod keys;
mod ledger;
mod lifecycle;
mod open;
mod outbox;

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, ErrorCode, OptionalExtension};
use rusqlite_migration::{Migrations, M};

use crate::ledger::{Event, GENESIS_HASH};
use crate::permissions::PermissionCatalog;
use crate::policy::PolicyDocument;
#[cfg(feature = "desktop-keyring")]
pub use keys::KeyringKeyProvider;
pub use keys::{
    write_private_file, FileKeyProvider, KeyError, KeyProvider, MemoryKeyProvider, KEY_LEN,
};
pub(crate) use ledger::{decode_event, StoredEvent};
pub use lifecycle::{list_quarantine, quarantine, Quarantined, QUARANTINE_DIR, STORE_FILES};
use open::KeyCheck;

use crate::error::ErrorKind;
#[cfg(feature = "bench-support")]
use lifecycle::create_private_dir;

/// The SQLCipher database, in the store's folder.
pub const DB_FILE: &str = "consent.db";
/// The key check beside the database: the store's id (which names its key
/// in the keystore) and a hash of the key, never the key itself.
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
    /// Kind `no_store_yet`: a read found no store. Show the policy; the
    /// first decision creates the store.
    #[error(
        "there is no consent store in {dir} yet: nothing has been recorded on this installation. \
         A command that records a decision creates it"
    )]
    NoStoreYet {
        /// The store's folder.
        dir: String,
    },
    /// Kind `store_missing`: the store is gone but a trace shows it
    /// existed. Put it back, or recover.
    #[error(
        "the consent store in {dir} is gone, but {trace}: an earlier installation's ledger was lost or moved. \
         Nothing was created, so that the loss is not hidden. Put the store back if you have it, \
         or recover (CLI: `altyn-consent recover`): that starts a new ledger whose first event records the loss, \
         and restores from the server what it holds"
    )]
    StoreMissing {
        /// The store's folder.
        dir: String,
        /// The lost store's id, when a trace names it.
        store_id: Option<String>,
        /// What shows that a store existed.
        trace: String,
    },
    /// Kind `key_lost`: the keystore's key is not this store's (the key
    /// check differs). Recover if the right key cannot be restored.
    #[error(
        "the database key does not open this consent store (the key check in {KEYCHECK_FILE} does not match): \
         the store's own key is not in the keystore. Nothing was changed. If the keystore was reset or not restored \
         after a device transfer, recover: the store is kept aside and the consents are restored from the server"
    )]
    WrongKey,
    /// Kind `key_lost`: the keystore has no key for this store. Restore the
    /// keystore, or recover.
    #[error(
        "the keystore holds no key for this consent store (id {store_id}); it may have been cleared, \
         or not restored on a new device. Nothing was changed: restore the keystore, \
         or recover (the store is kept aside and the consents are restored from the server)"
    )]
    KeyMissing {
        /// The store's id, which names its key in the keystore.
        store_id: String,
    },
    /// Kind `key_locked`: the keystore is locked or busy (the keystore's
    /// message). Try again later; never recover on it.
    #[error(
        "the keystore is locked or busy ({0}). Nothing is wrong with the consent store: try again later \
         (e.g. after the device is unlocked); do not recover"
    )]
    KeyLocked(String),
    /// Kind `key_locked`: the keystore failed for another reason (its
    /// message). Fix the keystore and try again; never recover on it.
    #[error(
        "the keystore could not be used: {0}. The consent store was not touched: fix the keystore and try again"
    )]
    KeyUnavailable(String),
    /// Kind `key_lost`: the keystore returned something that is not a
    /// [`KEY_LEN`]-byte key. Recover if the key cannot be found.
    #[error("the keystore returned a key of {len} bytes; a consent store key has {KEY_LEN}. Nothing was changed: recover if the key cannot be found")]
    BadKeyLength {
        /// Length of what the keystore returned, in bytes.
        len: usize,
    },
    /// Kind `store_damaged`: the file is not a consent store (plain SQLite,
    /// no key check beside it, another file left where a store would be).
    /// It was left as it is; recover.
    #[error("{path} is not an Altyn consent store: {reason}. It was left as it is")]
    NotAConsentStore {
        /// The file.
        path: String,
        /// Why it is not one.
        reason: String,
    },
    /// Kind `store_damaged`: the file is empty, cut short, has pages that
    /// do not decrypt or check out, or a recovery was interrupted. Keep it;
    /// recover.
    #[error(
        "the consent store is damaged: {reason}. It was left as it is: keep it for investigation, \
         then recover (the store is kept aside and the consents are restored from the server)"
    )]
    Damaged {
        /// What is damaged.
        reason: String,
    },
    /// Kind `store_too_new`: a newer app wrote the store. Ask the user to
    /// update; the store was not changed.
    #[error(
        "the consent store was written by a newer version of the app (schema {found}; this version knows up to {supported}). \
         Update the app; the store was not changed"
    )]
    SchemaTooNew {
        /// The store's schema version.
        found: usize,
        /// The newest this build knows ([`latest_schema_version`]).
        supported: usize,
    },
    /// Kind `storage`: a read-only open found an older schema, which only a
    /// writing open upgrades. Open it for writing once, then read again.
    #[error(
        "the consent store has schema {found} and this version writes {supported}; a read-only command cannot upgrade it. \
         Run a command that records something (or open the app) once, then read again"
    )]
    SchemaTooOld {
        /// The store's schema version.
        found: usize,
        /// The version this build writes.
        supported: usize,
    },
    /// Kind `invalid_request`: a write through a store opened read-only.
    /// Open it for writing.
    #[error(
        "the consent store was opened read-only (for a read); nothing can be recorded through it"
    )]
    ReadOnly,
    /// Kind `storage`: the files, their folder or the disk are read-only
    /// for this user (SQLite's message). Nothing was recorded; reads work.
    #[error(
        "the consent store's files cannot be written ({0}): the file or its folder is read-only \
         for this user, or the disk is. Nothing was recorded; reads still work"
    )]
    NotWritable(String),
    /// Kind `store_not_empty`: restore needs an empty store. Restore on a
    /// fresh installation instead.
    #[error(
        "restore needs an empty store, and this one already holds {events} event(s). Nothing was written; \
         restore on a fresh installation, or recover a store that cannot be read"
    )]
    NotEmpty {
        /// Events the store already holds.
        events: u64,
    },
    /// Kind `storage`: SQLite failed otherwise (busy, I/O, disk full). Try
    /// again; the data is intact.
    #[error("storage error: {0}")]
    Sqlite(rusqlite::Error),
    /// Kind `internal`: a bug in this library (what failed). Nothing was
    /// recorded; report it.
    #[error("a bug in the consent library: {0}. Nothing was recorded; please report it")]
    Internal(String),
    /// Kind `storage`: a file of the store (or its folder) could not be
    /// read or written. Try again; the data is intact.
    #[error("could not read or write {path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Kind `verification_failed`: a record (named in the message) does not
    /// decode although its page checks out, so something other than this
    /// library wrote it. Keep the store for investigation; do not recover
    /// it away.
    #[error(
        "a stored record could not be read although its page checks out: {0}. It was written by \
         something other than this library: keep the store as it is for investigation"
    )]
    Decode(String),
    /// Kind `invalid_request`: a policy text conflicts with the stored one
    /// of the same id, version and locale ([`crate::policy::PolicyError::Conflict`]);
    /// the stored text stays.
    #[error(transparent)]
    Conflict(#[from] crate::policy::PolicyError),
    /// Kind `storage`: another connection appended after the caller last
    /// read the head. Nothing was written; read the store again and retry.
    #[error("another connection recorded events meanwhile (expected #{expected}, found #{found}); read the store again")]
    HeadMoved {
        /// The head sequence number the caller expected.
        expected: u64,
        /// The one the store has.
        found: u64,
    },
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
    /// SQLCipher with the store's key from this keystore (created and saved
    /// there on a first start).
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

/// An open consent store: one SQLCipher connection to `consent.db`, its key
/// checked. Apps use it through [`crate::ConsentClient`]; opened directly
/// only by tests and tools.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    store_id: String,
    read_only: bool,
    /// The key check to complete once a recovery has recorded the loss.
    recovery_check: Option<KeyCheck>,
}

impl Store {
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

    /// The database file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The value of `key` in the store's `meta` table, if set.
    pub(crate) fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Sets `key` to `value` in the store's `meta` table (the chain head
    /// is `head_seq`/`head_hash`), outside any event transaction. For
    /// tools and tamper tests; a wrong head makes `verify` fail.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        Ok(upsert_meta(&self.conn, key, value)?)
    }

    /// The installation id kept in the store.
    pub(crate) fn install_id(&self) -> Result<String, StoreError> {
        self.meta("install_id")?
            .ok_or_else(|| StoreError::Decode("the store has no install id".into()))
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
    /// with the key would (feature `test-support`, never in an app).
    #[cfg(feature = "test-support")]
    pub fn connection_for_tests(&self) -> &Connection {
        &self.conn
    }
}

fn upsert_meta(conn: &Connection, key: &str, value: &str) -> Result<(), rusqlite::Error> {
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![key, value])?;
    Ok(())
}

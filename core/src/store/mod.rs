//! The encrypted local store: SQLCipher through rusqlite, keyed with a random
//! 256-bit raw key (no passphrase KDF on open), schema by numbered migrations.
//!
//! Beside the database lives `consent.keycheck.json`: the store's id (which
//! names its key in the keystore) and a hash of the key. It is what tells
//! "the key is wrong or lost" apart from "the file is damaged", the canary of
//! Mozilla's application-services. No error path deletes or rewrites data.

pub mod keys;

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

pub const DB_FILE: &str = "consent.db";
pub const KEYCHECK_FILE: &str = "consent.keycheck.json";
/// `PRAGMA application_id` of a consent store ("ALYC").
const APPLICATION_ID: i32 = 0x414C_5943;
const KEYCHECK_DOMAIN: &[u8] = b"altyn-consent/keycheck/v1\n";
const SQLITE_PLAIN_HEADER: &[u8] = b"SQLite format 3\0";
/// Meta key of the state fold snapshot.
const FOLD_SNAPSHOT: &str = "fold_snapshot";

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("migrations/001_initial.sql")),
        M::up(include_str!("migrations/002_receipts.sql")),
    ])
}

/// `PRAGMA application_id` is set by the first migration (as "ALYC").
#[cfg(test)]
#[test]
fn the_first_migration_sets_the_application_id() {
    assert!(include_str!("migrations/001_initial.sql")
        .contains(&format!("PRAGMA application_id = {APPLICATION_ID};")));
}

/// The newest schema version this build knows.
pub fn latest_schema_version() -> usize {
    2
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the database key does not open this consent store (the key check in {KEYCHECK_FILE} does not match). \
         Nothing was changed. If the keystore was reset or not restored after a device transfer, \
         restore the consents from the server into a new store"
    )]
    WrongKey,
    #[error(
        "the keystore holds no key for this consent store (id {store_id}); it may have been cleared, \
         or not restored on a new device. Nothing was changed: restore the keystore, \
         or restore the consents from the server into a new store"
    )]
    KeyMissing { store_id: String },
    #[error("the database key could not be loaded: {0}")]
    KeyUnavailable(#[from] KeyError),
    #[error("the keystore returned a key of {len} bytes; a consent store key has {KEY_LEN}")]
    BadKeyLength { len: usize },
    #[error("{path} is not an Altyn consent store: {reason}. It was left as it is")]
    NotAConsentStore { path: String, reason: String },
    #[error(
        "the consent store {path} is damaged: {reason}. The key is right, so the file itself is corrupt. \
         It was left as it is: keep a copy for investigation and restore the consents from the server"
    )]
    Corrupt { path: String, reason: String },
    #[error(
        "the consent store was written by a newer version of the app (schema {found}; this version knows up to {supported}). \
         Update the app; the store was not changed"
    )]
    SchemaTooNew { found: usize, supported: usize },
    #[error("storage error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("could not read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("a stored record could not be read: {0}")]
    Decode(String),
    #[error(transparent)]
    Conflict(#[from] crate::policy::PolicyError),
    #[error("another connection recorded events meanwhile (expected #{expected}, found #{found}); read the store again")]
    HeadMoved { expected: u64, found: u64 },
}

/// What opens the database.
pub enum StoreKey<'a> {
    Provider(&'a dyn KeyProvider),
    /// Plain SQLite with the same library, as a benchmark baseline only.
    #[cfg(feature = "bench-support")]
    PlaintextBaseline,
}

#[derive(Serialize, Deserialize)]
struct KeyCheck {
    format: u32,
    store_id: String,
    key_check: String,
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
}

impl Store {
    /// Opens the store in `dir`, creating it (and its key) if there is none.
    pub fn open(
        dir: &Path,
        key: StoreKey<'_>,
        new_install_id: impl FnOnce() -> String,
    ) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let keycheck_path = dir.join(KEYCHECK_FILE);
        let exists = path.exists();
        let display = path.display().to_string();

        let (conn, store_id) = match key {
            #[cfg(feature = "bench-support")]
            StoreKey::PlaintextBaseline => {
                (Connection::open(&path)?, "plaintext-baseline".to_string())
            }
            StoreKey::Provider(provider) => {
                if exists {
                    check_not_plain_sqlite(&path)?;
                }
                let keycheck = read_keycheck(&keycheck_path)?;
                let (store_id, key) = match (exists, keycheck) {
                    (true, None) => {
                        return Err(StoreError::NotAConsentStore {
                            path: display,
                            reason: format!("its key check file {KEYCHECK_FILE} is missing, so its key cannot be found"),
                        })
                    }
                    (_, Some(check)) => {
                        let key = match provider.load(&check.store_id)? {
                            Some(key) => key,
                            None if !exists => {
                                // Created the key check but crashed before the key was saved.
                                let key = new_key()?;
                                provider.save(&check.store_id, &key)?;
                                key
                            }
                            None => return Err(StoreError::KeyMissing { store_id: check.store_id }),
                        };
                        if key.len() != KEY_LEN {
                            return Err(StoreError::BadKeyLength { len: key.len() });
                        }
                        if key_check(&key) != check.key_check {
                            return Err(StoreError::WrongKey);
                        }
                        (check.store_id, key)
                    }
                    (false, None) => {
                        let store_id = uuid::Uuid::new_v4().to_string();
                        let key = new_key()?;
                        provider.save(&store_id, &key)?;
                        let check = KeyCheck { format: 1, store_id: store_id.clone(), key_check: key_check(&key) };
                        let json = serde_json::to_vec_pretty(&check).expect("key check serialises");
                        keys::write_private_file(&keycheck_path, &json)
                            .map_err(|source| StoreError::Io { path: keycheck_path.display().to_string(), source })?;
                        (store_id, key)
                    }
                };
                let conn = Connection::open(&path)?;
                let pragma = Zeroizing::new(format!("PRAGMA key = \"x'{}'\";", hex::encode(&*key)));
                conn.execute_batch(&pragma)?;
                // SQLCipher would print its own decryption failures to stderr
                // (or logcat); our errors say the same, in words a user can act on.
                conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
                (conn, store_id)
            }
        };

        let mut store = Store {
            conn,
            path,
            store_id,
        };
        store.configure(exists)?;
        store.migrate()?;
        if store.meta("install_id")?.is_none() {
            store.set_meta("install_id", &new_install_id())?;
            store.set_meta(
                "created_at",
                &crate::ledger::format_time(time::OffsetDateTime::now_utc()),
            )?;
        }
        Ok(store)
    }

    fn corrupt(&self, e: rusqlite::Error) -> StoreError {
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
                StoreError::Corrupt {
                    path: self.path.display().to_string(),
                    reason: e.to_string(),
                }
            }
            _ => StoreError::Sqlite(e),
        }
    }

    fn configure(&mut self, existed: bool) -> Result<(), StoreError> {
        // The first read decrypts page 1: with a right key (checked above) a
        // failure here means the file is damaged.
        let app_id: i32 = self
            .conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| self.corrupt(e))?;
        let tables: i64 = self
            .conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| self.corrupt(e))?;
        if existed && tables > 0 && app_id != APPLICATION_ID {
            return Err(StoreError::NotAConsentStore {
                path: self.path.display().to_string(),
                reason: format!("its application id is {app_id:#x}, not {APPLICATION_ID:#x}"),
            });
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
        self.conn.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let found: usize =
            self.conn
                .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
        let supported = latest_schema_version();
        if found > supported {
            return Err(StoreError::SchemaTooNew { found, supported });
        }
        migrations()
            .to_latest(&mut self.conn)
            .map_err(|e| match e {
                rusqlite_migration::Error::RusqliteError { err, .. } => self.corrupt(err),
                other => StoreError::Decode(format!("schema migration failed: {other}")),
            })?;
        self.conn
            .pragma_update(None, "application_id", APPLICATION_ID)?;
        Ok(())
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
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
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
            .map_err(|e| StoreError::Decode(e.to_string()))?;
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
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
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
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.corrupt(e))
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
        let body = serde_json::to_string(doc).map_err(|e| StoreError::Decode(e.to_string()))?;
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
        let body = serde_json::to_string(catalog).map_err(|e| StoreError::Decode(e.to_string()))?;
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
            return Err(StoreError::Decode(
                "restore needs an empty store; this one already holds events".into(),
            ));
        }
        for event in events {
            let body = String::from_utf8(
                crate::canonical::to_canonical_json(event)
                    .map_err(|e| StoreError::Decode(e.to_string()))?,
            )
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
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )?;
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
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| self.corrupt(e))?;
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
    getrandom::fill(&mut key).map_err(|e| {
        StoreError::KeyUnavailable(KeyError::Unavailable(format!("no system randomness: {e}")))
    })?;
    Ok(key)
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

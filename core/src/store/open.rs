//! Opening and creating a store: the key check, the keys, the schema.
//! Only a true first start creates a store (see `lifecycle`); every error
//! path changes nothing.

use std::path::Path;

use rusqlite::TransactionBehavior;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::*;

#[derive(Serialize, Deserialize)]
pub(super) struct KeyCheck {
    pub(super) format: u32,
    pub(super) store_id: String,
    pub(super) key_check: String,
    /// Set while the store is being created; a crash then leaves a first
    /// start to finish, not a lost store.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) pending: bool,
    /// Set (with `pending`) while a recovery builds this store: it is
    /// complete only once the loss is recorded, so a crash before that is
    /// found and recovered again, never taken for an ordinary store.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) recovering: bool,
}

pub(super) fn key_check(key: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(KEYCHECK_DOMAIN);
    h.update(key);
    hex::encode(h.finalize())
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
        // Without `bench-support` the match has one arm.
        #[allow(clippy::infallible_destructuring_match)]
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
        #[allow(clippy::infallible_destructuring_match)]
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
}

pub(super) fn new_key() -> Result<Zeroizing<Vec<u8>>, StoreError> {
    let mut key = Zeroizing::new(vec![0u8; KEY_LEN]);
    getrandom::fill(&mut key)
        .map_err(|e| StoreError::KeyUnavailable(format!("no system randomness: {e}")))?;
    Ok(key)
}

/// The key of an existing store, checked against its key check.
pub(super) fn load_key(
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

pub(super) fn check_key(key: &[u8], check: &KeyCheck) -> Result<(), StoreError> {
    if key.len() != KEY_LEN {
        return Err(StoreError::BadKeyLength { len: key.len() });
    }
    if key_check(key) != check.key_check {
        return Err(StoreError::WrongKey);
    }
    Ok(())
}

pub(super) fn write_keycheck(path: &Path, check: &KeyCheck) -> Result<(), StoreError> {
    let json = serde_json::to_vec_pretty(check).expect("key check serialises");
    keys::write_private_file(path, &json).map_err(|source| StoreError::Io {
        path: path.display().to_string(),
        source,
    })
}

pub(super) fn read_keycheck(path: &Path) -> Result<Option<KeyCheck>, StoreError> {
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

pub(super) fn check_not_plain_sqlite(path: &Path) -> Result<(), StoreError> {
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

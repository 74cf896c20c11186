//! A store's life: what a folder holds before it is opened (first start,
//! an existing store, a creation cut short, or one of the ways a store is
//! lost), how a store is created so that a crash never looks like a loss,
//! read-only connections that write nothing, and the quarantine that
//! recovery moves unreadable files into (kept, never deleted).

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};
use zeroize::Zeroizing;

use super::open::{
    check_key, check_not_plain_sqlite, key_check, new_key, read_keycheck, write_keycheck,
};
use super::{KeyCheck, KeyProvider, StoreError, DB_FILE, KEYCHECK_FILE};

/// Every SQLCipher page of a consent store has this size, so a file whose
/// length is not a whole number of pages was cut short.
const PAGE_SIZE: u64 = 4096;
/// The folder, inside a store's folder, that recovery moves files into.
pub const QUARANTINE_DIR: &str = "quarantine";
/// The files that make up a store.
pub const STORE_FILES: [&str; 5] = [
    DB_FILE,
    "consent.db-wal",
    "consent.db-shm",
    "consent.db-journal",
    KEYCHECK_FILE,
];

pub(super) enum Found {
    FirstStart,
    Existing(KeyCheck),
    /// A first start that was cut short before the store was complete.
    CreationInterrupted(KeyCheck),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn size_of(path: &Path) -> Result<Option<u64>, StoreError> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(m.len())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// Looks at the folder (and the keystore's installation marker) without
/// changing anything.
pub(super) fn probe(
    dir: &Path,
    provider: &dyn KeyProvider,
    marker: &str,
) -> Result<Found, StoreError> {
    let db = dir.join(DB_FILE);
    let db_size = size_of(&db)?;
    let check = read_keycheck(&dir.join(KEYCHECK_FILE))?;
    let dir_name = dir.display().to_string();
    match (db_size, check) {
        (Some(size), check) => {
            if size >= 16 {
                check_not_plain_sqlite(&db)?;
            }
            let Some(check) = check else {
                return Err(StoreError::NotAConsentStore {
                    path: db.display().to_string(),
                    reason: format!(
                        "its key check file {KEYCHECK_FILE} is missing, so its key cannot be found"
                    ),
                });
            };
            if check.pending && check.recovering {
                return Err(StoreError::Damaged {
                    reason:
                        "a recovery was interrupted before it recorded the loss; recover again \
                             (this half-made store is moved aside too)"
                            .into(),
                });
            }
            if check.pending {
                // Created but never completed: it holds no decision yet.
                return Ok(Found::CreationInterrupted(check));
            }
            if size == 0 {
                return Err(StoreError::Damaged {
                    reason: format!("{} is empty (zero bytes)", db.display()),
                });
            }
            if size % PAGE_SIZE != 0 {
                return Err(StoreError::Damaged {
                    reason: format!(
                        "{} was cut short: {size} bytes is not a whole number of {PAGE_SIZE}-byte pages",
                        db.display()
                    ),
                });
            }
            Ok(Found::Existing(check))
        }
        (None, Some(check)) if check.pending && !check.recovering => {
            Ok(Found::CreationInterrupted(check))
        }
        (None, Some(check)) if check.pending => Err(StoreError::StoreMissing {
            dir: dir_name,
            store_id: Some(check.store_id),
            trace: "a recovery was interrupted and left its key check".into(),
        }),
        (None, Some(check)) => Err(StoreError::StoreMissing {
            dir: dir_name,
            store_id: Some(check.store_id),
            trace: format!("its key check file {KEYCHECK_FILE} is still there"),
        }),
        (None, None) => {
            for leftover in ["consent.db-wal", "consent.db-shm", "consent.db-journal"] {
                if dir.join(leftover).exists() {
                    return Err(StoreError::StoreMissing {
                        dir: dir_name,
                        store_id: None,
                        trace: format!("its journal {leftover} is still there"),
                    });
                }
            }
            if dir.join(QUARANTINE_DIR).is_dir() {
                return Err(StoreError::StoreMissing {
                    dir: dir_name,
                    store_id: None,
                    trace: format!("an earlier store was recovered ({QUARANTINE_DIR}/ is there)"),
                });
            }
            if let Some(id) = provider.load(marker)? {
                return Err(StoreError::StoreMissing {
                    dir: dir_name,
                    store_id: Some(String::from_utf8_lossy(&id).into_owned()),
                    trace: "the keystore still holds this installation's marker and key".into(),
                });
            }
            Ok(Found::FirstStart)
        }
    }
}

/// First steps of a first start: a key, saved in the keystore; a pending
/// key check; the installation marker. The database comes next, then
/// [`finish_creation`].
pub(super) fn begin_creation(
    dir: &Path,
    provider: &dyn KeyProvider,
    marker: &str,
    recovering: bool,
) -> Result<(KeyCheck, Zeroizing<Vec<u8>>), StoreError> {
    create_private_dir(dir)?;
    let store_id = uuid::Uuid::new_v4().to_string();
    let key = new_key()?;
    provider.save(&store_id, &key)?;
    let check = KeyCheck {
        format: 1,
        store_id: store_id.clone(),
        key_check: key_check(&key),
        pending: true,
        recovering,
    };
    write_keycheck(&dir.join(KEYCHECK_FILE), &check)?;
    provider.save(marker, store_id.as_bytes())?;
    check_key(&key, &check)?;
    Ok((check, key))
}

/// The database is complete: the key check stops saying "pending".
pub(super) fn finish_creation(dir: &Path, check: &KeyCheck) -> Result<(), StoreError> {
    let done = KeyCheck {
        format: check.format,
        store_id: check.store_id.clone(),
        key_check: check.key_check.clone(),
        pending: false,
        recovering: false,
    };
    write_keycheck(&dir.join(KEYCHECK_FILE), &done)
}

/// Makes the store's folder, readable by its owner only.
pub(super) fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(io(dir))
}

/// Opens the database file. Read-only connections never create, change or
/// delete a file: with no write-ahead log waiting, the file is opened as
/// immutable (no lock files, no journal); with one, read-only, so that the
/// committed transactions in it are seen.
pub(super) fn connect(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    if !read_only {
        return Ok(Connection::open(path)?);
    }
    let wal = path.with_file_name("consent.db-wal");
    let pending_wal = size_of(&wal)?.is_some_and(|n| n > 0);
    let uri = format!(
        "file:{}?{}",
        uri_path(path),
        if pending_wal {
            "mode=ro"
        } else {
            "immutable=1"
        }
    );
    Ok(Connection::open_with_flags(
        uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?)
}

/// A path as the path part of an SQLite `file:` URI (RFC 3986 escaping).
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for byte in path.to_string_lossy().bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// A folder of files that recovery moved aside.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Quarantined {
    /// The folder, `quarantine/<UTC time>-<reason>` in the store's folder.
    pub path: PathBuf,
    /// The files in it and their sizes in bytes.
    pub files: Vec<(String, u64)>,
}

/// Moves the store's files (whichever exist) into a new dated folder under
/// `quarantine/`, and returns it. Nothing is deleted.
pub fn quarantine(dir: &Path, stamp: &str, reason: &str) -> Result<PathBuf, StoreError> {
    let base = dir.join(QUARANTINE_DIR);
    create_private_dir(&base)?;
    let mut target = base.join(format!("{stamp}-{reason}"));
    let mut n = 2;
    while target.exists() {
        target = base.join(format!("{stamp}-{reason}-{n}"));
        n += 1;
    }
    create_private_dir(&target)?;
    for name in STORE_FILES {
        let from = dir.join(name);
        if from.exists() {
            std::fs::rename(&from, target.join(name)).map_err(io(&from))?;
        }
    }
    for folder in [&target, &base, &dir.to_path_buf()] {
        if let Ok(handle) = std::fs::File::open(folder) {
            let _ = handle.sync_all();
        }
    }
    Ok(target)
}

/// The quarantine folders of a store's folder, oldest first.
pub fn list_quarantine(dir: &Path) -> Vec<Quarantined> {
    let Ok(entries) = std::fs::read_dir(dir.join(QUARANTINE_DIR)) else {
        return Vec::new();
    };
    let mut out: Vec<Quarantined> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let mut files: Vec<(String, u64)> = std::fs::read_dir(e.path())
                .map(|files| {
                    files
                        .filter_map(Result::ok)
                        .map(|f| {
                            let size = f.metadata().map(|m| m.len()).unwrap_or(0);
                            (f.file_name().to_string_lossy().into_owned(), size)
                        })
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            Quarantined {
                path: e.path(),
                files,
            }
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_paths_escape_what_sqlite_would_read_as_syntax() {
        assert_eq!(uri_path(Path::new("/a b/c?d#e%f")), "/a%20b/c%3Fd%23e%25f");
        assert_eq!(uri_path(Path::new("/tmp/x-1_2.db")), "/tmp/x-1_2.db");
    }
}

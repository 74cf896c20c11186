//! Where the database key lives. The core never touches a platform keystore
//! itself: the shell hands in a [`KeyProvider`] (Android Keystore, iOS
//! Keychain); the desktop has `KeyringKeyProvider` (feature
//! `desktop-keyring`) and [`FileKeyProvider`].

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use zeroize::Zeroizing;

// The keyring crate has no Android or iOS store of its own and would keep
// the key in memory only: the store could never be opened again.
#[cfg(all(
    feature = "desktop-keyring",
    any(target_os = "android", target_os = "ios")
))]
compile_error!(
    "the desktop-keyring feature is for desktops: apps hand the key in through KeyProvider (Android Keystore, iOS Keychain)"
);

/// Length of the raw SQLCipher key.
pub const KEY_LEN: usize = 32;

/// A keystore's failure. Neither variant means "the key is gone": that is
/// `Ok(None)` from [`KeyProvider::load`]. The message names the keystore and
/// never holds key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// The keystore is locked or busy (a device not yet unlocked after a
    /// reboot, a Keystore operation in progress): try again later.
    #[error("the keystore is locked or busy: {0}")]
    Locked(String),
    /// The keystore failed otherwise (no keyring service, an I/O error).
    #[error("the keystore is not available: {0}")]
    Unavailable(String),
}

/// Stores and returns the random 256-bit key of a consent store, by the
/// store's id. Implementations keep the key in the platform's keystore.
pub trait KeyProvider: Send + Sync {
    /// The bytes saved for `store_id`, or `None` if there are none or they
    /// are gone for good (then the store's key is lost: recover). A locked
    /// or busy keystore is [`KeyError::Locked`] (try again), never `None`.
    fn load(&self, store_id: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError>;
    /// Saves or replaces the bytes for `store_id`: a store's key when it is
    /// created, and the installation marker ([`super::DEFAULT_INSTALLATION_MARKER`]),
    /// which is saved again when a recovered store replaces a lost one.
    fn save(&self, store_id: &str, key: &[u8]) -> Result<(), KeyError>;
}

/// Keeps keys in memory only: for tests and the throw-away demo store.
#[derive(Default)]
pub struct MemoryKeyProvider {
    keys: Mutex<HashMap<String, Zeroizing<Vec<u8>>>>,
}

impl KeyProvider for MemoryKeyProvider {
    fn load(&self, store_id: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
        Ok(self
            .keys
            .lock()
            .expect("key map lock")
            .get(store_id)
            .cloned())
    }
    fn save(&self, store_id: &str, key: &[u8]) -> Result<(), KeyError> {
        self.keys
            .lock()
            .expect("key map lock")
            .insert(store_id.to_string(), Zeroizing::new(key.to_vec()));
        Ok(())
    }
}

/// Keeps each key in a file readable only by its owner (mode 0600), in a
/// directory the user chooses, kept apart from the database. For developers
/// on machines without a persistent keyring; a device uses its keystore.
pub struct FileKeyProvider {
    dir: PathBuf,
}

impl FileKeyProvider {
    /// Keys in `dir` (created with mode 0700 on the first save), one
    /// `<store id>.key` file each, hex.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileKeyProvider { dir: dir.into() }
    }

    fn path(&self, store_id: &str) -> PathBuf {
        let safe: String = store_id
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        self.dir.join(format!("{safe}.key"))
    }
}

impl KeyProvider for FileKeyProvider {
    fn load(&self, store_id: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
        let path = self.path(store_id);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let text = Zeroizing::new(text);
                hex::decode(text.trim())
                    .map(|k| Some(Zeroizing::new(k)))
                    .map_err(|_| {
                        KeyError::Unavailable(format!("key file {} is not hex", path.display()))
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(KeyError::Unavailable(format!(
                "cannot read key file {}: {e}",
                path.display()
            ))),
        }
    }

    fn save(&self, store_id: &str, key: &[u8]) -> Result<(), KeyError> {
        let path = self.path(store_id);
        let fail = |e: std::io::Error| {
            KeyError::Unavailable(format!("cannot write key file {}: {e}", path.display()))
        };
        let mut folder = std::fs::DirBuilder::new();
        folder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            folder.mode(0o700);
        }
        folder.create(&self.dir).map_err(fail)?;
        write_private_file(&path, hex::encode(key).as_bytes()).map_err(fail)
    }
}

/// Writes a file atomically (temporary file, fsync, rename) with mode 0600.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent() {
        // Make the rename itself durable.
        if let Ok(dir) = std::fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// The operating system's keyring through the `keyring` crate (macOS's
/// default; elsewhere on request, as the 0600 key file is the default). On Linux this is the kernel keyutils store, which works
/// headless (no D-Bus, no desktop session) but lives in memory: it does not
/// survive a reboot. A store whose key is gone reports "key missing" and is
/// left untouched. On macOS it is the login Keychain, on Windows the
/// Credential Manager.
#[cfg(feature = "desktop-keyring")]
pub struct KeyringKeyProvider {
    service: String,
}

#[cfg(feature = "desktop-keyring")]
impl KeyringKeyProvider {
    const SERVICE: &'static str = "kz.altyncoin.consent";

    /// The keyring's entries of service `kz.altyncoin.consent`, one per
    /// store id.
    pub fn new() -> Self {
        KeyringKeyProvider {
            service: Self::SERVICE.into(),
        }
    }

    fn entry(&self, store_id: &str) -> Result<keyring::Entry, KeyError> {
        keyring::Entry::new(&self.service, store_id).map_err(|e| {
            KeyError::Unavailable(format!("OS keyring: {}", describe_keyring_error(&e)))
        })
    }
}

#[cfg(feature = "desktop-keyring")]
impl Default for KeyringKeyProvider {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "desktop-keyring")]
fn describe_keyring_error(e: &keyring::Error) -> String {
    // The crate's messages name the entry, never the secret.
    match e {
        keyring::Error::PlatformFailure(inner) | keyring::Error::NoStorageAccess(inner) => {
            inner.to_string()
        }
        other => other.to_string(),
    }
}

/// A keyring that refuses access (a locked collection, a denied prompt) is
/// locked, not empty.
#[cfg(feature = "desktop-keyring")]
fn keyring_failure(e: &keyring::Error) -> KeyError {
    let why = format!("OS keyring: {}", describe_keyring_error(e));
    match e {
        keyring::Error::NoStorageAccess(_) => KeyError::Locked(why),
        _ => KeyError::Unavailable(why),
    }
}

#[cfg(feature = "desktop-keyring")]
impl KeyProvider for KeyringKeyProvider {
    fn load(&self, store_id: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
        match self.entry(store_id)?.get_secret() {
            Ok(secret) => Ok(Some(Zeroizing::new(secret))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_failure(&e)),
        }
    }

    fn save(&self, store_id: &str, key: &[u8]) -> Result<(), KeyError> {
        self.entry(store_id)?
            .set_secret(key)
            .map_err(|e| keyring_failure(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_provider_round_trips_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let provider = FileKeyProvider::new(dir.path().join("keys"));
        assert_eq!(provider.load("abc").unwrap(), None);
        provider.save("abc", &[7u8; KEY_LEN]).unwrap();
        assert_eq!(
            provider.load("abc").unwrap().unwrap().as_slice(),
            &[7u8; KEY_LEN]
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("keys/abc.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(all(feature = "desktop-keyring", target_os = "linux"))]
    #[test]
    fn keyring_provider_round_trips_through_kernel_keyutils() {
        let provider = KeyringKeyProvider {
            service: "kz.altyncoin.consent.test".into(),
        };
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(provider.load(&id).unwrap(), None);
        provider.save(&id, &[9u8; KEY_LEN]).unwrap();
        assert_eq!(
            provider.load(&id).unwrap().unwrap().as_slice(),
            &[9u8; KEY_LEN]
        );
        provider.entry(&id).unwrap().delete_credential().unwrap();
    }
}

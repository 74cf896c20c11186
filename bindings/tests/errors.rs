//! The library's error enum and foreign traits, as the shells meet them:
//! each store failure becomes the variant that says what to do, the file is
//! kept, and the observer hears each change.

mod common;
use common::MemoryKeys;

use std::path::Path;
use std::sync::{Arc, Mutex};

use altyn_consent::{
    AppInfo, ConsentCore, ConsentError, ConsentState, KeyProvider, OpenConfig, PlatformError,
    StateObserver,
};
use altyn_consent_core::store::{KeyProvider as _, MemoryKeyProvider, Store, StoreKey, DB_FILE};

/// A keystore that cannot be reached (locked device, broken Keystore).
struct LockedKeys;

impl KeyProvider for LockedKeys {
    fn load_key(&self, _: String) -> Result<Option<Vec<u8>>, PlatformError> {
        Err(PlatformError::Locked {
            reason: "the Keystore is locked".into(),
        })
    }
    fn save_key(&self, _: String, _: Vec<u8>) -> Result<(), PlatformError> {
        Err(PlatformError::Locked {
            reason: "the Keystore is locked".into(),
        })
    }
}

/// A keystore that fails for some other reason than being locked.
struct BrokenKeys;

impl KeyProvider for BrokenKeys {
    fn load_key(&self, _: String) -> Result<Option<Vec<u8>>, PlatformError> {
        Err(PlatformError::Failed {
            reason: "KeyStoreException: the provider is broken".into(),
        })
    }
    fn save_key(&self, _: String, _: Vec<u8>) -> Result<(), PlatformError> {
        Err(PlatformError::Failed {
            reason: "KeyStoreException: the provider is broken".into(),
        })
    }
}

fn config(dir: &Path) -> OpenConfig {
    OpenConfig {
        data_dir: dir.to_string_lossy().into_owned(),
        app: AppInfo {
            platform: "android".into(),
            app_version: "1.0.0-test".into(),
            os_version: "test".into(),
        },
        server_keys: Vec::new(),
    }
}

/// A store with one accepted policy; returns the keystore that holds its key.
fn store_with_one_event(dir: &Path) -> Arc<MemoryKeys> {
    let keys = Arc::new(MemoryKeys::default());
    let core = ConsentCore::open(config(dir), keys.clone()).unwrap();
    let policy = core.policy("ru".into());
    core.accept_policy(
        policy.reference.version,
        policy.reference.hash,
        "ru".into(),
        true,
    )
    .unwrap();
    keys
}

fn open_error(dir: &Path, keys: Arc<dyn KeyProvider>) -> ConsentError {
    match ConsentCore::open(config(dir), keys) {
        Ok(_) => panic!("the store opened"),
        Err(e) => e,
    }
}

#[test]
fn a_damaged_file_is_store_damaged_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let keys = store_with_one_event(dir.path());
    let db = dir.path().join(DB_FILE);
    let mut bytes = std::fs::read(&db).unwrap();
    for b in &mut bytes[100..400] {
        *b ^= 0x5a;
    }
    std::fs::write(&db, &bytes).unwrap();
    let _ = std::fs::remove_file(dir.path().join("consent.db-wal"));
    let err = open_error(dir.path(), keys);
    assert!(matches!(err, ConsentError::StoreDamaged { .. }), "{err:?}");
    assert!(err.to_string().contains("restore"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), bytes);
}

#[test]
fn a_store_from_a_newer_app_is_store_too_new() {
    let dir = tempfile::tempdir().unwrap();
    let keys = store_with_one_event(dir.path());
    {
        // Open the raw store with the same key, as a newer app would, and
        // move its schema on.
        let core_keys = MemoryKeyProvider::default();
        for (id, key) in keys.0.lock().unwrap().iter() {
            core_keys.save(id, key).unwrap();
        }
        let store = Store::open(dir.path(), StoreKey::Provider(&core_keys), || {
            unreachable!("the store exists")
        })
        .unwrap();
        store
            .connection_for_tests()
            .pragma_update(None, "user_version", 99)
            .unwrap();
    }
    let err = open_error(dir.path(), keys);
    assert!(matches!(err, ConsentError::StoreTooNew { .. }), "{err:?}");
    assert!(err.to_string().contains("Update the app"), "{err}");
}

#[test]
fn a_locked_keystore_is_key_locked_and_a_bad_key_is_key_lost() {
    // Locked is transient: the advice is to try again, never to recover.
    let dir = tempfile::tempdir().unwrap();
    let store_keys = store_with_one_event(dir.path());
    let before = std::fs::read(dir.path().join("consent.db")).unwrap();
    for broken in [
        Arc::new(LockedKeys) as Arc<dyn KeyProvider>,
        Arc::new(BrokenKeys),
    ] {
        let err = open_error(dir.path(), broken);
        assert!(matches!(err, ConsentError::KeyLocked { .. }), "{err:?}");
        assert!(err.to_string().contains("try again"), "{err}");
        assert!(!err.to_string().contains("recover ("), "{err}");
    }
    assert_eq!(
        std::fs::read(dir.path().join("consent.db")).unwrap(),
        before
    );
    drop(store_keys);

    let dir = tempfile::tempdir().unwrap();
    let keys = store_with_one_event(dir.path());
    for key in keys.0.lock().unwrap().values_mut() {
        key.truncate(16);
    }
    let err = open_error(dir.path(), keys);
    assert!(matches!(err, ConsentError::KeyLost { .. }), "{err:?}");
    assert!(err.to_string().contains("32"), "{err}");
}

#[derive(Default)]
struct Seen(Mutex<Vec<ConsentState>>);

impl StateObserver for Seen {
    fn on_state_changed(&self, state: ConsentState) {
        self.0.lock().unwrap().push(state);
    }
}

#[test]
fn observers_hear_each_change_until_removed() {
    let dir = tempfile::tempdir().unwrap();
    let core = ConsentCore::open(config(dir.path()), Arc::new(MemoryKeys::default())).unwrap();
    let seen = Arc::new(Seen::default());
    let handle = core.add_observer(seen.clone());
    let policy = core.policy("ru".into());
    let accepted = core
        .accept_policy(
            policy.reference.version,
            policy.reference.hash.clone(),
            "ru".into(),
            true,
        )
        .unwrap();
    let granted = core.set_permission("camera".into(), true).unwrap();
    core.set_permission("camera".into(), true).unwrap();
    assert_eq!(*seen.0.lock().unwrap(), vec![accepted, granted]);
    assert!(core.remove_observer(handle));
    core.withdraw("camera".into()).unwrap();
    assert_eq!(seen.0.lock().unwrap().len(), 2);
}

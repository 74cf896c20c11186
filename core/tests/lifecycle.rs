//! A store's life without silent loss: only a true first start creates a
//! store; every other unreadable state is an error of its own kind and
//! changes no byte; reads write nothing; recovery is explicit and keeps
//! what it moves aside.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use altyn_consent_core::ledger::EventKind;
use altyn_consent_core::store::{
    KeyError, KeyProvider, MemoryKeyProvider, StoreError, DB_FILE, KEYCHECK_FILE, QUARANTINE_DIR,
};
use altyn_consent_core::{ConsentClient, ConsentError, ErrorKind};
use common::{accept, config, fresh};
use zeroize::Zeroizing;

/// Every file under `dir`, by relative path, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn kind_of(result: Result<ConsentClient, ConsentError>) -> (ErrorKind, String) {
    match result {
        Err(e) => (e.kind(), e.to_string()),
        Ok(_) => panic!("expected the store to refuse to open"),
    }
}

/// A store with a few decisions, closed (no write-ahead log left).
fn store_with_events(dir: &Path, keys: &Arc<MemoryKeyProvider>) {
    let client = ConsentClient::open(config(dir, keys.clone())).unwrap();
    accept(&client);
    client.set_permission("camera", true).unwrap();
    client.set_permission("contacts", false).unwrap();
}

/// A keystore that counts what is saved into it.
struct Watched {
    inner: Arc<dyn KeyProvider>,
    saves: std::sync::atomic::AtomicUsize,
}

impl KeyProvider for Watched {
    fn load(&self, id: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
        self.inner.load(id)
    }
    fn save(&self, id: &str, key: &[u8]) -> Result<(), KeyError> {
        self.saves.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.save(id, key)
    }
}

/// Opens read-write and read-only; both must fail with `kind` and leave
/// every file, and the keystore, as they were.
fn refused_untouched(dir: &Path, keys: Arc<dyn KeyProvider>, kind: ErrorKind) -> String {
    let before = snapshot(dir);
    let existed = dir.exists();
    let watched = Arc::new(Watched {
        inner: keys,
        saves: Default::default(),
    });
    let (got, message) = kind_of(ConsentClient::open(config(dir, watched.clone())));
    assert_eq!(got, kind, "{message}");
    let (got_ro, _) = kind_of(ConsentClient::open_read_only(config(dir, watched.clone())));
    assert_eq!(got_ro, kind);
    assert_eq!(snapshot(dir), before, "opening changed the folder");
    assert_eq!(dir.exists(), existed, "opening created the folder");
    assert_eq!(
        watched.saves.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "opening wrote to the keystore"
    );
    message
}

#[test]
fn a_true_first_start_creates_a_store_and_a_read_before_it_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let keys = Arc::new(MemoryKeyProvider::default());
    let (kind, _) = kind_of(ConsentClient::open_read_only(config(&store, keys.clone())));
    assert_eq!(kind, ErrorKind::NoStoreYet);
    assert!(!store.exists(), "a read created the folder");
    assert_eq!(keys.load("altyn-consent-installation").unwrap(), None);

    let client = ConsentClient::open(config(&store, keys.clone())).unwrap();
    assert_eq!(client.event_count(), 0);
    // The keystore now remembers that this installation has a store.
    assert!(keys.load("altyn-consent-installation").unwrap().is_some());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&store).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "the store's folder is private");
    }
}

#[test]
fn a_zero_length_store_is_damaged_and_kept() {
    let (dir, keys) = common::accepted_and_closed();
    std::fs::write(dir.path().join(DB_FILE), b"").unwrap();
    let message = refused_untouched(dir.path(), keys, ErrorKind::StoreDamaged);
    assert!(
        message.contains("empty") && message.contains("recover"),
        "{message}"
    );
}

#[test]
fn a_store_cut_short_is_damaged_and_kept() {
    let (dir, keys) = common::accepted_and_closed();
    let db = dir.path().join(DB_FILE);
    let bytes = std::fs::read(&db).unwrap();
    std::fs::write(&db, &bytes[..bytes.len() - 1000]).unwrap();
    let message = refused_untouched(dir.path(), keys, ErrorKind::StoreDamaged);
    assert!(message.contains("cut short"), "{message}");
}

#[test]
fn a_deleted_store_whose_key_check_is_left_is_missing() {
    let (dir, keys) = common::accepted_and_closed();
    std::fs::remove_file(dir.path().join(DB_FILE)).unwrap();
    let message = refused_untouched(dir.path(), keys, ErrorKind::StoreMissing);
    assert!(
        message.contains("is gone") && message.contains("key check"),
        "{message}"
    );
}

#[test]
fn an_emptied_folder_is_missing_while_the_keystore_remembers_the_installation() {
    // iOS: an app reinstall removes the files; the Keychain keeps the key
    // and the installation marker. That is a lost ledger, not a first start.
    let (dir, keys) = common::accepted_and_closed();
    for name in [DB_FILE, KEYCHECK_FILE] {
        std::fs::remove_file(dir.path().join(name)).unwrap();
    }
    let message = refused_untouched(dir.path(), keys.clone(), ErrorKind::StoreMissing);
    assert!(message.contains("keystore"), "{message}");
    // The folder itself gone: the same.
    std::fs::remove_dir_all(dir.path()).unwrap();
    refused_untouched(dir.path(), keys, ErrorKind::StoreMissing);
}

#[test]
fn a_store_without_its_key_is_key_lost_and_untouched() {
    let dir = tempfile::tempdir().unwrap();
    store_with_events(dir.path(), &Arc::new(MemoryKeyProvider::default()));
    let message = refused_untouched(
        dir.path(),
        Arc::new(MemoryKeyProvider::default()),
        ErrorKind::KeyLost,
    );
    assert!(message.contains("recover"), "{message}");
}

/// A keystore that is locked (a device before its first unlock).
struct Locked;

impl KeyProvider for Locked {
    fn load(&self, _: &str) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
        Err(KeyError::Locked("the device is locked".into()))
    }
    fn save(&self, _: &str, _: &[u8]) -> Result<(), KeyError> {
        Err(KeyError::Locked("the device is locked".into()))
    }
}

#[test]
fn a_locked_keystore_is_transient_never_a_loss() {
    let dir = tempfile::tempdir().unwrap();
    store_with_events(dir.path(), &Arc::new(MemoryKeyProvider::default()));
    let message = refused_untouched(dir.path(), Arc::new(Locked), ErrorKind::KeyLocked);
    assert!(
        message.contains("try again") && message.contains("do not recover"),
        "{message}"
    );
    // Nor is a locked keystore on a first start read as "no installation".
    let empty = tempfile::tempdir().unwrap();
    let fresh_dir = empty.path().join("store");
    refused_untouched(&fresh_dir, Arc::new(Locked), ErrorKind::KeyLocked);
    // And recovery refuses to act on it.
    let err = block_on(ConsentClient::recover(
        config(dir.path(), Arc::new(Locked)),
        None,
    ))
    .err()
    .unwrap();
    assert_eq!(err.kind(), ErrorKind::KeyLocked);
}

#[test]
fn reads_write_nothing_even_on_read_only_files() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyProvider::default());
    store_with_events(dir.path(), &keys);
    let before = snapshot(dir.path());
    assert_eq!(
        before.keys().cloned().collect::<Vec<_>>(),
        vec![DB_FILE.to_string(), KEYCHECK_FILE.to_string()],
        "a closed store is its database and its key check"
    );
    #[cfg(unix)]
    set_read_only(dir.path(), true);
    let client = ConsentClient::open_read_only(config(dir.path(), keys.clone())).unwrap();
    assert!(client.is_read_only());
    let state = client.state().unwrap();
    assert_eq!(state.events, 3);
    assert_eq!(client.history().unwrap().len(), 3);
    assert!(client.export().unwrap().contains("altyn-consent-export/2"));
    assert_eq!(client.verify().unwrap().events, 3);
    assert!(client.integrity_glance().unwrap().head_consistent);
    assert_eq!(client.sync_status().unwrap().pending, 3);
    // Anything that would record is refused as a request error.
    let err = client.set_permission("camera", false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    drop(client);
    #[cfg(unix)]
    set_read_only(dir.path(), false);
    assert_eq!(snapshot(dir.path()), before, "a read changed the store");
}

#[cfg(unix)]
fn set_read_only(dir: &Path, read_only: bool) {
    use std::os::unix::fs::PermissionsExt;
    let (file_mode, dir_mode) = if read_only {
        (0o400, 0o500)
    } else {
        (0o600, 0o700)
    };
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file_mode)).unwrap();
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(dir_mode)).unwrap();
}

/// Damages page `page` (0-based) of the store file by flipping its bytes.
fn damage_page(dir: &Path, page: usize) {
    let db = dir.join(DB_FILE);
    let mut bytes = std::fs::read(&db).unwrap();
    for b in &mut bytes[page * 4096 + 100..page * 4096 + 400] {
        *b ^= 0x5a;
    }
    std::fs::write(&db, &bytes).unwrap();
}

/// A store of several pages: 120 decisions.
fn big_store(dir: &Path, keys: &Arc<MemoryKeyProvider>) -> usize {
    let client = ConsentClient::open(config(dir, keys.clone())).unwrap();
    accept(&client);
    for i in 0..60 {
        client.set_permission("camera", i % 2 == 0).unwrap();
        client.set_permission("contacts", i % 2 == 1).unwrap();
    }
    drop(client);
    (std::fs::metadata(dir.join(DB_FILE)).unwrap().len() / 4096) as usize
}

#[test]
fn damage_on_any_page_is_store_damaged_and_kept() {
    let keys = Arc::new(MemoryKeyProvider::default());
    let probe = tempfile::tempdir().unwrap();
    let pages = big_store(probe.path(), &keys);
    assert!(pages >= 8, "{pages} pages");
    for page in [1, pages / 2, pages - 1] {
        let dir = tempfile::tempdir().unwrap();
        let keys = Arc::new(MemoryKeyProvider::default());
        big_store(dir.path(), &keys);
        damage_page(dir.path(), page);
        let before = snapshot(dir.path());
        // Whatever read meets the damaged page first, the kind is the same.
        let kind = match ConsentClient::open_read_only(config(dir.path(), keys.clone())) {
            Err(e) => e.kind(),
            Ok(client) => client.verify().unwrap_err().kind(),
        };
        assert_eq!(kind, ErrorKind::StoreDamaged, "page {page} of {pages}");
        assert_eq!(
            snapshot(dir.path()),
            before,
            "page {page}: the read changed the file"
        );
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn recovery_offline_keeps_the_damaged_files_and_records_the_loss() {
    let (dir, keys, client) = fresh();
    accept(&client);
    let lost_id = {
        let check: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(KEYCHECK_FILE)).unwrap())
                .unwrap();
        check["store_id"].as_str().unwrap().to_string()
    };
    drop(client);
    damage_page(dir.path(), 0);
    let damaged = snapshot(dir.path());

    let recovered = block_on(ConsentClient::recover(
        config(dir.path(), keys.clone()),
        None,
    ))
    .unwrap();
    let report = &recovered.report;
    assert_eq!(report.reason, ErrorKind::StoreDamaged);
    assert_eq!(report.lost_store_id.as_deref(), Some(lost_id.as_str()));
    assert_eq!(report.restored_events, 0);
    // The damaged files are kept, byte for byte, in the dated quarantine.
    let quarantine = std::path::PathBuf::from(report.quarantine.clone().unwrap());
    assert!(quarantine.starts_with(dir.path().join(QUARANTINE_DIR)));
    assert!(quarantine
        .file_name()
        .unwrap()
        .to_string_lossy()
        .ends_with("-store_damaged"));
    assert_eq!(snapshot(&quarantine), damaged);
    // The new ledger starts with the loss, and it verifies.
    let history = recovered.client.history().unwrap();
    assert_eq!(history.len(), 1);
    match &history[0].kind {
        EventKind::StoreRecovered {
            lost_store_id,
            reason,
            quarantine,
            server_head,
        } => {
            assert_eq!(lost_store_id.as_deref(), Some(lost_id.as_str()));
            assert_eq!(reason, "store_damaged");
            assert!(quarantine.is_some());
            assert_eq!(server_head, &None);
        }
        other => panic!("the first event is {other:?}"),
    }
    recovered.client.verify().unwrap();
    assert_eq!(recovered.client.quarantined().len(), 1);
    drop(recovered);
    // It opens again as an ordinary store; the quarantine stays listed.
    let again = ConsentClient::open(config(dir.path(), keys.clone())).unwrap();
    assert_eq!(again.event_count(), 1);
    assert_eq!(again.quarantined()[0].files.len(), 2);
    // A readable store is not recovered.
    drop(again);
    let err = block_on(ConsentClient::recover(config(dir.path(), keys), None))
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
}

#[test]
fn recovery_refuses_a_store_from_a_newer_app_and_moves_nothing() {
    let (dir, keys) = common::accepted_and_closed();
    common::tamper(dir.path(), &keys, |conn| {
        conn.pragma_update(None, "user_version", 99).unwrap()
    });
    let before = snapshot(dir.path());
    let err = block_on(ConsentClient::recover(config(dir.path(), keys), None))
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::StoreTooNew);
    assert!(matches!(
        err,
        ConsentError::Store(StoreError::SchemaTooNew { .. })
    ));
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn a_first_start_cut_short_is_finished_not_reported_as_a_loss() {
    // The key check (pending) is written, the database is not.
    for key_saved in [true, false] {
        let (dir, keys, client) = fresh();
        let id = {
            let check: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.path().join(KEYCHECK_FILE)).unwrap())
                    .unwrap();
            check["store_id"].as_str().unwrap().to_string()
        };
        drop(client);
        std::fs::remove_file(dir.path().join(DB_FILE)).unwrap();
        let mut check: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(KEYCHECK_FILE)).unwrap())
                .unwrap();
        check["pending"] = serde_json::json!(true);
        std::fs::write(dir.path().join(KEYCHECK_FILE), check.to_string()).unwrap();
        let keys: Arc<MemoryKeyProvider> = if key_saved {
            keys
        } else {
            // The keystore kept the marker but lost the key of a store
            // that never held anything.
            let fresh_keys = Arc::new(MemoryKeyProvider::default());
            fresh_keys
                .save("altyn-consent-installation", id.as_bytes())
                .unwrap();
            fresh_keys
        };
        let client = ConsentClient::open(config(dir.path(), keys.clone())).unwrap();
        accept(&client);
        drop(client);
        let check: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(KEYCHECK_FILE)).unwrap())
                .unwrap();
        assert_eq!(check.get("pending"), None, "the creation was completed");
        assert_eq!(
            ConsentClient::open(config(dir.path(), keys))
                .unwrap()
                .event_count(),
            1
        );
    }
}

#[test]
fn a_recovery_cut_short_is_found_and_recovered_again() {
    let (dir, keys) = common::accepted_and_closed();
    std::fs::write(dir.path().join(DB_FILE), b"").unwrap();
    let recovered = block_on(ConsentClient::recover(
        config(dir.path(), keys.clone()),
        None,
    ))
    .unwrap();
    drop(recovered);
    // As if the app had been killed before the loss was recorded: the new
    // store's key check still says "pending, recovering".
    let mut check: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join(KEYCHECK_FILE)).unwrap()).unwrap();
    check["pending"] = serde_json::json!(true);
    check["recovering"] = serde_json::json!(true);
    std::fs::write(dir.path().join(KEYCHECK_FILE), check.to_string()).unwrap();
    let message = refused_untouched(dir.path(), keys.clone(), ErrorKind::StoreDamaged);
    assert!(message.contains("recovery was interrupted"), "{message}");
    let again = block_on(ConsentClient::recover(config(dir.path(), keys), None)).unwrap();
    assert_eq!(again.client.quarantined().len(), 2, "both stores are kept");
    assert_eq!(
        again.client.history().unwrap()[0].kind.name(),
        "store_recovered"
    );
}

#[test]
fn a_read_while_the_app_holds_the_store_sees_its_latest_decisions() {
    let (dir, keys, writer) = fresh();
    accept(&writer);
    writer.set_permission("camera", true).unwrap();
    // The writer is open: its write-ahead log holds the recent pages.
    assert!(dir.path().join("consent.db-wal").exists());
    let reader = ConsentClient::open_read_only(config(dir.path(), keys.clone())).unwrap();
    assert_eq!(reader.state().unwrap().events, 2);
    assert_eq!(reader.verify().unwrap().events, 2);
    writer.set_permission("contacts", false).unwrap();
    let later = ConsentClient::open_read_only(config(dir.path(), keys)).unwrap();
    assert_eq!(later.history().unwrap().len(), 3);
}

#[test]
fn a_garbled_record_is_evidence_and_is_not_recovered_away() {
    // Someone with the key garbles a kept receipt, hoping that the store is
    // taken for damaged and replaced: it is reported as an alteration, and
    // recovery refuses it.
    let (dir, keys) = common::accepted_and_closed();
    common::tamper(dir.path(), &keys, |conn| {
        conn.execute(
            "INSERT INTO receipts (received_at, body) VALUES ('2026-12-01T00:00:00.000Z', 'not a receipt')",
            [],
        )
        .unwrap()
    });
    let client = ConsentClient::open_read_only(config(dir.path(), keys.clone())).unwrap();
    let err = client.verify().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VerificationFailed, "{err}");
    drop(client);
    let before = snapshot(dir.path());
    let err = block_on(ConsentClient::recover(config(dir.path(), keys), None))
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
    assert!(
        err.to_string().contains("evidence of an alteration"),
        "{err}"
    );
    assert_eq!(snapshot(dir.path()), before, "nothing was moved");
}

//! The encrypted store: what a user can act on when something is wrong, and
//! that nothing is ever deleted or rewritten to "recover".

mod common;

use std::path::Path;
use std::sync::Arc;

use altyn_consent_core::store::{
    KeyProvider, MemoryKeyProvider, StoreError, DB_FILE, KEYCHECK_FILE,
};
use altyn_consent_core::{ConsentClient, ConsentError};
use common::{accept, config, fresh, open};
use sha2::{Digest, Sha256};

fn file_digest(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn store_error(result: Result<ConsentClient, ConsentError>) -> StoreError {
    match result {
        Err(ConsentError::Store(e)) => e,
        Err(other) => panic!("expected a store error, got {other}"),
        Ok(_) => panic!("expected the store to refuse to open"),
    }
}

fn store_id(dir: &Path) -> String {
    let check: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(KEYCHECK_FILE)).unwrap()).unwrap();
    check["store_id"].as_str().unwrap().to_string()
}

#[test]
fn the_file_holds_no_plain_text() {
    let (dir, _keys, client) = fresh();
    accept(&client);
    let marker = "MARKER-7d1f0c8e-plain-text";
    client.link_account(marker).unwrap();
    client.set_permission("camera", true).unwrap();
    assert!(
        client
            .history()
            .unwrap()
            .iter()
            .any(|e| e.subject == marker),
        "the marker is stored"
    );
    drop(client);
    for name in [DB_FILE, "consent.db-wal"] {
        let path = dir.path().join(name);
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
                "{name} leaks the marker"
            );
            assert!(
                !bytes.windows(8).any(|w| w == b"altyncoi"),
                "{name} leaks the policy id"
            );
        }
    }
    let header = std::fs::read(dir.path().join(DB_FILE)).unwrap();
    assert_ne!(
        &header[..16],
        b"SQLite format 3\0",
        "not a plain SQLite file"
    );
}

#[test]
fn the_wrong_key_is_refused_and_nothing_changes() {
    let (dir, keys) = common::accepted_and_closed();
    let db = dir.path().join(DB_FILE);
    let before = file_digest(&db);
    let other_keys = Arc::new(MemoryKeyProvider::default());
    other_keys.save(&store_id(dir.path()), &[1u8; 32]).unwrap();
    let err = store_error(ConsentClient::open(config(dir.path(), other_keys)));
    assert!(matches!(err, StoreError::WrongKey), "{err}");
    assert!(err.to_string().contains("Nothing was changed"));
    assert_eq!(file_digest(&db), before);
    // The right key still opens it, with everything in it.
    assert_eq!(open(dir.path(), &keys).history().unwrap().len(), 1);
}

#[test]
fn a_key_lost_from_the_keystore_is_told_apart() {
    let (dir, _keys, client) = fresh();
    accept(&client);
    drop(client);
    let err = store_error(ConsentClient::open(config(
        dir.path(),
        Arc::new(MemoryKeyProvider::default()),
    )));
    assert!(matches!(err, StoreError::KeyMissing { .. }), "{err}");
    assert!(err.to_string().contains("restore"));
    assert!(dir.path().join(DB_FILE).exists());
}

#[test]
fn a_damaged_file_is_reported_as_corrupt_not_as_a_wrong_key() {
    let (dir, keys) = common::accepted_and_closed();
    let db = dir.path().join(DB_FILE);
    let mut bytes = std::fs::read(&db).unwrap();
    for b in &mut bytes[100..400] {
        *b ^= 0x5a;
    }
    std::fs::write(&db, &bytes).unwrap();
    let _ = std::fs::remove_file(dir.path().join("consent.db-wal"));
    let err = store_error(ConsentClient::open(config(dir.path(), keys.clone())));
    assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
    assert!(
        err.to_string().contains("damaged") && err.to_string().contains("recover"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        bytes,
        "the damaged file is kept for investigation"
    );
}

#[test]
fn files_that_are_not_consent_stores_are_refused() {
    // A plain SQLite database.
    let dir = tempfile::tempdir().unwrap();
    rusqlite::Connection::open(dir.path().join(DB_FILE))
        .unwrap()
        .execute_batch("CREATE TABLE t (x);")
        .unwrap();
    let err = store_error(ConsentClient::open(config(
        dir.path(),
        Arc::new(MemoryKeyProvider::default()),
    )));
    assert!(err.to_string().contains("unencrypted SQLite"), "{err}");

    // Random bytes without a key check file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(DB_FILE), vec![0xA5u8; 8192]).unwrap();
    let err = store_error(ConsentClient::open(config(
        dir.path(),
        Arc::new(MemoryKeyProvider::default()),
    )));
    assert!(matches!(err, StoreError::NotAConsentStore { .. }), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join(DB_FILE)).unwrap(),
        vec![0xA5u8; 8192]
    );
}

#[test]
fn a_store_from_a_newer_app_is_refused_untouched() {
    let (dir, keys) = common::accepted_and_closed();
    common::tamper(dir.path(), &keys, |conn| {
        conn.pragma_update(None, "user_version", 99).unwrap()
    });
    let before = file_digest(&dir.path().join(DB_FILE));
    let err = store_error(ConsentClient::open(config(dir.path(), keys.clone())));
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 99,
                supported: 2
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("Update the app"));
    assert_eq!(file_digest(&dir.path().join(DB_FILE)), before);
}

#[test]
fn events_cannot_be_updated_or_deleted_through_sql() {
    let (dir, keys) = common::accepted_and_closed();
    common::tamper(dir.path(), &keys, |conn| {
        let err = conn.execute("DELETE FROM events", []).unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
        let err = conn
            .execute("UPDATE events SET body = '{}'", [])
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
    });
}

#[test]
fn editing_one_event_row_makes_verify_name_it() {
    let (dir, keys, client) = fresh();
    accept(&client);
    client.set_permission("camera", false).unwrap();
    client.set_permission("contacts", true).unwrap();
    let target = client.history().unwrap()[1].clone();
    drop(client);
    // An attacker with the key drops the guard and flips the refusal.
    common::tamper(dir.path(), &keys, |conn| {
        conn.execute_batch("DROP TRIGGER events_are_append_only_update;")
            .unwrap();
        let changed = conn
            .execute("UPDATE events SET body = replace(body, '\"decision\":\"denied\"', '\"decision\":\"granted\"') WHERE seq = 2", [])
            .unwrap();
        assert_eq!(changed, 1);
    });
    let client = open(dir.path(), &keys);
    let err = client.verify().unwrap_err();
    let ConsentError::LedgerBroken(broken) = &err else {
        panic!("expected a broken ledger, got {err}")
    };
    assert_eq!(broken.seq, 2);
    assert_eq!(broken.id, target.id.to_string());
    assert!(err.to_string().contains("event #2"), "{err}");
}

#[test]
fn removing_the_last_event_is_detected() {
    let (dir, keys, client) = fresh();
    accept(&client);
    client.set_permission("camera", true).unwrap();
    drop(client);
    common::tamper(dir.path(), &keys, |conn| {
        conn.execute_batch(
            "DROP TRIGGER events_are_append_only_delete; DELETE FROM outbox WHERE seq = 2; DELETE FROM events WHERE seq = 2;",
        )
        .unwrap()
    });
    let err = open(dir.path(), &keys).verify().unwrap_err();
    assert!(err.to_string().contains("removed from the end"), "{err}");
}

#[test]
fn an_altered_state_snapshot_is_caught_by_verify() {
    let (dir, keys, client) = fresh();
    accept(&client);
    client.set_permission("camera", false).unwrap();
    drop(client);
    {
        let store = common::open_store(dir.path(), &keys);
        let snapshot = store.fold_snapshot().unwrap().unwrap();
        let forged = snapshot.replacen("\"denied\"", "\"granted\"", 1);
        assert_ne!(snapshot, forged);
        store.put_fold_snapshot(&forged).unwrap();
    }
    let client = open(dir.path(), &keys);
    let err = client.verify().unwrap_err();
    assert!(
        err.to_string()
            .contains("snapshot does not match the ledger"),
        "{err}"
    );
}

#[test]
fn a_store_without_a_snapshot_is_folded_from_its_ledger() {
    let (dir, keys, client) = fresh();
    accept(&client);
    client.set_permission("photos", true).unwrap();
    let before = client.state().unwrap();
    drop(client);
    common::tamper(dir.path(), &keys, |conn| {
        conn.execute("DELETE FROM meta WHERE key = 'fold_snapshot'", [])
            .unwrap()
    });
    let client = open(dir.path(), &keys);
    assert_eq!(
        common::consent_of(client.state().unwrap()),
        common::consent_of(before)
    );
    client.verify().unwrap();
}

#[test]
fn two_connections_to_one_store_see_each_other() {
    let (dir, keys, first) = fresh();
    let second = open(dir.path(), &keys);
    accept(&first);
    // The second connection checks its rules against the first one's write.
    let state = second.set_permission("camera", true).unwrap();
    assert_eq!(state.events, 2);
    assert_eq!(
        common::consent_of(first.state().unwrap()),
        common::consent_of(second.state().unwrap())
    );
    first.verify().unwrap();
}

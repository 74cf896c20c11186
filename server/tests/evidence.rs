//! The proof is the chain *and* the server's signed receipts. Someone who
//! holds the store's key can drop the append-only triggers, delete or
//! rewrite events and re-hash the whole chain; they cannot sign a receipt.
//! Each forgery here is made as such an attacker would, with the state
//! snapshot and head kept consistent, and must fail `verify` and the export
//! verifier, naming the receipt. Recovery restores the server's copy.

mod common;

use std::sync::Arc;

use altyn_consent_core::ledger::Event;
use altyn_consent_core::proof::verify_export;
use altyn_consent_core::state::LedgerFold;
use altyn_consent_core::store::{MemoryKeyProvider, Store, StoreKey, DB_FILE};
use altyn_consent_core::sync::{StaticToken, SyncConfig};
use altyn_consent_core::{AppContext, ClientConfig, ConsentClient, ErrorKind};
use altyn_consent_server::{start, RunningServer};

struct Device {
    _dir: tempfile::TempDir,
    server: RunningServer,
    keys: Arc<MemoryKeyProvider>,
    store: std::path::PathBuf,
}

impl Device {
    fn config(&self) -> ClientConfig {
        let mut config = ClientConfig::new(
            &self.store,
            AppContext::new("desktop", "test", "linux"),
            self.keys.clone(),
        );
        config.server_keys = vec![self.server.receipt_key];
        config
    }

    fn open(&self) -> ConsentClient {
        ConsentClient::open(self.config()).unwrap()
    }

    fn sync_config(&self) -> SyncConfig {
        let mut config = SyncConfig::new(
            self.server.base_url.clone(),
            Arc::new(StaticToken("token-1".into())),
        );
        config.server_keys = vec![self.server.receipt_key];
        config.policy_keys = vec![self.server.policy_key];
        config.extra_ca_pem = self.server.ca_pem.clone();
        config
    }

    /// The raw store, as someone holding the key opens it.
    fn raw(&self) -> Store {
        Store::open(&self.store, StoreKey::Provider(self.keys.as_ref()), || {
            unreachable!("the store exists")
        })
        .unwrap()
    }
}

/// A borrower's five decisions, synced: one receipt covers them all. (A
/// withdrawal would add its written statement and the receipt of delivery,
/// a second receipt: `company.rs` covers those.)
async fn synced_device() -> Device {
    let dir = tempfile::tempdir().unwrap();
    let server = start(common::config(
        &dir.path().join("server"),
        &[("token-1", "subject-1")],
    ))
    .await
    .unwrap();
    let device = Device {
        store: dir.path().join("app"),
        _dir: dir,
        server,
        keys: Arc::new(MemoryKeyProvider::default()),
    };
    let client = device.open();
    let policy = client.policy("ru");
    client
        .accept_policy(policy.version, &policy.hash(), "ru", true)
        .unwrap();
    client.set_permission("camera", true).unwrap();
    client.set_permission("contacts", false).unwrap();
    client.set_permission("notifications", true).unwrap();
    client
        .set_permission("location_approximate", false)
        .unwrap();
    let report = client.sync(&device.sync_config()).await.unwrap();
    assert_eq!((report.acknowledged, report.receipts), (5, 1), "{report:?}");
    client.verify().unwrap();
    device
}

/// Replaces the ledger with `events` as an attacker with the key would:
/// triggers dropped, rows rewritten, head and state snapshot made to match.
fn rewrite_ledger(device: &Device, events: &[Event]) {
    let store = device.raw();
    let conn = store.connection_for_tests();
    conn.execute_batch(
        "DROP TRIGGER events_are_append_only_update; DROP TRIGGER events_are_append_only_delete;
         DELETE FROM acks; DELETE FROM outbox; DELETE FROM events;",
    )
    .unwrap();
    for event in events {
        let body =
            String::from_utf8(altyn_consent_core::canonical::to_canonical_json(event).unwrap())
                .unwrap();
        conn.execute(
            "INSERT INTO events (seq, id, body) VALUES (?1, ?2, ?3)",
            rusqlite::params![event.seq as i64, event.id.to_string(), body],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO acks (seq, receipt_id) VALUES (?1, 1)",
            rusqlite::params![event.seq as i64],
        )
        .unwrap();
    }
    let last = events.last().unwrap();
    store.set_meta("head_seq", &last.seq.to_string()).unwrap();
    store.set_meta("head_hash", &last.hash).unwrap();
    store
        .put_fold_snapshot(&serde_json::to_string(&LedgerFold::of(events)).unwrap())
        .unwrap();
}

fn assert_forgery_caught(device: &Device, expected: &str) {
    let client = device.open();
    let err = client.verify().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VerificationFailed, "{err}");
    let message = err.to_string();
    assert!(
        message.contains("receipt #1") && message.contains(expected),
        "{message}"
    );
    // The export carries the receipts; its verifier catches it too.
    let export = client.export().unwrap();
    let err = verify_export(export.as_bytes(), &[device.server.receipt_key]).unwrap_err();
    assert!(err.to_string().contains("receipt #1"), "{err}");
    // Without the server's key the verifier does not pretend.
    let err = verify_export(export.as_bytes(), &[]).unwrap_err();
    assert!(err.to_string().contains("no server key"), "{err}");
}

#[tokio::test]
async fn deleting_the_last_acknowledged_event_fails_verify_and_names_the_receipt() {
    let device = synced_device().await;
    let mut events = device.open().history().unwrap();
    events.pop();
    rewrite_ledger(&device, &events);
    // The chain and the snapshot are consistent: only the receipt tells.
    assert_forgery_caught(&device, "events were removed");
    device.server.shutdown().await;
}

#[tokio::test]
async fn rewriting_a_decision_and_rehashing_the_chain_fails_verify_and_names_the_receipt() {
    let device = synced_device().await;
    let mut events = device.open().history().unwrap();
    // "contacts: denied" becomes "granted", and every hash after it is redone.
    let raw = serde_json::to_string(&events[2]).unwrap();
    assert!(raw.contains("\"denied\""), "{raw}");
    events[2] = serde_json::from_str(&raw.replace("\"denied\"", "\"granted\"")).unwrap();
    let mut prev = events[1].hash.clone();
    for event in events.iter_mut().skip(2) {
        event.prev_hash = prev;
        event.hash = event.compute_hash();
        prev = event.hash.clone();
    }
    rewrite_ledger(&device, &events);
    altyn_consent_core::ledger::verify_chain(&events, None).expect("a consistent chain");
    assert_forgery_caught(&device, "altered or replaced");
    device.server.shutdown().await;
}

#[tokio::test]
async fn an_altered_receipt_fails_its_signature() {
    let device = synced_device().await;
    {
        let store = device.raw();
        let body = store.receipts().unwrap().remove(0);
        let forged = body.replacen("\"seq\":5", "\"seq\":4", 1);
        assert_ne!(forged, body);
        store
            .connection_for_tests()
            .execute("UPDATE receipts SET body = ?1", [forged])
            .unwrap();
    }
    let err = device.open().verify().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VerificationFailed);
    assert!(
        err.to_string().contains("receipt #1") && err.to_string().contains("signature"),
        "{err}"
    );
    device.server.shutdown().await;
}

#[tokio::test]
async fn an_event_taken_out_of_the_outbox_without_a_receipt_is_caught() {
    let device = synced_device().await;
    device.open().set_permission("photos", true).unwrap();
    device
        .raw()
        .connection_for_tests()
        .execute("DELETE FROM outbox", [])
        .unwrap();
    let err = device.open().verify().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VerificationFailed);
    assert!(
        err.to_string().contains("event #6 is neither acknowledged"),
        "{err}"
    );
    device.server.shutdown().await;
}

#[tokio::test]
async fn verify_needs_the_server_key_to_vouch_for_receipts() {
    let device = synced_device().await;
    let mut config = device.config();
    config.server_keys.clear();
    let err = ConsentClient::open_read_only(config)
        .unwrap()
        .verify()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SyncSetup, "{err}");
    assert!(err.to_string().contains("no server key"), "{err}");
    // A key that did not sign them is not trusted either.
    let mut config = device.config();
    config.server_keys =
        vec![altyn_consent_core::sync::wire::generate_signing_key().verifying_key()];
    let err = ConsentClient::open(config).unwrap().verify().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VerificationFailed, "{err}");
    device.server.shutdown().await;
}

#[tokio::test]
async fn restore_into_a_store_with_events_is_store_not_empty() {
    let device = synced_device().await;
    let client = device.open();
    let before = std::fs::read(device.store.join(DB_FILE)).unwrap();
    let err = client
        .restore_from_server(&device.sync_config())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::StoreNotEmpty, "{err}");
    assert_eq!(client.event_count(), 5);
    drop(client);
    assert_eq!(std::fs::read(device.store.join(DB_FILE)).unwrap(), before);
    device.server.shutdown().await;
}

#[tokio::test]
async fn recovery_restores_the_servers_copy_and_the_loss_is_synced_as_its_own_event() {
    let device = synced_device().await;
    let before = device.open().state().unwrap();
    // The file is wiped to zero bytes (a failed disk write, a cleaner app).
    std::fs::write(device.store.join(DB_FILE), b"").unwrap();
    let err = ConsentClient::open(device.config()).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::StoreDamaged);

    let recovered = ConsentClient::recover(device.config(), Some(&device.sync_config()))
        .await
        .unwrap();
    let report = &recovered.report;
    assert_eq!(report.reason, ErrorKind::StoreDamaged);
    assert_eq!(report.restored_events, 5);
    assert_eq!(report.server_head_events, Some(5));
    let quarantine = std::path::PathBuf::from(report.quarantine.clone().unwrap());
    assert_eq!(std::fs::read(quarantine.join(DB_FILE)).unwrap(), b"");
    let client = recovered.client;
    // The consents the server held are back, and the loss follows them.
    let state = client.state().unwrap();
    assert_eq!(state.permissions, before.permissions);
    assert_eq!(state.events, 6);
    assert_eq!(client.history().unwrap()[5].kind.name(), "store_recovered");
    let verified = client.verify().unwrap();
    assert_eq!((verified.acknowledged, verified.waiting), (5, 1));
    // The server takes the recovery event as the next link of the chain.
    let report = client.sync(&device.sync_config()).await.unwrap();
    assert_eq!(report.acknowledged, 1, "{report:?}");
    assert_eq!(device.server.event_counts(), (6, 6));
    client.verify().unwrap();
    device.server.shutdown().await;
}

#[tokio::test]
async fn recovery_with_the_server_unreachable_moves_nothing() {
    let device = synced_device().await;
    std::fs::remove_file(device.store.join(DB_FILE)).unwrap();
    let sync = device.sync_config();
    let config = device.config();
    let Device {
        server,
        store,
        _dir: _keep,
        ..
    } = device;
    server.shutdown().await;
    let before: Vec<_> = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let err = ConsentClient::recover(config.clone(), Some(&sync))
        .await
        .err()
        .unwrap();
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    let after: Vec<_> = std::fs::read_dir(&store)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(before, after, "nothing was moved");
    assert_eq!(
        ConsentClient::open(config).err().unwrap().kind(),
        ErrorKind::StoreMissing
    );
}

#[tokio::test]
async fn deleting_the_newest_receipt_and_rewriting_after_it_is_caught_online() {
    let device = synced_device().await;
    let client = device.open();
    client.set_permission("photos", false).unwrap();
    client.set_permission("location_approximate", true).unwrap();
    let report = client.sync(&device.sync_config()).await.unwrap();
    assert_eq!((report.acknowledged, report.receipts), (2, 1));
    drop(client);
    // The attacker removes the second receipt and its acks, rewrites the
    // events it covered (photos: denied -> granted), re-hashes, and queues
    // them again: the store alone now looks consistent.
    {
        let mut events = device.open().history().unwrap();
        let raw = serde_json::to_string(&events[5]).unwrap();
        events[5] = serde_json::from_str(&raw.replace("\"denied\"", "\"granted\"")).unwrap();
        let mut prev = events[4].hash.clone();
        for event in events.iter_mut().skip(5) {
            event.prev_hash = prev;
            event.hash = event.compute_hash();
            prev = event.hash.clone();
        }
        let store = device.raw();
        let conn = store.connection_for_tests();
        conn.execute_batch(
            "DROP TRIGGER events_are_append_only_update; DELETE FROM acks WHERE seq > 5; DELETE FROM receipts WHERE id = 2;",
        )
        .unwrap();
        for event in &events[5..] {
            let body =
                String::from_utf8(altyn_consent_core::canonical::to_canonical_json(event).unwrap())
                    .unwrap();
            conn.execute(
                "UPDATE events SET body = ?2 WHERE seq = ?1",
                rusqlite::params![event.seq as i64, body],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO outbox (event_id, seq) VALUES (?1, ?2)",
                rusqlite::params![event.id.to_string(), event.seq as i64],
            )
            .unwrap();
        }
        store.set_meta("head_hash", &prev).unwrap();
        store
            .put_fold_snapshot(&serde_json::to_string(&LedgerFold::of(&events)).unwrap())
            .unwrap();
    }
    let client = device.open();
    // Offline, the store can only say that two events are unproven.
    let local = client.verify().unwrap();
    assert_eq!((local.acknowledged, local.waiting), (5, 2));
    // Online, the server's own receipt names the rewrite.
    let err = client
        .verify_online(&device.sync_config())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VerificationFailed, "{err}");
    assert!(
        err.to_string()
            .contains("against the server's copy, receipt #2")
            && err.to_string().contains("event #6"),
        "{err}"
    );
    device.server.shutdown().await;
}

#[tokio::test]
async fn an_honest_store_verifies_online() {
    let device = synced_device().await;
    let report = device
        .open()
        .verify_online(&device.sync_config())
        .await
        .unwrap();
    assert_eq!((report.server_receipts, report.server_acknowledged), (1, 5));
    device.server.shutdown().await;
}

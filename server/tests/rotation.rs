//! Signing keys that change: the server rotates its receipt and policy
//! keys between two starts on the same data folder; receipts and policy
//! signatures name the key that made them; a client that trusts both keys
//! keeps verifying everything, old receipts included, and one that trusts
//! only the new key is told which receipt it cannot check.

mod common;

use std::sync::Arc;
use std::time::Duration;

use altyn_consent_core::proof::verify_export;
use altyn_consent_core::store::MemoryKeyProvider;
use altyn_consent_core::sync::wire::key_id;
use altyn_consent_core::sync::{StaticToken, SyncConfig};
use altyn_consent_core::{AppContext, ClientConfig, ConsentClient, ErrorKind};
use altyn_consent_server::{start, RunningServer};
use ed25519_dalek::VerifyingKey;

fn server_config(dir: &std::path::Path) -> altyn_consent_server::ServerConfig {
    common::config(&dir.join("server"), &[("token-1", "subject-1")])
}

fn open_client(
    dir: &std::path::Path,
    keys: &Arc<MemoryKeyProvider>,
    trusted: &[VerifyingKey],
) -> ConsentClient {
    let mut config = ClientConfig::new(
        dir,
        AppContext::new("desktop", "test", "linux"),
        keys.clone(),
    );
    config.server_keys = trusted.to_vec();
    ConsentClient::open(config).unwrap()
}

fn sync_config(
    server: &RunningServer,
    receipt_keys: &[VerifyingKey],
    policy_keys: &[VerifyingKey],
) -> SyncConfig {
    let mut config = SyncConfig::new(
        server.base_url.clone(),
        Arc::new(StaticToken("token-1".into())),
    );
    config.server_keys = receipt_keys.to_vec();
    config.policy_keys = policy_keys.to_vec();
    config.extra_ca_pem = server.ca_pem.clone();
    config.request_timeout = Duration::from_secs(5);
    config
}

#[tokio::test]
async fn after_a_rotation_old_receipts_still_verify_and_new_ones_name_the_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyProvider::default());

    // Before: one key of each kind.
    let before = start(server_config(dir.path())).await.unwrap();
    assert_eq!(before.receipt_keys, vec![before.receipt_key]);
    let (old_receipt_key, old_policy_key) = (before.receipt_key, before.policy_key);
    {
        let client = open_client(&dir.path().join("app"), &keys, &[old_receipt_key]);
        let p = client.policy("ru");
        client
            .accept_policy(p.version, &p.hash(), "ru", true)
            .unwrap();
        let report = client
            .sync(&sync_config(&before, &[old_receipt_key], &[old_policy_key]))
            .await
            .unwrap();
        assert_eq!(report.acknowledged, 1);
    }
    before.shutdown().await;

    // The operator rotates both keys (apps already trust the new public keys).
    let mut config = server_config(dir.path());
    config.rotate_receipt_key = true;
    config.rotate_policy_key = true;
    let after = start(config).await.unwrap();
    assert_ne!(after.receipt_key, old_receipt_key);
    assert_eq!(after.receipt_keys, vec![after.receipt_key, old_receipt_key]);
    assert_eq!(after.policy_keys, vec![after.policy_key, old_policy_key]);
    // The ring is on disk for clients and operators: active first.
    let listed = std::fs::read_to_string(dir.path().join("server/receipt-keys.pub")).unwrap();
    let expected: Vec<String> = after
        .receipt_keys
        .iter()
        .map(|k| hex::encode(k.as_bytes()))
        .collect();
    assert_eq!(listed.lines().collect::<Vec<_>>(), expected);

    let both = after.receipt_keys.clone();
    let client = open_client(&dir.path().join("app"), &keys, &both);
    client.set_permission("camera", true).unwrap();
    // The policy, signed again with the new key, verifies against the new
    // policy key alone.
    let report = client
        .sync(&sync_config(&after, &both, &[after.policy_key]))
        .await
        .unwrap();
    assert_eq!(report.acknowledged, 1);
    assert!(report.stop.is_none(), "{report:?}");

    let receipts = client.receipts().unwrap();
    let named: Vec<String> = receipts.iter().map(|r| r.body.key_id.clone()).collect();
    assert_eq!(
        named,
        [key_id(&old_receipt_key), key_id(&after.receipt_key)],
        "each receipt names the key that signed it"
    );
    // Everything verifies with the ring: the ledger and the export.
    let verified = client.verify().unwrap();
    assert_eq!((verified.events, verified.receipts), (2, 2));
    let export = client.export().unwrap();
    verify_export(export.as_bytes(), &both).unwrap();
    drop(client);

    // A client that trusts the new key alone cannot check the old receipt,
    // and says which one.
    let narrow = open_client(&dir.path().join("app"), &keys, &[after.receipt_key]);
    let err = narrow.verify().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::VerificationFailed);
    assert!(err.to_string().contains(&key_id(&old_receipt_key)), "{err}");
    after.shutdown().await;
}

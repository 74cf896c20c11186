//! A client process killed with SIGKILL at several points during a long sync,
//! restarted each time: nothing lost, nothing duplicated, every receipt and
//! the whole chain verify.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use altyn_consent_core::store::FileKeyProvider;
use altyn_consent_core::sync::wire::parse_verifying_key;
use altyn_consent_core::sync::{StaticToken, SyncConfig};
use altyn_consent_core::{AppContext, ClientConfig, ConsentClient};
use altyn_consent_server::{start, Fault};

const CHILD: &str = "ALTYN_SYNC_CHILD";

fn client(dir: &std::path::Path) -> ConsentClient {
    let keys = Arc::new(FileKeyProvider::new(dir.join("keys")));
    ConsentClient::open(ClientConfig::new(
        dir.join("store"),
        AppContext::new("desktop", "test", "linux"),
        keys,
    ))
    .unwrap()
}

fn config(base_url: &str, ca_pem: &str, receipt_key: &str, policy_key: &str) -> SyncConfig {
    let mut config = SyncConfig::new(base_url, Arc::new(StaticToken("token".into())));
    config.server_keys = vec![parse_verifying_key(receipt_key).unwrap()];
    config.policy_keys = vec![parse_verifying_key(policy_key).unwrap()];
    config.extra_ca_pem = Some(ca_pem.to_string());
    config.batch_size = 5;
    config.min_backoff = Duration::from_millis(5);
    config.request_timeout = Duration::from_secs(2);
    config.max_attempts = 20;
    config
}

/// Run by the parent in a child process: syncs until nothing waits.
#[tokio::test]
#[ignore = "child process of sigkill_during_sync_loses_and_duplicates_nothing"]
async fn sync_child() {
    let spec = std::env::var(CHILD).expect("run only by the crash test");
    let parts: Vec<&str> = spec.split('\n').collect();
    let [dir, base_url, ca_file, receipt_key, policy_key] = parts[..] else {
        panic!("bad child spec")
    };
    let client = client(std::path::Path::new(dir));
    let cfg = config(
        base_url,
        &std::fs::read_to_string(ca_file).unwrap(),
        receipt_key,
        policy_key,
    );
    loop {
        let report = client.sync(&cfg).await.unwrap();
        if report.pending == 0 {
            println!("DONE");
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_sync_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(common::config(
        &dir.path().join("server"),
        &[("token", "subject")],
    ))
    .await
    .unwrap();
    let app = dir.path().join("app");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, server.ca_pem.as_ref().unwrap()).unwrap();
    let receipt_key = hex::encode(server.receipt_key.as_bytes());
    let policy_key = hex::encode(server.policy_key.as_bytes());

    let total = {
        let client = client(&app);
        let p = client.policy("ru");
        client
            .accept_policy(p.version, &p.hash(), "ru", true)
            .unwrap();
        let catalog = altyn_consent_core::permissions::PermissionCatalog::bundled();
        let ids = catalog.ids();
        for i in 0..299usize {
            client
                .set_permission(ids[i % ids.len()], (i / ids.len()) % 2 == 0)
                .unwrap();
        }
        client.event_count()
    };
    assert_eq!(total, 300);

    let spec = [
        app.to_str().unwrap(),
        &server.base_url,
        ca_file.to_str().unwrap(),
        &receipt_key,
        &policy_key,
    ]
    .join("\n");
    let mut killed_mid_upload = 0;
    for round in 0..5u64 {
        let before = server.event_counts().0;
        // Widen the window between the server's commit and the client's
        // receipt: some kills land exactly there.
        server.faults.push(Fault::Delay(Duration::from_millis(40)));
        server.faults.push(Fault::DropAfterCommit);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "sync_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, &spec)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until this child's uploads have reached the server, then kill
        // it a little later each round.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while server.event_counts().0 == before
            && child.try_wait().unwrap().is_none()
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(round * 9)).await;
        let running = child.try_wait().unwrap().is_none();
        if running {
            child.kill().unwrap(); // SIGKILL
        }
        child.wait().unwrap();
        let after = server.event_counts().0;
        // Killed after this round uploaded something and before the end.
        if running && after > before && after < total {
            killed_mid_upload += 1;
        }
    }
    assert!(
        killed_mid_upload >= 4,
        "kills landed in the middle of uploads ({killed_mid_upload} of 5)"
    );

    // A last, uninterrupted pass.
    let client = client(&app);
    let cfg = config(
        &server.base_url,
        server.ca_pem.as_ref().unwrap(),
        &receipt_key,
        &policy_key,
    );
    let mut report = client.sync(&cfg).await.unwrap();
    while report.pending > 0 {
        report = client.sync(&cfg).await.unwrap();
    }
    let local = client.history().unwrap();
    assert_eq!(local.len() as u64, total);
    let (stored, distinct) = server.event_counts();
    assert_eq!(
        (stored, distinct),
        (total, total),
        "every event exactly once on the server"
    );
    assert_eq!(server.events_of("subject").events, local);
    let status = client.sync_status().unwrap();
    assert_eq!(
        (status.pending, status.parked, status.acknowledged),
        (0, 0, total as i64)
    );
    for receipt in client.receipts().unwrap() {
        receipt.verify(&[server.receipt_key]).unwrap();
    }
    let mut trusted = ClientConfig::new(
        app.join("store"),
        AppContext::new("desktop", "test", "linux"),
        Arc::new(FileKeyProvider::new(app.join("keys"))),
    );
    trusted.server_keys = vec![server.receipt_key];
    drop(client);
    ConsentClient::open_read_only(trusted)
        .unwrap()
        .verify()
        .unwrap();
    server.shutdown().await;
}

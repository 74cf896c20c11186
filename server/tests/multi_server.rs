//! Several server processes in front of one PostgreSQL (issue #12):
//! exactly-once rests on the database's constraints and transactions, not
//! on a process's memory. Two servers on loopback share one database and
//! one data folder's keys; devices upload concurrently, each batch to one
//! server and the same batch at the same moment to the other (a client that
//! timed out and retried elsewhere); afterwards every device's events are
//! stored once, in order, with valid receipts, seen the same from both.
//!
//! These need a PostgreSQL: `scripts/test.sh` runs them against a throw-away
//! cluster (`ALTYN_TEST_DATABASE_URL`, `--ignored`). The checks of the
//! database URL at the end need none and always run.

mod common;

use std::sync::Arc;

use altyn_consent_core::ledger::Event;
use altyn_consent_core::sync::wire::{Receipt, UploadBatch};
use altyn_consent_server::{start, RunningServer, Storage, StorageError};

const NEEDS_PG: &str =
    "needs ALTYN_TEST_DATABASE_URL (scripts/test.sh starts a throw-away PostgreSQL)";

fn database() -> String {
    common::test_database().expect(NEEDS_PG)
}

/// Uploads `events` as one batch; the status and the body.
async fn upload(
    client: &reqwest::Client,
    server: &str,
    token: &str,
    install_id: &str,
    events: &[Event],
) -> (u16, Vec<u8>) {
    let body = serde_json::to_vec(&UploadBatch {
        install_id: install_id.into(),
        events: events.to_vec(),
    })
    .unwrap();
    let response = client
        .post(format!("{server}v1/events"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

fn receipt(status: u16, body: &[u8]) -> Receipt {
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(body));
    serde_json::from_slice(body).expect("a receipt")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ALTYN_TEST_DATABASE_URL (scripts/test.sh starts a throw-away PostgreSQL)"]
async fn two_servers_one_database_store_every_event_once_in_order() {
    database();
    const DEVICES: usize = 24;
    const EVENTS: u64 = 60;
    const BATCH: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let tokens: Vec<(String, String)> = (0..DEVICES)
        .map(|i| (format!("token-{i}"), format!("subject-{i}")))
        .collect();
    let pairs: Vec<(&str, &str)> = tokens
        .iter()
        .map(|(t, s)| (t.as_str(), s.as_str()))
        .collect();
    // One data folder (its keys and dev CA) and one database for both: the
    // second server reads the keys the first made.
    let a = start(common::config(&data, &pairs)).await.unwrap();
    let b = start(common::config(&data, &pairs)).await.unwrap();
    assert_eq!(
        a.receipt_keys, b.receipt_keys,
        "the servers share their keys"
    );
    let servers: Arc<[RunningServer; 2]> = Arc::new([a, b]);

    // Each device's installation belongs to its token's subject; its
    // events name the installation (as before an account is linked).
    let devices: Vec<(String, String, Vec<Event>)> = (0..DEVICES)
        .map(|i| {
            let install = format!("install-{i}");
            let events = common::ledger(&install, EVENTS);
            (format!("token-{i}"), install, events)
        })
        .collect();

    let tasks: Vec<_> = devices
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, (token, install, events))| {
            let servers = servers.clone();
            tokio::spawn(async move {
                let clients = [common::http(&servers[0]), common::http(&servers[1])];
                let mut receipts = Vec::new();
                for (n, batch) in events.chunks(BATCH).enumerate() {
                    // Alternating servers, devices out of step with each other.
                    let first = (n + i) % 2;
                    let other = 1 - first;
                    let (x, y) = tokio::join!(
                        upload(
                            &clients[first],
                            &servers[first].base_url,
                            &token,
                            &install,
                            batch
                        ),
                        upload(
                            &clients[other],
                            &servers[other].base_url,
                            &token,
                            &install,
                            batch
                        ),
                    );
                    let (x, y) = (receipt(x.0, &x.1), receipt(y.0, &y.1));
                    // Both acknowledge the whole batch and the same chain head.
                    for r in [&x, &y] {
                        assert_eq!(r.body.acknowledged.len(), batch.len());
                        assert_eq!(r.body.head.events, batch.last().unwrap().seq);
                        assert_eq!(r.body.head.hash, batch.last().unwrap().hash);
                    }
                    receipts.push(x);
                    receipts.push(y);
                }
                receipts
            })
        })
        .collect();
    let mut all_receipts = Vec::new();
    for task in tasks {
        all_receipts.push(task.await.unwrap());
    }

    let total = DEVICES as u64 * EVENTS;
    for server in servers.iter() {
        assert_eq!(
            server.event_counts(),
            (total, total),
            "every event stored once"
        );
    }
    for (i, ((_, install, events), receipts)) in devices.iter().zip(&all_receipts).enumerate() {
        for server in servers.iter() {
            let page = server.events_of(&format!("subject-{i}"));
            assert_eq!(&page.events, events, "{install}: stored as sent, in order");
            // Every receipt either server gave is kept and verifies.
            assert_eq!(page.receipts.len(), receipts.len(), "{install}");
            for receipt in &page.receipts {
                receipt.verify(&server.receipt_keys).unwrap();
            }
        }
        for receipt in receipts {
            receipt.verify(&servers[0].receipt_keys).unwrap();
        }
    }

    // The chain is the database's: an event that does not continue it, or
    // another event under a stored id, is refused by either server.
    let (token, install, events) = &devices[0];
    let client = common::http(&servers[1]);
    let gap = common::ledger(install, EVENTS + 2).split_off(EVENTS as usize + 1);
    let (status, body) = upload(&client, &servers[1].base_url, token, install, &gap).await;
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    let mut forged = events[3].clone();
    forged.kind = events[4].kind.clone();
    forged.hash = forged.compute_hash();
    let (status, _) = upload(&client, &servers[1].base_url, token, install, &[forged]).await;
    assert_eq!(status, 409);
    assert_eq!(servers[0].event_counts(), (total, total));

    let [a, b] = Arc::into_inner(servers).expect("no task holds the servers");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ALTYN_TEST_DATABASE_URL (scripts/test.sh starts a throw-away PostgreSQL)"]
async fn servers_starting_at_once_migrate_the_database_once() {
    let base = database();
    let dir = tempfile::tempdir().unwrap();
    let url = common::schema_url(&base, &format!("m_{}", uuid::Uuid::now_v7().simple()));
    let config = |name: &str| {
        let mut config = common::config(&dir.path().join(name), &[("t", "s")]);
        config.database_url = Some(url.clone());
        config
    };
    let (a, b, c) = tokio::join!(start(config("a")), start(config("b")), start(config("c")));
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    let rows = std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        client
            .query(
                "SELECT version FROM altyn_schema_migrations ORDER BY version",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get::<_, i64>(0))
            .collect::<Vec<_>>()
    })
    .join()
    .unwrap();
    let expected: Vec<i64> = (1..=altyn_consent_server::latest_schema_version() as i64).collect();
    assert_eq!(rows, expected, "each migration applied once");
    for server in [a, b, c] {
        server.shutdown().await;
    }
}

#[test]
#[ignore = "needs ALTYN_TEST_DATABASE_URL (scripts/test.sh starts a throw-away PostgreSQL)"]
fn a_newer_schema_is_refused_and_left_unchanged() {
    let base = database();
    let url = common::schema_url(&base, &format!("n_{}", uuid::Uuid::now_v7().simple()));
    let storage = Storage::connect(&url, None, 2).unwrap();
    assert_eq!(storage.engine_name(), "postgres");
    assert_eq!(
        storage.schema_version().unwrap(),
        altyn_consent_server::latest_schema_version()
    );
    drop(storage);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .execute(
            "INSERT INTO altyn_schema_migrations (version, applied_at) VALUES (99, 'later')",
            &[],
        )
        .unwrap();
    let tables = |client: &mut postgres::Client| -> i64 {
        client
            .query_one(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
                &[],
            )
            .unwrap()
            .get(0)
    };
    let before = tables(&mut client);
    match Storage::connect(&url, None, 2) {
        Err(StorageError::SchemaTooNew {
            found, supported, ..
        }) => {
            assert_eq!(found, 99);
            assert_eq!(supported, altyn_consent_server::latest_schema_version());
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
    assert_eq!(tables(&mut client), before);
    let versions: i64 = client
        .query_one("SELECT count(*) FROM altyn_schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        versions,
        altyn_consent_server::latest_schema_version() as i64 + 1
    );
}

#[test]
fn a_database_elsewhere_needs_tls_and_no_message_repeats_the_password() {
    let refused = Storage::connect("postgres://altyn:s3cret@db.example.com/consent", None, 2)
        .err()
        .expect("refused");
    let text = refused.to_string();
    assert!(
        matches!(
            refused,
            StorageError::Url(altyn_consent_server::PgUrlError::NeedsTls(_))
        ),
        "{text}"
    );
    assert!(text.contains("sslmode=require"), "{text}");
    assert!(text.contains("db.example.com"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");

    let invalid = Storage::connect("postgres://altyn:s3cret@host:notaport/consent", None, 2)
        .err()
        .expect("refused")
        .to_string();
    assert!(!invalid.contains("s3cret"), "{invalid}");
    assert!(
        invalid.contains("not a PostgreSQL connection string"),
        "{invalid}"
    );
}

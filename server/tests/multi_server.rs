//! Several server processes in front of one PostgreSQL (issue #12):
//! exactly-once rests on the database's constraints and transactions, not
//! on a process's memory. Two server processes (the binary, started twice)
//! on loopback share one database and one data folder's keys; devices upload concurrently, each batch to one
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
use altyn_consent_core::sync::wire::{EventsPage, Receipt, UploadBatch};
use altyn_consent_server::{start, Storage, StorageError};

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

/// A server process (`altyn-consent-server`), stopped with SIGTERM.
struct ServerProcess {
    child: std::process::Child,
    base_url: String,
}

impl ServerProcess {
    /// Starts the binary on a free loopback port; the database URL and the
    /// tokens go by environment (not in the process list).
    fn start(data: &std::path::Path, database_url: &str, tokens: &str) -> Self {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_altyn-consent-server"))
            .args(["--listen", "127.0.0.1:0", "--server-data-dir"])
            .arg(data)
            .env("ALTYN_SERVER_DATABASE_URL", database_url)
            .env("ALTYN_SERVER_TOKENS", tokens)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the server binary starts");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("a first line").unwrap();
        let base_url = first
            .strip_prefix("consent server listening on ")
            .unwrap_or_else(|| panic!("{first}"))
            .to_string();
        // The rest of its output, read so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
        ServerProcess { child, base_url }
    }

    fn stop(mut self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(self.child.wait().unwrap().success(), "a graceful stop");
    }
}

impl Drop for ServerProcess {
    /// A test that fails leaves no server running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Every event and receipt of the token's subject, as one server answers.
async fn events_of(client: &reqwest::Client, server: &str, token: &str) -> EventsPage {
    let response = client
        .get(format!("{server}v1/events"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ALTYN_TEST_DATABASE_URL (scripts/test.sh starts a throw-away PostgreSQL)"]
async fn two_server_processes_one_database_store_every_event_once_in_order() {
    database();
    const DEVICES: usize = 24;
    const EVENTS: u64 = 60;
    const BATCH: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let url = common::database_url_for(&data).unwrap();
    let tokens: String = (0..DEVICES)
        .map(|i| format!("token-{i}=subject-{i}"))
        .collect::<Vec<_>>()
        .join(",");
    // Two processes, one data folder (its keys and dev CA) and one
    // database: the second reads the keys the first made.
    let processes = [
        ServerProcess::start(&data, &url, &tokens),
        ServerProcess::start(&data, &url, &tokens),
    ];
    let servers: Arc<[String; 2]> =
        Arc::new([processes[0].base_url.clone(), processes[1].base_url.clone()]);
    let ca = std::fs::read_to_string(data.join("dev-ca.pem")).unwrap();
    let keys: Vec<_> = std::fs::read_to_string(data.join("receipt-keys.pub"))
        .unwrap()
        .lines()
        .map(|k| altyn_consent_core::sync::wire::parse_verifying_key(k).unwrap())
        .collect();

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
            let (servers, ca) = (servers.clone(), ca.clone());
            tokio::spawn(async move {
                // A client per server, as a phone retrying elsewhere would.
                let clients = [common::http_with_ca(&ca), common::http_with_ca(&ca)];
                let mut receipts = Vec::new();
                for (n, batch) in events.chunks(BATCH).enumerate() {
                    // Alternating servers, devices out of step with each other.
                    let first = (n + i) % 2;
                    let other = 1 - first;
                    let (x, y) = tokio::join!(
                        upload(&clients[first], &servers[first], &token, &install, batch),
                        upload(&clients[other], &servers[other], &token, &install, batch),
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

    // Counted in the database itself.
    let total = DEVICES as u64 * EVENTS;
    let counted = url.clone();
    let (stored, distinct) = std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&counted, postgres::NoTls).unwrap();
        let row = client
            .query_one("SELECT count(*), count(DISTINCT id) FROM events", &[])
            .unwrap();
        (row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64)
    })
    .join()
    .unwrap();
    assert_eq!(
        (stored, distinct),
        (total, total),
        "every event stored once"
    );
    let client = common::http_with_ca(&ca);
    for ((token, install, events), receipts) in devices.iter().zip(&all_receipts) {
        for server in servers.iter() {
            let page = events_of(&client, server, token).await;
            assert_eq!(&page.events, events, "{install}: stored as sent, in order");
            // Every receipt either server gave is kept and verifies.
            assert_eq!(page.receipts.len(), receipts.len(), "{install}");
            for receipt in &page.receipts {
                receipt.verify(&keys).unwrap();
            }
        }
        for receipt in receipts {
            receipt.verify(&keys).unwrap();
        }
    }

    // The chain is the database's: an event that does not continue it, or
    // another event under a stored id, is refused by either server.
    let (token, install, events) = &devices[0];
    let gap = common::ledger(install, EVENTS + 2).split_off(EVENTS as usize + 1);
    let (status, body) = upload(&client, &servers[1], token, install, &gap).await;
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    let mut forged = events[3].clone();
    forged.kind = events[4].kind.clone();
    forged.hash = forged.compute_hash();
    let (status, _) = upload(&client, &servers[0], token, install, &[forged]).await;
    assert_eq!(status, 409);

    for process in processes {
        process.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs ALTYN_TEST_DATABASE_URL (scripts/test.sh starts a throw-away PostgreSQL)"]
async fn servers_starting_at_once_migrate_the_database_once() {
    let base = database();
    let dir = tempfile::tempdir().unwrap();
    let url = common::schema_url(&base, &format!("m_{}", uuid::Uuid::now_v7().simple()));
    let config = |name: &str| {
        let mut config = common::config(&dir.path().join(name), &[("t", "s")]);
        config.database_url = Some(url.clone().into());
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

    // `hostaddr` is where the client connects, whatever the host's name.
    let elsewhere = Storage::connect(
        "postgres://altyn:s3cret@localhost/consent?hostaddr=203.0.113.5",
        None,
        2,
    )
    .err()
    .expect("refused");
    assert!(
        matches!(
            elsewhere,
            StorageError::Url(altyn_consent_server::PgUrlError::NeedsTls(_))
        ),
        "{elsewhere}"
    );
    assert!(elsewhere.to_string().contains("203.0.113.5"), "{elsewhere}");

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

//! What the server's integration tests share: the configuration of a
//! loopback server, on SQLite by default, or on PostgreSQL when
//! `ALTYN_TEST_DATABASE_URL` is set (`scripts/test.sh` runs the tests once
//! each way, against a throw-away cluster of `scripts/pg-throwaway.sh`).
#![allow(dead_code)]

use std::hash::{Hash, Hasher};
use std::path::Path;

use altyn_consent_server::ServerConfig;

/// The PostgreSQL database the tests use, if any.
pub fn test_database() -> Option<String> {
    std::env::var("ALTYN_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A loopback server storing in `data_dir`: in its SQLite file, or, with a
/// test database, in a PostgreSQL schema of its own named after the data
/// folder (so a server started again on the same folder finds its data, and
/// tests running at once do not meet).
pub fn config(data_dir: &Path, tokens: &[(&str, &str)]) -> ServerConfig {
    let mut config = ServerConfig::loopback(data_dir, tokens);
    config.database_url = database_url_for(data_dir).map(Into::into);
    config
}

/// The URL of the schema of `data_dir` in the test database (created if
/// missing), or `None` without a test database.
pub fn database_url_for(data_dir: &Path) -> Option<String> {
    let base = test_database()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut hasher);
    Some(schema_url(&base, &format!("t_{:016x}", hasher.finish())))
}

/// `base` with its own schema `name` (created if missing) first in the
/// search path.
pub fn schema_url(base: &str, name: &str) -> String {
    let create = format!("CREATE SCHEMA IF NOT EXISTS {name}");
    // The blocking client may not run on a thread that drives async tasks.
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let mut client = postgres::Client::connect(base, postgres::NoTls)
                    .expect("the test database answers");
                client.batch_execute(&create).expect("a schema");
            })
            .join()
            .expect("schema set-up")
    });
    let separator = if base.contains('?') { '&' } else { '?' };
    format!("{base}{separator}options=-csearch_path%3D{name}")
}

/// A device's ledger, made in memory: `events` valid, chained events, as an
/// app would have recorded them (an acceptance, then camera decisions).
pub fn ledger(install_id: &str, events: u64) -> Vec<altyn_consent_core::ledger::Event> {
    use altyn_consent_core::ledger::{AppContext, Decision, Event, EventKind, GENESIS_HASH};
    let policy = altyn_consent_core::policy::PolicyDocument::bundled().reference();
    let context = AppContext::new("android", "load", "14");
    let start = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let mut prev = GENESIS_HASH.to_string();
    (1..=events)
        .map(|seq| {
            let kind = if seq == 1 {
                EventKind::PolicyAccepted {
                    locale: "ru".into(),
                    age_confirmed: true,
                }
            } else {
                EventKind::PermissionDecided {
                    permission: "camera".into(),
                    decision: if seq % 2 == 0 {
                        Decision::Granted
                    } else {
                        Decision::Denied
                    },
                    purposes: vec!["4.2.1".into(), "4.2.6".into()],
                }
            };
            let mut event = Event {
                id: uuid::Uuid::now_v7(),
                seq,
                at: altyn_consent_core::ledger::format_time(
                    start + time::Duration::milliseconds(seq as i64),
                ),
                install_id: install_id.into(),
                subject: install_id.into(),
                policy: policy.clone(),
                context: context.clone(),
                kind,
                prev_hash: prev.clone(),
                hash: String::new(),
            };
            event.hash = event.compute_hash();
            prev = event.hash.clone();
            event
        })
        .collect()
}

/// An HTTPS client trusting the server's dev CA.
pub fn http(server: &altyn_consent_server::RunningServer) -> reqwest::Client {
    http_with_ca(server.ca_pem.as_ref().expect("a dev CA"))
}

/// An HTTPS client trusting the CA `pem`.
pub fn http_with_ca(pem: &str) -> reqwest::Client {
    // reqwest is built without a default TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).expect("the dev CA"))
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("a client")
}

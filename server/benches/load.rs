//! Many devices syncing at once against one server over HTTPS on loopback
//! (issue #12): 1,000 simulated devices × 20 events each, plus one device
//! with 10,000, all concurrently; its baseline in the same run is the same
//! load with 100 devices (and the big one). Each device has its own token,
//! its own HTTPS client (so its own TLS handshake) and uploads its ledger in
//! batches of 500, as the app does. Afterwards every device's events are
//! checked stored exactly once, in order, and every receipt verifies.
//!
//! Not a criterion benchmark: one run of a load is the measurement, so it
//! prints events/s and request latency percentiles, and where the time
//! goes (the TLS handshake, a durable SQLite commit, an Ed25519 signature,
//! measured alone in the same run).
//!
//! Run: `cargo bench -p altyn-consent-server --bench load`
//! (`ALTYN_LOAD_DEVICES=100,1000` to choose the device counts.) With
//! `ALTYN_LOAD_DATABASE_URL` (e.g. a cluster of `scripts/pg-throwaway.sh`)
//! each load runs on SQLite and then on PostgreSQL, side by side. Each load
//! runs twice: every device starting in the same instant, and arrivals
//! spread evenly so that events are offered at the goal's rate of 10,000
//! events/s (`ALTYN_LOAD_RATE`, events/s; 0 for none): the first is the
//! worst case, the second asks whether the server keeps that rate with a
//! p99 under 500 ms.

use std::sync::Arc;
use std::time::{Duration, Instant};

use altyn_consent_core::ledger::Event;
use altyn_consent_core::sync::wire::{Receipt, UploadBatch};
use altyn_consent_server::{start, ServerConfig};

#[path = "../tests/common/mod.rs"]
mod common;
use common::{http, ledger};
use ed25519_dalek::Signer;

const SMALL_EVENTS: u64 = 20;
const BIG_EVENTS: u64 = 10_000;
const BATCH: usize = 500;

struct Device {
    token: String,
    install_id: String,
    events: Vec<Event>,
}

/// One device's sync: its batches in order, each request's latency.
async fn sync_device(
    client: reqwest::Client,
    base: String,
    device: Arc<Device>,
) -> (Vec<Duration>, Vec<Receipt>) {
    let mut latencies = Vec::new();
    let mut receipts = Vec::new();
    for chunk in device.events.chunks(BATCH) {
        let body = serde_json::to_vec(&UploadBatch {
            install_id: device.install_id.clone(),
            events: chunk.to_vec(),
        })
        .unwrap();
        loop {
            let started = Instant::now();
            let response = client
                .post(format!("{base}v1/events"))
                .bearer_auth(&device.token)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .expect("the server answers");
            let status = response.status();
            let bytes = response.bytes().await.unwrap();
            latencies.push(started.elapsed());
            if status == 429 || status == 503 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            assert!(
                status.is_success(),
                "{status}: {}",
                String::from_utf8_lossy(&bytes)
            );
            receipts.push(serde_json::from_slice(&bytes).unwrap());
            break;
        }
    }
    (latencies, receipts)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

struct Outcome {
    devices: usize,
    events: u64,
    wall: Duration,
    requests: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

async fn run(small_devices: usize, database: Option<&str>, rate: u64) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let mut devices: Vec<Device> = (0..small_devices)
        .map(|i| Device {
            token: format!("token-{i}"),
            install_id: format!("install-{i}"),
            events: ledger(&format!("install-{i}"), SMALL_EVENTS),
        })
        .collect();
    devices.push(Device {
        token: "token-big".into(),
        install_id: "install-big".into(),
        events: ledger("install-big", BIG_EVENTS),
    });
    let tokens: Vec<(String, String)> = devices
        .iter()
        .map(|d| (d.token.clone(), d.install_id.clone()))
        .collect();
    let pairs: Vec<(&str, &str)> = tokens
        .iter()
        .map(|(t, s)| (t.as_str(), s.as_str()))
        .collect();
    let mut config = ServerConfig::loopback(&dir.path().join("server"), &pairs);
    config.max_connections = small_devices + 64;
    config.database_url = database.map(|base| {
        common::schema_url(base, &format!("load_{}", uuid::Uuid::now_v7().simple())).into()
    });
    let server = start(config).await.unwrap();
    let total: u64 = devices.iter().map(|d| d.events.len() as u64).sum();

    let devices: Vec<Arc<Device>> = devices.into_iter().map(Arc::new).collect();
    let started = Instant::now();
    let tasks: Vec<_> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            // Arrivals: all at once, or evenly, at `rate` events/s offered.
            let delay = if rate == 0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(total as f64 / rate as f64)
                    .mul_f64(i as f64 / devices.len() as f64)
            };
            let (client, base, device) = (http(&server), server.base_url.clone(), d.clone());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                sync_device(client, base, device).await
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut receipts = Vec::new();
    for task in tasks {
        let (l, r) = task.await.unwrap();
        latencies.extend(l);
        receipts.push(r);
    }
    let wall = started.elapsed();

    // Exactly once, in order, every receipt valid.
    let (stored, distinct) = server.event_counts();
    assert_eq!(
        (stored, distinct),
        (total, total),
        "every event stored once"
    );
    for (device, device_receipts) in devices.iter().zip(&receipts) {
        let page = server.events_of(&device.install_id);
        assert_eq!(
            page.events, device.events,
            "{}: stored as sent, in order",
            device.install_id
        );
        for receipt in device_receipts {
            receipt.verify(&[server.receipt_key]).unwrap();
        }
        assert_eq!(
            device_receipts.last().unwrap().body.head.events,
            device.events.len() as u64
        );
    }
    server.shutdown().await;

    latencies.sort();
    Outcome {
        devices: small_devices + 1,
        events: total,
        wall,
        requests: latencies.len(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        max: *latencies.last().unwrap(),
    }
}

/// The parts a request is made of, each measured alone.
async fn costs(database: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let server = start(ServerConfig::loopback(
        &dir.path().join("server"),
        &[("t", "s")],
    ))
    .await
    .unwrap();
    // A TLS handshake plus one small request, on a fresh client each time,
    // against the same request on a kept connection.
    let n = 200;
    let started = Instant::now();
    for _ in 0..n {
        let c = http(&server);
        c.get(format!("{}v1/health", server.base_url))
            .send()
            .await
            .unwrap();
    }
    let fresh = started.elapsed() / n;
    let c = http(&server);
    c.get(format!("{}v1/health", server.base_url))
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    for _ in 0..n {
        c.get(format!("{}v1/health", server.base_url))
            .send()
            .await
            .unwrap();
    }
    let kept = started.elapsed() / n;
    server.shutdown().await;
    println!(
        "cost: request on a new connection (TLS handshake) {:.2} ms, on a kept one {:.2} ms: handshake ≈ {:.2} ms",
        fresh.as_secs_f64() * 1e3,
        kept.as_secs_f64() * 1e3,
        (fresh.saturating_sub(kept)).as_secs_f64() * 1e3
    );

    // A durable commit (synchronous = FULL, WAL), as each upload does once.
    let db = dir.path().join("fsync.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; CREATE TABLE t (v BLOB);",
    )
    .unwrap();
    let started = Instant::now();
    for i in 0..n {
        conn.execute("INSERT INTO t (v) VALUES (?1)", [i]).unwrap();
    }
    println!(
        "cost: one durable SQLite commit (WAL, synchronous=FULL) {:.3} ms",
        (started.elapsed() / n).as_secs_f64() * 1e3
    );

    // A durable PostgreSQL commit of one row, over loopback.
    if let Some(base) = database {
        let url = common::schema_url(base, "load_costs");
        let per_commit = std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            client
                .batch_execute("DROP TABLE IF EXISTS t; CREATE TABLE t (v BIGINT)")
                .unwrap();
            let started = Instant::now();
            for i in 0..n as i64 {
                client
                    .execute("INSERT INTO t (v) VALUES ($1)", &[&i])
                    .unwrap();
            }
            started.elapsed() / n
        })
        .join()
        .unwrap();
        println!(
            "cost: one durable PostgreSQL commit (one row, loopback, fsync on) {:.3} ms",
            per_commit.as_secs_f64() * 1e3
        );
    }

    // An Ed25519 signature, as each receipt needs one.
    let key = altyn_consent_core::sync::wire::generate_signing_key();
    let message = vec![7u8; 2048];
    let started = Instant::now();
    for _ in 0..1000 {
        std::hint::black_box(key.sign(&message));
    }
    println!(
        "cost: one Ed25519 signature over 2 KiB {:.3} ms",
        (started.elapsed() / 1000).as_secs_f64() * 1e3
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // useful either: both run the load once.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let counts: Vec<usize> = std::env::var("ALTYN_LOAD_DEVICES")
        .unwrap_or_else(|_| "100,1000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("device counts"))
        .collect();
    let database = std::env::var("ALTYN_LOAD_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    runtime.block_on(costs(database.as_deref()));
    // Arrivals at this rate (events/s offered) as well as all at once
    // (ALTYN_LOAD_RATE, 0 for none).
    let rate: u64 = std::env::var("ALTYN_LOAD_RATE")
        .ok()
        .map(|v| v.parse().expect("events per second"))
        .unwrap_or(10_000);
    let arrivals: Vec<u64> = std::iter::once(0)
        .chain((rate > 0).then_some(rate))
        .collect();
    println!(
        "{:>10} {:>9} {:>8} {:>8} {:>9} {:>9} {:>10} {:>9} {:>9} {:>9}",
        "engine",
        "arrivals",
        "devices",
        "events",
        "requests",
        "wall s",
        "events/s",
        "p50 ms",
        "p99 ms",
        "max ms"
    );
    let engines: Vec<Option<&str>> = std::iter::once(None)
        .chain(database.as_deref().map(Some))
        .collect();
    for small in counts {
        for &engine in &engines {
            for &rate in &arrivals {
                let o = runtime.block_on(run(small, engine, rate));
                println!(
                    "{:>10} {:>9} {:>8} {:>8} {:>9} {:>9.2} {:>10.0} {:>9.1} {:>9.1} {:>9.1}",
                    if engine.is_some() {
                        "postgres"
                    } else {
                        "sqlite"
                    },
                    if rate == 0 {
                        "at once".to_string()
                    } else {
                        format!("{rate}/s")
                    },
                    o.devices,
                    o.events,
                    o.requests,
                    o.wall.as_secs_f64(),
                    o.events as f64 / o.wall.as_secs_f64(),
                    o.p50.as_secs_f64() * 1e3,
                    o.p99.as_secs_f64() * 1e3,
                    o.max.as_secs_f64() * 1e3
                );
            }
        }
    }
}

//! Store benchmarks, SQLCipher beside plain SQLite (the same bundled library,
//! opened without a key) in the same run:
//! - open a store holding 10,000 events (the app's start: key check, keying,
//!   schema check, decoding every event);
//! - record one decision durably (one transaction, `synchronous = FULL`);
//! - derive the state from 10,000 events (the pure fold).
//!
//! Run: `cargo bench -p altyn-consent-core --features bench-support --bench store`

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use altyn_consent_core::state::fold;
use altyn_consent_core::store::{MemoryKeyProvider, Store, StoreKey};
use altyn_consent_core::{AppContext, ClientConfig, ConsentClient};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const EVENTS: usize = 10_000;

#[derive(Clone, Copy)]
enum Variant {
    SqlCipher,
    PlainSqlite,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::SqlCipher => "sqlcipher",
            Variant::PlainSqlite => "plain_sqlite",
        }
    }
}

fn config(dir: &Path, keys: &Arc<MemoryKeyProvider>) -> ClientConfig {
    ClientConfig::new(
        dir,
        AppContext::new("desktop", "bench", "linux"),
        keys.clone(),
    )
}

fn open(variant: Variant, dir: &Path, keys: &Arc<MemoryKeyProvider>) -> ConsentClient {
    match variant {
        Variant::SqlCipher => ConsentClient::open(config(dir, keys)).unwrap(),
        Variant::PlainSqlite => ConsentClient::open_plaintext_baseline(config(dir, keys)).unwrap(),
    }
}

/// A store holding exactly `EVENTS` events: an acceptance, then decisions.
fn populated(variant: Variant) -> (tempfile::TempDir, Arc<MemoryKeyProvider>) {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyProvider::default());
    let client = open(variant, dir.path(), &keys);
    client.relax_durability_for_bulk_load().unwrap();
    let policy = client.policy("ru");
    client
        .accept_policy(policy.version, &policy.hash(), "ru", true)
        .unwrap();
    let catalog = client.catalog();
    let ids = catalog.ids();
    let mut i = 0usize;
    while (client.event_count() as usize) < EVENTS {
        client
            .set_permission(ids[i % ids.len()], (i / ids.len()) % 2 == 0)
            .unwrap();
        i += 1;
    }
    assert_eq!(client.event_count() as usize, EVENTS);
    (dir, keys)
}

fn benches(c: &mut Criterion) {
    let stores: Vec<(Variant, tempfile::TempDir, Arc<MemoryKeyProvider>)> =
        [Variant::SqlCipher, Variant::PlainSqlite]
            .into_iter()
            .map(|v| {
                let (dir, keys) = populated(v);
                (v, dir, keys)
            })
            .collect();

    let mut group = c.benchmark_group("open_client_10k_events");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    for (variant, dir, keys) in &stores {
        group.bench_function(BenchmarkId::from_parameter(variant.name()), |b| {
            b.iter(|| black_box(open(*variant, dir.path(), keys).event_count()))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("open_store_only_10k_events");
    group.sample_size(50);
    for (variant, dir, keys) in &stores {
        group.bench_function(BenchmarkId::from_parameter(variant.name()), |b| {
            b.iter(|| {
                let key = match variant {
                    Variant::SqlCipher => StoreKey::Provider(keys.as_ref()),
                    Variant::PlainSqlite => StoreKey::PlaintextBaseline,
                };
                let store = Store::open(dir.path(), key, || unreachable!()).unwrap();
                black_box(store.head().unwrap().0)
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("record_one_decision_durably");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(10));
    for (variant, dir, keys) in &stores {
        let client = open(*variant, dir.path(), keys); // synchronous = FULL again
        let mut granted = false;
        group.bench_function(BenchmarkId::from_parameter(variant.name()), |b| {
            b.iter(|| {
                granted = !granted;
                black_box(client.set_permission("camera", granted).unwrap().events)
            })
        });
    }
    group.finish();

    let (_, dir, keys) = &stores[0];
    let client = open(Variant::SqlCipher, dir.path(), keys);
    let events: Vec<_> = client.history().unwrap().into_iter().take(EVENTS).collect();
    let install_id = client.state().unwrap().install_id;
    let current = client.policy("ru").reference();
    let catalog = client.catalog();
    let mut group = c.benchmark_group("derive_state");
    group.bench_function(BenchmarkId::from_parameter("10k_events"), |b| {
        b.iter(|| black_box(fold(&events, &install_id, &current, &catalog)))
    });
    group.finish();
}

criterion_group!(store, benches);
criterion_main!(store);

//! Sync 10,000 queued events to the loopback server over HTTPS, in batches,
//! beside a one-request-per-event baseline in the same run. Each iteration
//! starts from a copy of the same 10k-event store and a fresh server; only
//! the sync pass is timed.
//!
//! Run: `cargo bench -p altyn-consent-server --bench sync`

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use altyn_consent_core::store::MemoryKeyProvider;
use altyn_consent_core::sync::{StaticToken, SyncConfig};
use altyn_consent_core::{AppContext, ClientConfig, ConsentClient};
use altyn_consent_server::{start, ServerConfig};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const EVENTS: u64 = 10_000;

fn open(dir: &Path, keys: &Arc<MemoryKeyProvider>, encrypted: bool) -> ConsentClient {
    let config = ClientConfig::new(
        dir,
        AppContext::new("desktop", "bench", "linux"),
        keys.clone(),
    );
    if encrypted {
        ConsentClient::open(config).unwrap()
    } else {
        ConsentClient::open_plaintext_baseline(config).unwrap()
    }
}

fn populate(dir: &Path, keys: &Arc<MemoryKeyProvider>, encrypted: bool) {
    let client = open(dir, keys, encrypted);
    client.relax_durability_for_bulk_load().unwrap();
    let p = client.policy("ru");
    client
        .accept_policy(p.version, &p.hash(), "ru", true)
        .unwrap();
    let catalog = altyn_consent_core::permissions::PermissionCatalog::bundled();
    let ids = catalog.ids();
    let mut i = 0;
    while client.event_count() < EVENTS {
        client
            .set_permission(ids[i % ids.len()], (i / ids.len()) % 2 == 0)
            .unwrap();
        i += 1;
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let keys = Arc::new(MemoryKeyProvider::default());
    let pristine = tempfile::tempdir().unwrap();
    populate(pristine.path(), &keys, true);
    let pristine_plain = tempfile::tempdir().unwrap();
    populate(pristine_plain.path(), &keys, false);

    let mut group = c.benchmark_group("sync_10k_events");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .warm_up_time(Duration::from_secs(1));
    // The last variant keeps the client's store unencrypted, to show what
    // SQLCipher costs within a sync pass.
    for (name, batch_size, encrypted) in [
        ("batched_500", 500usize, true),
        ("one_request_per_event", 1, true),
        ("batched_500_plain_sqlite_client", 500, false),
    ] {
        let pristine = if encrypted {
            pristine.path()
        } else {
            pristine_plain.path()
        };
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let work = tempfile::tempdir().unwrap();
                    copy_dir(pristine, &work.path().join("app"));
                    let client = open(&work.path().join("app"), &keys, encrypted);
                    let server = runtime
                        .block_on(start(ServerConfig::loopback(
                            &work.path().join("server"),
                            &[("t", "s")],
                        )))
                        .unwrap();
                    let mut config =
                        SyncConfig::new(server.base_url.clone(), Arc::new(StaticToken("t".into())));
                    config.server_keys = vec![server.receipt_key];
                    config.policy_keys = vec![server.policy_key];
                    config.extra_ca_pem = server.ca_pem.clone();
                    config.batch_size = batch_size;
                    let started = Instant::now();
                    let report = runtime.block_on(client.sync(&config)).unwrap();
                    total += started.elapsed();
                    assert_eq!(
                        (report.acknowledged, report.pending),
                        (EVENTS as i64, 0),
                        "{report:?}"
                    );
                    assert_eq!(server.event_counts(), (EVENTS, EVENTS));
                    runtime.block_on(server.shutdown());
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(sync, bench);
criterion_main!(sync);

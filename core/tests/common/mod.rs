#![allow(dead_code)]
use std::path::Path;
use std::sync::Arc;

use altyn_consent_core::store::{KeyProvider, MemoryKeyProvider};
use altyn_consent_core::{AppContext, ClientConfig, ConsentClient, ConsentState};

pub fn context() -> AppContext {
    AppContext::new("desktop", "1.0.0-test", "linux-test")
}

pub fn config(dir: &Path, keys: Arc<dyn KeyProvider>) -> ClientConfig {
    ClientConfig::new(dir, context(), keys)
}

pub fn open(dir: &Path, keys: &Arc<MemoryKeyProvider>) -> ConsentClient {
    ConsentClient::open(config(dir, keys.clone())).expect("store opens")
}

/// A fresh client in a temporary folder, with an in-memory keystore.
pub fn fresh() -> (tempfile::TempDir, Arc<MemoryKeyProvider>, ConsentClient) {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyProvider::default());
    let client = open(dir.path(), &keys);
    (dir, keys, client)
}

/// Accepts the current Russian policy with the 18+ attestation.
pub fn accept(client: &ConsentClient) -> ConsentState {
    let policy = client.policy("ru");
    client
        .accept_policy(policy.version, &policy.hash(), "ru", true)
        .expect("acceptance is recorded")
}

/// The raw store under a client, as someone holding the key would open it
/// to tamper with it.
pub fn open_store(dir: &Path, keys: &Arc<MemoryKeyProvider>) -> altyn_consent_core::store::Store {
    use altyn_consent_core::store::{Store, StoreKey};
    Store::open(dir, StoreKey::Provider(keys.as_ref()), || {
        unreachable!("the store exists")
    })
    .unwrap()
}

/// The state without its revision, which counts the changes one client has
/// seen: for comparing the states of two clients.
pub fn consent_of(state: ConsentState) -> ConsentState {
    ConsentState {
        revision: 0,
        ..state
    }
}

/// A store whose policy is accepted, closed again: its folder and keys.
pub fn accepted_and_closed() -> (tempfile::TempDir, Arc<MemoryKeyProvider>) {
    let (dir, keys, client) = fresh();
    accept(&client);
    drop(client);
    (dir, keys)
}

/// Runs `tamper` on the raw connection of the closed store, as someone
/// holding its key would (no client is open meanwhile).
pub fn tamper<T>(
    dir: &Path,
    keys: &Arc<MemoryKeyProvider>,
    tamper: impl FnOnce(&rusqlite::Connection) -> T,
) -> T {
    let store = open_store(dir, keys);
    tamper(store.connection_for_tests())
}

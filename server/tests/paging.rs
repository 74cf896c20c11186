//! `GET /v1/events` in pages: a subject with more events than one page
//! restores through several pages (each receipt in exactly one of them),
//! the pages put together are exactly the whole, and bad paging requests
//! are refused in the contract's shape.

mod common;

use std::sync::Arc;
use std::time::Duration;

use altyn_consent_core::store::MemoryKeyProvider;
use altyn_consent_core::sync::wire::EventsPage;
use altyn_consent_core::sync::{StaticToken, SyncConfig};
use altyn_consent_core::{AppContext, ClientConfig, ConsentClient, ConsentState};
use altyn_consent_server::{start, RunningServer};

fn open_client(dir: &std::path::Path, server: &RunningServer) -> ConsentClient {
    let mut config = ClientConfig::new(
        dir,
        AppContext::new("desktop", "test", "linux"),
        Arc::new(MemoryKeyProvider::default()),
    );
    config.server_keys = vec![server.receipt_key];
    ConsentClient::open(config).unwrap()
}

fn sync_config(server: &RunningServer) -> SyncConfig {
    let mut config = SyncConfig::new(server.base_url.clone(), Arc::new(StaticToken("t".into())));
    config.server_keys = vec![server.receipt_key];
    config.policy_keys = vec![server.policy_key];
    config.extra_ca_pem = server.ca_pem.clone();
    config.request_timeout = Duration::from_secs(10);
    config
}

#[tokio::test]
async fn a_long_ledger_restores_through_pages_and_the_pages_are_the_whole() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let server = start(common::config(&dir.path().join("server"), &[("t", "s")]))
        .await
        .unwrap();
    let phone = open_client(&dir.path().join("phone"), &server);
    phone.relax_durability_for_bulk_load().unwrap();
    let p = phone.policy("ru");
    phone
        .accept_policy(p.version, &p.hash(), "ru", true)
        .unwrap();
    let mut i = 0;
    while phone.event_count() < 2_100 {
        phone.set_permission("camera", i % 2 == 0).unwrap();
        i += 1;
    }
    phone.sync(&sync_config(&server)).await.unwrap();
    let before = phone.state().unwrap();

    // Through the API: pages of 1,000.
    let http = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(server.ca_pem.as_ref().unwrap().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let mut url = format!("{}v1/events?limit=1000", server.base_url);
    let mut pages = Vec::new();
    loop {
        let page: EventsPage = serde_json::from_slice(
            &http
                .get(&url)
                .bearer_auth("t")
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
        )
        .unwrap();
        let next = page.next.clone();
        pages.push(page);
        match next {
            Some(cursor) => url = format!("{}v1/events?limit=1000&after={cursor}", server.base_url),
            None => break,
        }
    }
    let sizes: Vec<usize> = pages.iter().map(|p| p.events.len()).collect();
    assert_eq!(sizes, [1000, 1000, 100]);
    let whole = server.events_of("s");
    let events: Vec<_> = pages.iter().flat_map(|p| p.events.clone()).collect();
    assert_eq!(
        events, whole.events,
        "the pages put together are the whole, in order"
    );
    let receipts: Vec<_> = pages.iter().flat_map(|p| p.receipts.clone()).collect();
    assert_eq!(
        receipts.len(),
        whole.receipts.len(),
        "each receipt in exactly one page"
    );
    for receipt in &whole.receipts {
        assert!(receipts.contains(receipt));
    }

    // Through the client: a new phone restores the same consent.
    let new_phone = open_client(&dir.path().join("new-phone"), &server);
    let state = new_phone
        .restore_from_server(&sync_config(&server))
        .await
        .unwrap();
    let consent = |s: ConsentState| ConsentState { revision: 0, ..s };
    assert_eq!(consent(state), consent(before));
    assert_eq!(new_phone.event_count(), 2_100);
    new_phone.verify().unwrap();

    // Bad paging requests, refused in the contract's shape.
    for query in [
        "limit=0",
        "limit=5001",
        "limit=abc",
        "limit=10&after=zz",
        "after=00.1",
    ] {
        let r = http
            .get(format!("{}v1/events?{query}", server.base_url))
            .bearer_auth("t")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(body["error"], "bad_request", "{query}");
    }
    server.shutdown().await;
}

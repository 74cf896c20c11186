//! The client against the real server, over real TLS on loopback, with the
//! faults a phone meets. After each run: every event on the server exactly
//! once, and every receipt verifies.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use altyn_consent_core::ledger::verify_chain;
use altyn_consent_core::permissions::PermissionCatalog;
use altyn_consent_core::policy::{Block, PolicyDocument};
use altyn_consent_core::store::MemoryKeyProvider;
use altyn_consent_core::sync::{spki_pin, StaticToken, SyncConfig, TokenError, TokenProvider};
use altyn_consent_core::{
    AppContext, ClientConfig, ConsentClient, ConsentState, ErrorKind, OsStatus, PolicyStatus,
};
use altyn_consent_server::{start, Fault, RunningServer, ServerConfig};

struct World {
    _dir: tempfile::TempDir,
    server: RunningServer,
    client: ConsentClient,
}

async fn world() -> World {
    world_with(|_| {}).await
}

/// A world whose server has its configuration adjusted first.
async fn world_with(adjust: impl FnOnce(&mut ServerConfig)) -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut server_config = common::config(
        &dir.path().join("server"),
        &[("token-1", "subject-1"), ("token-2", "subject-2")],
    );
    adjust(&mut server_config);
    let server = start(server_config).await.unwrap();
    let keys = Arc::new(MemoryKeyProvider::default());
    let client = open_client(&dir.path().join("app"), &keys, &server);
    World {
        _dir: dir,
        server,
        client,
    }
}

/// A device: its store and its keystore; verify trusts the server's key.
fn open_client(
    dir: &std::path::Path,
    keys: &Arc<MemoryKeyProvider>,
    server: &RunningServer,
) -> ConsentClient {
    let mut config = ClientConfig::new(
        dir,
        AppContext::new("desktop", "test", "linux"),
        keys.clone(),
    );
    config.server_keys = vec![server.receipt_key];
    ConsentClient::open(config).unwrap()
}

fn config(server: &RunningServer, token: Arc<dyn TokenProvider>) -> SyncConfig {
    let mut config = SyncConfig::new(server.base_url.clone(), token);
    config.server_keys = vec![server.receipt_key];
    config.policy_keys = vec![server.policy_key];
    config.extra_ca_pem = server.ca_pem.clone();
    config.request_timeout = Duration::from_millis(1500);
    config.min_backoff = Duration::from_millis(20);
    config.max_wait = Duration::from_secs(3);
    config.max_attempts = 8;
    config
}

fn token(t: &str) -> Arc<dyn TokenProvider> {
    Arc::new(StaticToken(t.into()))
}

/// A borrower's first minutes: acceptance and a decision on every permission.
fn journey(client: &ConsentClient) -> i64 {
    let p = client.policy("ru");
    client
        .accept_policy(p.version, &p.hash(), "ru", true)
        .unwrap();
    for (i, id) in PermissionCatalog::bundled().ids().into_iter().enumerate() {
        client.set_permission(id, i % 2 == 0).unwrap();
        client.report_os_status(id, OsStatus::Granted).unwrap();
    }
    client.event_count() as i64
}

/// Every local event is on the server exactly once, with a verified receipt.
fn assert_exactly_once(w: &World, subject: &str) {
    let local = w.client.history().unwrap();
    let (stored, distinct) = w.server.event_counts();
    assert_eq!(stored, distinct, "no event stored twice");
    let page = w.server.events_of(subject);
    assert_eq!(
        page.events, local,
        "the server holds exactly the local ledger"
    );
    verify_chain(&page.events, None).unwrap();
    let status = w.client.sync_status().unwrap();
    assert_eq!(
        (status.pending, status.parked, status.acknowledged),
        (0, 0, local.len() as i64)
    );
    for receipt in w.client.receipts().unwrap() {
        receipt.verify(&[w.server.receipt_key]).unwrap();
    }
}

#[tokio::test]
async fn a_journey_syncs_exactly_once_with_verified_receipts() {
    let w = world().await;
    let n = journey(&w.client);
    let report = w
        .client
        .sync(&config(&w.server, token("token-1")))
        .await
        .unwrap();
    assert_eq!(
        (report.sent, report.acknowledged, report.pending),
        (n, n, 0),
        "{report:?}"
    );
    assert_eq!(report.receipts, 1);
    assert_eq!(report.stop, None);
    assert_exactly_once(&w, "subject-1");
    let again = w
        .client
        .sync(&config(&w.server, token("token-1")))
        .await
        .unwrap();
    assert_eq!(
        (again.sent, again.acknowledged),
        (0, 0),
        "nothing is sent twice"
    );
    w.server.shutdown().await;
}

#[tokio::test]
async fn every_fault_is_survived_without_loss_or_duplicates() {
    let w = world().await;
    journey(&w.client);
    let mut cfg = config(&w.server, token("token-1"));
    cfg.batch_size = 4;
    for fault in [
        Fault::Status(500),
        Fault::Status(503),
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        Fault::Delay(Duration::from_millis(2500)), // past the client's 1.5 s timeout, then stored
        Fault::DropAfterCommit,                    // stored, but the answer never arrives
        Fault::TruncateBody,                       // stored, half an answer
    ] {
        w.server.faults.push(fault);
    }
    let started = std::time::Instant::now();
    let mut report = w.client.sync(&cfg).await.unwrap();
    while report.pending > 0 {
        assert!(report.stop.is_some());
        report = w.client.sync(&cfg).await.unwrap();
    }
    assert_eq!(w.server.faults.remaining(), 0, "every fault was met");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert_exactly_once(&w, "subject-1");
    w.server.shutdown().await;
}

#[tokio::test]
async fn a_long_retry_after_ends_the_pass_and_says_when() {
    let w = world().await;
    journey(&w.client);
    w.server.faults.push(Fault::TooManyRequests {
        retry_after_secs: 120,
    });
    let report = w
        .client
        .sync(&config(&w.server, token("token-1")))
        .await
        .unwrap();
    assert_eq!(report.next_retry_in_secs, Some(120));
    assert_eq!(report.acknowledged, 0);
    assert!(report.pending > 0);
    assert_eq!(w.server.event_counts(), (0, 0));
    w.server.shutdown().await;
}

#[tokio::test]
async fn a_wrong_certificate_or_pin_sends_nothing() {
    let w = world().await;
    let n = journey(&w.client);

    let mut no_ca = config(&w.server, token("token-1"));
    no_ca.extra_ca_pem = None;
    let report = w.client.sync(&no_ca).await.unwrap();
    assert!(
        report
            .stopped_because()
            .as_deref()
            .unwrap_or("")
            .contains("TLS refused"),
        "{report:?}"
    );

    let mut wrong_pin = config(&w.server, token("token-1"));
    wrong_pin.spki_pins = vec!["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()];
    let report = w.client.sync(&wrong_pin).await.unwrap();
    assert!(
        report
            .stopped_because()
            .as_deref()
            .unwrap_or("")
            .contains("TLS refused"),
        "{report:?}"
    );
    assert_eq!(
        w.server.faults.uploads_seen(),
        0,
        "no request reached the server"
    );
    assert_eq!(w.client.sync_status().unwrap().pending, n);

    let mut right_pin = config(&w.server, token("token-1"));
    right_pin.spki_pins = vec![spki_pin(&w.server.cert_der).unwrap()];
    let report = w.client.sync(&right_pin).await.unwrap();
    assert_eq!(report.acknowledged, n);
    assert_exactly_once(&w, "subject-1");
    w.server.shutdown().await;
}

struct RotatingToken {
    calls: AtomicUsize,
    refreshes: AtomicUsize,
    fresh: &'static str,
}

impl RotatingToken {
    /// Hands out an expired token, then `fresh` when asked to refresh.
    fn new(fresh: &'static str) -> Arc<Self> {
        Arc::new(RotatingToken {
            calls: AtomicUsize::new(0),
            refreshes: AtomicUsize::new(0),
            fresh,
        })
    }
}

#[async_trait::async_trait]
impl TokenProvider for RotatingToken {
    async fn token(&self) -> Result<String, TokenError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok("expired".into())
    }
    async fn refresh(&self) -> Result<String, TokenError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        // A refresh is a request of its own to the login service: it
        // suspends, and the pass waits for it without blocking a thread.
        tokio::time::sleep(Duration::from_millis(20)).await;
        Ok(self.fresh.into())
    }
}

/// A token provider that has no token: nobody signed in, or not now.
struct NoToken(TokenError);

#[async_trait::async_trait]
impl TokenProvider for NoToken {
    async fn token(&self) -> Result<String, TokenError> {
        Err(self.0.clone())
    }
    async fn refresh(&self) -> Result<String, TokenError> {
        Err(self.0.clone())
    }
}

#[tokio::test]
async fn without_a_token_the_pass_stops_with_the_providers_reason_and_keeps_everything() {
    let w = world().await;
    let n = journey(&w.client);
    for (error, kind) in [
        (TokenError::SignedOut, ErrorKind::SyncSetup),
        (
            TokenError::Unavailable {
                reason: "the login service did not answer".into(),
            },
            ErrorKind::Network,
        ),
    ] {
        let err = w
            .client
            .sync(&config(&w.server, Arc::new(NoToken(error.clone()))))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{err}");
        assert!(err.to_string().contains(&error.to_string()), "{err}");
        assert_eq!(
            w.client.sync_status().unwrap().pending,
            n,
            "nothing is lost"
        );
        assert_eq!(w.server.event_counts(), (0, 0), "nothing was sent");
    }
}

#[tokio::test]
async fn a_401_asks_for_a_fresh_token_once() {
    let w = world().await;
    let n = journey(&w.client);
    let tokens = RotatingToken::new("still-wrong");
    let report = w
        .client
        .sync(&config(&w.server, tokens.clone()))
        .await
        .unwrap();
    assert_eq!(tokens.refreshes.load(Ordering::SeqCst), 1);
    assert!(report.stopped_because().unwrap().contains("sign in again"));
    assert_eq!(report.pending, n, "nothing is dropped");

    let tokens = RotatingToken::new("token-1");
    let report = w
        .client
        .sync(&config(&w.server, tokens.clone()))
        .await
        .unwrap();
    assert_eq!(tokens.refreshes.load(Ordering::SeqCst), 1);
    assert_eq!(report.acknowledged, n);
    assert_exactly_once(&w, "subject-1");
    w.server.shutdown().await;
}

#[tokio::test]
async fn a_refusal_parks_the_events_with_the_reason_and_keeps_them() {
    let w = world().await;
    let p = w.client.policy("ru");
    w.client
        .accept_policy(p.version, &p.hash(), "ru", true)
        .unwrap();
    w.client
        .sync(&config(&w.server, token("token-1")))
        .await
        .unwrap();
    w.client.set_permission("camera", true).unwrap();
    w.client.set_permission("contacts", false).unwrap();

    // Another subject may not write to this installation: 403, parked.
    let report = w
        .client
        .sync(&config(&w.server, token("token-2")))
        .await
        .unwrap();
    assert_eq!(report.parked, 2, "{report:?}");
    let status = w.client.sync_status().unwrap();
    assert_eq!((status.pending, status.parked), (0, 2));
    assert!(
        status.parked_events[0].reason.contains("403 forbidden"),
        "{status:?}"
    );
    assert_eq!(
        w.client.history().unwrap().len(),
        3,
        "parked events stay in the ledger"
    );

    // Once the cause is fixed, they go.
    assert_eq!(w.client.retry_parked().unwrap(), 2);
    let report = w
        .client
        .sync(&config(&w.server, token("token-1")))
        .await
        .unwrap();
    assert_eq!(report.acknowledged, 2);
    assert_exactly_once(&w, "subject-1");
    w.server.shutdown().await;
}

#[tokio::test]
async fn a_batch_too_large_for_the_server_is_split() {
    let w = world_with(|c| c.max_body_bytes = 4000).await; // about three events
    let n = journey(&w.client);
    let report = w
        .client
        .sync(&config(&w.server, token("token-1")))
        .await
        .unwrap();
    assert_eq!(report.acknowledged, n, "{report:?}");
    assert!(report.receipts > 3, "several smaller batches: {report:?}");
    assert_exactly_once(&w, "subject-1");
    w.server.shutdown().await;
}

fn version_2(base: &PolicyDocument) -> PolicyDocument {
    let mut next = base.clone();
    next.version = 2;
    next.effective_date = "2027-01-01".into();
    let clause = next
        .sections
        .iter_mut()
        .flat_map(|s| s.clauses.iter_mut())
        .find(|c| c.id == "4.2.5")
        .unwrap();
    clause.blocks = vec![Block::Paragraph {
        text: "Определения места нахождения Пользователя только для предотвращения мошенничества."
            .into(),
    }];
    next
}

#[tokio::test]
async fn a_server_batch_limit_splits_batches_instead_of_parking() {
    let w = world_with(|c| c.max_batch = 2).await;
    let n = journey(&w.client);
    let report = w
        .client
        .sync(&config(&w.server, token("token-1")))
        .await
        .unwrap();
    assert_eq!((report.acknowledged, report.parked), (n, 0), "{report:?}");
    assert_exactly_once(&w, "subject-1");
    w.server.shutdown().await;
}

#[tokio::test]
async fn a_subject_never_sees_another_subjects_events() {
    let w = world().await;
    journey(&w.client);
    w.client
        .sync(&config(&w.server, token("token-1")))
        .await
        .unwrap();
    assert!(!w.server.events_of("subject-1").events.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let other = open_client(dir.path(), &Arc::default(), &w.server);
    let err = other
        .restore_from_server(&config(&w.server, token("token-2")))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("holds no events for this account"),
        "{err}"
    );
    w.server.shutdown().await;
}

#[tokio::test]
async fn a_new_policy_version_arrives_signed_and_asks_for_consent_with_a_diff() {
    let w = world().await;
    journey(&w.client);
    let cfg = config(&w.server, token("token-1"));
    assert_eq!(
        w.client.sync(&cfg).await.unwrap().policy_updated_to,
        None,
        "same version: 304 or no change"
    );

    let v2 = version_2(&PolicyDocument::bundled());
    w.server.publish_policy(v2.clone()).unwrap();
    let report = w.client.sync(&cfg).await.unwrap();
    assert_eq!(report.policy_updated_to, Some(2), "{report:?}");
    let state = w.client.state().unwrap();
    assert_eq!(
        state.policy,
        PolicyStatus::ReconsentRequired {
            from_version: 1,
            to_version: 2
        }
    );
    let changes = w
        .client
        .policy_changes()
        .unwrap()
        .expect("a diff while re-consent is required");
    assert_eq!(changes.changes.len(), 1);
    assert_eq!(changes.changes[0].id, "4.2.5");

    w.client.record_notice_shown(2, &v2.hash(), "ru").unwrap();
    w.client.accept_policy(2, &v2.hash(), "ru", true).unwrap();
    let report = w.client.sync(&cfg).await.unwrap();
    assert_eq!(
        report.acknowledged, 2,
        "notice and acceptance reach the server"
    );
    assert_exactly_once(&w, "subject-1");
    w.server.shutdown().await;
}

#[tokio::test]
async fn a_policy_signed_by_an_unknown_key_is_refused_and_the_old_one_stays() {
    let w = world().await;
    w.server
        .publish_policy(version_2(&PolicyDocument::bundled()))
        .unwrap();
    let mut cfg = config(&w.server, token("token-1"));
    cfg.policy_keys = vec![altyn_consent_core::sync::wire::generate_signing_key().verifying_key()];
    let report = w.client.sync(&cfg).await.unwrap();
    assert!(report
        .stopped_because()
        .unwrap()
        .contains("not signed by a trusted key"));
    assert_eq!(w.client.policy("ru").version, 1);
    w.server.shutdown().await;
}

#[tokio::test]
async fn a_fresh_store_restores_the_same_state_from_the_server() {
    let w = world().await;
    journey(&w.client);
    w.client.withdraw("camera").unwrap();
    let cfg = config(&w.server, token("token-1"));
    w.client.sync(&cfg).await.unwrap();
    let before = w.client.state().unwrap();

    let dir = tempfile::tempdir().unwrap();
    // A new device has a keystore of its own.
    let restored = open_client(dir.path(), &Arc::default(), &w.server);
    let state = restored.restore_from_server(&cfg).await.unwrap();
    // The same consent; the revision counts each client's own changes.
    let consent = |s: ConsentState| ConsentState { revision: 0, ..s };
    assert_eq!(consent(state), consent(before.clone()));
    restored.verify().unwrap();
    // The journey's receipt, and the one of the withdrawal statement's
    // receipt of delivery (recorded and uploaded in the same pass).
    assert_eq!(restored.receipts().unwrap().len(), 2);
    // The restored device continues the same ledger.
    restored.set_permission("camera", true).unwrap();
    let report = restored.sync(&cfg).await.unwrap();
    assert_eq!(report.acknowledged, 1, "{report:?}");
    let (stored, distinct) = w.server.event_counts();
    let expected = before.events as u64 + 1;
    assert_eq!((stored, distinct), (expected, expected));
    w.server.shutdown().await;
}

#[tokio::test]
async fn restore_into_a_store_that_has_events_is_refused() {
    let w = world().await;
    journey(&w.client);
    let cfg = config(&w.server, token("token-1"));
    w.client.sync(&cfg).await.unwrap();
    let err = w.client.restore_from_server(&cfg).await.unwrap_err();
    assert!(err.to_string().contains("empty store"), "{err}");
    w.server.shutdown().await;
}

#[tokio::test]
async fn the_api_answers_errors_as_json() {
    let w = world().await;
    // This test's own client uses reqwest's default TLS setup, which needs a
    // process-wide provider (the core brings its own).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(w.server.ca_pem.as_ref().unwrap().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let url = |p: &str| format!("{}{p}", w.server.base_url);
    let r = client
        .post(url("v1/events"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = client
        .post(url("v1/events"))
        .bearer_auth("token-1")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "bad_request");
    let r = client
        .post(url("v1/events"))
        .bearer_auth("token-1")
        .body(vec![b' '; 9 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"], "too_large");
    let r = client
        .get(url("v1/policies/altyncoin-privacy?locale=kk"))
        .bearer_auth("token-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = client
        .get(url("v1/policies/altyncoin-privacy"))
        .bearer_auth("token-1")
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let r = client.get(url("v1/nothing")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    w.server.shutdown().await;
}

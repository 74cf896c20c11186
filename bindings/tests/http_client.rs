//! An app's own HTTP stack through the exported `HttpClient` trait, as
//! OkHttp or URLSession would be handed in: the core builds each request
//! and judges each answer; the app's client only performs it. Here the
//! "app's client" performs requests with reqwest against the real
//! reference server over TLS on loopback.

mod common;
use common::MemoryKeys;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use altyn_consent::{
    AppInfo, ConsentCore, HttpClient, HttpError, HttpHeader, HttpRequest, HttpResponse, OpenConfig,
    StopReason, SyncSettings, TokenError, TokenProvider,
};
use altyn_consent_core::sync::wire::key_id;
use altyn_consent_server::{start, ServerConfig};

struct Tokens;

#[async_trait::async_trait]
impl TokenProvider for Tokens {
    async fn token(&self) -> Result<String, TokenError> {
        Ok("token-1".into())
    }
    async fn refresh(&self) -> Result<String, TokenError> {
        Ok("token-1".into())
    }
}

/// The app's HTTP stack: trusts the dev CA on its own (as an app's network
/// security config would), counts what it sends, and never sees a rule.
struct AppClient {
    http: reqwest::Client,
    requests: AtomicUsize,
    /// When set, every request fails as a dropped connection would.
    offline: bool,
    /// When set, every answer claims status 0 (a broken app stack).
    bogus_status: bool,
}

#[async_trait::async_trait]
impl HttpClient for AppClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        self.requests.fetch_add(1, Ordering::SeqCst);
        if self.offline {
            return Err(HttpError::Network {
                reason: "no route to host".into(),
            });
        }
        if self.bogus_status {
            return Ok(HttpResponse {
                status: 0,
                headers: Vec::new(),
                body: Vec::new(),
            });
        }
        let mut builder = match request.method.as_str() {
            "GET" => self.http.get(&request.url),
            "POST" => self.http.post(&request.url).body(request.body),
            other => panic!("unexpected method {other}"),
        };
        for h in &request.headers {
            builder = builder.header(h.name.as_str(), h.value.as_str());
        }
        let response = builder.send().await.map_err(|e| HttpError::Network {
            reason: e.to_string(),
        })?;
        let status = i32::from(response.status().as_u16());
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| HttpHeader {
                name: k.to_string(),
                value: v.to_str().unwrap_or_default().to_string(),
            })
            .collect();
        let body = response
            .bytes()
            .await
            .map_err(|e| HttpError::Network {
                reason: e.to_string(),
            })?
            .to_vec();
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apps_own_http_stack_syncs_exactly_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let server = start(ServerConfig::loopback(
        &dir.path().join("server"),
        &[("token-1", "borrower-1")],
    ))
    .await
    .unwrap();
    let ca = reqwest::Certificate::from_pem(server.ca_pem.as_ref().unwrap().as_bytes()).unwrap();
    let app = Arc::new(AppClient {
        http: reqwest::Client::builder()
            .add_root_certificate(ca)
            .build()
            .unwrap(),
        requests: AtomicUsize::new(0),
        offline: false,
        bogus_status: false,
    });
    let receipt_key = hex::encode(server.receipt_key.as_bytes());
    let mut settings = SyncSettings::new(server.base_url.clone());
    settings.server_keys = vec![receipt_key.clone()];
    settings.policy_keys = vec![hex::encode(server.policy_key.as_bytes())];
    // The app's stack does TLS: the library's CA setting is not used.
    settings.request_timeout_ms = 5000;
    settings.max_attempts = 2;
    let core = ConsentCore::open(
        OpenConfig {
            data_dir: dir.path().join("app").to_string_lossy().into_owned(),
            app: AppInfo {
                platform: "android".into(),
                app_version: "1.0.0-test".into(),
                os_version: "test".into(),
            },
            server_keys: vec![receipt_key],
        },
        Arc::new(MemoryKeys::default()),
    )
    .unwrap();
    let policy = core.policy("ru".into());
    core.accept_policy(
        policy.reference.version,
        policy.reference.hash,
        "ru".into(),
        true,
    )
    .unwrap();
    core.set_permission("camera".into(), true).unwrap();

    let report = core
        .sync_with_client(settings.clone(), Arc::new(Tokens), app.clone())
        .await
        .unwrap();
    assert_eq!((report.acknowledged, report.pending), (2, 0), "{report:?}");
    assert_eq!(report.stop, None);
    // One upload and one policy fetch, both through the app's client.
    assert_eq!(app.requests.load(Ordering::SeqCst), 2);
    assert_eq!(server.event_counts(), (2, 2));
    let receipts = core.receipts().unwrap();
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].key_id, key_id(&server.receipt_key));
    core.verify().unwrap();

    // The app's stack offline: the pass stops as a network failure, with
    // the decision still the core's, and nothing is lost.
    core.set_permission("contacts".into(), false).unwrap();
    let offline = Arc::new(AppClient {
        http: reqwest::Client::new(),
        requests: AtomicUsize::new(0),
        offline: true,
        bogus_status: false,
    });
    let mut fast = settings;
    fast.max_attempts = 1;
    // An app stack that answers with no HTTP status is no answer: the pass
    // stops as unreachable, naming it, and nothing is lost.
    let broken = Arc::new(AppClient {
        http: reqwest::Client::new(),
        requests: AtomicUsize::new(0),
        offline: false,
        bogus_status: true,
    });
    let report = core
        .sync_with_client(fast.clone(), Arc::new(Tokens), broken)
        .await
        .unwrap();
    match &report.stop {
        Some(StopReason::Unreachable { detail }) => {
            assert!(detail.contains("no HTTP status"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(report.pending, 1);
    let report = core
        .sync_with_client(fast, Arc::new(Tokens), offline.clone())
        .await
        .unwrap();
    assert!(
        matches!(report.stop, Some(StopReason::Unreachable { .. })),
        "{report:?}"
    );
    assert_eq!(report.pending, 1);
    assert_eq!(offline.requests.load(Ordering::SeqCst), 1);
    server.shutdown().await;
}

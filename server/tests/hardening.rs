//! The server under broken and hostile clients, each fault driven over a
//! real TLS socket on loopback: a body announced and never sent, headers
//! sent too slowly, more connections than allowed, a token over its rate,
//! malformed input, a panicking handler, case-insensitive bearer schemes,
//! private data files, and SIGTERM.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use altyn_consent_server::{start, Fault, RunningServer, ServerConfig};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

const TOKEN: &str = "token-1";

async fn server_with(
    dir: &std::path::Path,
    adjust: impl FnOnce(&mut ServerConfig),
) -> RunningServer {
    let mut config = common::config(&dir.join("server"), &[(TOKEN, "subject-1")]);
    adjust(&mut config);
    start(config).await.expect("the server starts")
}

fn tls_config(server: &RunningServer) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = server.ca_pem.as_ref().expect("a dev CA");
    let der = rustls_pemfile_der(ca);
    roots.add(der.into()).expect("the dev CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// The DER inside one PEM certificate.
fn rustls_pemfile_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("PEM base64")
}

async fn connect(server: &RunningServer) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(server.addr).await?;
    TlsConnector::from(tls_config(server))
        .connect(ServerName::try_from("127.0.0.1").unwrap().to_owned(), tcp)
        .await
}

/// Reads until the server closes the connection (or `limit` passes).
async fn read_until_closed(stream: &mut TlsStream<TcpStream>, limit: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

fn client(server: &RunningServer) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(server.ca_pem.as_ref().unwrap().as_bytes()).unwrap(),
        )
        .build()
        .unwrap()
}

async fn json_of(response: reqwest::Response) -> serde_json::Value {
    let bytes = response.bytes().await.unwrap();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
}

#[tokio::test]
async fn a_body_announced_and_never_sent_is_answered_408_and_the_connection_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), |c| c.request_timeout_secs = 1).await;
    let mut stream = connect(&server).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(
            format!(
                "POST /v1/events HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {TOKEN}\r\n\
                 content-type: application/json\r\ncontent-length: 100\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(closed, "the connection is closed");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"error\":\"timeout\""), "{answer}");
    server.shutdown().await;
}

#[tokio::test]
async fn headers_that_never_finish_and_silent_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), |c| {
        c.header_timeout_secs = 1;
        c.idle_timeout_secs = 2;
    })
    .await;
    // Half a request, then nothing.
    let mut half = connect(&server).await.unwrap();
    half.write_all(b"GET /v1/health HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .await
        .unwrap();
    // Nothing at all after the handshake.
    let mut silent = connect(&server).await.unwrap();
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut half, Duration::from_secs(10)).await;
    assert!(closed, "the half request's connection is closed");
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(10)).await;
    assert!(closed, "the silent connection is closed");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn connections_over_the_limit_are_refused_and_the_held_ones_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), |c| c.max_connections = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect(&server).await.expect("within the limit"));
    }
    // The fourth is closed before its TLS handshake completes.
    assert!(connect(&server).await.is_err(), "a fourth connection");
    // The held ones still answer.
    let first = &mut held[0];
    first
        .write_all(b"GET /v1/health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let (answer, _) = read_until_closed(first, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Closing one frees its place.
    held.remove(0);
    let mut again = None;
    for _ in 0..50 {
        if let Ok(s) = connect(&server).await {
            again = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "a place was freed");
    server.shutdown().await;
}

#[tokio::test]
async fn a_token_over_its_rate_is_told_when_to_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), |c| {
        c.rate_limit_per_second = 1;
        c.rate_limit_burst = 2;
    })
    .await;
    let http = client(&server);
    let url = format!("{}v1/statements", server.base_url);
    for _ in 0..2 {
        let r = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(json_of(r).await["error"], "rate_limited");
    // Health needs no token and is not limited by one.
    let r = http
        .get(format!("{}v1/health", server.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn every_error_is_the_contracts_json_whoever_made_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), |c| c.max_body_bytes = 64 * 1024).await;
    let http = client(&server);
    let url = |p: &str| format!("{}{p}", server.base_url);

    // A duplicated query parameter.
    let r = http
        .get(url("v1/policies/altyncoin-privacy?locale=ru&locale=en"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json_of(r).await["error"], "bad_request");
    // Invalid UTF-8 in the path.
    let r = http
        .get(url("v1/policies/%FF%FE"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json_of(r).await["error"], "bad_request");
    // A method the endpoint does not take.
    let r = http
        .delete(url("v1/events"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.headers().contains_key("allow"));
    assert_eq!(json_of(r).await["error"], "method_not_allowed");
    // No such endpoint.
    let r = http.get(url("v1/nothing")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(json_of(r).await["error"], "not_found");
    // A report body over the limit.
    let r = http
        .post(url("v1/reports"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(vec![b' '; 65 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(json_of(r).await["error"], "too_large");
    // A panicking handler: 500 in the contract's shape, and the server goes on.
    server.faults.push(Fault::Panic);
    let r = http
        .post(url("v1/events"))
        .bearer_auth(TOKEN)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert_eq!(json_of(r).await["error"], "internal");
    let r = http.get(url("v1/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    server.shutdown().await;
}

#[tokio::test]
async fn an_event_whose_time_is_not_a_date_time_is_refused() {
    use altyn_consent_core::ledger::{AppContext, Event, EventKind, GENESIS_HASH};
    use altyn_consent_core::policy::PolicyDocument;
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), |_| {}).await;
    let http = client(&server);
    let mut event = Event {
        id: uuid::Uuid::now_v7(),
        seq: 1,
        at: "yesterday".into(),
        install_id: "install-1".into(),
        subject: "install-1".into(),
        policy: PolicyDocument::bundled().reference(),
        context: AppContext::new("desktop", "test", "linux"),
        kind: EventKind::AccountLinked {
            account_id: "subject-1".into(),
        },
        prev_hash: GENESIS_HASH.into(),
        hash: String::new(),
    };
    event.hash = event.compute_hash();
    let r = http
        .post(format!("{}v1/events", server.base_url))
        .bearer_auth(TOKEN)
        .body(serde_json::json!({ "install_id": "install-1", "events": [event] }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body = json_of(r).await;
    assert_eq!(body["error"], "bad_request");
    assert!(body["message"].as_str().unwrap().contains("(at)"), "{body}");
    assert_eq!(server.event_counts(), (0, 0));
    server.shutdown().await;
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), |_| {}).await;
    let http = client(&server);
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let r = http
            .get(format!("{}v1/access", server.base_url))
            .header("authorization", format!("{scheme} {TOKEN}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{scheme}");
    }
    let r = http
        .get(format!("{}v1/access", server.base_url))
        .header("authorization", format!("Basic {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    server.shutdown().await;
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_folder_and_its_secrets_are_the_operators_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), |_| {}).await;
    let data = dir.path().join("server");
    let mode = |name: &str| {
        std::fs::metadata(data.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(
        std::fs::metadata(&data).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let mut secrets = vec!["receipt-key.hex", "policy-key.hex"];
    if common::test_database().is_none() {
        secrets.extend(["server.db", "server.db-wal"]);
    } else {
        // With PostgreSQL the folder holds keys and certificates only.
        assert!(!data.join("server.db").exists());
    }
    for name in secrets {
        assert_eq!(mode(name), 0o600, "{name}");
    }
    server.shutdown().await;
}

#[cfg(unix)]
#[test]
fn sigterm_stops_the_server_gracefully() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_altyn-consent-server"))
        .args(["--listen", "127.0.0.1:0", "--server-data-dir"])
        .arg(dir.path().join("server"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("listening on"), "{first}");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(rest.iter().any(|l| l == "shutting down"), "{rest:?}");
}

#[tokio::test]
async fn text_with_a_control_character_is_a_bad_request_not_a_storage_failure() {
    // PostgreSQL refuses a NUL in text: a 500 there would be retried for
    // ever by the client. Both engines answer 400 before storage.
    let dir = tempfile::tempdir().unwrap();
    let server = server_with(dir.path(), |_| {}).await;
    let client = common::http(&server);
    let base = &server.base_url;
    let upload = client
        .post(format!("{base}v1/events"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"install_id":"a\u0000b","events":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 400);
    let cursor = format!("{}.1", hex::encode("a\0b"));
    for path in [
        format!("v1/events?limit=10&after={cursor}"),
        "v1/policies/altyncoin-privacy?locale=r%00u".to_string(),
    ] {
        let response = client
            .get(format!("{base}{path}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
        let body: serde_json::Value =
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body["error"], "bad_request", "{path}");
    }
    server.shutdown().await;
}

//! The reference sync backend: HTTPS only (axum over rustls with the ring
//! provider), SQLite storage in WAL mode (or PostgreSQL, for several
//! servers in front of one database), idempotent chain-checked ingestion,
//! Ed25519-signed receipts and policies. The contract is `server/openapi.json`.

mod company;
mod db;
pub mod faults;
mod hardening;
mod storage;
mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use altyn_consent_core::ledger::Event;
use altyn_consent_core::policy::PolicyDocument;
use altyn_consent_core::sync::wire::{key_id, EventsPage};
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::Deserialize;
use serde_json::value::RawValue;

pub use db::PgUrlError;
pub use faults::{Fault, FaultPlan};
pub use storage::{latest_schema_version, Refusal, Storage, StorageError};

/// Every route the server answers, as `(method, OpenAPI path)`. A test
/// checks that `openapi.json` describes exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/v1/health"),
    ("post", "/v1/events"),
    ("get", "/v1/events"),
    ("get", "/v1/policies/{policy_id}"),
    ("post", "/v1/reports"),
    ("get", "/v1/access"),
    ("get", "/v1/statements"),
    ("get", "/v1/admin/reports"),
    ("put", "/v1/admin/subjects/{subject}/legal-holds"),
    ("post", "/v1/admin/subjects/{subject}/unblock"),
];

/// How the server runs. Flags and environment variables of the same name.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerConfig {
    /// Address to listen on (HTTPS).
    #[arg(long, env = "ALTYN_SERVER_LISTEN", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,
    /// Folder for the database (SQLite, without --database-url), the
    /// signing keys and the dev certificates. Servers sharing one
    /// PostgreSQL share its keys: give them copies of one folder.
    #[arg(
        long = "server-data-dir",
        env = "ALTYN_SERVER_DATA_DIR",
        default_value = "altyn-server-data"
    )]
    pub data_dir: PathBuf,
    /// Store in PostgreSQL rather than in `server.db` of the data folder:
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE`. Without
    /// `sslmode=require` only a database on this machine (loopback, Unix
    /// socket) is accepted. Several servers may share one database.
    #[arg(long, env = "ALTYN_SERVER_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<DatabaseUrl>,
    /// PEM CA certificate of the PostgreSQL server's TLS, beside the
    /// Mozilla roots.
    #[arg(long, env = "ALTYN_SERVER_DATABASE_CA", requires = "database_url")]
    pub database_ca: Option<PathBuf>,
    /// Connections to PostgreSQL held open (at most).
    #[arg(long, env = "ALTYN_SERVER_DATABASE_POOL", default_value_t = 16)]
    pub database_pool_size: u32,
    /// PEM certificate chain; without it a dev CA and certificate are made.
    #[arg(long, env = "ALTYN_SERVER_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "ALTYN_SERVER_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Access tokens as TOKEN=SUBJECT, comma-separated.
    #[arg(
        long,
        env = "ALTYN_SERVER_TOKENS",
        value_delimiter = ',',
        default_value = "dev-token=dev-subject"
    )]
    pub tokens: Vec<String>,
    /// Largest request body, in bytes (answered 413 beyond).
    #[arg(long, env = "ALTYN_SERVER_MAX_BODY", default_value_t = 8 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most events in one upload (answered 413 beyond, so the client splits).
    #[arg(long, env = "ALTYN_SERVER_MAX_BATCH", default_value_t = 1000)]
    pub max_batch: usize,
    /// Policy documents (JSON) to publish at start, signed with the policy
    /// key, after the bundled one: a newer version asks clients to consent
    /// again. Repeatable.
    #[arg(long = "publish", value_name = "POLICY_JSON")]
    pub publish: Vec<PathBuf>,
    /// Operator tokens for the admin API (`/v1/admin/...`: open compromise
    /// reports, legal holds, unblock decisions), comma-separated. None: the
    /// admin API answers 403.
    #[arg(long, env = "ALTYN_SERVER_ADMIN_TOKENS", value_delimiter = ',')]
    pub admin_tokens: Vec<String>,
    /// Start with a new receipt signing key: the current one is retired
    /// (kept in `retired/`, its public key still listed in
    /// `receipt-keys.pub`), and receipts from now on name the new one.
    /// Ship apps trusting the new public key before rotating.
    #[arg(long)]
    pub rotate_receipt_key: bool,
    /// Start with a new policy signing key (as for receipts); every
    /// published policy text is signed again with it.
    #[arg(long)]
    pub rotate_policy_key: bool,
    /// Seconds a client has to send a request's headers (a connection that
    /// sends nothing, or headers too slowly, is closed).
    #[arg(long, env = "ALTYN_SERVER_HEADER_TIMEOUT", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds to receive a request and answer it, body included (answered
    /// 408 beyond, and the connection closed).
    #[arg(long, env = "ALTYN_SERVER_REQUEST_TIMEOUT", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Seconds a connection may stay silent (no byte either way) before it
    /// is closed: one that says nothing after the handshake, an idle
    /// keep-alive.
    #[arg(long, env = "ALTYN_SERVER_IDLE_TIMEOUT", default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// Most connections open at once; one over it is closed at once.
    #[arg(long, env = "ALTYN_SERVER_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Most requests handled at once; the others wait (within the request
    /// timeout).
    #[arg(long, env = "ALTYN_SERVER_MAX_IN_FLIGHT", default_value_t = 256)]
    pub max_in_flight: usize,
    /// Requests per second per access token (answered 429 with Retry-After
    /// beyond its burst).
    #[arg(long, env = "ALTYN_SERVER_RATE_LIMIT", default_value_t = 100)]
    pub rate_limit_per_second: u32,
    /// Requests a token may send at once above its rate.
    #[arg(long, env = "ALTYN_SERVER_RATE_BURST", default_value_t = 200)]
    pub rate_limit_burst: u32,
}

/// A PostgreSQL URL. It may hold a password, so its `Debug` shows none of
/// it (a configuration printed for a bug report stays shareable).
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        DatabaseUrl(url)
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;
    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Ok(DatabaseUrl(url.to_string()))
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl(…)")
    }
}

/// The admin token of [`ServerConfig::loopback`] servers (tests, the demo).
pub const LOOPBACK_ADMIN_TOKEN: &str = "dev-admin-token";

impl ServerConfig {
    /// A loopback server on a free port, storing in `data_dir`.
    pub fn loopback(data_dir: &Path, tokens: &[(&str, &str)]) -> Self {
        ServerConfig {
            listen: "127.0.0.1:0".parse().expect("an address"),
            data_dir: data_dir.to_path_buf(),
            database_url: None,
            database_ca: None,
            database_pool_size: 16,
            tls_cert: None,
            tls_key: None,
            tokens: tokens.iter().map(|(t, s)| format!("{t}={s}")).collect(),
            max_body_bytes: 8 * 1024 * 1024,
            max_batch: 1000,
            publish: Vec::new(),
            admin_tokens: vec![LOOPBACK_ADMIN_TOKEN.into()],
            rotate_receipt_key: false,
            rotate_policy_key: false,
            header_timeout_secs: 10,
            request_timeout_secs: 30,
            idle_timeout_secs: 60,
            max_connections: 1024,
            max_in_flight: 256,
            rate_limit_per_second: 100,
            rate_limit_burst: 200,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("storage: {0}")]
    Database(#[from] StorageError),
    #[error("TLS: {0}")]
    Tls(String),
}

struct AppState {
    storage: Storage,
    admin_tokens: Vec<String>,
    receipt_key: SigningKey,
    tokens: HashMap<String, String>,
    max_batch: usize,
    max_body: usize,
    rate_limiter: hardening::RateLimiter,
}

/// A running server.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// `https://127.0.0.1:PORT/`
    pub base_url: String,
    /// The CA that signed the server's certificate (PEM), for the client.
    pub ca_pem: Option<String>,
    /// The server's certificate (DER), e.g. for pinning.
    pub cert_der: Vec<u8>,
    /// The active receipt key: new receipts name it.
    pub receipt_key: VerifyingKey,
    /// Every receipt key the server has had, the active one first.
    pub receipt_keys: Vec<VerifyingKey>,
    /// The active policy key.
    pub policy_key: VerifyingKey,
    /// Every policy key the server has had, the active one first.
    pub policy_keys: Vec<VerifyingKey>,
    pub faults: FaultPlan,
    state: Arc<AppState>,
    policy_signer: SigningKey,
    handle: axum_server::Handle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Publishes a policy text, signed with the policy key.
    pub fn publish_policy(&self, doc: PolicyDocument) -> Result<(), Refusal> {
        doc.validate()
            .map_err(|e| Refusal::new(400, "bad_request", e.to_string()))?;
        off_async(|| self.state.storage.publish(doc, &self.policy_signer))
    }

    /// (events stored, distinct event ids): equal when nothing is duplicated.
    pub fn event_counts(&self) -> (u64, u64) {
        off_async(|| self.state.storage.event_counts()).expect("counts")
    }

    /// Every event and receipt the server holds for `subject`.
    pub fn events_of(&self, subject: &str) -> EventsPage {
        let (events, receipts) =
            off_async(|| self.state.storage.events_of(subject)).unwrap_or_default();
        EventsPage {
            events,
            receipts,
            next: None,
        }
    }

    /// §5.7: the operator restores `subject`'s access (as the admin API's
    /// unblock does).
    pub fn unblock(
        &self,
        subject: &str,
    ) -> Result<altyn_consent_core::sync::wire::UnblockDecision, Refusal> {
        off_async(|| self.state.storage.unblock(subject, &self.state.receipt_key))
    }

    /// The operator sets the processing that continues on a legal basis
    /// for `subject` (as the admin API's legal-holds does).
    pub fn set_legal_holds(
        &self,
        subject: &str,
        holds: &[altyn_consent_core::sync::wire::LegalHold],
    ) -> Result<(), Refusal> {
        off_async(|| self.state.storage.set_legal_holds(subject, holds))
    }

    /// Stops accepting connections and lets requests in flight finish.
    pub async fn shutdown(self) {
        self.handle.graceful_shutdown(Some(Duration::from_secs(5)));
        let _ = self.task.await;
    }
}

/// One signing key ring in the data folder: `NAME-key.hex` is the active
/// key (0600; its public key in `NAME-key.pub`), `retired/NAME-key-ID.hex`
/// the keys it replaced, and `NAME-keys.pub` every public key, the active
/// one first, one per line: what clients trust during and after a
/// rotation. Receipts and policy signatures name the key that made them
/// (`key_id`), so old ones still verify against the retired public keys.
struct KeyRing {
    active: SigningKey,
    all: Vec<VerifyingKey>,
}

fn key_ring(dir: &Path, name: &str, rotate: bool) -> Result<KeyRing, ServerError> {
    let active_path = dir.join(format!("{name}-key.hex"));
    let retired_dir = dir.join("retired");
    let io = |what: String| move |source| ServerError::Io { what, source };
    if rotate && active_path.exists() {
        let old = read_key(&active_path)?;
        std::fs::create_dir_all(&retired_dir)
            .map_err(io(format!("folder {}", retired_dir.display())))?;
        let kept = retired_dir.join(format!("{name}-key-{}.hex", key_id(&old.verifying_key())));
        altyn_consent_core::store::write_private_file(
            &kept,
            hex::encode(old.to_bytes()).as_bytes(),
        )
        .map_err(io(format!("key file {}", kept.display())))?;
        std::fs::remove_file(&active_path)
            .map_err(io(format!("key file {}", active_path.display())))?;
        tracing::info!(retired = %key_id(&old.verifying_key()), "{name} key rotated");
    }
    let active = match read_key(&active_path) {
        Ok(key) => key,
        Err(ServerError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            let key = altyn_consent_core::sync::wire::generate_signing_key();
            altyn_consent_core::store::write_private_file(
                &active_path,
                hex::encode(key.to_bytes()).as_bytes(),
            )
            .map_err(io(format!("key file {}", active_path.display())))?;
            key
        }
        Err(e) => return Err(e),
    };
    let mut all = vec![active.verifying_key()];
    if retired_dir.is_dir() {
        let prefix = format!("{name}-key-");
        let mut retired: Vec<_> = std::fs::read_dir(&retired_dir)
            .map_err(io(format!("folder {}", retired_dir.display())))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".hex"))
            })
            .collect();
        retired.sort();
        for path in retired {
            let key = read_key(&path)?.verifying_key();
            if !all.contains(&key) {
                all.push(key);
            }
        }
    }
    let public = |key: &VerifyingKey| hex::encode(key.as_bytes());
    std::fs::write(active_path.with_extension("pub"), public(&all[0]))
        .map_err(io(format!("{name}-key.pub")))?;
    let list: String = all.iter().map(|k| public(k) + "\n").collect();
    std::fs::write(dir.join(format!("{name}-keys.pub")), list)
        .map_err(io(format!("{name}-keys.pub")))?;
    Ok(KeyRing { active, all })
}

fn read_key(path: &Path) -> Result<SigningKey, ServerError> {
    let text = std::fs::read_to_string(path).map_err(|source| ServerError::Io {
        what: format!("key file {}", path.display()),
        source,
    })?;
    let bytes: [u8; 32] = hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            ServerError::Config(format!("{} is not a 64-hex-digit key", path.display()))
        })?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Runs the server until Ctrl-C (SIGINT) or SIGTERM, printing where it listens, its
/// public keys and its dev CA, so a client can be pointed at it. Used by
/// `altyn-consent-server` and `altyn-consent serve`.
pub async fn serve_until_ctrl_c(config: ServerConfig) -> Result<(), ServerError> {
    let dir = config.data_dir.clone();
    let stop = StopSignals::install();
    let server = start(config).await?;
    println!("consent server listening on {}", server.base_url);
    println!(
        "receipt key: {} ({}; all {}: {})",
        hex::encode(server.receipt_key.as_bytes()),
        dir.join("receipt-key.pub").display(),
        server.receipt_keys.len(),
        dir.join("receipt-keys.pub").display()
    );
    println!(
        "policy key:  {} ({}; all {}: {})",
        hex::encode(server.policy_key.as_bytes()),
        dir.join("policy-key.pub").display(),
        server.policy_keys.len(),
        dir.join("policy-keys.pub").display()
    );
    if server.ca_pem.is_some() {
        println!("dev CA:      {}", dir.join("dev-ca.pem").display());
    }
    println!(
        "sync with:   altyn-consent sync --server {} --server-data-dir {}",
        server.base_url,
        dir.display()
    );
    stop.wait().await;
    println!("shutting down");
    server.shutdown().await;
    Ok(())
}

/// SIGINT (Ctrl-C) or SIGTERM (a service manager, a container runtime):
/// both stop the server gracefully, requests in flight finishing. The
/// handlers are installed when this is made, before the server says where
/// it listens: a stop sent the moment it does is not lost (the default
/// action would kill the process).
struct StopSignals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            StopSignals {
                interrupt: signal(SignalKind::interrupt()).ok(),
                terminate: signal(SignalKind::terminate()).ok(),
            }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        {
            async fn next(signal: Option<tokio::signal::unix::Signal>) {
                match signal {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            if self.interrupt.is_none() && self.terminate.is_none() {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
            tokio::select! {
                _ = next(self.interrupt) => {}
                _ = next(self.terminate) => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The data folder is the operator's alone: 0700, and the database and its
/// log 0600 (created so before SQLite opens it; SQLite gives the log and
/// the shared-memory file the database's mode). Key files are written 0600.
fn private_data_folder(dir: &Path, sqlite: bool) -> Result<(), ServerError> {
    let io = |what: String| move |source| ServerError::Io { what, source };
    std::fs::create_dir_all(dir).map_err(io(format!("data folder {}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io(format!("data folder {}", dir.display())))?;
        let db = dir.join("server.db");
        if !sqlite {
            return Ok(());
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&db)
            .map_err(io(format!("database {}", db.display())))?;
        for name in ["server.db", "server.db-wal", "server.db-shm"] {
            let path = dir.join(name);
            if path.exists() {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(io(format!("database file {}", path.display())))?;
            }
        }
    }
    Ok(())
}

/// Opens the storage of `config`'s engine, the key rings, and publishes
/// the bundled policy and `--publish` texts (blocking).
fn open_storage(config: &ServerConfig) -> Result<(Storage, KeyRing, KeyRing), ServerError> {
    let storage = match &config.database_url {
        Some(url) => {
            let ca = match &config.database_ca {
                Some(path) => Some(std::fs::read(path).map_err(|source| ServerError::Io {
                    what: format!("database CA {}", path.display()),
                    source,
                })?),
                None => None,
            };
            Storage::connect(url.as_str(), ca.as_deref(), config.database_pool_size)?
        }
        None => Storage::open(&config.data_dir.join("server.db"))?,
    };
    let receipts_ring = key_ring(&config.data_dir, "receipt", config.rotate_receipt_key)?;
    let policy_ring = key_ring(&config.data_dir, "policy", config.rotate_policy_key)?;
    let policy_signer = &policy_ring.active;
    if config.rotate_policy_key {
        let signed = storage
            .sign_policies_again(policy_signer)
            .map_err(|r| ServerError::Config(r.error.message))?;
        tracing::info!(signed, "published policies signed with the new policy key");
    }
    // The bundled policy is the first published version.
    storage
        .publish(PolicyDocument::bundled(), policy_signer)
        .map_err(|r| ServerError::Config(r.error.message))?;
    for path in &config.publish {
        let bytes = std::fs::read(path).map_err(|source| ServerError::Io {
            what: format!("policy file {}", path.display()),
            source,
        })?;
        let doc = PolicyDocument::parse(&bytes)
            .map_err(|e| ServerError::Config(format!("policy file {}: {e}", path.display())))?;
        storage.publish(doc, policy_signer).map_err(|r| {
            ServerError::Config(format!(
                "policy file {}: {}",
                path.display(),
                r.error.message
            ))
        })?;
    }
    Ok((storage, receipts_ring, policy_ring))
}

/// Runs `f` on a thread of its own: the storage blocks, and PostgreSQL's
/// client may not block a thread that drives async tasks (the helpers of
/// [`RunningServer`] are called from async tests and tools).
fn off_async<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(f).join().expect("storage work panicked"))
}

/// Starts the server; returns once it listens.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServerError> {
    private_data_folder(&config.data_dir, config.database_url.is_none())?;
    let mut tokens = HashMap::new();
    for pair in &config.tokens {
        let (token, subject) = pair
            .split_once('=')
            .filter(|(t, s)| !t.is_empty() && !s.is_empty())
            .ok_or_else(|| ServerError::Config("tokens are written TOKEN=SUBJECT".into()))?;
        tokens.insert(token.to_string(), subject.to_string());
    }
    // The database first: one this server cannot use stops it before
    // anything else is created in the data folder. Both engines block, so
    // this runs off the async threads.
    let setup = config.clone();
    let (storage, receipts_ring, policy_ring) =
        tokio::task::spawn_blocking(move || open_storage(&setup))
            .await
            .map_err(|_| ServerError::Config("the storage set-up failed".into()))??;
    let receipt_key = receipts_ring.active.clone();
    let policy_signer = policy_ring.active.clone();

    let identity = tls::identity(&config)?;
    let faults = FaultPlan::default();
    let state = Arc::new(AppState {
        storage,
        admin_tokens: config
            .admin_tokens
            .iter()
            .filter(|t| !t.is_empty())
            .cloned()
            .collect(),
        receipt_key: receipt_key.clone(),
        tokens,
        max_batch: config.max_batch,
        max_body: config.max_body_bytes,
        rate_limiter: hardening::RateLimiter::new(
            config.rate_limit_per_second,
            config.rate_limit_burst,
        ),
    });
    let limits = Arc::new(hardening::Limits {
        request_timeout: Duration::from_secs(config.request_timeout_secs.max(1)),
        max_in_flight: config.max_in_flight,
    });
    let app = router(state.clone(), faults.clone(), limits);
    let handle = axum_server::Handle::new();
    let mut server = axum_server::bind_rustls(config.listen, identity.rustls)
        .map(|tls| {
            hardening::ConnectionLimit::new(
                tls,
                config.max_connections,
                Duration::from_secs(config.idle_timeout_secs.max(1)),
            )
        })
        .handle(handle.clone());
    // Without a timer hyper has no header timeout at all: a client that
    // sends half a request line would hold its connection for ever.
    server
        .http_builder()
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(config.header_timeout_secs.max(1)));
    let server = server.serve(app.into_make_service());
    let task = tokio::spawn(server);
    let addr = handle
        .listening()
        .await
        .ok_or_else(|| ServerError::Config(format!("could not listen on {}", config.listen)))?;
    tracing::info!(%addr, receipt_key = %key_id(&receipt_key.verifying_key()), "consent server listening");
    Ok(RunningServer {
        addr,
        base_url: format!("https://{addr}/"),
        ca_pem: identity.ca_pem,
        cert_der: identity.cert_der,
        receipt_key: receipt_key.verifying_key(),
        receipt_keys: receipts_ring.all,
        policy_key: policy_signer.verifying_key(),
        policy_keys: policy_ring.all,
        faults,
        state,
        policy_signer,
        handle,
        task,
    })
}

fn router(state: Arc<AppState>, faults: FaultPlan, limits: Arc<hardening::Limits>) -> Router {
    Router::new()
        .route(
            "/v1/health",
            get(|| async { Json(serde_json::json!({ "status": "ok" })) }),
        )
        .route("/v1/events", post(upload).get(list_events))
        .route("/v1/policies/{policy_id}", get(current_policy))
        .route("/v1/reports", post(company::post_report))
        .route("/v1/access", get(company::get_access))
        .route("/v1/statements", get(company::get_statements))
        .route("/v1/admin/reports", get(company::admin_reports))
        .route(
            "/v1/admin/subjects/{subject}/legal-holds",
            axum::routing::put(company::admin_legal_holds),
        )
        .route(
            "/v1/admin/subjects/{subject}/unblock",
            post(company::admin_unblock),
        )
        .fallback(|| async { refusal(Refusal::new(404, "not_found", "no such endpoint")) })
        // Extractors (the reports' and the admin API's bodies) stop at the
        // body limit; the upload reads its body itself, against the same.
        .layer(axum::extract::DefaultBodyLimit::max(state.max_body))
        .layer(axum::middleware::from_fn_with_state(faults, faults::inject))
        // Innermost first: a bounded number of requests at a time, each
        // token within its rate, each request within its time; then every
        // error in the contract's JSON shape, traced without personal data,
        // and a panic answered 500.
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            limits.max_in_flight.max(1),
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            hardening::rate_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limits,
            hardening::request_timeout,
        ))
        .layer(axum::middleware::from_fn(hardening::json_errors))
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(hardening::request_span),
        )
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            hardening::panic_response,
        ))
        .with_state(state)
}

pub(crate) fn refusal(r: Refusal) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(r.error)).into_response()
}

/// Text the server stores or looks up (an installation id, a subject, a
/// locale): 1 to 256 characters, no control character. PostgreSQL refuses
/// a NUL in text, and nothing legitimate holds one: refused as a bad
/// request rather than failing in storage (a 500 the client would retry
/// for ever).
pub(crate) fn plain_text(text: &str) -> bool {
    (1..=256).contains(&text.chars().count()) && !text.chars().any(char::is_control)
}

/// The bearer token of a request; the scheme's name is case-insensitive
/// (RFC 9110, 11.1).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

pub(crate) fn subject_of(state: &AppState, headers: &HeaderMap) -> Result<String, Refusal> {
    let token = bearer_token(headers)
        .ok_or_else(|| Refusal::new(401, "unauthorized", "a bearer token is required"))?;
    state
        .tokens
        .get(token)
        .cloned()
        .ok_or_else(|| Refusal::new(401, "unauthorized", "the token is not valid"))
}

async fn upload(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let subject = match subject_of(&state, &headers) {
        Ok(s) => s,
        Err(r) => return refusal(r),
    };
    let bytes: Bytes = match axum::body::to_bytes(body, state.max_body).await {
        Ok(b) => b,
        Err(_) => {
            return refusal(Refusal::new(
                413,
                "too_large",
                format!(
                    "the body is larger than {} bytes: send fewer events per request",
                    state.max_body
                ),
            ))
        }
    };
    // Each event is kept as the raw JSON it came in, next to its parsed
    // form, so that storing it does not encode it again.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct RawBatch {
        install_id: String,
        events: Vec<Box<RawValue>>,
    }
    let raw: RawBatch = match serde_json::from_slice(&bytes) {
        Ok(b) => b,
        Err(e) => {
            return refusal(Refusal::new(
                400,
                "bad_request",
                format!("the body is not an upload batch: {e}"),
            ))
        }
    };
    let mut events = Vec::with_capacity(raw.events.len());
    for (i, json) in raw.events.into_iter().enumerate() {
        match serde_json::from_str::<Event>(json.get()) {
            Ok(event) => events.push((event, json)),
            Err(e) => {
                return refusal(Refusal::new(
                    400,
                    "bad_request",
                    format!("event {} of the batch is not an event: {e}", i + 1),
                ))
            }
        }
    }
    if let Some((event, _)) = events
        .iter()
        .find(|(e, _)| altyn_consent_core::ledger::parse_time(&e.at).is_none())
    {
        return refusal(
            Refusal::new(
                400,
                "bad_request",
                "the event's time (at) is not a UTC date-time (RFC 3339, e.g. 2026-12-01T10:00:00.000Z)",
            )
            .about(event),
        );
    }
    let install_id = raw.install_id;
    if !plain_text(&install_id) {
        return refusal(Refusal::new(
            400,
            "bad_request",
            "install_id must be 1 to 256 characters, none of them a control character",
        ));
    }
    if events.is_empty() {
        return refusal(Refusal::new(
            400,
            "bad_request",
            "the batch holds no events",
        ));
    }
    if events.len() > state.max_batch {
        // 413, like an oversized body: the client answers by sending fewer
        // events per request, where a 400 would make it park them.
        return refusal(Refusal::new(
            413,
            "too_large",
            format!("at most {} events per request: send fewer", state.max_batch),
        ));
    }
    let storage_state = state.clone();
    let result = tokio::task::spawn_blocking(move || {
        storage_state
            .storage
            .ingest(&subject, &install_id, &events, &storage_state.receipt_key)
    })
    .await;
    match result {
        Ok(Ok(receipt)) => Json(receipt).into_response(),
        Ok(Err(r)) => refusal(r),
        Err(_) => refusal(Refusal::new(
            500,
            "internal",
            "the request failed inside the server",
        )),
    }
}

/// `GET /v1/events`: everything (no `limit`, as clients before paging
/// ask), or one page of `limit` events after the cursor `after`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    limit: Option<usize>,
    after: Option<String>,
}

/// Most events in one page.
const MAX_EVENTS_PAGE: usize = 5000;

/// The opaque cursor of the position (installation, sequence).
fn cursor(install_id: &str, seq: u64) -> String {
    format!("{}.{seq}", hex::encode(install_id))
}

fn parse_cursor(text: &str) -> Option<(String, u64)> {
    let (install, seq) = text.split_once('.')?;
    let install = String::from_utf8(hex::decode(install).ok()?)
        .ok()
        .filter(|i| plain_text(i))?;
    Some((install, seq.parse().ok()?))
}

async fn list_events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Response {
    let subject = match subject_of(&state, &headers) {
        Ok(s) => s,
        Err(r) => return refusal(r),
    };
    let s = state.clone();
    let Some(limit) = query.limit else {
        if query.after.is_some() {
            return refusal(Refusal::new(400, "bad_request", "after needs a limit"));
        }
        return match company::blocking(move || s.storage.events_of(&subject)).await {
            Ok((events, receipts)) => Json(EventsPage {
                events,
                receipts,
                next: None,
            })
            .into_response(),
            Err(r) => refusal(r),
        };
    };
    if !(1..=MAX_EVENTS_PAGE).contains(&limit) {
        return refusal(Refusal::new(
            400,
            "bad_request",
            format!("limit must be 1 to {MAX_EVENTS_PAGE}"),
        ));
    }
    let after = match query.after.as_deref().map(parse_cursor) {
        None => None,
        Some(Some(position)) => Some(position),
        Some(None) => {
            return refusal(Refusal::new(
                400,
                "bad_request",
                "after is not a cursor this server gave",
            ))
        }
    };
    match company::blocking(move || s.storage.events_page(&subject, limit, after)).await {
        Ok((events, receipts, next)) => Json(EventsPage {
            events,
            receipts,
            next: next.map(|(install, seq)| cursor(&install, seq)),
        })
        .into_response(),
        Err(r) => refusal(r),
    }
}

#[derive(Deserialize)]
struct LocaleQuery {
    locale: Option<String>,
}

async fn current_policy(
    State(state): State<Arc<AppState>>,
    UrlPath(policy_id): UrlPath<String>,
    Query(query): Query<LocaleQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = subject_of(&state, &headers) {
        return refusal(r);
    }
    let locale = query.locale.unwrap_or_else(|| "ru".into());
    if !plain_text(&locale) || !plain_text(&policy_id) {
        return refusal(Refusal::new(
            400,
            "bad_request",
            "the policy id and locale must be 1 to 256 characters, none of them a control character",
        ));
    }
    let (s, id) = (state.clone(), policy_id.clone());
    match company::blocking(move || s.storage.current_policy(&id, &locale)).await {
        Ok(Some((hash, signed))) => {
            let etag = format!("\"{hash}\"");
            let matches = headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                == Some(etag.as_str());
            if matches {
                return (StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response();
            }
            (
                StatusCode::OK,
                [
                    (header::ETAG, etag),
                    (header::CONTENT_TYPE, "application/json".to_string()),
                ],
                signed,
            )
                .into_response()
        }
        Ok(None) => refusal(Refusal::new(
            404,
            "not_found",
            format!("no policy {policy_id:?} is published"),
        )),
        Err(r) => refusal(r),
    }
}

//! The two storage engines behind one small SQL interface: SQLite (the
//! zero-setup default, one file in the data folder) and PostgreSQL
//! (`--database-url`, for several server processes in front of one
//! database). The storage's logic (`storage.rs`, `company.rs`) is written
//! once, against [`Sql`]; each operation runs in one transaction of the
//! engine.
//!
//! Statements are written with PostgreSQL's numbered parameters (`$1`),
//! which are rewritten to SQLite's (`?1`) for SQLite, and in the SQL both
//! engines share (`INSERT … ON CONFLICT DO NOTHING`, row values). Where the
//! engines differ in how a transaction keeps others out, [`Sql::for_update`]
//! says it: PostgreSQL locks the rows read with `FOR UPDATE`; an SQLite
//! write transaction (`BEGIN IMMEDIATE`) holds the whole database.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use bytes::BytesMut;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};

/// A value bound to, or read from, a statement. The schema holds only
/// text and 64-bit integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v.into())
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

/// The parameters of a statement: `params![a, b]`.
macro_rules! params {
    ($($value:expr),* $(,)?) => {
        &[$($crate::db::Value::from($value)),*][..]
    };
}
pub(crate) use params;

/// A failure of the engine. Its text names no row content.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL: {}", pg_reason(.0))]
    Postgres(#[from] postgres::Error),
    #[error("PostgreSQL connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("column {column} holds {found}, not {wanted}")]
    Type {
        column: usize,
        wanted: &'static str,
        found: &'static str,
    },
}

/// What went wrong in PostgreSQL, readable: the server's code and message
/// (never its DETAIL, which may quote a row), or the connection's cause
/// (e.g. "password authentication failed", a certificate problem).
pub(crate) fn pg_reason(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    // The error's text already ends with its direct cause; the causes of
    // that cause follow.
    let mut reason = e.to_string();
    let mut source = std::error::Error::source(e).and_then(|cause| cause.source());
    while let Some(cause) = source {
        reason = format!("{reason}: {cause}");
        source = cause.source();
    }
    reason
}

/// One row of a result.
#[derive(Debug)]
pub(crate) struct Row(Vec<Value>);

impl Row {
    fn wrong(&self, column: usize, wanted: &'static str) -> DbError {
        DbError::Type {
            column,
            wanted,
            found: match self.0.get(column) {
                None => "nothing",
                Some(Value::Null) => "NULL",
                Some(Value::Int(_)) => "an integer",
                Some(Value::Text(_)) => "text",
            },
        }
    }
    pub(crate) fn text(&self, column: usize) -> Result<String, DbError> {
        match self.0.get(column) {
            Some(Value::Text(t)) => Ok(t.clone()),
            _ => Err(self.wrong(column, "text")),
        }
    }
    pub(crate) fn opt_text(&self, column: usize) -> Result<Option<String>, DbError> {
        match self.0.get(column) {
            Some(Value::Null) => Ok(None),
            _ => self.text(column).map(Some),
        }
    }
    pub(crate) fn int(&self, column: usize) -> Result<i64, DbError> {
        match self.0.get(column) {
            Some(Value::Int(i)) => Ok(*i),
            _ => Err(self.wrong(column, "an integer")),
        }
    }
}

/// One transaction of either engine.
pub(crate) trait Sql {
    /// Every row the statement answers.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError>;
    /// Runs a statement; answers how many rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError>;
    /// What a `SELECT` ends with to keep the rows it reads from other
    /// writers until this transaction ends: ` FOR UPDATE` on PostgreSQL;
    /// nothing on SQLite, whose write transaction already holds the
    /// database.
    fn for_update(&self) -> &'static str;

    /// The first row, if any.
    fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
}

/// `$N` → `?N` (SQLite reads `$1` as a named parameter "$1", whose index
/// would depend on the order of first use).
fn sqlite_placeholders(sql: &str) -> String {
    sql.replace('$', "?")
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
        })
    }
}

impl Sql for rusqlite::Transaction<'_> {
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let mut stmt = self.prepare_cached(&sqlite_placeholders(sql))?;
        let columns = stmt.column_count();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                (0..columns)
                    .map(|i| {
                        Ok(match r.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => Value::Null,
                            rusqlite::types::ValueRef::Integer(v) => Value::Int(v),
                            rusqlite::types::ValueRef::Text(t) => {
                                Value::Text(String::from_utf8_lossy(t).into_owned())
                            }
                            other => {
                                return Err(rusqlite::Error::InvalidColumnType(
                                    i,
                                    String::new(),
                                    other.data_type(),
                                ))
                            }
                        })
                    })
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map(Row)
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let changed = self
            .prepare_cached(&sqlite_placeholders(sql))?
            .execute(rusqlite::params_from_iter(params))?;
        Ok(changed as u64)
    }

    fn for_update(&self) -> &'static str {
        ""
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Value::Int(i) => i.to_sql(ty, out),
            Value::Text(t) => t.as_str().to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::INT8 | Type::INT4 | Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME
        )
    }

    to_sql_checked!();
}

/// A pooled PostgreSQL connection with its prepared statements.
pub(crate) struct PgConn {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

/// A transaction on a pooled connection.
pub(crate) struct PgTx<'a> {
    tx: postgres::Transaction<'a>,
    statements: &'a mut HashMap<String, postgres::Statement>,
}

/// Statements with more parameters than this are prepared for one use:
/// the batch statements' text changes with the batch's size, and caching
/// each size would grow every connection's prepared statements without
/// bound.
const MAX_CACHED_PARAMS: usize = 8;

impl PgTx<'_> {
    fn statement(&mut self, sql: &str, params: usize) -> Result<postgres::Statement, DbError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(sql)?;
        if params <= MAX_CACHED_PARAMS {
            self.statements.insert(sql.to_string(), statement.clone());
        }
        Ok(statement)
    }
}

fn pg_params(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

impl Sql for PgTx<'_> {
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        let statement = self.statement(sql, params.len())?;
        let rows = self.tx.query(&statement, &pg_params(params))?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| {
                        let ty = row.columns()[i].type_();
                        Ok(if *ty == Type::INT8 {
                            row.try_get::<_, Option<i64>>(i)?
                                .map_or(Value::Null, Value::Int)
                        } else if *ty == Type::INT4 {
                            row.try_get::<_, Option<i32>>(i)?
                                .map_or(Value::Null, |v| Value::Int(v.into()))
                        } else {
                            row.try_get::<_, Option<String>>(i)?
                                .map_or(Value::Null, Value::Text)
                        })
                    })
                    .collect::<Result<Vec<_>, DbError>>()
                    .map(Row)
            })
            .collect()
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        let statement = self.statement(sql, params.len())?;
        Ok(self.tx.execute(&statement, &pg_params(params))?)
    }

    fn for_update(&self) -> &'static str {
        " FOR UPDATE"
    }
}

type PgConnector = tokio_postgres_rustls::MakeRustlsConnect;

/// Opens pooled PostgreSQL connections.
pub(crate) struct PgManager {
    config: postgres::Config,
    tls: PgConnector,
}

impl r2d2::ManageConnection for PgManager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> Result<PgConn, postgres::Error> {
        Ok(PgConn {
            client: self.config.connect(self.tls.clone())?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), postgres::Error> {
        conn.client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.is_closed()
    }
}

/// The engine a server stores in.
pub(crate) enum Engine {
    Sqlite(Mutex<rusqlite::Connection>),
    Postgres(PgPool),
}

/// The pool of PostgreSQL connections. Closing a connection blocks, which
/// the client refuses on a thread that drives async tasks (where the last
/// owner of a server's state may drop it): the pool is dropped on a thread
/// of its own.
pub(crate) struct PgPool(Option<r2d2::Pool<PgManager>>);

impl Drop for PgPool {
    fn drop(&mut self) {
        if let Some(pool) = self.0.take() {
            let _ = std::thread::spawn(move || drop(pool)).join();
        }
    }
}

impl Engine {
    /// Runs `f` in one transaction: committed if it answers `Ok`, rolled
    /// back otherwise. `write`: a transaction that may write (SQLite takes
    /// the write lock at its start, so two never deadlock on upgrading).
    pub(crate) fn run<T, E: From<DbError>>(
        &self,
        write: bool,
        f: impl FnOnce(&mut dyn Sql) -> Result<T, E>,
    ) -> Result<T, E> {
        match self {
            Engine::Sqlite(conn) => {
                let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
                let behavior = if write {
                    rusqlite::TransactionBehavior::Immediate
                } else {
                    rusqlite::TransactionBehavior::Deferred
                };
                let mut tx = conn
                    .transaction_with_behavior(behavior)
                    .map_err(DbError::from)?;
                let out = f(&mut tx)?;
                tx.commit().map_err(DbError::from)?;
                Ok(out)
            }
            Engine::Postgres(PgPool(pool)) => {
                let pool = pool.as_ref().expect("the pool is there until dropped");
                let mut conn = pool.get().map_err(DbError::from)?;
                let PgConn { client, statements } = &mut *conn;
                // A read sees one snapshot (events and the receipts over
                // them agree); a write reads the latest committed rows and
                // locks what it must (READ COMMITTED with FOR UPDATE).
                let tx = if write {
                    client.transaction()
                } else {
                    client
                        .build_transaction()
                        .isolation_level(postgres::IsolationLevel::RepeatableRead)
                        .read_only(true)
                        .start()
                }
                .map_err(DbError::from)?;
                let mut tx = PgTx { tx, statements };
                let out = f(&mut tx)?;
                tx.tx.commit().map_err(DbError::from)?;
                Ok(out)
            }
        }
    }
}

/// Where a PostgreSQL URL points, without its user or password (for
/// messages and logs).
pub(crate) fn pg_target(config: &postgres::Config) -> String {
    let host = match config.get_hostaddrs().first() {
        Some(ip) => ip.to_string(),
        None => config
            .get_hosts()
            .first()
            .map(|h| match h {
                postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into()),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{host}:{port}/{}",
        config.get_dbname().unwrap_or("")
    )
}

/// Whether every host of the URL is this machine (a loopback address,
/// `localhost`, or a Unix socket): the only place a connection without
/// TLS is allowed.
fn all_local(config: &postgres::Config) -> bool {
    let hosts = config.get_hosts();
    // A `hostaddr` is where the client really connects.
    !hosts.is_empty()
        && config.get_hostaddrs().iter().all(|ip| ip.is_loopback())
        && hosts.iter().all(|h| match h {
            postgres::config::Host::Tcp(name) => {
                name == "localhost"
                    || name
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            #[cfg(unix)]
            postgres::config::Host::Unix(_) => true,
        })
}

/// A PostgreSQL URL the server refuses, and why.
#[derive(Debug, thiserror::Error)]
pub enum PgUrlError {
    #[error("the database URL is not a PostgreSQL connection string: {0}")]
    Invalid(String),
    #[error(
        "{0} is not on this machine: connect with TLS (add sslmode=require to the URL); \
         a connection without TLS is allowed only to loopback or a Unix socket"
    )]
    NeedsTls(String),
}

/// Parses the URL and the TLS the server will use for it (rustls, with
/// the Mozilla roots; `ca_pem` adds the database's own CA).
pub(crate) fn pg_connector(
    url: &str,
    ca_pem: Option<&[u8]>,
    pool_size: u32,
) -> Result<(postgres::Config, PgConnector, u32), PgUrlError> {
    // The URL's text is not repeated: it may hold a password.
    let mut config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
        PgUrlError::Invalid(e.to_string().replace(url, "(the URL)"))
    })?;
    if config.get_ssl_mode() != postgres::config::SslMode::Require && !all_local(&config) {
        return Err(PgUrlError::NeedsTls(pg_target(&config)));
    }
    if config.get_application_name().is_none() {
        config.application_name("altyn-consent-server");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    // A server that freezes while it holds an installation's row must not
    // stop the others' uploads for it: locks, statements and transactions
    // left open end in seconds (the client retries), and a peer that is
    // gone is noticed by TCP within a minute. The URL's own settings win.
    let mut options = config.get_options().unwrap_or("").to_string();
    for (name, value) in [
        ("lock_timeout", "10s"),
        ("statement_timeout", "30s"),
        ("idle_in_transaction_session_timeout", "30s"),
    ] {
        if !options.contains(name) {
            options = format!("{options} -c {name}={value}").trim().to_string();
        }
    }
    config.options(&options);
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(30));
    config.tcp_user_timeout(Duration::from_secs(60));
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = ca_pem {
        for cert in rustls_pemfile_certs(pem)? {
            roots
                .add(cert)
                .map_err(|e| PgUrlError::Invalid(format!("the database CA: {e}")))?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| PgUrlError::Invalid(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok((
        config,
        tokio_postgres_rustls::MakeRustlsConnect::new(tls),
        pool_size.max(1),
    ))
}

fn rustls_pemfile_certs(
    pem: &[u8],
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, PgUrlError> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PgUrlError::Invalid(format!("the database CA is not PEM: {e}")))
}

/// A pool of `size` connections to the database.
pub(crate) fn pg_pool(
    config: postgres::Config,
    tls: PgConnector,
    size: u32,
) -> Result<PgPool, r2d2::Error> {
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(10))
        .build(PgManager { config, tls })
        .map(|pool| PgPool(Some(pool)))
}

/// The write-ahead log's path beside a SQLite database file.
pub(crate) fn wal_path(path: &Path) -> std::path::PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    wal.into()
}

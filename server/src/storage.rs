//! The server's storage: SQLite in WAL mode in a real file (the default),
//! or PostgreSQL (`--database-url`), through the one SQL interface of
//! `db.rs`. Ingestion of a batch is one transaction: all of it is stored, or
//! none of it. Exactly-once rests on the database, not on the process: the
//! installation's row is locked for the batch (PostgreSQL `FOR UPDATE`,
//! SQLite's write transaction), events are unique by id and by
//! (installation, sequence), so several servers may share one PostgreSQL.

use std::path::Path;
use std::sync::Mutex;

use std::collections::HashMap;

use crate::db::{params, wal_path, DbError, Engine, Sql, Value};

use altyn_consent_core::ledger::{ChainHead, Event, GENESIS_HASH};
use altyn_consent_core::policy::PolicyDocument;
use altyn_consent_core::sync::wire::{
    AckedEvent, ApiError, Receipt, ReceiptBody, SignedPolicy, RECEIPT_FORMAT,
};
use ed25519_dalek::SigningKey;
use rusqlite::config::DbConfig;
use rusqlite::Connection;
use rusqlite_migration::{Migrations, M};
use serde_json::value::RawValue;

/// The schema migrations, in order; schema version N is the state after the
/// first N of them, and the newest version is their count.
///
/// Servers before this list ran one `CREATE TABLE IF NOT EXISTS` batch on
/// every start and left `user_version` at 0. Migration 1 is that batch,
/// unchanged, `IF NOT EXISTS` included, rather than a detection of "tables
/// exist, version 0" that would skip it: the old server ran it on every start,
/// so a database at version 0 holds either none or some of these very tables
/// (some, if a start was interrupted between two statements). Running it once
/// more creates only what is missing, touches no row, and the migration then
/// records version 1 in the same transaction. A detection would have to
/// decide what "the tables exist" means for a partial database; this needs
/// no such rule. Later migrations are plain SQL and run exactly once.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/001_initial.sql"),
    include_str!("migrations/002_company.sql"),
];

/// The same schema for PostgreSQL, version for version: migration N of one
/// engine makes what migration N of the other makes. Recorded in the table
/// `altyn_schema_migrations`, one row per applied version.
const PG_MIGRATIONS: &[&str] = &[
    include_str!("migrations/postgres/001_initial.sql"),
    include_str!("migrations/postgres/002_company.sql"),
];

/// The key of the advisory lock under which PostgreSQL migrations run, so
/// that servers starting at once migrate one after the other.
const PG_MIGRATION_LOCK: i64 = 0x616c_7479_6e00_0001;

fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
}

/// The newest schema version this server knows (and writes).
pub fn latest_schema_version() -> usize {
    MIGRATIONS.len()
}

/// Why the database could not be opened. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(
        "{path} was written by a newer version of the sync server (schema version {found}; \
         this server knows up to {supported}). It was left unchanged: run a server of that newer \
         version (or later) on it, or point this one at another data folder"
    )]
    SchemaTooNew {
        path: String,
        found: i64,
        supported: usize,
    },
    #[error(
        "{path} has schema version {found}, which no version of the sync server writes: \
         it is not this server's database. It was left unchanged"
    )]
    NotAServerDatabase { path: String, found: i64 },
    #[error("the schema migration of {path} failed: {reason}. Nothing of it was applied")]
    Migration { path: String, reason: String },
    #[error("{path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error("{0}")]
    Url(#[from] crate::db::PgUrlError),
    #[error(
        "{target}: {reason}. Check that PostgreSQL runs there and the URL's user, password \
         and database are right"
    )]
    Postgres { target: String, reason: String },
}

/// An error of the API, with its HTTP status.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub error: ApiError,
}

impl Refusal {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            error: ApiError {
                error: code.into(),
                message: message.into(),
                event_id: None,
                seq: None,
            },
        }
    }
    pub(crate) fn about(mut self, event: &Event) -> Self {
        self.error.event_id = Some(event.id.to_string());
        self.error.seq = Some(event.seq);
        self
    }
}

impl From<DbError> for Refusal {
    fn from(e: DbError) -> Self {
        tracing::error!(error = %e, "storage failure");
        Refusal::new(
            500,
            "internal",
            "the server could not store the request; try again later",
        )
    }
}

/// The server's database, of either engine.
pub struct Storage {
    engine: Engine,
}

impl Storage {
    /// Runs `f` in one transaction (see [`Engine::run`]).
    pub(crate) fn run<T>(
        &self,
        write: bool,
        f: impl FnOnce(&mut dyn Sql) -> Result<T, Refusal>,
    ) -> Result<T, Refusal> {
        self.engine.run(write, f)
    }

    /// Which engine stores: `sqlite` or `postgres`.
    pub fn engine_name(&self) -> &'static str {
        match self.engine {
            Engine::Sqlite(_) => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }
}

/// A stored JSON body that does not decode is a broken database, not a
/// bad request.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, Refusal> {
    serde_json::from_str(body).map_err(|e| {
        tracing::error!(error = %e, "a stored record does not decode");
        Refusal::new(
            500,
            "internal",
            "a stored record could not be read; the operator must check the database",
        )
    })
}

pub(crate) fn now() -> String {
    altyn_consent_core::ledger::format_time(time::OffsetDateTime::now_utc())
}

impl Storage {
    /// Opens (or creates) the database at `path` and migrates it to the
    /// newest schema. A database of a newer schema is refused before any
    /// byte of it is written.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let shown = path.display().to_string();
        let sqlite = |source| StorageError::Sqlite {
            path: shown.clone(),
            source,
        };
        // Whether a write-ahead log was there before this open (see below).
        let wal_existed = wal_path(path).exists();
        let mut conn = Connection::open(path).map_err(sqlite)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sqlite)?;
        // The version is read before anything is written: not even the
        // journal mode is set on a database this server does not know.
        let found: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sqlite)?;
        let supported = latest_schema_version();
        if found < 0 || found > supported as i64 {
            // Closing the last connection would fold a pending log (of the
            // newer server) into the database file; it is left as it is.
            // A log this open created is empty and is removed on close.
            if wal_existed {
                conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
                    .map_err(sqlite)?;
            }
            drop(conn);
            return Err(if found < 0 {
                StorageError::NotAServerDatabase { path: shown, found }
            } else {
                StorageError::SchemaTooNew {
                    path: shown,
                    found,
                    supported,
                }
            });
        }
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(sqlite)?;
        migrations().to_latest(&mut conn).map_err(|e| match e {
            rusqlite_migration::Error::RusqliteError { err, .. } => sqlite(err),
            other => StorageError::Migration {
                path: shown.clone(),
                reason: other.to_string(),
            },
        })?;
        Ok(Storage {
            engine: Engine::Sqlite(Mutex::new(conn)),
        })
    }

    /// Connects to PostgreSQL at `url` with a pool of `pool_size`
    /// connections and migrates its schema to the newest version, under an
    /// advisory lock (servers starting at once migrate one after the
    /// other). A schema of a newer version is refused, nothing written.
    /// Without TLS (`sslmode=require`) only a database on this machine is
    /// accepted; `ca_pem` adds the database's own CA to the Mozilla roots.
    ///
    /// Blocks: call it outside async code (as `start` does).
    pub fn connect(url: &str, ca_pem: Option<&[u8]>, pool_size: u32) -> Result<Self, StorageError> {
        let (config, tls, size) = crate::db::pg_connector(url, ca_pem, pool_size)?;
        let target = crate::db::pg_target(&config);
        let failed = |reason: String| StorageError::Postgres {
            target: target.clone(),
            reason,
        };
        let pool = crate::db::pg_pool(config, tls, size).map_err(|e| failed(e.to_string()))?;
        let engine = Engine::Postgres(pool);
        engine
            .run(true, |tx| -> Result<(), PgMigrationError> {
                tx.execute("SELECT pg_advisory_xact_lock($1)", params![PG_MIGRATION_LOCK])?;
                // Created only where missing: a server whose role may not
                // create tables still starts on a migrated database.
                let present = tx
                    .query_opt(
                        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'altyn_schema_migrations'",
                        &[],
                    )?
                    .map(|row| row.int(0))
                    .transpose()?
                    .unwrap_or(0);
                if present == 0 {
                    tx.execute(
                        "CREATE TABLE altyn_schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
                        &[],
                    )?;
                }
                let found = tx
                    .query_opt("SELECT max(version) FROM altyn_schema_migrations", &[])?
                    .and_then(|row| row.int(0).ok())
                    .unwrap_or(0);
                let supported = latest_schema_version();
                if found > supported as i64 {
                    return Err(PgMigrationError::TooNew(found));
                }
                for (i, sql) in PG_MIGRATIONS.iter().enumerate().skip(found as usize) {
                    // Each statement on its own: a prepared statement holds one.
                    for statement in sql_statements(sql) {
                        tx.execute(statement, &[])?;
                    }
                    tx.execute(
                        "INSERT INTO altyn_schema_migrations (version, applied_at) VALUES ($1, $2)",
                        params![(i + 1) as i64, now()],
                    )?;
                }
                Ok(())
            })
            .map_err(|e| match e {
                PgMigrationError::TooNew(found) => StorageError::SchemaTooNew {
                    path: target.clone(),
                    found,
                    supported: latest_schema_version(),
                },
                PgMigrationError::Db(e) => StorageError::Migration {
                    path: target.clone(),
                    reason: e.to_string(),
                },
            })?;
        tracing::info!(database = %target, "storing in PostgreSQL");
        Ok(Storage { engine })
    }

    /// The database's schema version (SQLite `PRAGMA user_version`; the
    /// newest applied migration on PostgreSQL).
    pub fn schema_version(&self) -> Result<usize, Refusal> {
        let sql = match self.engine {
            Engine::Sqlite(_) => "PRAGMA user_version",
            Engine::Postgres(_) => "SELECT max(version) FROM altyn_schema_migrations",
        };
        self.run(false, |tx| {
            Ok(tx
                .query_opt(sql, &[])?
                .and_then(|row| row.int(0).ok())
                .unwrap_or(0) as usize)
        })
    }

    /// Stores a batch for `subject`, idempotently by event id, checking every
    /// hash and link; answers with a signed receipt for every event of the batch.
    pub fn ingest(
        &self,
        subject: &str,
        install_id: &str,
        events: &[(Event, Box<RawValue>)],
        key: &SigningKey,
    ) -> Result<Receipt, Refusal> {
        self.run(true, |tx| ingest(tx, subject, install_id, events, key))
    }

    /// Every event and receipt of the subject's installations.
    pub fn events_of(&self, subject: &str) -> Result<(Vec<Event>, Vec<Receipt>), Refusal> {
        self.run(false, |tx| {
            let events = tx
                .query(
                    "SELECT e.body FROM events e JOIN installs i ON i.install_id = e.install_id WHERE i.subject = $1 ORDER BY e.install_id, e.seq",
                    params![subject],
                )?
                .iter()
                .map(|row| decode(&row.text(0)?))
                .collect::<Result<Vec<Event>, Refusal>>()?;
            let receipts = tx
                .query(
                    "SELECT r.body FROM receipts r JOIN installs i ON i.install_id = r.install_id WHERE i.subject = $1 ORDER BY r.id",
                    params![subject],
                )?
                .iter()
                .map(|row| decode(&row.text(0)?))
                .collect::<Result<Vec<Receipt>, Refusal>>()?;
            Ok((events, receipts))
        })
    }

    /// One page of the subject's events, ordered by installation and
    /// sequence, after the position `after` (installation id, sequence),
    /// at most `limit`; with each receipt whose last acknowledged event is
    /// in the page, and the position of the page's last event when more
    /// follow.
    #[allow(clippy::type_complexity)]
    pub fn events_page(
        &self,
        subject: &str,
        limit: usize,
        after: Option<(String, u64)>,
    ) -> Result<(Vec<Event>, Vec<Receipt>, Option<(String, u64)>), Refusal> {
        let (after_install, after_seq) = after.unwrap_or_default();
        self.run(false, |tx| {
            let mut rows: Vec<(String, u64, Event)> = tx
                .query(
                    "SELECT e.install_id, e.seq, e.body FROM events e JOIN installs i ON i.install_id = e.install_id \
                     WHERE i.subject = $1 AND (e.install_id, e.seq) > ($2, $3) ORDER BY e.install_id, e.seq LIMIT $4",
                    params![subject, after_install, after_seq, limit + 1],
                )?
                .iter()
                .map(|row| Ok((row.text(0)?, row.int(1)? as u64, decode(&row.text(2)?)?)))
                .collect::<Result<_, Refusal>>()?;
            let more = rows.len() > limit;
            rows.truncate(limit);
            // The page's range of each installation it touches.
            let mut ranges: Vec<(String, u64, u64)> = Vec::new();
            for (install, seq, _) in &rows {
                match ranges.last_mut() {
                    Some((i, _, last)) if i == install => *last = *seq,
                    _ => ranges.push((install.clone(), *seq, *seq)),
                }
            }
            let mut receipts = Vec::new();
            for (install, first, last) in &ranges {
                for row in tx.query(
                    "SELECT body FROM receipts WHERE install_id = $1 ORDER BY id",
                    params![install],
                )? {
                    let receipt: Receipt = decode(&row.text(0)?)?;
                    let top = receipt
                        .body
                        .acknowledged
                        .iter()
                        .map(|a| a.seq)
                        .max()
                        .unwrap_or(receipt.body.head.events);
                    if (*first..=*last).contains(&top) {
                        receipts.push(receipt);
                    }
                }
            }
            let next = if more {
                rows.last().map(|(install, seq, _)| (install.clone(), *seq))
            } else {
                None
            };
            Ok((
                rows.into_iter().map(|(_, _, e)| e).collect(),
                receipts,
                next,
            ))
        })
    }

    /// How many events the server holds, and how many distinct ids (for tests).
    pub fn event_counts(&self) -> Result<(u64, u64), Refusal> {
        self.run(false, |tx| {
            let row = tx
                .query_opt("SELECT count(*), count(DISTINCT id) FROM events", &[])?
                .expect("count answers a row");
            Ok((row.int(0)? as u64, row.int(1)? as u64))
        })
    }

    /// Publishes a signed policy text. The same id, version and locale with
    /// another text is refused; publishing the same text again is a no-op
    /// (also when another server publishes it at the same moment).
    pub fn publish(&self, doc: PolicyDocument, key: &SigningKey) -> Result<(), Refusal> {
        let hash = doc.hash();
        let (id, version, locale) = (doc.id.clone(), doc.version, doc.locale.clone());
        let signed = serde_json::to_string(&SignedPolicy::sign(key, doc)).expect("serialises");
        self.run(true, |tx| {
            tx.execute(
                "INSERT INTO policies (policy_id, version, locale, hash, signed, published_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (policy_id, version, locale) DO NOTHING",
                params![&id, version, &locale, &hash, signed, now()],
            )?;
            let stored = tx
                .query_opt(
                    "SELECT hash FROM policies WHERE policy_id = $1 AND version = $2 AND locale = $3",
                    params![&id, version, &locale],
                )?
                .map(|row| row.text(0))
                .transpose()?;
            if stored.as_deref() == Some(hash.as_str()) {
                Ok(())
            } else {
                Err(Refusal::new(
                    409,
                    "conflict",
                    format!("version {version} of {id} is already published with another text"),
                ))
            }
        })
    }

    /// Signs every published policy text again with `key` (after a policy
    /// key rotation), in one transaction; returns how many. The texts and
    /// their hashes (the ETags) do not change.
    pub fn sign_policies_again(&self, key: &SigningKey) -> Result<usize, Refusal> {
        self.run(true, |tx| {
            let rows = tx.query(
                &format!(
                    "SELECT policy_id, version, locale, signed FROM policies{}",
                    tx.for_update()
                ),
                &[],
            )?;
            for row in &rows {
                let old: SignedPolicy = decode(&row.text(3)?)?;
                let again = serde_json::to_string(&SignedPolicy::sign(key, old.policy))
                    .expect("serialises");
                tx.execute(
                    "UPDATE policies SET signed = $4 WHERE policy_id = $1 AND version = $2 AND locale = $3",
                    params![row.text(0)?, row.int(1)?, row.text(2)?, again],
                )?;
            }
            Ok(rows.len())
        })
    }

    /// The newest published text of a policy in `locale`, else in `ru`.
    pub fn current_policy(
        &self,
        policy_id: &str,
        locale: &str,
    ) -> Result<Option<(String, String)>, Refusal> {
        self.run(false, |tx| {
            for candidate in [locale, "ru"] {
                if let Some(row) = tx.query_opt(
                    "SELECT hash, signed FROM policies WHERE policy_id = $1 AND locale = $2 ORDER BY version DESC LIMIT 1",
                    params![policy_id, candidate],
                )? {
                    return Ok(Some((row.text(0)?, row.text(1)?)));
                }
            }
            Ok(None)
        })
    }
}

/// Ingestion in the caller's transaction (see [`Storage::ingest`]).
fn ingest(
    tx: &mut dyn Sql,
    subject: &str,
    install_id: &str,
    events: &[(Event, Box<RawValue>)],
    key: &SigningKey,
) -> Result<Receipt, Refusal> {
    let head_of = |tx: &mut dyn Sql| -> Result<Option<(String, u64, String)>, Refusal> {
        let sql = format!(
            "SELECT subject, head_seq, head_hash FROM installs WHERE install_id = $1{}",
            tx.for_update()
        );
        tx.query_opt(&sql, params![install_id])?
            .map(|row| Ok((row.text(0)?, row.int(1)? as u64, row.text(2)?)))
            .transpose()
    };
    let owner = match head_of(tx)? {
        Some(found) => found,
        None => {
            // Another server may insert it at the same moment: whichever
            // commits first, the other waits for it and then reads its row.
            tx.execute(
                "INSERT INTO installs (install_id, subject, head_seq, head_hash) VALUES ($1, $2, 0, $3) \
                 ON CONFLICT (install_id) DO NOTHING",
                params![install_id, subject, GENESIS_HASH],
            )?;
            head_of(tx)?.expect("the installation's row was just stored")
        }
    };
    let (mut head_seq, mut head_hash) = match owner {
        (owner, _, _) if owner != subject => {
            return Err(Refusal::new(
                403,
                "forbidden",
                "this installation belongs to another subject",
            ))
        }
        (_, seq, hash) => (seq, hash),
    };
    let received_at = now();
    // Which of the batch's ids are stored already, and with which hash: one
    // query per batch rather than one per event (a round trip each on
    // PostgreSQL).
    let mut stored: HashMap<String, String> = HashMap::new();
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let ids: Vec<Value> = chunk.iter().map(|(e, _)| e.id.to_string().into()).collect();
        let sql = format!(
            "SELECT id, hash FROM events WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        for row in tx.query(&sql, &ids)? {
            stored.insert(row.text(0)?, row.text(1)?);
        }
    }
    let mut acknowledged = Vec::with_capacity(events.len());
    let mut new_events: Vec<(&Event, &str)> = Vec::new();
    for (event, raw) in events {
        if event.install_id != install_id {
            return Err(Refusal::new(
                400,
                "bad_request",
                "an event of another installation is in the batch",
            )
            .about(event));
        }
        // Before an account is linked, an event's subject is its install id.
        if event.subject != subject && event.subject != event.install_id {
            return Err(
                Refusal::new(403, "forbidden", "the event belongs to another subject").about(event),
            );
        }
        if event.compute_hash() != event.hash {
            return Err(Refusal::new(
                422,
                "broken_chain",
                "the event's content does not match its hash",
            )
            .about(event));
        }
        match stored.get(&event.id.to_string()) {
            Some(hash) if *hash == event.hash => {}
            Some(_) => {
                return Err(Refusal::new(
                    409,
                    "conflict",
                    "another event with this id is already stored",
                )
                .about(event))
            }
            None => {
                if event.seq != head_seq + 1 || event.prev_hash != head_hash {
                    return Err(Refusal::new(
                        422,
                        "broken_chain",
                        format!(
                            "the event does not continue the stored chain, which ends at #{head_seq}"
                        ),
                    )
                    .about(event));
                }
                // Twice in one batch: the second is a stored id already.
                stored.insert(event.id.to_string(), event.hash.clone());
                // Stored as received: it was just checked against its hash.
                new_events.push((event, raw.get()));
                head_seq = event.seq;
                head_hash = event.hash.clone();
            }
        }
        acknowledged.push(AckedEvent {
            id: event.id,
            seq: event.seq,
            hash: event.hash.clone(),
        });
    }
    // The new events, several rows per statement.
    for chunk in new_events.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO events (id, install_id, seq, hash, body, received_at) VALUES {}",
            (0..chunk.len())
                .map(|i| format!("({})", placeholders(1 + 6 * i, 6)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let values: Vec<Value> = chunk
            .iter()
            .flat_map(|(event, body)| {
                [
                    event.id.to_string().into(),
                    install_id.into(),
                    event.seq.into(),
                    (&event.hash).into(),
                    (*body).into(),
                    (&received_at).into(),
                ]
            })
            .collect();
        tx.execute(&sql, &values)?;
    }
    for (event, body) in &new_events {
        crate::company::on_new_event(tx, subject, install_id, event, body, &received_at, key)?;
    }
    tx.execute(
        "UPDATE installs SET head_seq = $2, head_hash = $3 WHERE install_id = $1",
        params![install_id, head_seq, &head_hash],
    )?;
    let receipt = Receipt::sign(
        key,
        ReceiptBody {
            format: RECEIPT_FORMAT.into(),
            key_id: altyn_consent_core::sync::wire::key_id(&key.verifying_key()),
            subject: subject.into(),
            install_id: install_id.into(),
            received_at,
            acknowledged,
            head: ChainHead {
                events: head_seq,
                hash: head_hash,
            },
        },
    );
    tx.execute(
        "INSERT INTO receipts (install_id, body) VALUES ($1, $2)",
        params![
            install_id,
            serde_json::to_string(&receipt).expect("a receipt serialises")
        ],
    )?;
    Ok(receipt)
}

/// Most rows one statement reads by id or inserts (6 parameters a row:
/// well under SQLite's 32,766 and PostgreSQL's 65,535 parameters).
const ROWS_PER_STATEMENT: usize = 500;

/// `count` numbered parameters from `$first`: `$first, $first+1, …`.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a PostgreSQL migration stopped.
enum PgMigrationError {
    TooNew(i64),
    Db(DbError),
}

impl From<DbError> for PgMigrationError {
    fn from(e: DbError) -> Self {
        PgMigrationError::Db(e)
    }
}

/// The statements of a migration file: `--` comments dropped, split at
/// `;` (the migrations hold no `;` inside a statement).
fn sql_statements(sql: &str) -> impl Iterator<Item = &str> {
    sql.split(';').filter_map(|part| {
        let code = part
            .lines()
            .filter(|line| !line.trim_start().starts_with("--"))
            .any(|line| !line.trim().is_empty());
        code.then_some(part.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migrations_are_valid() {
        migrations().validate().expect("the migrations are valid");
        assert_eq!(latest_schema_version(), MIGRATIONS.len());
        // Version N means the same schema on either engine.
        assert_eq!(PG_MIGRATIONS.len(), MIGRATIONS.len());
        // They are split at `;`: none may hide in a comment.
        for sql in PG_MIGRATIONS {
            for line in sql.lines().filter(|l| l.trim_start().starts_with("--")) {
                assert!(!line.contains(';'), "{line}");
            }
        }
    }
}

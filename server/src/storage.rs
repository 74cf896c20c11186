//! The server's storage: SQLite in WAL mode, in a real file. Ingestion of a
//! batch is one transaction: all of it is stored, or none of it.

use std::path::Path;
use std::sync::Mutex;

use altyn_consent_core::ledger::{ChainHead, Event, GENESIS_HASH};
use altyn_consent_core::policy::PolicyDocument;
use altyn_consent_core::sync::wire::{
    AckedEvent, ApiError, Receipt, ReceiptBody, SignedPolicy, RECEIPT_FORMAT,
};
use ed25519_dalek::SigningKey;
use rusqlite::config::DbConfig;
use rusqlite::{params, Connection, OptionalExtension};
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

impl From<rusqlite::Error> for Refusal {
    fn from(e: rusqlite::Error) -> Self {
        tracing::error!(error = %e, "storage failure");
        Refusal::new(
            500,
            "internal",
            "the server could not store the request; try again later",
        )
    }
}

pub struct Storage {
    conn: Mutex<Connection>,
}

impl Storage {
    /// The connection, for the Company's side (`company.rs`).
    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.lock()
    }
}

/// The write-ahead log beside a database file.
fn wal_path(path: &Path) -> std::path::PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    wal.into()
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
            conn: Mutex::new(conn),
        })
    }

    /// The database's schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<usize, rusqlite::Error> {
        self.lock()
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .map(|v| v as usize)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
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
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let owner: Option<(String, u64, String)> = tx
            .query_row(
                "SELECT subject, head_seq, head_hash FROM installs WHERE install_id = ?1",
                [install_id],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?)),
            )
            .optional()?;
        let (mut head_seq, mut head_hash) = match owner {
            Some((owner, _, _)) if owner != subject => {
                return Err(Refusal::new(
                    403,
                    "forbidden",
                    "this installation belongs to another subject",
                ))
            }
            Some((_, seq, hash)) => (seq, hash),
            None => {
                tx.execute(
                    "INSERT INTO installs (install_id, subject, head_seq, head_hash) VALUES (?1, ?2, 0, ?3)",
                    params![install_id, subject, GENESIS_HASH],
                )?;
                (0, GENESIS_HASH.to_string())
            }
        };
        let received_at = now();
        let mut acknowledged = Vec::with_capacity(events.len());
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
                    Refusal::new(403, "forbidden", "the event belongs to another subject")
                        .about(event),
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
            let stored: Option<String> = tx
                .prepare_cached("SELECT hash FROM events WHERE id = ?1")?
                .query_row([event.id.to_string()], |r| r.get(0))
                .optional()?;
            match stored {
                Some(hash) if hash == event.hash => {}
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
                            format!("the event does not continue the stored chain, which ends at #{head_seq}"),
                        )
                        .about(event));
                    }
                    // Stored as received: it was just checked against its hash.
                    let body = raw.get();
                    tx.prepare_cached(
                        "INSERT INTO events (id, install_id, seq, hash, body, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?
                    .execute(params![event.id.to_string(), install_id, event.seq as i64, event.hash, body, received_at])?;
                    crate::company::on_new_event(
                        &tx,
                        subject,
                        install_id,
                        event,
                        body,
                        &received_at,
                        key,
                    )?;
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
        tx.execute(
            "UPDATE installs SET head_seq = ?2, head_hash = ?3 WHERE install_id = ?1",
            params![install_id, head_seq as i64, head_hash],
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
            "INSERT INTO receipts (install_id, body) VALUES (?1, ?2)",
            params![
                install_id,
                serde_json::to_string(&receipt).expect("a receipt serialises")
            ],
        )?;
        tx.commit()?;
        Ok(receipt)
    }

    /// Every event and receipt of the subject's installations.
    pub fn events_of(&self, subject: &str) -> Result<(Vec<Event>, Vec<Receipt>), Refusal> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT e.body FROM events e JOIN installs i ON i.install_id = e.install_id WHERE i.subject = ?1 ORDER BY e.install_id, e.seq",
        )?;
        let events = stmt
            .query_map([subject], |r| r.get::<_, String>(0))?
            .map(|row| Ok(serde_json::from_str(&row?).expect("stored events decode")))
            .collect::<Result<Vec<Event>, rusqlite::Error>>()?;
        let mut stmt = conn.prepare_cached(
            "SELECT r.body FROM receipts r JOIN installs i ON i.install_id = r.install_id WHERE i.subject = ?1 ORDER BY r.id",
        )?;
        let receipts = stmt
            .query_map([subject], |r| r.get::<_, String>(0))?
            .map(|row| Ok(serde_json::from_str(&row?).expect("stored receipts decode")))
            .collect::<Result<Vec<Receipt>, rusqlite::Error>>()?;
        Ok((events, receipts))
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
        let conn = self.lock();
        let (after_install, after_seq) = after.unwrap_or_default();
        let mut stmt = conn.prepare_cached(
            "SELECT e.install_id, e.seq, e.body FROM events e JOIN installs i ON i.install_id = e.install_id \
             WHERE i.subject = ?1 AND (e.install_id, e.seq) > (?2, ?3) ORDER BY e.install_id, e.seq LIMIT ?4",
        )?;
        let mut rows: Vec<(String, u64, Event)> = stmt
            .query_map(
                params![subject, after_install, after_seq as i64, (limit + 1) as i64],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, String>(2)?,
                    ))
                },
            )?
            .map(|row| {
                let (install, seq, body) = row?;
                Ok((
                    install,
                    seq,
                    serde_json::from_str(&body).expect("stored events decode"),
                ))
            })
            .collect::<Result<_, rusqlite::Error>>()?;
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
        let mut stmt =
            conn.prepare_cached("SELECT body FROM receipts WHERE install_id = ?1 ORDER BY id")?;
        for (install, first, last) in &ranges {
            for body in stmt.query_map([install], |r| r.get::<_, String>(0))? {
                let receipt: Receipt =
                    serde_json::from_str(&body?).expect("stored receipts decode");
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
    }

    /// How many events the server holds, and how many distinct ids (for tests).
    pub fn event_counts(&self) -> Result<(u64, u64), rusqlite::Error> {
        self.lock()
            .query_row("SELECT count(*), count(DISTINCT id) FROM events", [], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
            })
    }

    /// Publishes a signed policy text. The same id, version and locale with
    /// another text is refused; publishing the same text again is a no-op.
    pub fn publish(&self, doc: PolicyDocument, key: &SigningKey) -> Result<(), Refusal> {
        let conn = self.lock();
        let hash = doc.hash();
        let existing: Option<String> = conn
            .query_row(
                "SELECT hash FROM policies WHERE policy_id = ?1 AND version = ?2 AND locale = ?3",
                params![doc.id, doc.version, doc.locale],
                |r| r.get(0),
            )
            .optional()?;
        match existing {
            Some(h) if h == hash => return Ok(()),
            Some(_) => {
                return Err(Refusal::new(
                    409,
                    "conflict",
                    format!(
                        "version {} of {} is already published with another text",
                        doc.version, doc.id
                    ),
                ))
            }
            None => {}
        }
        let (id, version, locale) = (doc.id.clone(), doc.version, doc.locale.clone());
        let signed = serde_json::to_string(&SignedPolicy::sign(key, doc)).expect("serialises");
        conn.execute(
            "INSERT INTO policies (policy_id, version, locale, hash, signed, published_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, version, locale, hash, signed, now()],
        )?;
        Ok(())
    }

    /// Signs every published policy text again with `key` (after a policy
    /// key rotation), in one transaction; returns how many. The texts and
    /// their hashes (the ETags) do not change.
    pub fn sign_policies_again(&self, key: &SigningKey) -> Result<usize, Refusal> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let rows: Vec<(String, i64, String, String)> = tx
            .prepare("SELECT policy_id, version, locale, signed FROM policies")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        for (id, version, locale, signed) in &rows {
            let old: SignedPolicy = serde_json::from_str(signed).expect("stored policies decode");
            let again =
                serde_json::to_string(&SignedPolicy::sign(key, old.policy)).expect("serialises");
            tx.execute(
                "UPDATE policies SET signed = ?4 WHERE policy_id = ?1 AND version = ?2 AND locale = ?3",
                params![id, version, locale, again],
            )?;
        }
        tx.commit()?;
        Ok(rows.len())
    }

    /// The newest published text of a policy in `locale`, else in `ru`.
    pub fn current_policy(
        &self,
        policy_id: &str,
        locale: &str,
    ) -> Result<Option<(String, String)>, Refusal> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT hash, signed FROM policies WHERE policy_id = ?1 AND locale = ?2 ORDER BY version DESC LIMIT 1",
        )?;
        for candidate in [locale, "ru"] {
            if let Some(found) = stmt
                .query_row(params![policy_id, candidate], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_migrations_are_valid() {
        migrations().validate().expect("the migrations are valid");
        assert_eq!(latest_schema_version(), MIGRATIONS.len());
    }
}

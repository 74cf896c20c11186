//! The server's database schema is versioned: databases of servers before
//! migrations are adopted without loss, and a database of a newer server is
//! refused and left exactly as it is.

use std::collections::BTreeMap;
use std::path::Path;

use altyn_consent_server::{
    latest_schema_version, start, ServerConfig, ServerError, Storage, StorageError,
};
use rusqlite::config::DbConfig;
use rusqlite::types::Value;
use rusqlite::Connection;

/// What servers before versioned migrations ran on every start (their
/// `SCHEMA`), copied as it was.
const OLD_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS installs (
    install_id TEXT PRIMARY KEY,
    subject    TEXT NOT NULL,
    head_seq   INTEGER NOT NULL,
    head_hash  TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS events (
    id          TEXT PRIMARY KEY,
    install_id  TEXT NOT NULL REFERENCES installs (install_id),
    seq         INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    body        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    UNIQUE (install_id, seq)
) STRICT;
CREATE TABLE IF NOT EXISTS receipts (
    id         INTEGER PRIMARY KEY,
    install_id TEXT NOT NULL,
    body       TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS receipts_by_install ON receipts (install_id);
CREATE TABLE IF NOT EXISTS policies (
    policy_id    TEXT NOT NULL,
    version      INTEGER NOT NULL,
    locale       TEXT NOT NULL,
    hash         TEXT NOT NULL,
    signed       TEXT NOT NULL,
    published_at TEXT NOT NULL,
    PRIMARY KEY (policy_id, version, locale)
) STRICT;
";

const TABLES: [&str; 4] = ["installs", "events", "receipts", "policies"];

/// A database as the old server left it: its pragmas, its schema, a row in
/// every table, user_version 0.
fn write_old_database(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )
    .unwrap();
    conn.execute_batch(OLD_SCHEMA).unwrap();
    conn.execute_batch(
        "INSERT INTO installs VALUES ('install-1', 'subject-1', 1, 'hash-1');
         INSERT INTO events VALUES ('event-1', 'install-1', 1, 'hash-1', '{\"an\":\"event\"}', '2024-01-02T03:04:05Z');
         INSERT INTO receipts (install_id, body) VALUES ('install-1', '{\"a\":\"receipt\"}');
         INSERT INTO policies VALUES ('privacy', 3, 'ru', 'policy-hash', '{\"signed\":true}', '2024-01-02T03:04:05Z');",
    )
    .unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 0);
}

/// Every row of every table, and the schema as SQLite records it.
type Dump = (
    BTreeMap<&'static str, Vec<Vec<Value>>>,
    Vec<(String, String)>,
);

fn dump(path: &Path) -> Dump {
    let conn = Connection::open(path).unwrap();
    let mut rows = BTreeMap::new();
    for table in TABLES {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY rowid"))
            .unwrap();
        let columns = stmt.column_count();
        let table_rows = stmt
            .query_map([], |r| {
                (0..columns)
                    .map(|i| r.get::<_, Value>(i))
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        rows.insert(table, table_rows);
    }
    let schema = conn
        .prepare("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (rows, schema)
}

fn user_version(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

/// The names and contents of every file in `dir`.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap(),
            )
        })
        .collect()
}

/// Asserts that `dir` holds exactly the files of `before`, byte for byte,
/// but for `derived` ones; a failure names the files that differ (not their
/// bytes).
fn assert_unchanged(dir: &Path, before: &BTreeMap<String, Vec<u8>>, derived: &[&str]) {
    let after = files(dir);
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let changed: Vec<&String> = names
        .into_iter()
        .filter(|name| !derived.contains(&name.as_str()))
        .filter(|name| before.get(*name) != after.get(*name))
        .collect();
    assert!(
        changed.is_empty(),
        "these files were created, changed or removed: {changed:?}"
    );
}

/// A database of a server one schema version ahead of this one, closed
/// cleanly (nothing left in its write-ahead log).
fn write_newer_database(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
    conn.execute_batch(OLD_SCHEMA).unwrap();
    conn.execute_batch(
        "CREATE TABLE from_the_future (x TEXT) STRICT;
         INSERT INTO from_the_future VALUES ('kept');",
    )
    .unwrap();
    conn.pragma_update(None, "user_version", latest_schema_version() as i64 + 1)
        .unwrap();
}

#[test]
fn an_old_unversioned_database_is_adopted_with_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    write_old_database(&path);
    let (rows_before, schema_before) = dump(&path);
    assert!(rows_before.values().all(|rows| rows.len() == 1));

    let storage = Storage::open(&path).unwrap();
    assert_eq!(storage.schema_version().unwrap(), latest_schema_version());
    assert_eq!(storage.event_counts().unwrap(), (1, 1));
    assert_eq!(
        storage.current_policy("privacy", "ru").unwrap(),
        Some(("policy-hash".into(), "{\"signed\":true}".into()))
    );
    drop(storage);

    assert_eq!(user_version(&path), latest_schema_version() as i64);
    let (rows_after, schema_after) = dump(&path);
    assert_eq!(rows_after, rows_before, "every row is kept as it was");
    for entry in &schema_before {
        assert!(schema_after.contains(entry), "{entry:?} was changed");
    }

    // Opening again changes nothing (later migrations added their tables
    // once; nothing of the old schema was touched).
    let storage = Storage::open(&path).unwrap();
    assert_eq!(storage.schema_version().unwrap(), latest_schema_version());
    drop(storage);
    assert_eq!(dump(&path), (rows_after, schema_after));
}

#[test]
fn a_new_database_and_an_adopted_old_one_have_the_same_schema() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.db");
    write_old_database(&old);
    drop(Storage::open(&old).unwrap());
    let new = dir.path().join("new.db");
    let storage = Storage::open(&new).unwrap();
    assert_eq!(storage.schema_version().unwrap(), latest_schema_version());
    drop(storage);
    assert_eq!(user_version(&new), user_version(&old));
    assert_eq!(dump(&new).1, dump(&old).1);
}

#[test]
fn a_database_of_a_newer_server_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    write_newer_database(&path);
    let before = files(dir.path());
    assert_eq!(before.keys().collect::<Vec<_>>(), ["server.db"]);

    let err = Storage::open(&path)
        .err()
        .expect("a newer schema is refused");
    let newer = latest_schema_version() + 1;
    match &err {
        StorageError::SchemaTooNew {
            found, supported, ..
        } => {
            assert_eq!(*found, newer as i64);
            assert_eq!(*supported, latest_schema_version());
        }
        other => panic!("not SchemaTooNew: {other}"),
    }
    let message = err.to_string();
    for words in [
        path.display().to_string(),
        "written by a newer version of the sync server".into(),
        format!("schema version {newer}"),
        format!("knows up to {}", latest_schema_version()),
        "left unchanged".into(),
        "run a server of that newer version".into(),
    ] {
        assert!(message.contains(&words), "{words:?} not in: {message}");
    }
    assert_unchanged(dir.path(), &before, &[]);
}

#[test]
fn a_pending_log_of_a_newer_server_is_not_folded_into_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    write_newer_database(&path);
    // As if the newer server stopped without a checkpoint: the last write
    // is only in the write-ahead log.
    let conn = Connection::open(&path).unwrap();
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .unwrap();
    conn.execute("INSERT INTO from_the_future VALUES ('in the log')", [])
        .unwrap();
    drop(conn);
    let before = files(dir.path());
    assert!(!before["server.db-wal"].is_empty(), "the log holds a write");

    let err = Storage::open(&path)
        .err()
        .expect("a newer schema is refused");
    assert!(matches!(err, StorageError::SchemaTooNew { .. }), "{err}");
    // The database and its log are byte for byte as they were. The -shm
    // file is SQLite's shared-memory index of the log, which every reader
    // rebuilds from the log; it holds no data of its own.
    assert!(before.contains_key("server.db-shm"));
    assert_unchanged(dir.path(), &before, &["server.db-shm"]);
}

#[test]
fn a_negative_schema_version_is_not_a_server_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE other (x); PRAGMA user_version = -7;")
        .unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let err = Storage::open(&path).err().expect("refused");
    assert!(
        matches!(err, StorageError::NotAServerDatabase { found: -7, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("left unchanged"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[tokio::test]
async fn the_server_does_not_start_on_a_database_of_a_newer_server() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server.db");
    write_newer_database(&path);
    let before = files(dir.path());

    let err = start(ServerConfig::loopback(dir.path(), &[("token", "subject")]))
        .await
        .err()
        .expect("the server refuses to start");
    assert!(
        matches!(
            err,
            ServerError::Database(StorageError::SchemaTooNew { .. })
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("newer version of the sync server")
            && message.contains("run a server of that newer version"),
        "{message}"
    );
    // Nothing else was created either (no keys, no certificates).
    assert_unchanged(dir.path(), &before, &[]);
}

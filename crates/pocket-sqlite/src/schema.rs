//! The state database's tables, and opening a connection to it.

use std::path::Path;
use std::time::Duration;

use pocket::durable::{CheckpointError, Durability};
use rusqlite::{Connection, ErrorCode, OpenFlags};

/// The schema's version, kept in `meta`: a file written by a newer Pocket is refused.
pub(crate) const VERSION: i64 = 1;

/// How long a statement waits for another process's lock before reporting the file busy,
/// unless told otherwise ([`SqliteCheckpointer::open_with`](crate::SqliteCheckpointer::open_with)).
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const TABLES: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    key INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    workflow TEXT NOT NULL,
    origin TEXT NOT NULL,
    hash TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    input TEXT NOT NULL,
    meta TEXT NOT NULL,
    durability TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    owner TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_time ON runs (created_ms);
CREATE TABLE IF NOT EXISTS log (
    run INTEGER NOT NULL REFERENCES runs (key) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    blobs TEXT,
    PRIMARY KEY (run, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blobs (hash TEXT PRIMARY KEY, bytes BLOB NOT NULL) WITHOUT ROWID;
";

/// Turn an SQLite error into what the checkpointer reports.
pub(crate) fn error(e: rusqlite::Error) -> CheckpointError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => CheckpointError::Busy(e.to_string()),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => CheckpointError::Corrupt(e.to_string()),
        _ => CheckpointError::Write(e.to_string()),
    }
}

/// Open (creating if needed) the database at `path` with the pragmas of `mode`.
pub(crate) fn connect(path: &Path, mode: Durability, busy: Duration) -> Result<Connection, CheckpointError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(error)?;
    conn.busy_timeout(busy).map_err(error)?;
    let synchronous = match mode {
        Durability::Machine => "FULL",
        _ => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON;"
    ))
    .map_err(error)?;
    Ok(conn)
}

/// Create the tables of a new file, or check an existing file is a state database this
/// version can read.
pub(crate) fn prepare(conn: &Connection) -> Result<(), CheckpointError> {
    let schema = |conn: &Connection| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM meta WHERE key = 'schema'", [], |row| row.get(0))
            .map(Some)
            .or_else(|e| if e == rusqlite::Error::QueryReturnedNoRows { Ok(None) } else { Err(e) })
    };
    // A file with its schema written needs no tables created (the common case: one read).
    let found = match schema(conn) {
        Ok(Some(version)) => Some(version),
        _ => {
            conn.execute_batch(TABLES).map_err(error)?;
            schema(conn).map_err(error)?
        }
    };
    // A file with tables of these names but other columns was not written by this version.
    conn.prepare("SELECT key, id, status, owner FROM runs LIMIT 0")
        .and_then(|_| conn.prepare("SELECT run, seq, body, blobs FROM log LIMIT 0"))
        .map_err(|e| CheckpointError::Corrupt(format!("its tables are not the ones this Pocket writes ({e})")))?;
    match found {
        None => {
            conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ?1)", [VERSION.to_string()])
                .map_err(error)?;
            Ok(())
        }
        Some(v) if v.parse::<i64>().is_ok_and(|v| v <= VERSION) => Ok(()),
        Some(v) => Err(CheckpointError::Corrupt(format!(
            "its schema version is {v}, newer than this Pocket's ({VERSION}): use a newer Pocket"
        ))),
    }
}

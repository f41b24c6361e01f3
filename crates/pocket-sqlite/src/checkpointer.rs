//! [`SqliteCheckpointer`]: the checkpointer over one SQLite file.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;

use pocket::durable::{Ack, CheckpointError, Checkpointer, Durability, Record, RunRecord, RunStatus, SavedRun};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::blobs;
use crate::schema::{self, error};
use crate::writer::{self, Commits, Failure, Op};

/// Appends queued for the writer before `append` waits for room (back-pressure on a run that
/// outpaces the disk).
const QUEUE: usize = 16 * 1024;

/// The writer thread's stack (address space reserved; pages used only as touched).
const WRITER_STACK: usize = 64 << 20;

/// Durable runs in an SQLite file (see the [crate documentation](crate)).
///
/// Reads and the synchronous calls (`create`, `claim`, `remove`) use their own connection;
/// appends and status changes go to the writer thread, in order. Dropping the checkpointer
/// commits what is queued and stops the writer.
pub struct SqliteCheckpointer {
    path: PathBuf,
    reader: Mutex<Connection>,
    ops: Option<SyncSender<Op>>,
    failure: Failure,
    commits: Commits,
    writer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SqliteCheckpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteCheckpointer").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteCheckpointer {
    /// Open the state database at `path`, creating it (and its directory, readable only by
    /// the user) if needed.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::Corrupt`] for a file that is not a state database (or a damaged
    /// one), [`CheckpointError::Busy`] when another process keeps it locked,
    /// [`CheckpointError::Write`] when it cannot be created.
    pub fn open(path: impl AsRef<Path>, mode: Durability) -> Result<Self, CheckpointError> {
        Self::open_with(path, mode, crate::DEFAULT_BUSY_TIMEOUT)
    }

    /// [`SqliteCheckpointer::open`], waiting at most `busy` for another process's lock on the
    /// file before an operation reports [`CheckpointError::Busy`].
    ///
    /// # Errors
    ///
    /// As [`SqliteCheckpointer::open`].
    pub fn open_with(
        path: impl AsRef<Path>,
        mode: Durability,
        busy: std::time::Duration,
    ) -> Result<Self, CheckpointError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
            create_private_dir(dir)
                .map_err(|e| CheckpointError::Write(format!("cannot create {}: {e}", dir.display())))?;
        }
        let reader = schema::connect(&path, mode, busy)?;
        schema::prepare(&reader)?;
        let conn = schema::connect(&path, mode, busy)?;
        let (ops, queue) = sync_channel(QUEUE);
        let failure = Failure::default();
        let commits = Commits::default();
        let writer = {
            let (failure, commits) = (failure.clone(), commits.clone());
            std::thread::Builder::new()
                .name("pocket-checkpoint".into())
                // Writing down values thousands of levels deep recurses: room for it.
                .stack_size(WRITER_STACK)
                .spawn(move || writer::run(conn, queue, failure, commits))
                .map_err(|e| CheckpointError::Write(format!("cannot start the writer thread: {e}")))?
        };
        Ok(SqliteCheckpointer {
            path,
            reader: Mutex::new(reader),
            ops: Some(ops),
            failure,
            commits,
            writer: Some(writer),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Transactions the writer has committed so far (with [`Durability::Machine`], each is
    /// one sync of the file): how well appends are grouped.
    pub fn commits(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Check the whole file (`PRAGMA integrity_check`): `Ok` with SQLite's findings, empty
    /// when the file is sound.
    ///
    /// # Errors
    ///
    /// A storage error.
    pub fn integrity_check(&self) -> Result<Vec<String>, CheckpointError> {
        let conn = self.reader();
        let mut q = conn.prepare("PRAGMA integrity_check").map_err(error)?;
        let rows: Vec<String> =
            q.query_map([], |row| row.get(0)).map_err(error)?.collect::<Result<_, _>>().map_err(error)?;
        Ok(rows.into_iter().filter(|r| r != "ok").collect())
    }

    /// Remove the stored large values no record refers to any more (after removing runs);
    /// the number removed.
    ///
    /// # Errors
    ///
    /// A storage error.
    pub fn sweep(&self) -> Result<usize, CheckpointError> {
        blobs::sweep(&self.reader()).map_err(error)
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        // No user code runs under the lock: a poisoned lock still holds a usable connection.
        self.reader.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn send(&self, op: Op) -> Result<(), CheckpointError> {
        if let Some(e) = self.failure.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Err(e);
        }
        let Some(ops) = &self.ops else { return Err(CheckpointError::Closed) };
        match ops.try_send(op) {
            Ok(()) => Ok(()),
            // A full queue: wait for room (the disk is the bottleneck; memory stays bounded).
            Err(TrySendError::Full(op)) => ops.send(op).map_err(|_| CheckpointError::Closed),
            Err(TrySendError::Disconnected(_)) => Err(CheckpointError::Closed),
        }
    }
}

impl Drop for SqliteCheckpointer {
    fn drop(&mut self) {
        // Closing the queue lets the writer commit what is left and stop.
        self.ops = None;
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

fn json_text(value: &Value) -> String {
    value.to_string()
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Corrupt(format!("{what}: {e}"))
}

fn run_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<RunRecord, CheckpointError>> {
    let id: String = row.get(0)?;
    let text = |i: usize| -> rusqlite::Result<String> { row.get(i) };
    let (fingerprint, input, meta) = (text(4)?, text(5)?, text(6)?);
    let (durability, status) = (text(7)?, text(8)?);
    let parsed = (|| {
        let mut run = RunRecord::new(id.clone(), text(1).map_err(|e| corrupt("workflow", e))?, Value::Null);
        run.origin = text(2).map_err(|e| corrupt("origin", e))?;
        run.hash = text(3).map_err(|e| corrupt("hash", e))?;
        run.fingerprint = crate::json::parse(fingerprint.as_bytes()).map_err(|e| corrupt("fingerprint", e))?;
        run.input = crate::json::parse(input.as_bytes()).map_err(|e| corrupt("input", e))?;
        run.meta = crate::json::parse(meta.as_bytes()).map_err(|e| corrupt("meta", e))?;
        run.durability = serde_json::from_value(Value::String(durability)).map_err(|e| corrupt("durability", e))?;
        run.status = status.parse().map_err(|e: String| corrupt("status", e))?;
        run.error = row.get(9).map_err(|e| corrupt("error", e))?;
        run.owner = row.get(10).map_err(|e| corrupt("owner", e))?;
        run.created_ms = row.get::<_, i64>(11).map_err(|e| corrupt("created_ms", e))?.max(0) as u64;
        run.updated_ms = row.get::<_, i64>(12).map_err(|e| corrupt("updated_ms", e))?.max(0) as u64;
        Ok(run)
    })();
    Ok(parsed.map_err(|e| match e {
        CheckpointError::Corrupt(why) => CheckpointError::Corrupt(format!("run `{id}`: {why}")),
        other => other,
    }))
}

const RUN_COLUMNS: &str =
    "id, workflow, origin, hash, fingerprint, input, meta, durability, status, error, owner, created_ms, updated_ms";

impl Checkpointer for SqliteCheckpointer {
    fn create(&self, run: &RunRecord) -> Result<(), CheckpointError> {
        let fingerprint = serde_json::to_string(&run.fingerprint).unwrap_or_else(|_| "[]".into());
        let inserted = self
            .reader()
            .execute(
                &format!("INSERT OR IGNORE INTO runs ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
                params![
                    run.id,
                    run.workflow,
                    run.origin,
                    run.hash,
                    fingerprint,
                    json_text(&run.input),
                    json_text(&run.meta),
                    run.durability.as_str(),
                    run.status.as_str(),
                    run.error,
                    run.owner,
                    run.created_ms as i64,
                    run.updated_ms as i64,
                ],
            )
            .map_err(error)?;
        if inserted == 0 {
            return Err(CheckpointError::Write(format!("a run `{}` exists already", run.id)));
        }
        Ok(())
    }

    fn append(&self, id: &str, record: Record) -> Ack {
        let (ack, waiting) = Ack::pending();
        match self.send(Op::Append { run: id.to_string(), record, ack }) {
            Ok(()) => waiting,
            Err(e) => Ack::done(Err(e)),
        }
    }

    fn set_status(&self, id: &str, status: RunStatus, error: Option<&str>) -> Ack {
        let (ack, waiting) = Ack::pending();
        match self.send(Op::Status { run: id.to_string(), status, error: error.map(str::to_string), ack }) {
            Ok(()) => waiting,
            Err(e) => Ack::done(Err(e)),
        }
    }

    fn load(&self, id: &str) -> Result<SavedRun, CheckpointError> {
        let conn = self.reader();
        let run = conn
            .query_row(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"), [id], run_from_row)
            .optional()
            .map_err(error)?
            .ok_or_else(|| CheckpointError::NoRun(id.to_string()))??;
        let mut q = conn
            .prepare_cached("SELECT body, blobs FROM log WHERE run = (SELECT key FROM runs WHERE id = ?1) ORDER BY seq")
            .map_err(error)?;
        let rows: Vec<(String, Option<String>)> = q
            .query_map([id], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(error)?
            .collect::<Result<_, _>>()
            .map_err(error)?;
        drop(q);
        let log = rows
            .iter()
            .map(|(body, refs)| {
                blobs::read(&conn, body, refs.as_deref())
                    .map_err(|e| CheckpointError::Corrupt(format!("run `{id}`: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(SavedRun::new(run, log))
    }

    fn runs(&self) -> Result<Vec<RunRecord>, CheckpointError> {
        let conn = self.reader();
        let mut q = conn
            .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY created_ms DESC, id DESC"))
            .map_err(error)?;
        let rows: Vec<Result<RunRecord, CheckpointError>> =
            q.query_map([], run_from_row).map_err(error)?.collect::<Result<_, _>>().map_err(error)?;
        rows.into_iter().collect()
    }

    fn remove(&self, id: &str) -> Result<bool, CheckpointError> {
        let removed = self.reader().execute("DELETE FROM runs WHERE id = ?1", [id]).map_err(error)?;
        Ok(removed > 0)
    }

    fn claim(&self, id: &str, seen: Option<&str>, owner: &str) -> Result<bool, CheckpointError> {
        let conn = self.reader();
        let changed = conn
            .execute(
                "UPDATE runs SET owner = ?3, status = 'running', updated_ms = ?4 WHERE id = ?1 AND owner IS ?2",
                params![id, seen, owner, writer::now_ms()],
            )
            .map_err(error)?;
        if changed == 0 {
            let exists: Option<i64> =
                conn.query_row("SELECT 1 FROM runs WHERE id = ?1", [id], |row| row.get(0)).optional().map_err(error)?;
            if exists.is_none() {
                return Err(CheckpointError::NoRun(id.to_string()));
            }
        }
        Ok(changed > 0)
    }
}

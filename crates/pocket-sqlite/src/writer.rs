//! The one writer thread: appends and status changes, committed in groups.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pocket::durable::{AckSender, CheckpointError, Record, RunStatus};
use rusqlite::{Connection, OptionalExtension, Transaction};

use crate::blobs;
use crate::schema::error;

/// Records pending before a commit happens however young they are.
pub(crate) const GROUP: usize = 256;
/// How long the first pending record waits for others before a commit.
pub(crate) const WINDOW: Duration = Duration::from_millis(1);

/// What the writer is asked to do.
pub(crate) enum Op {
    Append { run: String, record: Record, ack: AckSender },
    Status { run: String, status: RunStatus, error: Option<String>, ack: AckSender },
}

impl Op {
    /// Whether the group is committed as soon as nothing more is queued: a run's steps, memos
    /// and status changes come one after another, and a waiting step (`Machine` mode, a memo
    /// before Post) should not wait longer. A fan-out's item results arrive many at a time:
    /// they wait for the group (at most [`WINDOW`]), so a wide fan-out costs one commit (one
    /// sync in `Machine` mode) per window, not one per item.
    fn urgent(&self) -> bool {
        !matches!(self, Op::Append { record: Record::Item { .. }, .. })
    }
}

/// The first failure that stopped the writer: later appends report it at once.
pub(crate) type Failure = Arc<Mutex<Option<CheckpointError>>>;

/// Transactions committed (in `Machine` mode, each is one sync of the file).
pub(crate) type Commits = Arc<std::sync::atomic::AtomicU64>;

/// Run the writer until every sender is gone: take what is pending, commit it in one
/// transaction, answer the acks.
pub(crate) fn run(mut conn: Connection, ops: Receiver<Op>, failure: Failure, commits: Commits) {
    // Per run id: its key in `runs` and the last sequence number written.
    let mut next_seq: HashMap<String, (i64, i64)> = HashMap::new();
    while let Ok(first) = ops.recv() {
        let mut batch = vec![first];
        let opened = Instant::now();
        // Gather what is queued; a group of item results only waits up to the window or a full
        // group for more.
        while batch.len() < GROUP {
            match ops.try_recv() {
                Ok(op) => {
                    batch.push(op);
                    continue;
                }
                Err(_) if batch.iter().any(Op::urgent) => break,
                Err(_) => {}
            }
            let Some(left) = WINDOW.checked_sub(opened.elapsed()) else { break };
            match ops.recv_timeout(left) {
                Ok(op) => batch.push(op),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        let results = match commit(&mut conn, &batch, &mut next_seq) {
            Ok(results) => {
                commits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                results
            }
            Err(e) => {
                // The transaction rolled back: forget the sequence numbers it handed out.
                next_seq.clear();
                tracing::error!(error = %e, "checkpoint commit failed");
                let mut failed = failure.lock().unwrap_or_else(|p| p.into_inner());
                failed.get_or_insert_with(|| e.clone());
                vec![Err(e); batch.len()]
            }
        };
        for (op, result) in batch.into_iter().zip(results) {
            answer(op, result);
        }
    }
}

fn answer(op: Op, result: Result<(), CheckpointError>) {
    match op {
        Op::Append { ack, .. } | Op::Status { ack, .. } => ack.send(result),
    }
}

/// Apply `batch` in one transaction: per op its own result (an op about an unknown run fails
/// alone), or the commit's error for all.
fn commit(
    conn: &mut Connection,
    batch: &[Op],
    next_seq: &mut HashMap<String, (i64, i64)>,
) -> Result<Vec<Result<(), CheckpointError>>, CheckpointError> {
    // Take the write lock at the start (`BEGIN IMMEDIATE`): a transaction that reads first and
    // then upgrades can fail at once when another process wrote meanwhile, where a waiting
    // start honours the busy timeout.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(error)?;
    let mut results = Vec::with_capacity(batch.len());
    for op in batch {
        results.push(apply(&tx, op, next_seq)?);
    }
    tx.commit().map_err(error)?;
    Ok(results)
}

/// One op inside the transaction: `Ok(Err)` for an op that fails alone, `Err` for a failure
/// of the whole transaction.
fn apply(
    tx: &Transaction<'_>,
    op: &Op,
    next_seq: &mut HashMap<String, (i64, i64)>,
) -> Result<Result<(), CheckpointError>, CheckpointError> {
    match op {
        Op::Append { run, record, .. } => {
            let (key, seq) = match next_seq.get_mut(run.as_str()) {
                Some((key, seq)) => (*key, seq),
                None => {
                    let found: Option<(i64, i64)> = tx
                        .prepare_cached(
                            "SELECT key, (SELECT COALESCE(MAX(seq), 0) FROM log WHERE log.run = runs.key)
                             FROM runs WHERE id = ?1",
                        )
                        .and_then(|mut q| q.query_row([run.as_str()], |row| Ok((row.get(0)?, row.get(1)?))).optional())
                        .map_err(error)?;
                    let Some((key, last)) = found else { return Ok(Err(CheckpointError::NoRun(run.clone()))) };
                    let (key, seq) = next_seq.entry(run.clone()).or_insert((key, last));
                    (*key, seq)
                }
            };
            *seq += 1;
            let (body, refs) = blobs::write(tx, record.clone()).map_err(error)?;
            tx.prepare_cached("INSERT INTO log (run, seq, body, blobs) VALUES (?1, ?2, ?3, ?4)")
                .and_then(|mut q| q.execute(rusqlite::params![key, *seq, body, refs]))
                .map_err(error)?;
            Ok(Ok(()))
        }
        Op::Status { run, status, error: why, .. } => {
            let changed = tx
                .prepare_cached(
                    "UPDATE runs SET status = ?2, error = ?3, updated_ms = ?4,
                        owner = CASE WHEN ?2 = 'running' THEN owner ELSE NULL END
                     WHERE id = ?1",
                )
                .and_then(|mut q| q.execute(rusqlite::params![run, status.as_str(), why, now_ms()]))
                .map_err(error)?;
            Ok(if changed == 0 { Err(CheckpointError::NoRun(run.clone())) } else { Ok(()) })
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

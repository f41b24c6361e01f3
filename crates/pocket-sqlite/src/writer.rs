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
    Append { run: String, record: Record, ack: Option<AckSender> },
    Status { run: String, status: RunStatus, error: Option<String>, ack: AckSender },
}

impl Op {
    fn waited(&self) -> bool {
        match self {
            Op::Append { ack, .. } => ack.is_some(),
            Op::Status { .. } => true,
        }
    }
}

/// The first failure that stopped the writer: later appends report it at once.
pub(crate) type Failure = Arc<Mutex<Option<CheckpointError>>>;

/// Run the writer until every sender is gone: take what is pending, commit it in one
/// transaction, answer the acks.
pub(crate) fn run(mut conn: Connection, ops: Receiver<Op>, failure: Failure) {
    let mut next_seq: HashMap<String, i64> = HashMap::new();
    while let Ok(first) = ops.recv() {
        let mut batch = vec![first];
        let opened = Instant::now();
        // Gather: at once when someone waits, else up to the window or a full group.
        while batch.len() < GROUP {
            match ops.try_recv() {
                Ok(op) => {
                    batch.push(op);
                    continue;
                }
                Err(_) if batch.iter().any(Op::waited) => break,
                Err(_) => {}
            }
            let Some(left) = WINDOW.checked_sub(opened.elapsed()) else { break };
            match ops.recv_timeout(left) {
                Ok(op) => batch.push(op),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        let results = match commit(&mut conn, &batch, &mut next_seq) {
            Ok(results) => results,
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
        Op::Append { ack: Some(ack), .. } | Op::Status { ack, .. } => ack.send(result),
        Op::Append { ack: None, .. } => {}
    }
}

/// Apply `batch` in one transaction: per op its own result (an op about an unknown run fails
/// alone), or the commit's error for all.
fn commit(
    conn: &mut Connection,
    batch: &[Op],
    next_seq: &mut HashMap<String, i64>,
) -> Result<Vec<Result<(), CheckpointError>>, CheckpointError> {
    let tx = conn.transaction().map_err(error)?;
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
    next_seq: &mut HashMap<String, i64>,
) -> Result<Result<(), CheckpointError>, CheckpointError> {
    match op {
        Op::Append { run, record, .. } => {
            let seq = match next_seq.get_mut(run.as_str()) {
                Some(seq) => seq,
                None => {
                    let exists: Option<i64> = tx
                        .prepare_cached(
                            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM log WHERE run = ?1) FROM runs WHERE id = ?1",
                        )
                        .and_then(|mut q| q.query_row([run.as_str()], |row| row.get(0)).optional())
                        .map_err(error)?;
                    let Some(last) = exists else { return Ok(Err(CheckpointError::NoRun(run.clone()))) };
                    next_seq.entry(run.clone()).or_insert(last)
                }
            };
            *seq += 1;
            let (kind, node) = match record {
                Record::Step(step) => ("step", step.node.clone()),
                Record::Memo { node, .. } => ("memo", node.clone()),
                Record::Item { node, .. } => ("item", node.clone()),
                Record::Rewind { .. } => ("rewind", String::new()),
                _ => ("other", String::new()),
            };
            let body = blobs::write(tx, record.clone()).map_err(error)?;
            tx.prepare_cached("INSERT INTO log (run, seq, kind, node, body) VALUES (?1, ?2, ?3, ?4, ?5)")
                .and_then(|mut q| q.execute(rusqlite::params![run, *seq, kind, node, body]))
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

//! The [`Checkpointer`] trait: where a durable run's records go.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::record::{Record, RunRecord, RunStatus, SavedRun};

/// What can go wrong keeping a run's records. Cheap to clone: one failed commit answers every
/// record of its group.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// There is no run with this id.
    #[error("no run `{0}`")]
    NoRun(String),
    /// Another process holds the database (or the run) right now.
    #[error("the state database is busy: {0}")]
    Busy(String),
    /// The database is damaged or is not a state database.
    #[error("the state database is damaged or not a Pocket state database: {0}")]
    Corrupt(String),
    /// Writing failed (a full disk, permissions, I/O): the records before it are intact.
    #[error("cannot write the run's checkpoint: {0}")]
    Write(String),
    /// A value of the run cannot be written down as JSON.
    #[error("cannot checkpoint {what}: {reason}")]
    Value {
        /// What the value is (`store key `k``, `the input of node `n``).
        what: String,
        /// Why not.
        reason: String,
    },
    /// The writer stopped (after an earlier failure, or at shutdown).
    #[error("the checkpoint writer has stopped")]
    Closed,
}

/// Tells when an appended record is durable: [`Ack::wait`] returns once the record (and every
/// record appended before it) is committed, or the commit failed.
#[derive(Debug)]
#[must_use = "an Ack does nothing unless waited for (dropping it does not undo the write)"]
pub struct Ack(AckState);

#[derive(Debug)]
enum AckState {
    Done(Result<(), CheckpointError>),
    Pending(oneshot::Receiver<Result<(), CheckpointError>>),
}

/// The sending half of a pending [`Ack`], kept by the backend until the commit.
#[derive(Debug)]
pub struct AckSender(oneshot::Sender<Result<(), CheckpointError>>);

impl AckSender {
    /// Answer the waiting [`Ack`] (nothing happens if nobody waits).
    pub fn send(self, result: Result<(), CheckpointError>) {
        let _ = self.0.send(result);
    }
}

impl Ack {
    /// An answer known at once (an in-memory backend, or a backend that already failed).
    pub fn done(result: Result<(), CheckpointError>) -> Self {
        Ack(AckState::Done(result))
    }

    /// An answer that comes later, through the returned sender.
    pub fn pending() -> (AckSender, Ack) {
        let (tx, rx) = oneshot::channel();
        (AckSender(tx), Ack(AckState::Pending(rx)))
    }

    /// An error already known (without waiting): what a run checks at each boundary in
    /// [`Durability::Process`](super::Durability::Process) mode.
    pub fn error_now(&self) -> Option<&CheckpointError> {
        match &self.0 {
            AckState::Done(Err(e)) => Some(e),
            _ => None,
        }
    }

    /// [`Ack::wait`] for a thread outside any async runtime (it blocks the thread).
    ///
    /// # Errors
    ///
    /// As [`Ack::wait`].
    pub fn wait_blocking(self) -> Result<(), CheckpointError> {
        match self.0 {
            AckState::Done(result) => result,
            AckState::Pending(rx) => rx.blocking_recv().unwrap_or(Err(CheckpointError::Closed)),
        }
    }

    /// Wait until the record is committed.
    ///
    /// # Errors
    ///
    /// The commit's error; [`CheckpointError::Closed`] when the writer went away.
    pub async fn wait(self) -> Result<(), CheckpointError> {
        match self.0 {
            AckState::Done(result) => result,
            AckState::Pending(rx) => rx.await.unwrap_or(Err(CheckpointError::Closed)),
        }
    }
}

/// Where durable runs keep their records: runs, their logs (boundaries with store deltas, exec
/// memos, fan-out item results) and their owners.
///
/// [`MemoryCheckpointer`](super::MemoryCheckpointer) keeps them in memory; the `pocket-sqlite`
/// crate in an SQLite file. Every backend must pass the conformance suite
/// (`pocket::durable::conformance`, with the `conformance` feature).
///
/// Appends return at once and are committed in order; [`Ack`] says when. Reads see every
/// record whose ack has been answered.
pub trait Checkpointer: Send + Sync + 'static {
    /// Record a new run (its id must be new).
    ///
    /// # Errors
    ///
    /// A storage error, or [`CheckpointError::Write`] for an id already taken.
    fn create(&self, run: &RunRecord) -> Result<(), CheckpointError>;

    /// Append `record` to the log of run `id`, after every record appended before.
    fn append(&self, id: &str, record: Record) -> Ack;

    /// Set the status of run `id` (and the error that ended it), after every record appended
    /// before; releases the run's owner unless the status is `running`.
    fn set_status(&self, id: &str, status: RunStatus, error: Option<&str>) -> Ack;

    /// The run `id` and its log.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::NoRun`], or a storage error.
    fn load(&self, id: &str) -> Result<SavedRun, CheckpointError>;

    /// Every run, newest first, without logs.
    ///
    /// # Errors
    ///
    /// A storage error.
    fn runs(&self) -> Result<Vec<RunRecord>, CheckpointError>;

    /// Remove run `id` and its records; whether it existed.
    ///
    /// # Errors
    ///
    /// A storage error.
    fn remove(&self, id: &str) -> Result<bool, CheckpointError>;

    /// Make `owner` the owner of run `id` if its owner is still `seen` (compare and set): of
    /// two processes resuming one run, one wins. Sets the status to `running`.
    ///
    /// # Errors
    ///
    /// [`CheckpointError::NoRun`], or a storage error.
    fn claim(&self, id: &str, seen: Option<&str>, owner: &str) -> Result<bool, CheckpointError>;
}

impl<C: Checkpointer + ?Sized> Checkpointer for Arc<C> {
    fn create(&self, run: &RunRecord) -> Result<(), CheckpointError> {
        (**self).create(run)
    }
    fn append(&self, id: &str, record: Record) -> Ack {
        (**self).append(id, record)
    }
    fn set_status(&self, id: &str, status: RunStatus, error: Option<&str>) -> Ack {
        (**self).set_status(id, status, error)
    }
    fn load(&self, id: &str) -> Result<SavedRun, CheckpointError> {
        (**self).load(id)
    }
    fn runs(&self) -> Result<Vec<RunRecord>, CheckpointError> {
        (**self).runs()
    }
    fn remove(&self, id: &str) -> Result<bool, CheckpointError> {
        (**self).remove(id)
    }
    fn claim(&self, id: &str, seen: Option<&str>, owner: &str) -> Result<bool, CheckpointError> {
        (**self).claim(id, seen, owner)
    }
}

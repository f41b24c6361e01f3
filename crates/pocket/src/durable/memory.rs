//! [`MemoryCheckpointer`]: durable runs kept in memory (tests, and runs that only need
//! resuming within one process).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::checkpointer::{Ack, CheckpointError, Checkpointer};
use super::record::{Record, RunRecord, RunStatus, SavedRun, now_ms};

/// A [`Checkpointer`] that keeps runs in memory: every append is committed at once.
///
/// # Examples
///
/// ```
/// use pocket::durable::{Checkpointer, MemoryCheckpointer, RunRecord, RunStatus};
///
/// let checkpointer = MemoryCheckpointer::new();
/// checkpointer.create(&RunRecord::new("run-1", "demo", serde_json::json!(null))).unwrap();
/// assert_eq!(checkpointer.load("run-1").unwrap().run.status, RunStatus::Running);
/// ```
#[derive(Debug, Default)]
pub struct MemoryCheckpointer {
    runs: Mutex<HashMap<String, SavedRun>>,
}

impl MemoryCheckpointer {
    /// An empty checkpointer.
    pub fn new() -> Self {
        MemoryCheckpointer::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, SavedRun>> {
        // No user code runs under the lock: a poisoned lock still holds consistent data.
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Checkpointer for MemoryCheckpointer {
    fn create(&self, run: &RunRecord) -> Result<(), CheckpointError> {
        let mut runs = self.lock();
        if runs.contains_key(&run.id) {
            return Err(CheckpointError::Write(format!("a run `{}` exists already", run.id)));
        }
        runs.insert(run.id.clone(), SavedRun::new(run.clone(), Vec::new()));
        Ok(())
    }

    fn append(&self, id: &str, record: Record) -> Ack {
        Ack::done(match self.lock().get_mut(id) {
            Some(saved) => {
                saved.log.push(record);
                Ok(())
            }
            None => Err(CheckpointError::NoRun(id.to_string())),
        })
    }

    fn set_status(&self, id: &str, status: RunStatus, error: Option<&str>) -> Ack {
        Ack::done(match self.lock().get_mut(id) {
            Some(saved) => {
                saved.run.status = status;
                saved.run.error = error.map(str::to_string);
                saved.run.updated_ms = now_ms();
                if status != RunStatus::Running {
                    saved.run.owner = None;
                }
                Ok(())
            }
            None => Err(CheckpointError::NoRun(id.to_string())),
        })
    }

    fn load(&self, id: &str) -> Result<SavedRun, CheckpointError> {
        self.lock().get(id).cloned().ok_or_else(|| CheckpointError::NoRun(id.to_string()))
    }

    fn runs(&self) -> Result<Vec<RunRecord>, CheckpointError> {
        let mut runs: Vec<RunRecord> = self.lock().values().map(|s| s.run.clone()).collect();
        runs.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then_with(|| b.id.cmp(&a.id)));
        Ok(runs)
    }

    fn remove(&self, id: &str) -> Result<bool, CheckpointError> {
        Ok(self.lock().remove(id).is_some())
    }

    fn claim(&self, id: &str, seen: Option<&str>, owner: &str) -> Result<bool, CheckpointError> {
        let mut runs = self.lock();
        let saved = runs.get_mut(id).ok_or_else(|| CheckpointError::NoRun(id.to_string()))?;
        if saved.run.owner.as_deref() != seen {
            return Ok(false);
        }
        saved.run.owner = Some(owner.to_string());
        saved.run.status = RunStatus::Running;
        saved.run.updated_ms = now_ms();
        Ok(true)
    }
}

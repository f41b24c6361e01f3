//! Durable runs: every node boundary written down, so a run that crashed, was killed or was
//! cancelled continues where it was ([`Graph::resume`](crate::Graph::resume)).
//!
//! A run's state changes only at node boundaries (Exec is retry-safe; Post is where effects
//! go), so a durable run records a **cursor and store deltas**, never a replay of user code:
//! after each node, one [`StepRecord`] with the node, the next node, the value handed on and
//! the store keys changed since the previous boundary. A resume rebuilds the store from the
//! deltas and runs the next node with the saved value; the node that was in flight runs
//! again from its Prep.
//!
//! Every node of a durable graph must have codecs
//! ([`GraphBuilder::serde_node`](crate::graph::GraphBuilder::serde_node)), and the store's
//! values must be JSON or typed values that serialise. The [`Checkpointer`] decides where the
//! records go: [`MemoryCheckpointer`] here, SQLite in the `pocket-sqlite` crate.
//!
//! # Durability
//!
//! | mode | survives | each boundary |
//! |---|---|---|
//! | no [`Durable`] | nothing | nothing written |
//! | [`Durability::Process`] | a crash or kill of the process | handed to the checkpointer, not waited for |
//! | [`Durability::Machine`] | power loss (with a backend that syncs) | waits for the commit |
//!
//! In process mode the last boundaries before a crash may be lost with the process; the
//! resume then starts from an earlier one and runs those nodes again (as it would the node
//! in flight).
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use pocket::durable::{Checkpointer, Durable, MemoryCheckpointer, RunRecord, RunStatus};
//! use pocket::{exec_fn, Graph, RunOptions, Store};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let graph = Graph::<u32, u32>::builder()
//!     .serde_node("double", exec_fn(|x: u32| async move { Ok(x * 2) }))
//!     .serde_node("inc", exec_fn(|x: u32| async move { Ok(x + 1) }))
//!     .edge("double", "default", "inc")
//!     .build()
//!     .unwrap();
//! let checkpointer = Arc::new(MemoryCheckpointer::new());
//! let run = RunRecord::new("run-1", "demo", serde_json::Value::Null);
//! let options = RunOptions::new().durable(Durable::new(checkpointer.clone(), run));
//! assert_eq!(graph.run_with(&Store::new(), 20, options).await.unwrap(), 41);
//!
//! let saved = checkpointer.load("run-1").unwrap();
//! assert_eq!(saved.run.status, RunStatus::Succeeded);
//! assert_eq!(saved.steps().map(|s| s.node.as_str()).collect::<Vec<_>>(), ["double", "inc"]);
//! # });
//! ```

mod checkpointer;
#[cfg(feature = "conformance")]
pub mod conformance;
mod journal;
mod memory;
mod record;

use std::fmt;
use std::sync::Arc;

pub use checkpointer::{Ack, AckSender, CheckpointError, Checkpointer};
pub(crate) use journal::RunJournal;
pub use journal::StepJournal;
pub use memory::MemoryCheckpointer;
pub(crate) use record::now_ms;
pub use record::{Delta, Durability, Record, RunRecord, RunStatus, SavedRun, StepRecord, new_run_id};

/// Makes a run durable: given to [`RunOptions::durable`](crate::RunOptions::durable) for a new
/// run, made by [`Graph::resume`](crate::Graph::resume) for a resumed one.
#[derive(Clone)]
pub struct Durable {
    pub(crate) checkpointer: Arc<dyn Checkpointer>,
    pub(crate) run: RunRecord,
    /// What a resume found saved for the step in flight (memos, item results).
    pub(crate) in_flight: Arc<Vec<Record>>,
}

impl fmt::Debug for Durable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Durable").field("run", &self.run.id).field("durability", &self.run.durability).finish()
    }
}

impl Durable {
    /// A new durable run, recorded in `checkpointer` as `run` when it starts (with the run's
    /// input written down by the start node's codec).
    pub fn new(checkpointer: Arc<dyn Checkpointer>, run: RunRecord) -> Self {
        Durable { checkpointer, run, in_flight: Arc::default() }
    }

    /// Change the durability (default [`Durability::Process`]).
    #[must_use]
    pub fn durability(mut self, mode: Durability) -> Self {
        self.run.durability = mode;
        self
    }

    /// The run's id.
    pub fn id(&self) -> &str {
        &self.run.id
    }
}

//! What a durable run writes down: the run itself and the records of its log.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RunStatus {
    /// Running now, as far as the record knows (a process that died without saying so leaves
    /// its run `running`: [`RunRecord::owner`] tells whether anyone still runs it).
    Running,
    /// Stopped before its end by a crash, a kill or a restart; resumable.
    Interrupted,
    /// Suspended until someone answers it (an `input` node); resumable with the answer.
    Waiting,
    /// A node failed or the run's deadline passed; resumable (the failed node runs again).
    Failed,
    /// Ended with its output.
    Succeeded,
    /// Cancelled (Ctrl-C); resumable.
    Cancelled,
}

impl RunStatus {
    /// Every status, in the order `pocket runs list` documents them.
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Running,
        RunStatus::Interrupted,
        RunStatus::Waiting,
        RunStatus::Failed,
        RunStatus::Succeeded,
        RunStatus::Cancelled,
    ];

    /// The status's name (`running`, `succeeded`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Waiting => "waiting",
            RunStatus::Failed => "failed",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the run has ended for good (only a succeeded run cannot be resumed).
    pub fn is_final(self) -> bool {
        self == RunStatus::Succeeded
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        RunStatus::ALL.into_iter().find(|status| status.as_str() == s).ok_or_else(|| {
            let names: Vec<_> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown run status `{s}` (one of: {})", names.join(", "))
        })
    }
}

/// How much of a run survives what (see the [module documentation](crate::durable)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Durability {
    /// Survives a crash or kill of the process: records are handed to the checkpointer at each
    /// boundary without waiting for them (an exec memo is waited for).
    #[default]
    Process,
    /// Survives power loss: each boundary waits until its record is on disk (group-committed).
    Machine,
}

impl Durability {
    /// The mode's name (`process`, `machine`).
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Process => "process",
            Durability::Machine => "machine",
        }
    }
}

/// A run as its checkpointer keeps it. Built with [`RunRecord::new`]; the fields a backend
/// fills in (status, times, owner) are public so that backends outside this crate can.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunRecord {
    /// The run's id: sortable by creation time ([`new_run_id`]).
    pub id: String,
    /// The workflow's name.
    pub workflow: String,
    /// Where the workflow came from (a file path), for people.
    pub origin: String,
    /// A hash of the workflow's content: a resume after an edit sees that it changed.
    pub hash: String,
    /// Per node, a hash of its definition: what changed, node by node.
    pub fingerprint: Vec<(String, String)>,
    /// The run's input.
    pub input: Value,
    /// Anything else the caller needs to resume the run as it was (the CLI keeps the
    /// permissions the run was given).
    pub meta: Value,
    /// The durability the run was started with.
    pub durability: Durability,
    /// Where it stands.
    pub status: RunStatus,
    /// Why it failed, for failed, cancelled and interrupted runs.
    pub error: Option<String>,
    /// Who runs it now (an opaque owner id, e.g. host and process): claimed with
    /// [`Checkpointer::claim`](super::Checkpointer::claim).
    pub owner: Option<String>,
    /// Milliseconds since the Unix epoch when the run was created.
    pub created_ms: u64,
    /// Milliseconds since the Unix epoch of the last status change.
    pub updated_ms: u64,
}

impl RunRecord {
    /// A new run of `workflow` with `input`, `running`, created now.
    pub fn new(id: impl Into<String>, workflow: impl Into<String>, input: Value) -> Self {
        let now = now_ms();
        RunRecord {
            id: id.into(),
            workflow: workflow.into(),
            origin: String::new(),
            hash: String::new(),
            fingerprint: Vec::new(),
            input,
            meta: Value::Null,
            durability: Durability::Process,
            status: RunStatus::Running,
            error: None,
            owner: None,
            created_ms: now,
            updated_ms: now,
        }
    }
}

/// One change to the store: the full key and the value after it (`None`: removed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// The full key (scope prefixes included).
    pub key: String,
    /// The value now, or `None` when the key was deleted, evicted or expired.
    pub value: Option<Value>,
}

/// A node finished: the boundary a resume starts from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StepRecord {
    /// The node that finished.
    pub node: String,
    /// Nodes run so far, this one included (the `n`th step of the run).
    pub step: u64,
    /// The action it returned (`None`: it ended the run with [`Next::End`](crate::Next::End)).
    pub action: Option<String>,
    /// The node that runs next; `None` when the run ended here.
    pub next: Option<String>,
    /// The value handed on: the next node's input, or the run's output.
    pub value: Value,
    /// The store's changes since the previous boundary.
    pub delta: Vec<Delta>,
    /// Milliseconds since the Unix epoch when the node started.
    pub started_ms: u64,
    /// How long the node took, in microseconds.
    pub elapsed_us: u64,
}

/// One record of a run's log, in the order written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Record {
    /// A node finished (the run's cursor moved).
    Step(StepRecord),
    /// A node's Exec result, saved before its Post ran: a resume runs only Post.
    Memo {
        /// The node.
        node: String,
        /// The step it ran as.
        step: u64,
        /// The Exec result.
        value: Value,
    },
    /// One item of a fan-out finished: a resume does not run it again.
    Item {
        /// The fan-out node.
        node: String,
        /// The step the fan-out node ran as.
        step: u64,
        /// The item's position.
        index: u64,
        /// A hash of the item's input: a result is only used for the same input.
        key: String,
        /// What the item produced (its result, or its error as the node records it).
        value: Value,
    },
    /// A node suspended the run at this step until it is answered.
    Interrupt {
        /// The node.
        node: String,
        /// The step it ran as.
        step: u64,
        /// What it asks.
        request: Value,
        /// The store's changes since the previous boundary (the node's Post ran).
        delta: Vec<Delta>,
    },
    /// The boundaries after step `to` are void (a resume after a change goes back to the
    /// first changed node): the steps after it no longer count, nor do their deltas.
    Rewind {
        /// The last step that still counts (`0`: none).
        to: u64,
        /// The workflow's hash from here on ([`RunRecord::hash`]).
        hash: String,
        /// The workflow's nodes' hashes from here on ([`RunRecord::fingerprint`]).
        fingerprint: Vec<(String, String)>,
    },
}

/// A run and its log, as loaded for a resume.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SavedRun {
    /// The run.
    pub run: RunRecord,
    /// Its log, in the order written.
    pub log: Vec<Record>,
}

impl SavedRun {
    /// A run and its log.
    pub fn new(run: RunRecord, log: Vec<Record>) -> Self {
        SavedRun { run, log }
    }

    /// The last boundary reached, if any node finished.
    pub fn last_step(&self) -> Option<&StepRecord> {
        self.steps().last()
    }

    /// The workflow's hash and per-node hashes the run goes by now: the run's own, or those
    /// of the last [`Record::Rewind`].
    pub fn definition(&self) -> (&str, &[(String, String)]) {
        let rewound = self.log.iter().rev().find_map(|r| match r {
            Record::Rewind { hash, fingerprint, .. } => Some((hash.as_str(), fingerprint.as_slice())),
            _ => None,
        });
        rewound.unwrap_or((self.run.hash.as_str(), self.run.fingerprint.as_slice()))
    }

    /// The memos and item results saved for the step that was in flight (the step after the
    /// last boundary): what a resume hands the node that runs again.
    pub fn in_flight(&self) -> impl Iterator<Item = &Record> {
        self.after_last_step()
    }

    /// The question the run waits on: the node, the step and the request of an interrupt
    /// after the last boundary.
    pub fn waiting_on(&self) -> Option<(&str, u64, &Value)> {
        self.after_last_step().find_map(|r| match r {
            Record::Interrupt { node, step, request, .. } => Some((node.as_str(), *step, request)),
            _ => None,
        })
    }

    /// The store changes of the interrupt the run waits on.
    pub(crate) fn waiting_delta(&self) -> &[Delta] {
        self.after_last_step()
            .find_map(|r| match r {
                Record::Interrupt { delta, .. } => Some(delta.as_slice()),
                _ => None,
            })
            .unwrap_or_default()
    }

    fn after_last_step(&self) -> impl Iterator<Item = &Record> {
        let step = self.last_step().map_or(0, |s| s.step) + 1;
        let after = self.log.iter().rposition(|r| matches!(r, Record::Step(_) | Record::Rewind { .. }));
        let rest = match after {
            Some(i) => &self.log[i + 1..],
            None => &self.log[..],
        };
        rest.iter().filter(move |r| match r {
            Record::Memo { step: s, .. } | Record::Item { step: s, .. } | Record::Interrupt { step: s, .. } => {
                *s == step
            }
            _ => false,
        })
    }

    /// The steps that count, in order: those a later [`Record::Rewind`] made void left out.
    pub fn steps(&self) -> impl Iterator<Item = &StepRecord> {
        let mut kept: Vec<&StepRecord> = Vec::new();
        for record in &self.log {
            match record {
                Record::Step(step) => kept.push(step),
                Record::Rewind { to, .. } => kept.retain(|s| s.step <= *to),
                _ => {}
            }
        }
        kept.into_iter()
    }
}

/// A new run id: a ULID (26 characters of Crockford base 32 that sort by creation time).
pub fn new_run_id() -> String {
    ulid::Ulid::generate().to_string()
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default()
}

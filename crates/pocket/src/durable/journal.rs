//! [`StepJournal`]: what a node of a durable run can save and find again — the Exec result
//! of an expensive call (a memo), the results of a fan-out's items.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use smol_str::SmolStr;

use super::{Ack, Durability, Durable, Record};

/// A durable run's journal: where its steps save, and what a resume found saved for the step
/// that was in flight.
pub(crate) struct RunJournal {
    durable: Durable,
    memos: HashMap<(String, u64), Value>,
    items: HashMap<(String, u64, u64), (String, Value)>,
}

impl RunJournal {
    /// The journal of `durable`'s run (with what a resume found for the step in flight).
    pub(crate) fn new(durable: Durable) -> Self {
        let mut memos = HashMap::new();
        let mut items = HashMap::new();
        for record in durable.in_flight.iter() {
            match record {
                Record::Memo { node, step, value } => {
                    memos.insert((node.clone(), *step), value.clone());
                }
                Record::Item { node, step, index, key, value } => {
                    items.insert((node.clone(), *step, *index), (key.clone(), value.clone()));
                }
                _ => {}
            }
        }
        RunJournal { durable, memos, items }
    }
}

/// The journal of one step of a durable run, from [`Ctx::journal`](crate::Ctx::journal): what
/// a node saved in an earlier process for this step (the run was resumed while the step was in
/// flight), and how it saves more. Only the nodes of the durable graph itself have one (not
/// the nodes a fan-out or a sub-graph runs inside a step).
///
/// Saved values count for the step they were saved in: once the step finishes (its boundary
/// is written), they are history.
#[derive(Clone)]
pub struct StepJournal {
    run: Arc<RunJournal>,
    node: SmolStr,
    step: u64,
}

impl std::fmt::Debug for StepJournal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepJournal")
            .field("run", &self.run_id())
            .field("node", &self.node)
            .field("step", &self.step)
            .finish()
    }
}

impl StepJournal {
    pub(crate) fn new(run: &Arc<RunJournal>, node: &str, step: u64) -> Self {
        StepJournal { run: run.clone(), node: SmolStr::new(node), step }
    }

    /// The run's id.
    pub fn run_id(&self) -> &str {
        &self.run.durable.run.id
    }

    /// The node.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The step this is (the `n`th node run in the run).
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The run's durability: in [`Durability::Machine`] mode, wait for every [`Ack`].
    pub fn durability(&self) -> Durability {
        self.run.durable.run.durability
    }

    /// The Exec result saved for this step, if the step ran Exec before the run stopped.
    pub fn memo(&self) -> Option<&Value> {
        self.run.memos.get(&(self.node.to_string(), self.step))
    }

    /// Save this step's Exec result (wait for the ack before Post runs: then a resume never
    /// runs the Exec again).
    pub fn save_memo(&self, value: Value) -> Ack {
        let record = Record::Memo { node: self.node.to_string(), step: self.step, value };
        self.run.durable.checkpointer.append(self.run_id(), record)
    }

    /// Whether any item result was saved for this step (a fresh step has none: no need to
    /// look items up).
    pub fn has_items(&self) -> bool {
        !self.run.items.is_empty()
    }

    /// The result saved for item `index` of this step's fan-out, if its input's hash was `key`.
    pub fn item(&self, index: u64, key: &str) -> Option<&Value> {
        match self.run.items.get(&(self.node.to_string(), self.step, index)) {
            Some((saved, value)) if saved == key => Some(value),
            _ => None,
        }
    }

    /// Save the result of item `index` (whose input hashes to `key`).
    pub fn save_item(&self, index: u64, key: String, value: Value) -> Ack {
        let record = Record::Item { node: self.node.to_string(), step: self.step, index, key, value };
        self.run.durable.checkpointer.append(self.run_id(), record)
    }
}

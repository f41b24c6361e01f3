//! The graph's side of durable runs: what a boundary writes, how a run starts, ends and
//! resumes ([`crate::durable`] has the records and the checkpointer).

use std::sync::Arc;

use tokio::time::Instant;

use super::boundary::{Boundary, Observer};
use super::erased::{Codec, Payload};
use super::{Graph, RunOptions, Start};
use crate::action::Action;
use crate::durable::{
    Ack, CheckpointError, Checkpointer, Delta, Durability, Durable, Record, RunJournal, RunStatus, SavedRun,
    StepRecord, now_ms,
};
use crate::error::RunError;
use crate::store::Store;

/// What watches a run's boundaries: an observer, a checkpointer, or both.
pub(crate) struct Hooks<'a> {
    observer: Option<&'a Observer>,
    durable: Option<&'a Durable>,
    /// The durable run's journal, handed to each step.
    pub(crate) journal: Option<Arc<RunJournal>>,
}

impl<'a> Hooks<'a> {
    /// The hooks of `options`; `None` when there are none (the run loop then skips them).
    pub(crate) fn of(options: &'a RunOptions) -> Option<Self> {
        let durable = options.durable.as_ref();
        let journal = durable.map(|d| Arc::new(RunJournal::new(d.clone())));
        let hooks = Hooks { observer: options.observer.as_ref(), durable, journal };
        (hooks.observer.is_some() || hooks.durable.is_some()).then_some(hooks)
    }
}

/// When a node started (for the step record's timeline).
#[derive(Clone, Copy)]
pub(crate) struct Started {
    at: Instant,
    wall_ms: u64,
}

impl Started {
    pub(crate) fn now() -> Self {
        Started { at: Instant::now(), wall_ms: now_ms() }
    }
}

pub(crate) fn checkpoint(node: &str, source: CheckpointError) -> RunError {
    RunError::Checkpoint { node: node.to_string(), source }
}

fn changes(store: &Store, node: &str) -> Result<Vec<Delta>, RunError> {
    let changes = store.take_changes().map_err(|e| {
        checkpoint(node, CheckpointError::Value { what: "a store value".into(), reason: e.to_string() })
    })?;
    Ok(changes.into_iter().map(|(key, value)| Delta { key, value }).collect())
}

impl<I: Send + Sync + 'static, O: Send + 'static> Graph<I, O> {
    /// The boundary after node `from`: show it to the observer, write it to the checkpointer.
    /// Kept out of the run loop. In machine mode it gives back the record's ack, which the
    /// loop waits for before going on.
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn boundary(
        &self,
        hooks: &Hooks<'_>,
        store: &Store,
        from: usize,
        next: Option<usize>,
        action: Option<&Action>,
        steps: u64,
        started: Option<Started>,
        payload: &Payload,
    ) -> Result<Option<Ack>, RunError> {
        let inner = &*self.inner;
        // The next node's input codec, else the finished node's output codec, writes it down.
        let codec = next.and_then(|i| inner.codecs[i].input).or(inner.codecs[from].output);
        let node = inner.nodes[from].name.as_str();
        let next_name = next.map(|i| inner.nodes[i].name.as_str());
        if let Some(observer) = hooks.observer {
            observer(&Boundary { node, next: next_name, steps, payload, codec });
        }
        let Some(durable) = hooks.durable else { return Ok(None) };
        let value = encode(codec, payload, node, "the value it handed on")?;
        let delta = changes(store, node)?;
        let started = started.unwrap_or_else(Started::now);
        let record = Record::Step(StepRecord {
            node: node.to_string(),
            step: steps,
            action: action.map(|a| a.as_str().to_string()),
            next: next_name.map(str::to_string),
            value,
            delta,
            started_ms: started.wall_ms,
            elapsed_us: started.at.elapsed().as_micros() as u64,
        });
        let ack = durable.checkpointer.append(&durable.run.id, record);
        match (durable.run.durability, ack.error_now()) {
            (_, Some(e)) => Err(checkpoint(node, e.clone())),
            (Durability::Machine, None) => Ok(Some(ack)),
            _ => Ok(None),
        }
    }

    /// Node `from` interrupted the run: write the interrupt (its request and its store changes).
    #[cold]
    #[inline(never)]
    pub(crate) fn interrupt(
        &self,
        hooks: &Hooks<'_>,
        store: &Store,
        from: usize,
        steps: u64,
        request: &serde_json::Value,
    ) -> Result<(), RunError> {
        let Some(durable) = hooks.durable else { return Ok(()) };
        let node = self.inner.nodes[from].name.as_str();
        let delta = changes(store, node)?;
        let record = Record::Interrupt { node: node.to_string(), step: steps, request: request.clone(), delta };
        // Committed before the run's status says `waiting` (appends are in order).
        let ack = durable.checkpointer.append(&durable.run.id, record);
        match ack.error_now() {
            Some(e) => Err(checkpoint(node, e.clone())),
            None => Ok(()),
        }
    }

    /// Create the run record of a new durable run (with its input written down) and start
    /// the store's journal.
    pub(crate) fn begin_durable(&self, store: &Store, start: &Start, durable: &Durable) -> Result<(), RunError> {
        let inner = &*self.inner;
        let node = inner.nodes[start.0].name.as_str();
        self.check_codecs()?;
        let mut run = durable.run.clone();
        run.input = encode(inner.codecs[start.0].input, &start.1, node, "its input")?;
        run.status = RunStatus::Running;
        durable.checkpointer.create(&run).map_err(|e| checkpoint(node, e))?;
        // What the store holds already is part of the first boundary's delta.
        store.start_journal(true);
        Ok(())
    }

    /// Every node must be able to write its values down.
    fn check_codecs(&self) -> Result<(), RunError> {
        let inner = &*self.inner;
        match inner.nodes.iter().zip(&inner.codecs).find(|(_, c)| c.input.is_none() || c.output.is_none()) {
            Some((node, _)) => Err(checkpoint(
                &node.name,
                CheckpointError::Value {
                    what: format!("node `{}`", node.name),
                    reason: "a durable run needs every node added with `serde_node` (its values have no codec)".into(),
                },
            )),
            None => Ok(()),
        }
    }

    /// Run to the end and record how the run ended.
    pub(crate) async fn run_durable(
        &self,
        store: &Store,
        start: Start,
        options: &RunOptions,
        durable: &Durable,
    ) -> Result<O, RunError> {
        let at = self.inner.nodes[start.0].name.clone();
        let result = self.run_hooked(store, start, options).await;
        let (status, error) = match &result {
            Ok(_) => (RunStatus::Succeeded, None),
            Err(e @ RunError::Cancelled { .. }) => (RunStatus::Cancelled, Some(crate::report(e))),
            Err(RunError::Interrupted { .. }) => (RunStatus::Waiting, None),
            Err(e) => (RunStatus::Failed, Some(crate::report(e))),
        };
        let ack = durable.checkpointer.set_status(&durable.run.id, status, error.as_deref());
        let committed = ack.wait().await;
        match (result, committed) {
            (Ok(out), Ok(())) => Ok(out),
            (Ok(_), Err(e)) => Err(checkpoint(&at, e)),
            (Err(e), _) => Err(e),
        }
    }

    /// Continue the durable run `saved` (loaded from `checkpointer`) where it stopped: the
    /// store is rebuilt from the boundaries' deltas, and the node after the last boundary runs
    /// with the value handed to it (the node that was in flight runs again from its Prep). A
    /// run whose last boundary ended it finishes with that output at once.
    ///
    /// Give it a store as the original run started (empty, or the same seeds): the saved
    /// deltas are written over it. The run keeps its id, durability and step count; the
    /// caller checks the run may be resumed (its status, its owner:
    /// [`Checkpointer::claim`]).
    ///
    /// # Errors
    ///
    /// [`RunError::Restore`] when the saved run does not fit this graph (an unknown node, a
    /// value the node cannot read); otherwise as [`Graph::run_with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use pocket::durable::{Checkpointer, Durable, MemoryCheckpointer, RunRecord};
    /// use pocket::{exec_fn, Graph, NodeError, RunOptions, Store};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let fragile = |fail: bool| {
    ///     Graph::<u32, u32>::builder()
    ///         .serde_node("double", exec_fn(|x: u32| async move { Ok(x * 2) }))
    ///         .serde_node("check", exec_fn(move |x: u32| async move {
    ///             if fail { Err(NodeError::fatal("not today")) } else { Ok(x + 1) }
    ///         }))
    ///         .edge("double", "default", "check")
    ///         .build()
    ///         .unwrap()
    /// };
    /// let checkpointer = Arc::new(MemoryCheckpointer::new());
    /// let run = Durable::new(checkpointer.clone(), RunRecord::new("r1", "demo", serde_json::Value::Null));
    /// assert!(fragile(true).run_with(&Store::new(), 20, RunOptions::new().durable(run)).await.is_err());
    ///
    /// // `double` does not run again: the run goes on at `check` with 40.
    /// let saved = checkpointer.load("r1").unwrap();
    /// let out = fragile(false).resume(&Store::new(), &saved, checkpointer.clone(), RunOptions::new()).await;
    /// assert_eq!(out.unwrap(), 41);
    /// # });
    /// ```
    pub async fn resume(
        &self,
        store: &Store,
        saved: &SavedRun,
        checkpointer: Arc<dyn Checkpointer>,
        options: RunOptions,
    ) -> Result<O, RunError> {
        let inner = &*self.inner;
        self.check_codecs()?;
        let restore = |node: &str, reason: String| RunError::Restore { node: node.to_string(), reason };
        let find = |name: &str| inner.nodes.iter().position(|n| n.name == name);
        // The store as it was at the last boundary.
        for step in saved.steps() {
            apply(store, &step.delta);
        }
        store.start_journal(false);
        let mut durable = Durable::new(checkpointer, saved.run.clone());
        durable.in_flight = Arc::new(saved.in_flight().cloned().collect());
        let options = RunOptions { durable: Some(durable.clone()), ..options };
        let start = match saved.last_step() {
            None => {
                let index = inner.start;
                let name = &inner.nodes[index].name;
                let codec = inner.codecs[index].input.expect("checked");
                let input = codec
                    .decode(saved.run.input.clone())
                    .map_err(|e| restore(name, format!("the saved input is not a valid input: {e}")))?;
                (index, input, 0)
            }
            Some(last) => {
                let Some(next) = &last.next else {
                    // The run had reached its end: only its status was not written.
                    let index = find(&last.node).ok_or_else(|| restore(&last.node, "no such node".into()))?;
                    let codec = inner.codecs[index].output.expect("checked");
                    let output = codec
                        .decode(last.value.clone())
                        .map_err(|e| restore(&last.node, format!("the saved output cannot be read back: {e}")))?;
                    let result = self.finish(&inner.nodes[index], output, last.action.clone().map(Into::into));
                    let ack = durable.checkpointer.set_status(&durable.run.id, RunStatus::Succeeded, None);
                    ack.wait().await.map_err(|e| checkpoint(&last.node, e))?;
                    return result.map(|(out, _)| out);
                };
                let index = find(next).ok_or_else(|| {
                    restore(next, "the workflow has no such node any more (it was the next to run)".into())
                })?;
                let codec = inner.codecs[index].input.expect("checked");
                let input = codec
                    .decode(last.value.clone())
                    .map_err(|e| restore(next, format!("the saved value is not a valid input: {e}")))?;
                (index, input, last.step)
            }
        };
        let start = match saved.waiting_on() {
            Some((asking, step, request)) if inner.nodes[start.0].name == asking => {
                match self.answered(store, saved, &durable, &options, start.0, step, request).await? {
                    Answered::Go(start) => start,
                    Answered::Ended(out) => return Ok(out),
                }
            }
            _ => start,
        };
        self.run_durable(store, start, &options, &durable).await
    }

    /// The run waits on node `index`'s question: without an answer it still waits; with one,
    /// the answer is that node's output (its boundary written now) and the run goes on along
    /// the answer's action.
    #[allow(clippy::too_many_arguments)]
    async fn answered(
        &self,
        store: &Store,
        saved: &SavedRun,
        durable: &Durable,
        options: &RunOptions,
        index: usize,
        step: u64,
        request: &serde_json::Value,
    ) -> Result<Answered<O>, RunError> {
        let inner = &*self.inner;
        let node = &inner.nodes[index];
        let Some((value, action)) = options.answer.clone() else {
            return Err(RunError::Interrupted { node: node.name.clone(), request: request.clone() });
        };
        // The asking node's Post ran: its store changes count from here.
        let delta = saved.waiting_delta().to_vec();
        apply(store, &delta);
        let action = action.unwrap_or_else(|| Action::from("default"));
        let to = if action.as_str() == "default" {
            node.default_edge
        } else {
            node.edges.iter().find(|(a, _)| *a == action).map(|(_, to)| *to)
        };
        let restore = |reason: String| RunError::Restore { node: node.name.clone(), reason };
        let record = Record::Step(StepRecord {
            node: node.name.clone(),
            step,
            action: Some(action.as_str().to_string()),
            next: to.map(|i| inner.nodes[i].name.clone()),
            value: value.clone(),
            delta,
            started_ms: now_ms(),
            elapsed_us: 0,
        });
        durable.checkpointer.append(&durable.run.id, record).wait().await.map_err(|e| checkpoint(&node.name, e))?;
        match to {
            Some(to) => {
                let codec = inner.codecs[to].input.expect("checked");
                let input = codec
                    .decode(value)
                    .map_err(|e| restore(format!("the answer is not a valid input of the next node: {e}")))?;
                Ok(Answered::Go((to, input, step)))
            }
            None => {
                let codec = inner.codecs[index].output.expect("checked");
                let output =
                    codec.decode(value).map_err(|e| restore(format!("the answer is not a valid output: {e}")))?;
                let result = self.finish(node, output, Some(action)).map(|(out, _)| out);
                let ack = durable.checkpointer.set_status(&durable.run.id, RunStatus::Succeeded, None);
                ack.wait().await.map_err(|e| checkpoint(&node.name, e))?;
                result.map(Answered::Ended)
            }
        }
    }
}

/// What an answer to a waiting run leads to.
enum Answered<O> {
    /// Go on from here.
    Go(Start),
    /// The asking node was the last: the run's output.
    Ended(O),
}

/// Write saved store changes back (full keys, on the root of `store`).
fn apply(store: &Store, deltas: &[Delta]) {
    let root = store.root();
    for delta in deltas {
        match &delta.value {
            Some(value) => root.set_value(&delta.key, value.clone()),
            None => {
                root.delete(&delta.key);
            }
        }
    }
}

/// `payload` written down by `codec`, or why not.
fn encode(codec: Option<Codec>, payload: &Payload, node: &str, what: &str) -> Result<serde_json::Value, RunError> {
    let value =
        |reason: String| checkpoint(node, CheckpointError::Value { what: format!("{what} (node `{node}`)"), reason });
    match codec.and_then(|c| c.encode(payload)) {
        Some(Ok(value)) => Ok(value),
        Some(Err(e)) => Err(value(e.to_string())),
        None => Err(value("it has no codec".into())),
    }
}

//! Graphs: named nodes, edges labelled by actions, and the executor that walks them.

mod boundary;
mod builder;
mod durable;
pub(crate) mod erased;
mod export;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use boundary::Boundary;
use boundary::Observer;
pub use builder::GraphBuilder;
use durable::Hooks;
use erased::{Codecs, DynNode, Payload, payload, unpack};

use crate::action::{Action, Next};
use crate::cancel::{Watch, race};
use crate::ctx::Ctx;
use crate::error::{BuildWarning, NodeError, RunError, Step};
use crate::node::Node;
use crate::store::{Store, StoreView};

/// The step limit used when none is configured.
pub const DEFAULT_MAX_STEPS: u64 = 100_000;

pub(crate) struct GraphNode {
    pub(crate) name: String,
    pub(crate) node: Box<dyn DynNode>,
    /// Outgoing edges; few per node, so a linear scan beats hashing.
    pub(crate) edges: Vec<(Action, usize)>,
    /// The target of the `default` edge, looked up once at build time.
    pub(crate) default_edge: Option<usize>,
    /// Whether the node never waits (runs in place, without a future).
    pub(crate) sync: bool,
}

pub(crate) struct Inner {
    pub(crate) nodes: Vec<GraphNode>,
    pub(crate) start: usize,
    pub(crate) max_steps: u64,
    pub(crate) strict: bool,
    /// Stages in sequence: node `i` always hands its output to node `i + 1`.
    pub(crate) linear: bool,
    /// The token of runs without options: private, never cancelled.
    pub(crate) idle: CancellationToken,
    pub(crate) warnings: Vec<BuildWarning>,
    /// How each node's input and output are written down, if known (cold: kept out of
    /// [`GraphNode`], which the run loop walks).
    pub(crate) codecs: Vec<Codecs>,
}

/// A built, validated graph. Cheap to clone; one graph can run many times, also concurrently
/// (each run keeps its own state; runs share only the store you give them).
///
/// `I` is the run's input (the start node's input), `O` its output. A graph is itself a
/// [`Node`]: it nests inside other graphs, takes layers, and runs on the outer run's store and
/// cancellation token. As a node it returns the action that ended its inner run (or `default`
/// when the inner run ended with [`Next::End`]), so the outer graph can route on it.
///
/// # Examples
///
/// An agent-style loop: `think` routes to `act` until done.
///
/// ```
/// use pocket::{exec_post_fn, Graph, Next, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let think = exec_post_fn(
///     |n: u32| async move { Ok(n) },
///     |_store, _n, n: u32| async move { Ok((n, if n < 3 { Next::to("act") } else { Next::to("done") })) },
/// );
/// let act = pocket::exec_fn(|n: u32| async move { Ok(n + 1) });
///
/// let graph = Graph::<u32, u32>::builder()
///     .node("think", think)
///     .node("act", act)
///     .edge("think", "act", "act")
///     .edge("act", "default", "think")
///     .build()
///     .unwrap();
///
/// // `done` has no edge: the run ends with think's output.
/// assert_eq!(graph.run(&Store::new(), 0).await.unwrap(), 3);
/// # });
/// ```
pub struct Graph<I, O> {
    inner: Arc<Inner>,
    _types: PhantomData<fn(I) -> O>,
}

impl<I, O> Clone for Graph<I, O> {
    fn clone(&self) -> Self {
        Graph { inner: self.inner.clone(), _types: PhantomData }
    }
}

impl<I, O> fmt::Debug for Graph<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Graph")
            .field("nodes", &self.node_names())
            .field("start", &self.inner.nodes[self.inner.start].name)
            .field("max_steps", &self.inner.max_steps)
            .field("strict", &self.inner.strict)
            .finish()
    }
}

/// Per-run options: cancellation, deadline, step limit.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use pocket::RunOptions;
/// use tokio_util::sync::CancellationToken;
///
/// let token = CancellationToken::new();
/// let opts = RunOptions::new().token(token.clone()).deadline(Duration::from_secs(30)).max_steps(500);
/// # let _ = opts;
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct RunOptions {
    token: Option<CancellationToken>,
    deadline: Option<Duration>,
    max_steps: Option<u64>,
    observer: Option<Observer>,
    durable: Option<crate::durable::Durable>,
    answer: Option<(serde_json::Value, Option<Action>)>,
}

impl fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("token", &self.token)
            .field("deadline", &self.deadline)
            .field("max_steps", &self.max_steps)
            .field("on_boundary", &self.observer.is_some())
            .field("durable", &self.durable)
            .finish()
    }
}

impl RunOptions {
    /// Default options: no token, no deadline, the graph's step limit.
    pub fn new() -> Self {
        RunOptions::default()
    }

    /// Cancel the run through this token (checked between nodes, raced against every step,
    /// and handed to every step through [`Ctx`]).
    pub fn token(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
        self
    }

    /// Fail the run with [`RunError::Deadline`] if it takes longer than `after`.
    pub fn deadline(mut self, after: Duration) -> Self {
        self.deadline = Some(after);
        self
    }

    /// Override the graph's step limit for this run.
    pub fn max_steps(mut self, limit: u64) -> Self {
        self.max_steps = Some(limit);
        self
    }

    /// Show `f` every node boundary of the run (after each node, before the next starts): the
    /// node, the next one and the value between them — what a checkpoint writes down. It runs
    /// on the run's task: keep it short.
    pub fn on_boundary(mut self, f: impl Fn(&Boundary<'_>) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(f));
        self
    }

    /// Make the run durable: its run record is created when it starts and every node boundary
    /// is written to the checkpointer ([`crate::durable`]); [`Graph::resume`] continues it.
    /// Every node needs codecs ([`GraphBuilder::serde_node`]).
    pub fn durable(mut self, durable: crate::durable::Durable) -> Self {
        self.durable = Some(durable);
        self
    }

    /// The answer to the question a resumed run waits on ([`Next::Interrupt`]): the asking
    /// node's output, routed on `action` (`None`: `default`). Used by [`Graph::resume`].
    pub fn answer(mut self, value: serde_json::Value, action: Option<&str>) -> Self {
        self.answer = Some((value, action.map(|a| Action::from(a.to_string()))));
        self
    }
}

impl<I, O> Graph<I, O> {
    /// Warnings found when the graph was built (unreachable nodes, unconnected actions, ...).
    pub fn warnings(&self) -> &[BuildWarning] {
        &self.inner.warnings
    }

    /// The node names, in the order they were added.
    pub fn node_names(&self) -> Vec<&str> {
        self.inner.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    /// The start node's name.
    pub fn start(&self) -> &str {
        &self.inner.nodes[self.inner.start].name
    }

    /// The edges as `(from, action, to)`, in the order they were added per node.
    pub fn edges(&self) -> Vec<(&str, &Action, &str)> {
        let nodes = &self.inner.nodes;
        nodes
            .iter()
            .flat_map(|n| n.edges.iter().map(move |(a, to)| (n.name.as_str(), a, nodes[*to].name.as_str())))
            .collect()
    }
}

impl<I: Send + Sync + 'static, O: Send + 'static> Graph<I, O> {
    /// Start building a graph that takes `I` and returns `O`.
    pub fn builder() -> GraphBuilder<I, O> {
        GraphBuilder::new()
    }

    /// Run the graph on `store` with `input`.
    ///
    /// # Errors
    ///
    /// A [`RunError`] naming the node (and step) where the run stopped.
    pub async fn run(&self, store: &Store, input: I) -> Result<O, RunError> {
        // Nobody can cancel a run without options: use the graph's private idle token, unwatched.
        let current = AtomicUsize::new(self.inner.start);
        let start = (self.inner.start, payload(input), 0);
        self.run_loop::<false>(store, start, &self.inner.idle, false, self.inner.max_steps, &current, None)
            .await
            .map(|(out, _)| out)
    }

    /// Run the graph with [`RunOptions`].
    ///
    /// # Errors
    ///
    /// As [`Graph::run`], plus [`RunError::Cancelled`] and [`RunError::Deadline`].
    pub async fn run_with(&self, store: &Store, input: I, options: RunOptions) -> Result<O, RunError> {
        self.run_at(store, (self.inner.start, payload(input), 0), options).await
    }

    /// Run from the node `node` with `input` written down as JSON (a [`Boundary`] seen by
    /// [`RunOptions::on_boundary`]): the run goes on as if it had reached `node` with that
    /// value. `node` must have been added with
    /// [`GraphBuilder::serde_node`](crate::graph::GraphBuilder::serde_node) (or its input type
    /// must be another such node's output).
    ///
    /// # Errors
    ///
    /// [`RunError::Restore`] when there is no such node, its input cannot be read back from
    /// JSON, or `input` is not a valid one; otherwise as [`Graph::run_with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use pocket::{exec_fn, Graph, RunOptions, Store};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let graph = Graph::<u32, String>::builder()
    ///     .serde_node("double", exec_fn(|x: u32| async move { Ok(x * 2) }))
    ///     .serde_node("show", exec_fn(|x: u32| async move { Ok(format!("#{x}")) }))
    ///     .edge("double", "default", "show")
    ///     .build()
    ///     .unwrap();
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let options = RunOptions::new().on_boundary(move |b| {
    ///     log.lock().unwrap().push((b.next().map(String::from), b.value_json().unwrap().unwrap()));
    /// });
    /// assert_eq!(graph.run_with(&Store::new(), 21, options).await.unwrap(), "#42");
    /// let (next, value) = seen.lock().unwrap()[0].clone();
    /// assert_eq!((next.as_deref(), &value), (Some("show"), &serde_json::json!(42)));
    /// // Restart at `show` from the snapshot:
    /// let out = graph.run_from(&Store::new(), "show", value, RunOptions::new()).await.unwrap();
    /// assert_eq!(out, "#42");
    /// # });
    /// ```
    pub async fn run_from(
        &self,
        store: &Store,
        node: &str,
        input: serde_json::Value,
        options: RunOptions,
    ) -> Result<O, RunError> {
        let restore = |reason: String| RunError::Restore { node: node.to_string(), reason };
        let index =
            self.inner.nodes.iter().position(|n| n.name == node).ok_or_else(|| restore("no such node".into()))?;
        let target = &self.inner.nodes[index];
        let codec = self.inner.codecs[index]
            .input
            .or_else(|| {
                // Another node's output of the same type can read it back.
                let wanted = target.node.input().id;
                let outputs = self.inner.nodes.iter().zip(&self.inner.codecs);
                outputs.filter(|(n, _)| n.node.output().id == wanted).find_map(|(_, c)| c.output)
            })
            .ok_or_else(|| {
                restore(format!("its input (`{}`) has no codec: add it with `serde_node`", target.node.input().name))
            })?;
        let payload = codec.decode(input).map_err(|e| restore(format!("the value is not a valid input: {e}")))?;
        self.run_at(store, (index, payload, 0), options).await
    }

    async fn run_at(&self, store: &Store, start: Start, options: RunOptions) -> Result<O, RunError> {
        match &options.durable {
            None => self.run_hooked(store, start, &options).await,
            Some(durable) => {
                let durable = durable.clone();
                self.begin_durable(store, &start, &durable)?;
                self.run_durable(store, start, &options, &durable).await
            }
        }
    }

    /// Run with the options' token, deadline, step limit and hooks.
    async fn run_hooked(&self, store: &Store, start: Start, options: &RunOptions) -> Result<O, RunError> {
        let token = options.token.clone().unwrap_or_default();
        let max_steps = options.max_steps.unwrap_or(self.inner.max_steps);
        let hooks = Hooks::of(options);
        let hooks = hooks.as_ref();
        let current = AtomicUsize::new(start.0);
        match (options.deadline, hooks) {
            (None, None) => {
                self.run_loop::<false>(store, start, &token, true, max_steps, &current, None).await.map(|(o, _)| o)
            }
            (None, Some(_)) => {
                self.run_loop::<true>(store, start, &token, true, max_steps, &current, hooks).await.map(|(o, _)| o)
            }
            (Some(after), hooks) => {
                let run_token = token.child_token();
                let run = async {
                    match hooks {
                        None => self.run_loop::<false>(store, start, &run_token, true, max_steps, &current, None).await,
                        Some(_) => {
                            self.run_loop::<true>(store, start, &run_token, true, max_steps, &current, hooks).await
                        }
                    }
                };
                tokio::select! {
                    biased;
                    result = run => result.map(|(o, _)| o),
                    () = tokio::time::sleep(after) => {
                        run_token.cancel();
                        let node = self.inner.nodes[current.load(Ordering::Relaxed)].name.clone();
                        Err(RunError::Deadline { node, after })
                    }
                }
            }
        }
    }

    /// An empty pipeline graph (stages are pushed with [`Graph::push_stage`]).
    pub(crate) fn linear() -> Self {
        Graph {
            inner: Arc::new(Inner {
                nodes: Vec::new(),
                start: 0,
                max_steps: u64::MAX,
                strict: false,
                linear: true,
                idle: CancellationToken::new(),
                warnings: Vec::new(),
                codecs: Vec::new(),
            }),
            _types: PhantomData,
        }
    }

    /// Append a stage to a pipeline graph that is not shared yet; `false` if it is shared.
    pub(crate) fn push_stage(&mut self, name: String, node: Box<dyn DynNode>) -> bool {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => {
                let sync = node.is_sync();
                inner.codecs.push(node.codecs());
                inner.nodes.push(GraphNode { name, node, edges: Vec::new(), default_edge: None, sync });
                true
            }
            None => false,
        }
    }

    /// Run and report the index of the node where the run stopped on failure.
    pub(crate) async fn run_indexed(
        &self,
        store: &Store,
        input: I,
        token: Option<&CancellationToken>,
    ) -> Result<O, (usize, RunError)> {
        let current = AtomicUsize::new(self.inner.start);
        let (token, watched) = match token {
            Some(token) => (token, true),
            None => (&self.inner.idle, false),
        };
        self.run_loop::<false>(
            store,
            (self.inner.start, payload(input), 0),
            token,
            watched,
            self.inner.max_steps,
            &current,
            None,
        )
        .await
        .map(|(out, _)| out)
        .map_err(|e| (current.load(Ordering::Relaxed), e))
    }

    /// The run loop. Returns the output and the action that ended the run (`None` for
    /// [`Next::End`]).
    /// `OBSERVED` is whether `hooks` may be set: runs without (nearly all) are compiled
    /// without the boundary checks.
    #[allow(clippy::too_many_arguments)]
    async fn run_loop<const OBSERVED: bool>(
        &self,
        store: &Store,
        start: Start,
        token: &CancellationToken,
        watched: bool,
        max_steps: u64,
        current: &AtomicUsize,
        hooks: Option<&Hooks<'_>>,
    ) -> Result<(O, Option<Action>), RunError> {
        let inner = &*self.inner;
        let view = store.view();
        let (mut index, mut payload, mut steps) = start;
        // Watch the token once per run: cancelling it wakes `flag`, so the check between nodes
        // is a plain atomic load (the token's own `is_cancelled` takes a lock).
        let watch = if watched { Watch::new(token) } else { Watch::idle() };
        // Whether anyone listens to node spans, decided once per run.
        let traced = tracing::enabled!(tracing::Level::DEBUG);
        loop {
            let node = &inner.nodes[index];
            if watch.is_cancelled() {
                return Err(RunError::Cancelled { node: node.name.clone() });
            }
            if steps >= max_steps {
                return Err(RunError::StepLimit { node: node.name.clone(), limit: max_steps });
            }
            steps += 1;
            current.store(index, Ordering::Relaxed);
            let started = if OBSERVED { hooks.map(|_| durable::Started::now()) } else { None };
            let mut ctx = Ctx::new(&node.name, token, store);
            if OBSERVED && let Some(journal) = hooks.and_then(|h| h.journal.as_ref()) {
                ctx = ctx.with_journal(journal, steps);
            }
            // No span at all when nobody listens (not even a disabled one: it costs a drop).
            let span = traced
                .then(|| tracing::debug_span!("node", name = %node.name, action = tracing::field::Empty))
                .filter(|span| !span.is_disabled());
            let next = if node.sync {
                // A node that never waits runs inline, on the payload in place.
                let done = match &span {
                    None => node.node.run_in_place(&ctx, store, &view, &mut payload),
                    Some(span) => span.in_scope(|| node.node.run_in_place(&ctx, store, &view, &mut payload)),
                };
                match done {
                    Ok(next) => next,
                    Err(failure) => return Err(self.failure(node, *failure, token)),
                }
            } else {
                let step = node.node.run(&ctx, store, &view, payload);
                // Only instrument when someone listens: the disabled path costs nothing.
                let result = match &span {
                    None => race(step, token).await,
                    Some(span) => race(step.instrument(span.clone()), token).await,
                };
                match result {
                    None => return Err(RunError::Cancelled { node: node.name.clone() }),
                    Some(Ok((output, next))) => {
                        payload = output;
                        next
                    }
                    Some(Err(failure)) => return Err(self.failure(node, *failure, token)),
                }
            };
            if inner.linear {
                // A pipeline (its runs have no observer): every stage feeds the next, whatever
                // its action.
                if let Some(span) = &span {
                    span.record("action", next.action().map_or("<end>", |a| a.as_str()));
                }
                if index + 1 < inner.nodes.len() {
                    index += 1;
                    continue;
                }
                return self.finish(node, payload, next.action().cloned());
            }
            if let Next::Interrupt(request) = next {
                if OBSERVED && let Some(hooks) = hooks {
                    self.interrupt(hooks, store, index, steps, &request)?;
                }
                return Err(RunError::Interrupted { node: node.name.clone(), request });
            }
            let Some(action) = next.action() else {
                if let Some(span) = &span {
                    span.record("action", "<end>");
                }
                if OBSERVED
                    && let Some(hooks) = hooks
                    && let Some(ack) = self.boundary(hooks, store, index, None, None, steps, started, &payload)?
                {
                    ack.wait().await.map_err(|e| durable::checkpoint(&node.name, e))?;
                }
                return self.finish(node, payload, None);
            };
            if let Some(span) = &span {
                span.record("action", action.as_str());
            }
            let edge = match next {
                Next::Default => node.default_edge,
                _ => node.edges.iter().find(|(a, _)| a == action).map(|(_, to)| *to),
            };
            match edge {
                Some(to) => {
                    if OBSERVED
                        && let Some(hooks) = hooks
                        && let Some(ack) =
                            self.boundary(hooks, store, index, Some(to), Some(action), steps, started, &payload)?
                    {
                        ack.wait().await.map_err(|e| durable::checkpoint(&node.name, e))?;
                    }
                    index = to;
                }
                None if inner.strict && !node.edges.is_empty() => {
                    return Err(RunError::NoEdge {
                        node: node.name.clone(),
                        action: action.clone(),
                        connected: node.edges.iter().map(|(a, _)| a.clone()).collect(),
                    });
                }
                None => {
                    let action = action.clone();
                    if OBSERVED
                        && let Some(hooks) = hooks
                        && let Some(ack) =
                            self.boundary(hooks, store, index, None, Some(&action), steps, started, &payload)?
                    {
                        ack.wait().await.map_err(|e| durable::checkpoint(&node.name, e))?;
                    }
                    return self.finish(node, payload, Some(action));
                }
            }
        }
    }

    fn failure(&self, node: &GraphNode, (step, source): (Step, NodeError), token: &CancellationToken) -> RunError {
        if source.is_cancelled() && token.is_cancelled() {
            return RunError::Cancelled { node: node.name.clone() };
        }
        RunError::Node { node: node.name.clone(), step, source }
    }

    fn finish(
        &self,
        node: &GraphNode,
        output: Payload,
        action: Option<Action>,
    ) -> Result<(O, Option<Action>), RunError> {
        match unpack::<O>(output) {
            Ok(out) => Ok((out, action)),
            Err(_) => Err(RunError::OutputType {
                node: node.name.clone(),
                expected: std::any::type_name::<O>(),
                found: node.node.output().name,
            }),
        }
    }
}

/// Where a run starts: the node, its input and the steps already run.
type Start = (usize, Payload, u64);

/// A sub-graph used as a node failed; the inner run's error is the source and decides the
/// classification.
#[derive(Debug, thiserror::Error)]
#[error("sub-graph failed")]
pub struct GraphFailed(#[source] RunError);

impl GraphFailed {
    /// The inner run's error.
    pub fn run_error(&self) -> &RunError {
        &self.0
    }
}

/// A graph as a node: Prep clones the input, Exec runs the whole inner graph on the outer run's
/// store and token (so layers such as retry and timeout wrap the whole inner run), Post hands
/// on the inner output and the action that ended the inner run.
impl<I, O> Node for Graph<I, O>
where
    I: Clone + Send + Sync + 'static,
    O: Send + 'static,
{
    type Input = I;
    type Prep = I;
    type Exec = (O, Next);
    type Output = O;

    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &I) -> Result<I, NodeError> {
        Ok(input.clone())
    }

    async fn exec(&self, ctx: &Ctx<'_>, input: &I) -> Result<(O, Next), NodeError> {
        let current = AtomicUsize::new(self.inner.start);
        let (out, action) = self
            .run_loop::<false>(
                ctx.store(),
                (self.inner.start, payload(input.clone()), 0),
                ctx.token(),
                true,
                self.inner.max_steps,
                &current,
                None,
            )
            .await
            .map_err(|e| NodeError::new(e.kind(), GraphFailed(e)))?;
        Ok((out, action.map_or(Next::Default, Next::To)))
    }

    async fn post(&self, _: &Ctx<'_>, _: &Store, _: I, _: I, (out, next): (O, Next)) -> Result<(O, Next), NodeError> {
        Ok((out, next))
    }
}

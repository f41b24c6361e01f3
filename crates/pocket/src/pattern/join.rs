//! Fan-in, run-concurrent, scatter-gather and concurrent sub-graphs: several nodes at once.

use smol_str::SmolStr;
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio_util::sync::CancellationToken;

use super::fan_out::settle;
use super::{ItemError, TaskGauge};
use crate::error::RunError;
use crate::graph::erased::{DynNode, Erased, ErasedSync};
use crate::graph::{Graph, RunOptions};
use crate::node::BoxNode;
use crate::node::SyncNode;
use crate::node::{Node, run_node_racing, run_node_unchecked, run_node_with};
use crate::store::Store;

/// Run `nodes[i]` on `inputs[i]`, all at once, each on the scope `concurrent-<i>`; results in
/// node order. Fails fast: the first error cancels the others. For nodes of different types,
/// box them ([`NodeExt::boxed`](crate::NodeExt::boxed)) or use [`ConcurrentNodes`] on a tuple.
///
/// # Errors
///
/// The first failing node's [`ItemError`] (its index); [`ItemError`] with index `nodes.len()`
/// if the numbers of nodes and inputs differ.
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, NodeExt, Store};
/// use pocket::pattern::run_concurrent;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let nodes = [
///     exec_fn(|x: u32| async move { Ok(x + 1) }).boxed(),
///     exec_fn(|x: u32| async move { Ok(x * 2) }).boxed(),
/// ];
/// assert_eq!(run_concurrent(&nodes, &Store::new(), vec![1, 10]).await.unwrap(), [2, 20]);
/// # });
/// ```
pub async fn run_concurrent<N: Node>(
    nodes: &[N],
    store: &Store,
    inputs: Vec<N::Input>,
) -> Result<Vec<N::Output>, ItemError> {
    run_concurrent_with(nodes, store, inputs, &CancellationToken::new()).await
}

/// [`run_concurrent`] under a cancellation token (each node sees it; steps that ignore it are
/// dropped).
///
/// # Errors
///
/// As [`run_concurrent`]; cancelling fails it with the first unfinished node's index.
pub async fn run_concurrent_with<N: Node>(
    nodes: &[N],
    store: &Store,
    inputs: Vec<N::Input>,
    token: &CancellationToken,
) -> Result<Vec<N::Output>, ItemError> {
    if nodes.len() != inputs.len() {
        return Err(ItemError {
            index: nodes.len().min(inputs.len()),
            error: RunError::Node {
                node: "run-concurrent".into(),
                step: crate::error::Step::Prep,
                source: crate::NodeError::fatal_msg(format!(
                    "{} nodes but {} inputs: give one input per node",
                    nodes.len(),
                    inputs.len()
                )),
            },
        });
    }
    let token = token.child_token();
    let mut running: FuturesUnordered<_> = nodes
        .iter()
        .zip(inputs)
        .enumerate()
        .map(|(i, (node, input))| {
            let scope = store.scope_indexed("concurrent", i);
            let token = &token;
            async move {
                let name = format!("concurrent-{i}");
                (i, run_node_racing(node, &name, &scope, input, token).await.map(|(o, _)| o))
            }
        })
        .collect();
    let mut results: Vec<Option<N::Output>> = (0..nodes.len()).map(|_| None).collect();
    while let Some((index, result)) = running.next().await {
        match result {
            Ok(out) => results[index] = Some(out),
            Err(error) => {
                token.cancel();
                settle(&mut running).await;
                return Err(ItemError { index, error });
            }
        }
    }
    Ok(results.into_iter().map(|r| r.expect("every node finished")).collect())
}

/// Tuples of differently typed nodes run concurrently, with a tuple of differently typed
/// results: no boxing, no downcasts. Implemented for tuples of 2 to 6 nodes.
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, Store};
/// use pocket::pattern::ConcurrentNodes;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let inventory = exec_fn(|order: u32| async move { Ok(order % 2 == 0) });
/// let price = exec_fn(|order: u32| async move { Ok(f64::from(order) * 1.5) });
/// let label = exec_fn(|order: u32| async move { Ok(format!("order-{order}")) });
///
/// let (in_stock, total, name): (bool, f64, String) =
///     (inventory, price, label).run_concurrent(&Store::new(), (4, 4, 4)).await.unwrap();
/// assert_eq!((in_stock, total, name.as_str()), (true, 6.0, "order-4"));
/// # });
/// ```
pub trait ConcurrentNodes: Sync {
    /// One input per node.
    type Inputs: Send;
    /// One output per node.
    type Outputs;

    /// Run all nodes at once (node `i` on the scope `concurrent-<i>`); the first error cancels
    /// the others.
    fn run_concurrent(
        &self,
        store: &Store,
        inputs: Self::Inputs,
    ) -> impl Future<Output = Result<Self::Outputs, ItemError>> + Send {
        async move { self.run_concurrent_with(store, inputs, &CancellationToken::new()).await }
    }

    /// [`ConcurrentNodes::run_concurrent`] under a cancellation token.
    fn run_concurrent_with(
        &self,
        store: &Store,
        inputs: Self::Inputs,
        token: &CancellationToken,
    ) -> impl Future<Output = Result<Self::Outputs, ItemError>> + Send;
}

macro_rules! concurrent_tuple {
    ($(($N:ident, $input:ident, $i:tt)),+) => {
        impl<$($N: Node),+> ConcurrentNodes for ($($N,)+) {
            type Inputs = ($($N::Input,)+);
            type Outputs = ($($N::Output,)+);

            async fn run_concurrent_with(
                &self,
                store: &Store,
                inputs: Self::Inputs,
                token: &CancellationToken,
            ) -> Result<Self::Outputs, ItemError> {
                let token = token.child_token();
                let ($($input,)+) = inputs;
                tokio::try_join!($(
                    async {
                        let name = concat!("concurrent-", $i);
                        let scope = store.scope(name);
                        let result = run_node_racing(&self.$i, name, &scope, $input, &token).await;
                        result.map(|(out, _)| out).map_err(|error| {
                            token.cancel();
                            ItemError { index: $i, error }
                        })
                    }
                ),+)
            }
        }
    };
}

concurrent_tuple!((A, a, 0), (B, b, 1));
concurrent_tuple!((A, a, 0), (B, b, 1), (C, c, 2));
concurrent_tuple!((A, a, 0), (B, b, 1), (C, c, 2), (D, d, 3));
concurrent_tuple!((A, a, 0), (B, b, 1), (C, c, 2), (D, d, 3), (E, e, 4));
concurrent_tuple!((A, a, 0), (B, b, 1), (C, c, 2), (D, d, 3), (E, e, 4), (F, f, 5));

/// Why a fan-in failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FanInError {
    /// A source failed (the others were cancelled).
    #[error("fan-in source {index} failed")]
    Source {
        /// The source's position.
        index: usize,
        /// Its error.
        #[source]
        error: RunError,
    },
    /// The aggregator failed.
    #[error("fan-in aggregator failed")]
    Aggregator(#[source] RunError),
}

/// Several sources run concurrently on the same input; an aggregator node receives their
/// outputs in source order. Source `i` runs on the scope `source-<i>`, the aggregator on the
/// store itself.
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, NodeExt, Store};
/// use pocket::pattern::FanIn;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let sources = vec![
///     exec_fn(|q: String| async move { Ok(vec![format!("{q}@a")]) }).boxed(),
///     exec_fn(|q: String| async move { Ok(vec![format!("{q}@b"), format!("{q}@c")]) }).boxed(),
/// ];
/// let merge = exec_fn(|parts: Vec<Vec<String>>| async move { Ok(parts.concat()) });
/// let fan_in = FanIn::new(sources, merge);
/// let all = fan_in.run(&Store::new(), "x".to_string()).await.unwrap();
/// assert_eq!(all, ["x@a", "x@b", "x@c"]);
/// # });
/// ```
pub struct FanIn<S, A> {
    sources: Vec<S>,
    names: Vec<String>,
    /// `source-<i>:`, shared by every run on a root store.
    prefixes: Vec<SmolStr>,
    aggregator: A,
    gauge: TaskGauge,
}

impl<S: fmt::Debug, A: fmt::Debug> fmt::Debug for FanIn<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanIn").field("sources", &self.sources).field("aggregator", &self.aggregator).finish()
    }
}

impl<S, A> FanIn<S, A>
where
    S: Node,
    S::Input: Clone,
    A: Node<Input = Vec<S::Output>>,
{
    /// Sources and their aggregator.
    pub fn new(sources: impl IntoIterator<Item = S>, aggregator: A) -> Self {
        let sources: Vec<S> = sources.into_iter().collect();
        let names: Vec<String> = (0..sources.len()).map(|i| format!("source-{i}")).collect();
        let prefixes = names.iter().map(|n| SmolStr::from(format!("{n}:"))).collect();
        FanIn { sources, names, prefixes, aggregator, gauge: TaskGauge::new() }
    }

    /// Count the running sources on `gauge`.
    #[must_use]
    pub fn gauge(mut self, gauge: TaskGauge) -> Self {
        self.gauge = gauge;
        self
    }

    /// Run the sources on `input`, then the aggregator on their outputs.
    ///
    /// # Errors
    ///
    /// [`FanInError`]: the first failing source (the others are cancelled), or the aggregator.
    pub async fn run(&self, store: &Store, input: S::Input) -> Result<A::Output, FanInError> {
        self.run_with(store, input, &CancellationToken::new()).await
    }

    /// [`FanIn::run`] under a cancellation token.
    ///
    /// # Errors
    ///
    /// As [`FanIn::run`].
    pub async fn run_with(
        &self,
        store: &Store,
        input: S::Input,
        token: &CancellationToken,
    ) -> Result<A::Output, FanInError> {
        if token.is_cancelled() {
            return Err(FanInError::Source { index: 0, error: RunError::Cancelled { node: self.names[0].clone() } });
        }
        let token = token.child_token();
        let mut running: FuturesUnordered<_> = self
            .sources
            .iter()
            .zip(&self.names)
            .enumerate()
            .map(|(i, (source, name))| {
                let guard = self.gauge.enter();
                let scope = store.scope_shared(&self.prefixes[i]);
                let (input, token) = (input.clone(), &token);
                tokio::task::unconstrained(async move {
                    let result = run_node_unchecked(source, name, &scope, input, token).await.map(|(o, _)| o);
                    drop(guard);
                    (i, result)
                })
            })
            .collect();
        let mut outputs: Vec<Option<S::Output>> = (0..self.sources.len()).map(|_| None).collect();
        loop {
            // Race the whole set (not each source) against the token: sources that ignore the
            // cancellation are dropped, and the common path costs no per-source bookkeeping.
            let Some(next) = crate::cancel::race(running.next(), &token).await else {
                settle(&mut running).await;
                let index = outputs.iter().position(Option::is_none).unwrap_or(0);
                return Err(FanInError::Source {
                    index,
                    error: RunError::Cancelled { node: self.names[index].clone() },
                });
            };
            let Some((index, result)) = next else { break };
            match result {
                Ok(out) => outputs[index] = Some(out),
                Err(error) => {
                    token.cancel();
                    settle(&mut running).await;
                    return Err(FanInError::Source { index, error });
                }
            }
        }
        drop(running);
        let outputs = outputs.into_iter().map(|o| o.expect("every source finished")).collect();
        run_node_with(&self.aggregator, "aggregator", store, outputs, &token)
            .await
            .map(|(out, _)| out)
            .map_err(FanInError::Aggregator)
    }
}

/// A pipeline stage failed.
#[derive(Debug, thiserror::Error)]
#[error("pipeline stage {index} (`{stage}`) failed")]
pub struct StageError {
    /// The stage's position (0-based).
    pub index: usize,
    /// The stage's name.
    pub stage: String,
    /// Its error.
    #[source]
    pub error: RunError,
}

/// Named stages of one type `T` (typically `serde_json::Value`) run in sequence, each stage's
/// output feeding the next; the error names the failing stage. Stages' actions are ignored.
/// Stages run with the graph engine (stages added with [`Pipeline::sync_stage`] run inline
/// without allocating). For stages of different types, chain them instead
/// ([`NodeExt::then`](crate::NodeExt::then)): the compiler then checks every edge.
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, Store};
/// use pocket::pattern::Pipeline;
/// use serde_json::{json, Value};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let pipeline = Pipeline::new()
///     .stage("wrap", exec_fn(|v: Value| async move { Ok(json!({ "data": v })) }))
///     .stage("count", exec_fn(|v: Value| async move { Ok(json!(v["data"].as_array().map_or(0, Vec::len))) }));
/// assert_eq!(pipeline.run(&Store::new(), json!([1, 2, 3])).await.unwrap(), json!(3));
/// # });
/// ```
pub struct Pipeline<T> {
    graph: Graph<T, T>,
    names: Vec<String>,
}

impl<T> fmt::Debug for Pipeline<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline").field("stages", &self.names).finish()
    }
}

impl<T: Send + Sync + 'static> Default for Pipeline<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + Sync + 'static> Pipeline<T> {
    /// No stages yet (an empty pipeline returns its input).
    pub fn new() -> Self {
        Pipeline { graph: Graph::linear(), names: Vec::new() }
    }

    fn push(mut self, name: String, node: Box<dyn DynNode>) -> Self {
        // The graph is private to the pipeline and never shared while stages are added.
        let pushed = self.graph.push_stage(name.clone(), node);
        debug_assert!(pushed, "a pipeline's graph is not shared while it is built");
        self.names.push(name);
        self
    }

    /// Append a stage.
    #[must_use]
    pub fn stage(self, name: impl Into<String>, node: impl Node<Input = T, Output = T>) -> Self {
        self.push(name.into(), Box::new(Erased(node)))
    }

    /// Append a stage that never waits ([`SyncNode`]).
    #[must_use]
    pub fn sync_stage(self, name: impl Into<String>, node: impl SyncNode<Input = T, Output = T>) -> Self {
        self.push(name.into(), Box::new(ErasedSync(node)))
    }

    /// The number of stages.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no stages.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Run the stages in order.
    ///
    /// # Errors
    ///
    /// The failing stage's [`StageError`].
    pub async fn run(&self, store: &Store, input: T) -> Result<T, StageError> {
        self.run_indexed(store, input, None).await
    }

    /// [`Pipeline::run`] under a cancellation token.
    ///
    /// # Errors
    ///
    /// As [`Pipeline::run`].
    pub async fn run_with(&self, store: &Store, input: T, token: &CancellationToken) -> Result<T, StageError> {
        self.run_indexed(store, input, Some(token)).await
    }

    async fn run_indexed(&self, store: &Store, input: T, token: Option<&CancellationToken>) -> Result<T, StageError> {
        if self.names.is_empty() {
            return Ok(input);
        }
        self.graph.run_indexed(store, input, token).await.map_err(|(index, error)| StageError {
            index,
            stage: self.names[index].clone(),
            error,
        })
    }
}

/// A pipeline is a node: it runs its stages on the run's store and token and hands on the last
/// stage's output (an empty pipeline hands on its input). Errors name the stage through
/// [`GraphFailed`](crate::graph::GraphFailed).
impl<T: Clone + Send + Sync + 'static> Node for Pipeline<T> {
    type Input = T;
    type Prep = T;
    type Exec = (T, crate::Next);
    type Output = T;

    async fn prep(&self, _: &crate::Ctx<'_>, _: &crate::StoreView, input: &T) -> Result<T, crate::NodeError> {
        Ok(input.clone())
    }

    async fn exec(&self, ctx: &crate::Ctx<'_>, input: &T) -> Result<(T, crate::Next), crate::NodeError> {
        if self.names.is_empty() {
            return Ok((input.clone(), crate::Next::Default));
        }
        self.graph.exec(ctx, input).await
    }

    async fn post(
        &self,
        _: &crate::Ctx<'_>,
        _: &Store,
        _: T,
        _: T,
        exec: (T, crate::Next),
    ) -> Result<(T, crate::Next), crate::NodeError> {
        Ok(exec)
    }
}

/// One service of a scatter-gather that did not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The service took longer than its timeout and was abandoned.
    #[error("service `{service}` timed out after {after:?}")]
    TimedOut {
        /// The service's name.
        service: String,
        /// Its timeout.
        after: Duration,
    },
    /// The service failed.
    #[error("service `{service}` failed")]
    Failed {
        /// The service's name.
        service: String,
        /// Its error.
        #[source]
        error: RunError,
    },
}

impl ServiceError {
    /// The name of the service.
    pub fn service(&self) -> &str {
        match self {
            ServiceError::TimedOut { service, .. } | ServiceError::Failed { service, .. } => service,
        }
    }
}

/// What a scatter-gather collected: the answers that came back (in service order) and an
/// error for each service that did not answer.
#[derive(Debug)]
pub struct Gathered<O> {
    /// `(service, answer)` for each service that answered, in the order services were added.
    pub responses: Vec<(String, O)>,
    /// One error per service that failed or timed out, in service order.
    pub errors: Vec<ServiceError>,
}

/// The same request to several services at once, each with its own timeout; partial results
/// plus a per-service error list. Service `name` runs on the scope `name`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use pocket::{exec_fn, Store};
/// use pocket::pattern::ScatterGather;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let fast = exec_fn(|q: String| async move { Ok(format!("fast: {q}")) });
/// let slow = exec_fn(|q: String| async move {
///     tokio::time::sleep(Duration::from_secs(10)).await;
///     Ok(format!("slow: {q}"))
/// });
/// let gathered = ScatterGather::new()
///     .service("fast", fast, Duration::from_secs(1))
///     .service("slow", slow, Duration::from_secs(1))
///     .run(&Store::new(), "q".to_string())
///     .await;
/// assert_eq!(gathered.responses, [("fast".to_string(), "fast: q".to_string())]);
/// assert_eq!(gathered.errors[0].to_string(), "service `slow` timed out after 1s");
/// # });
/// ```
pub struct ScatterGather<I, O> {
    services: Vec<(String, BoxNode<I, O>, Duration)>,
    gauge: TaskGauge,
}

impl<I, O> fmt::Debug for ScatterGather<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScatterGather")
            .field("services", &self.services.iter().map(|(n, _, t)| (n, t)).collect::<Vec<_>>())
            .finish()
    }
}

impl<I: Clone + Send + Sync + 'static, O: Send + 'static> Default for ScatterGather<I, O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I: Clone + Send + Sync + 'static, O: Send + 'static> ScatterGather<I, O> {
    /// No services yet.
    pub fn new() -> Self {
        ScatterGather { services: Vec::new(), gauge: TaskGauge::new() }
    }

    /// Add a service with its own timeout.
    #[must_use]
    pub fn service(
        mut self,
        name: impl Into<String>,
        node: impl Node<Input = I, Output = O>,
        timeout: Duration,
    ) -> Self {
        self.services.push((name.into(), BoxNode::new(node), timeout));
        self
    }

    /// Count the running services on `gauge`.
    #[must_use]
    pub fn gauge(mut self, gauge: TaskGauge) -> Self {
        self.gauge = gauge;
        self
    }

    /// Send `request` to every service and gather what comes back.
    pub async fn run(&self, store: &Store, request: I) -> Gathered<O> {
        self.run_with(store, request, &CancellationToken::new()).await
    }

    /// [`ScatterGather::run`] under a cancellation token: cancelled services report
    /// [`ServiceError::Failed`] with a cancellation, and nothing waits for the others.
    pub async fn run_with(&self, store: &Store, request: I, token: &CancellationToken) -> Gathered<O> {
        let token = token.child_token();
        let mut running: FuturesUnordered<_> = self
            .services
            .iter()
            .enumerate()
            .map(|(i, (name, node, timeout))| {
                let guard = self.gauge.enter();
                let scope = store.scope(name);
                let (request, token) = (request.clone(), &token);
                async move {
                    let raced = run_node_racing(node, name, &scope, request, token);
                    let result = match tokio::time::timeout(*timeout, raced).await {
                        Ok(Ok((out, _))) => Ok(out),
                        Ok(Err(error)) => Err(ServiceError::Failed { service: name.clone(), error }),
                        Err(_) => Err(ServiceError::TimedOut { service: name.clone(), after: *timeout }),
                    };
                    drop(guard);
                    (i, result)
                }
            })
            .collect();
        let mut slots: Vec<Option<Result<O, ServiceError>>> = (0..self.services.len()).map(|_| None).collect();
        while let Some((i, result)) = running.next().await {
            slots[i] = Some(result);
        }
        let mut gathered = Gathered { responses: Vec::new(), errors: Vec::new() };
        for (i, slot) in slots.into_iter().enumerate() {
            match slot.expect("every service finished") {
                Ok(out) => gathered.responses.push((self.services[i].0.clone(), out)),
                Err(error) => gathered.errors.push(error),
            }
        }
        gathered
    }
}

/// Some concurrent sub-graphs failed.
#[derive(Debug, thiserror::Error)]
#[error("{} sub-graph(s) failed: {}", .failures.len(), .failures.iter().map(|(n, _)| format!("`{n}`")).collect::<Vec<_>>().join(", "))]
pub struct SubgraphError<O> {
    /// `(name, error)` for each failed sub-graph, in the order they were given.
    pub failures: Vec<(String, RunError)>,
    /// The outputs of the sub-graphs that finished.
    pub completed: HashMap<String, O>,
}

/// Run named graphs with named inputs at once; each runs on the scope named after it, all run
/// to their end (a failure does not cancel the others) and the outputs come back by name.
///
/// # Errors
///
/// [`SubgraphError`] naming every failed sub-graph, with the outputs of the others.
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, Graph, Store};
/// use pocket::pattern::run_subgraphs;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let double = Graph::<i64, i64>::builder().node("d", exec_fn(|x: i64| async move { Ok(x * 2) })).build().unwrap();
/// let negate = Graph::<i64, i64>::builder().node("n", exec_fn(|x: i64| async move { Ok(-x) })).build().unwrap();
/// let out = run_subgraphs(&Store::new(), [("double", double, 4), ("negate", negate, 5)]).await.unwrap();
/// assert_eq!((out["double"], out["negate"]), (8, -5));
/// # });
/// ```
pub async fn run_subgraphs<I, O>(
    store: &Store,
    graphs: impl IntoIterator<Item = (impl Into<String>, Graph<I, O>, I)>,
) -> Result<HashMap<String, O>, SubgraphError<O>>
where
    I: Send + Sync + 'static,
    O: Send + 'static,
{
    run_subgraphs_with(store, graphs, &CancellationToken::new()).await
}

/// [`run_subgraphs`] under a cancellation token shared by every sub-graph.
///
/// # Errors
///
/// As [`run_subgraphs`]; cancelled sub-graphs fail with [`RunError::Cancelled`].
pub async fn run_subgraphs_with<I, O>(
    store: &Store,
    graphs: impl IntoIterator<Item = (impl Into<String>, Graph<I, O>, I)>,
    token: &CancellationToken,
) -> Result<HashMap<String, O>, SubgraphError<O>>
where
    I: Send + Sync + 'static,
    O: Send + 'static,
{
    let graphs: Vec<(String, Graph<I, O>, I)> = graphs.into_iter().map(|(n, g, i)| (n.into(), g, i)).collect();
    let runs: FuturesUnordered<_> = graphs
        .into_iter()
        .enumerate()
        .map(|(i, (name, graph, input))| {
            let scope = store.scope(&name);
            async move {
                let result = graph.run_with(&scope, input, RunOptions::new().token(token.clone())).await;
                (i, name, result)
            }
        })
        .collect();
    let mut finished: Vec<(usize, String, Result<O, RunError>)> = runs.collect().await;
    finished.sort_by_key(|(i, _, _)| *i);
    let mut completed = HashMap::new();
    let mut failures = Vec::new();
    for (_, name, result) in finished {
        match result {
            Ok(out) => {
                completed.insert(name, out);
            }
            Err(error) => failures.push((name, error)),
        }
    }
    if failures.is_empty() { Ok(completed) } else { Err(SubgraphError { failures, completed }) }
}

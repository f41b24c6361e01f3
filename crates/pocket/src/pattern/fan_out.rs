//! Fan-out: one node over many items, concurrently, results in input order.

use std::fmt;
use std::future::Future;
use std::pin::pin;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio_util::sync::CancellationToken;

use super::{ItemError, TaskGauge};
use crate::cancel::Watch;
use crate::error::RunError;
use crate::node::{Node, run_node_unchecked};
use crate::store::Store;

/// How many items a fan-out runs at once unless told otherwise.
///
/// Bounded by default so that a million items never means a million requests in flight (the Go
/// original's unbounded fan-out peaks at 1.8 GB on such a run): 64 in flight saturates typical
/// LLM and HTTP connection pools and rate limits while keeping memory proportional to the limit.
/// Use [`FanOut::limit`] to change it or [`FanOut::unlimited`] to lift it.
pub const DEFAULT_FAN_OUT_LIMIT: usize = 64;

/// Runs one node over many items concurrently; results come back in input order.
///
/// * **Concurrency**: at most [`FanOut::limit`] items in flight ([`DEFAULT_FAN_OUT_LIMIT`] by
///   default). Items are taken from the input lazily, so memory holds the results plus the
///   items in flight, whatever the input's length.
/// * **Failure policy**: [`FanOut::run`] fails fast — the first failing item cancels the others
///   (their [`Ctx`](crate::Ctx) sees the cancellation; steps that ignore it are dropped) and its
///   error is returned with its index. [`FanOut::run_all`] collects every item's result or error.
/// * **Store**: item `i` sees the scope `item-<i>` of the store; items may write it concurrently.
/// * **Lifecycle**: items run as futures of the calling task (no spawned tasks), so when the
///   fan-out returns, fails or is dropped, nothing of it keeps running. Each item in flight
///   counts on the [`TaskGauge`]. A panicking item becomes that item's error.
///
/// Items run concurrently, not in parallel: for CPU-heavy work, run the fan-out inside several
/// tasks or use a [`WorkerPool`](crate::pattern::WorkerPool).
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, FanOut, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let upper = exec_fn(|s: String| async move { Ok(s.to_uppercase()) });
/// let out = FanOut::new(upper).limit(2).run(&Store::new(), ["a", "b", "c"].map(String::from)).await.unwrap();
/// assert_eq!(out, ["A", "B", "C"]);
/// # });
/// ```
pub struct FanOut<N> {
    node: N,
    name: String,
    limit: Option<usize>,
    gauge: TaskGauge,
}

impl<N: fmt::Debug> fmt::Debug for FanOut<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOut")
            .field("node", &self.node)
            .field("name", &self.name)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl<N: Node> FanOut<N> {
    /// Fan `node` out; errors name it `fan-out` unless [`FanOut::name`] says otherwise.
    pub fn new(node: N) -> Self {
        FanOut { node, name: "fan-out".to_string(), limit: Some(DEFAULT_FAN_OUT_LIMIT), gauge: TaskGauge::new() }
    }

    /// The node's name in errors and traces.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// At most `limit` items in flight (at least 1).
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit.max(1));
        self
    }

    /// No limit: every item starts at once.
    #[must_use]
    pub fn unlimited(mut self) -> Self {
        self.limit = None;
        self
    }

    /// Count this fan-out's items on `gauge`.
    #[must_use]
    pub fn gauge(mut self, gauge: TaskGauge) -> Self {
        self.gauge = gauge;
        self
    }

    /// The wrapped node.
    pub fn node(&self) -> &N {
        &self.node
    }

    fn spec<'a>(&'a self, store: &'a Store) -> Spec<'a, N> {
        Spec { node: &self.node, name: &self.name, gauge: &self.gauge, store, offset: 0 }
    }

    /// Run every item; fail fast on the first error (the others are cancelled).
    ///
    /// # Errors
    ///
    /// The first failing item's [`ItemError`] (its index and run error).
    pub async fn run(
        &self,
        store: &Store,
        items: impl IntoIterator<Item = N::Input>,
    ) -> Result<Vec<N::Output>, ItemError> {
        self.run_with(store, items, &CancellationToken::new()).await
    }

    /// [`FanOut::run`] under a cancellation token.
    ///
    /// # Errors
    ///
    /// As [`FanOut::run`]; cancelling `token` fails the fan-out with the cancelled item's error.
    pub async fn run_with(
        &self,
        store: &Store,
        items: impl IntoIterator<Item = N::Input>,
        token: &CancellationToken,
    ) -> Result<Vec<N::Output>, ItemError> {
        let token = token.child_token();
        let limit = self.limit.unwrap_or(usize::MAX);
        run_fail_fast(self.spec(store), items, &token, |_| limit).await
    }

    /// Run every item to its end; one result or error per item, in input order.
    pub async fn run_all(
        &self,
        store: &Store,
        items: impl IntoIterator<Item = N::Input>,
    ) -> Vec<Result<N::Output, ItemError>> {
        let token = CancellationToken::new();
        let mut results = Vec::new();
        let limit = self.limit.unwrap_or(usize::MAX);
        run_items(
            self.spec(store),
            items,
            &token,
            |_| limit,
            |index, result| {
                place(&mut results, index, result.map_err(|error| ItemError { index, error }));
                true
            },
        )
        .await;
        results.into_iter().map(|r| r.expect("every item finished")).collect()
    }
}

fn place<T>(results: &mut Vec<Option<T>>, index: usize, value: T) {
    if results.len() <= index {
        results.resize_with(index + 1, || None);
    }
    results[index] = Some(value);
}

/// What [`run_items`] runs: a node, its name, where to count tasks, the store, and the index of
/// the first item (items `i` use the scope `item-<offset + i>`).
pub(crate) struct Spec<'a, N> {
    pub(crate) node: &'a N,
    pub(crate) name: &'a str,
    pub(crate) gauge: &'a TaskGauge,
    pub(crate) store: &'a Store,
    pub(crate) offset: usize,
}

/// The engine of fan-out, batches and adaptive fan-out: keep up to `limit(in_flight)` items
/// running (asked again each time an item finishes), report each result to `done` with its
/// index, and stop early when `done` returns false (the others are cancelled).
///
/// When `token` is cancelled from outside, items in flight see it (cooperative ones finish with
/// their own error), the rest are dropped, and every item not reported yet — started or not —
/// is reported as cancelled, so `done` hears about every index unless it stopped early.
pub(crate) async fn run_items<N: Node>(
    spec: Spec<'_, N>,
    items: impl IntoIterator<Item = N::Input>,
    token: &CancellationToken,
    mut limit: impl FnMut(usize) -> usize,
    mut done: impl FnMut(usize, Result<N::Output, RunError>) -> bool,
) {
    let watch = Watch::new(token);
    let mut items = items.into_iter().enumerate();
    let mut running = FuturesUnordered::new();
    // One bit per started item, cleared when it is reported: cheap bookkeeping for the rare
    // cancellation path.
    let mut in_flight = Bits::default();
    let start = |index: usize, item: N::Input| {
        let guard = spec.gauge.enter();
        let scope = spec.store.scope_indexed("item", spec.offset + index);
        // Items are polled by this task's own scheduler (FuturesUnordered); exempt them from
        // tokio's per-task budget, which would otherwise make every item past the first 128
        // of a poll return Pending and be polled again and again.
        tokio::task::unconstrained(async move {
            let result = run_node_unchecked(spec.node, spec.name, &scope, item, token).await;
            drop(guard);
            (index, result.map(|(out, _)| out))
        })
    };
    let cancelled = |node: &str| RunError::Cancelled { node: node.to_string() };
    let mut exhausted = false;
    loop {
        let allowed = limit(running.len()).max(1);
        while !exhausted && running.len() < allowed && !watch.is_cancelled() {
            match items.next() {
                Some((index, item)) => {
                    in_flight.set(index);
                    running.push(start(index, item));
                }
                None => exhausted = true,
            }
        }
        let next = tokio::select! {
            biased;
            next = running.next() => next,
            () = token.cancelled() => None,
        };
        match next {
            Some((index, result)) => {
                in_flight.clear(index);
                if !done(index, result) {
                    token.cancel();
                    settle(&mut running).await;
                    return;
                }
            }
            None if !watch.is_cancelled() => return, // all done
            None => {
                // Cancelled from outside: let cooperative items finish, report the rest.
                for (index, result) in settle(&mut running).await {
                    in_flight.clear(index);
                    if !done(index, result) {
                        return;
                    }
                }
                drop(running);
                let rest = in_flight.ones().chain(items.map(|(index, _)| index));
                for index in rest {
                    if !done(index, Err(cancelled(spec.name))) {
                        return;
                    }
                }
                return;
            }
        }
    }
}

/// A growable bit set of item indices.
#[derive(Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn set(&mut self, i: usize) {
        let word = i / 64;
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (i % 64);
    }

    fn clear(&mut self, i: usize) {
        if let Some(word) = self.0.get_mut(i / 64) {
            *word &= !(1 << (i % 64));
        }
    }

    /// The set indices, ascending.
    fn ones(self) -> impl Iterator<Item = usize> {
        self.0
            .into_iter()
            .enumerate()
            .flat_map(|(w, word)| (0..64).filter(move |b| word & (1 << b) != 0).map(move |b| w * 64 + b))
    }
}

/// [`run_items`] with the fail-fast policy: results in input order, or the first failure (the
/// other items are cancelled).
pub(crate) async fn run_fail_fast<N: Node>(
    spec: Spec<'_, N>,
    items: impl IntoIterator<Item = N::Input>,
    token: &CancellationToken,
    limit: impl FnMut(usize) -> usize,
) -> Result<Vec<N::Output>, ItemError> {
    let mut results = Vec::new();
    let mut failure = None;
    run_items(spec, items, token, limit, |index, result| match result {
        Ok(value) => {
            place(&mut results, index, value);
            true
        }
        Err(error) => {
            failure = Some(ItemError { index, error });
            false
        }
    })
    .await;
    match failure {
        Some(error) => Err(error),
        None => Ok(results.into_iter().map(|r| r.expect("every item finished")).collect()),
    }
}

/// Poll the remaining futures once more so that cooperative ones observe the cancellation, and
/// return what they produced; whatever is still pending is then dropped by the caller.
pub(crate) async fn settle<F: Future>(running: &mut FuturesUnordered<F>) -> Vec<F::Output> {
    let mut finished = Vec::new();
    {
        let mut drain = pin!(async {
            while let Some(out) = running.next().await {
                finished.push(out);
            }
        });
        let _ = futures_util::FutureExt::now_or_never(drain.as_mut());
    }
    finished
}

/// A fan-out is a node over a list: it takes `Vec<item>` and hands on `Vec<output>` (in input
/// order), so a graph step can fan out. It runs on the run's store (items on the scopes
/// `item-<i>` of it, named after the graph node) and token; the first failing item fails the
/// node with
/// an [`ItemError`] (its index and run error). Prep clones the list (Exec may be retried).
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, FanOut, Graph, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let split = exec_fn(|text: String| async move { Ok(text.split(' ').map(String::from).collect::<Vec<_>>()) });
/// let lengths = FanOut::new(exec_fn(|w: String| async move { Ok(w.len()) }));
/// let graph = Graph::<String, Vec<usize>>::builder()
///     .node("split", split)
///     .node("lengths", lengths)
///     .edge("split", "default", "lengths")
///     .build()
///     .unwrap();
/// assert_eq!(graph.run(&Store::new(), "a bb ccc".into()).await.unwrap(), [1, 2, 3]);
/// # });
/// ```
impl<N> crate::Node for FanOut<N>
where
    N: Node,
    N::Input: Clone,
{
    type Input = Vec<N::Input>;
    type Prep = Vec<N::Input>;
    type Exec = Vec<N::Output>;
    type Output = Vec<N::Output>;

    async fn prep(
        &self,
        _: &crate::Ctx<'_>,
        _: &crate::StoreView,
        input: &Vec<N::Input>,
    ) -> Result<Vec<N::Input>, crate::NodeError> {
        Ok(input.clone())
    }

    async fn exec(&self, ctx: &crate::Ctx<'_>, items: &Vec<N::Input>) -> Result<Vec<N::Output>, crate::NodeError> {
        // Inside a graph, items carry the graph node's name.
        let spec = Spec { node: &self.node, name: ctx.node(), gauge: &self.gauge, store: ctx.store(), offset: 0 };
        let limit = self.limit.unwrap_or(usize::MAX);
        run_fail_fast(spec, items.iter().cloned(), &ctx.token().child_token(), |_| limit)
            .await
            .map_err(|e| crate::NodeError::new(e.error.kind(), e))
    }

    async fn post(
        &self,
        _: &crate::Ctx<'_>,
        _: &Store,
        _: Vec<N::Input>,
        _: Vec<N::Input>,
        outputs: Vec<N::Output>,
    ) -> Result<(Vec<N::Output>, crate::Next), crate::NodeError> {
        Ok((outputs, crate::Next::Default))
    }
}

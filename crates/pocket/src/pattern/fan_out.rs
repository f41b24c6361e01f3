//! Fan-out: one node over many items, concurrently, results in input order.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_util::sync::CancellationToken;

use super::engine::{self, Schedule, Slot};
use super::{ItemError, TaskGauge};
use crate::error::RunError;
use crate::node::{Node, run_node_unchecked};
use crate::store::Store;
use std::time::Duration;
use tokio::time::Instant;

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
    pause: Option<Duration>,
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
        FanOut {
            node,
            name: "fan-out".to_string(),
            limit: Some(DEFAULT_FAN_OUT_LIMIT),
            pause: None,
            gauge: TaskGauge::new(),
        }
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

    /// Start items at least `pause` apart (GNU parallel's `--delay`): a steady trickle into a
    /// service that dislikes bursts, whatever the limit.
    #[must_use]
    pub fn pause(mut self, pause: Duration) -> Self {
        self.pause = (!pause.is_zero()).then_some(pause);
        self
    }

    /// The schedule of a run: the limit, and the pause between starts.
    fn paced(&self) -> Paced {
        Paced { limit: self.limit, pause: self.pause, next: None }
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
        let items_on = Items { node: &self.node, name: &self.name, store, offset: 0 };
        items_on.fail_fast(items, &mut self.paced(), &self.gauge, &token).await
    }

    /// Run every item to its end; one result or error per item, in input order.
    pub async fn run_all(
        &self,
        store: &Store,
        items: impl IntoIterator<Item = N::Input>,
    ) -> Vec<Result<N::Output, ItemError>> {
        self.run_all_with(store, items, &CancellationToken::new()).await
    }

    /// [`FanOut::run_all`] under a cancellation token: once it is cancelled, the items that
    /// did not finish are reported as cancelled.
    pub async fn run_all_with(
        &self,
        store: &Store,
        items: impl IntoIterator<Item = N::Input>,
        token: &CancellationToken,
    ) -> Vec<Result<N::Output, ItemError>> {
        let token = token.child_token();
        let on = Items { node: &self.node, name: &self.name, store, offset: 0 };
        let cancelled = |_| RunError::Cancelled { node: self.name.clone() };
        engine::all(
            items,
            |slot, item| on.launch(&token, slot, item),
            &mut self.paced(),
            &self.gauge,
            &token,
            cancelled,
        )
        .await
        .into_iter()
        .enumerate()
        .map(|(index, r)| r.map_err(|error| ItemError { index, error }))
        .collect()
    }

    /// Run every item of a stream, handing each result to `each` in input order as soon as it
    /// and every item before it are done, under a cancellation token. The stream is read only
    /// as items start, and at most `window` items are started and not yet handed on (at least
    /// the limit), so memory stays bounded by the window however long the stream is: this is
    /// the fan-out for inputs read from a file and results written to one.
    ///
    /// `each` returns whether to go on: `false` cancels the items in flight and ends the run.
    /// Once `token` is cancelled, the items in flight are handed on as cancelled and the rest
    /// of the stream is not read.
    ///
    /// # Examples
    ///
    /// ```
    /// use pocket::{exec_fn, FanOut, Store};
    /// use tokio_util::sync::CancellationToken;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let square = exec_fn(|x: u64| async move { Ok(x * x) });
    /// let mut out = Vec::new();
    /// let items = futures_util::stream::iter(1..=4u64);
    /// FanOut::new(square).limit(2)
    ///     .run_stream_with(&Store::new(), items, &CancellationToken::new(), 4, |_, r| {
    ///         out.push(r.unwrap());
    ///         true
    ///     })
    ///     .await;
    /// assert_eq!(out, [1, 4, 9, 16]);
    /// # });
    /// ```
    pub async fn run_stream_with<S>(
        &self,
        store: &Store,
        items: S,
        token: &CancellationToken,
        window: usize,
        mut each: impl FnMut(usize, Result<N::Output, ItemError>) -> bool,
    ) where
        S: futures_util::Stream<Item = N::Input> + Unpin,
    {
        let token = token.child_token();
        let on = Items { node: &self.node, name: &self.name, store, offset: 0 };
        let cancelled = |_| RunError::Cancelled { node: self.name.clone() };
        let window = window.max(self.limit.unwrap_or(1)).max(1);
        // `waiting[k]` is item `handed + k`: finished items wait there for the ones before.
        let handed = AtomicUsize::new(0);
        let mut waiting: std::collections::VecDeque<Option<Result<N::Output, RunError>>> =
            std::collections::VecDeque::new();
        let done = |index: usize, result: Result<N::Output, RunError>| {
            let k = index - handed.load(Ordering::Relaxed);
            if waiting.len() <= k {
                waiting.resize_with(k + 1, || None);
            }
            waiting[k] = Some(result);
            while let Some(Some(_)) = waiting.front() {
                let result = waiting.pop_front().flatten().expect("checked");
                let index = handed.fetch_add(1, Ordering::Relaxed);
                if !each(index, result.map_err(|error| ItemError { index, error })) {
                    return false;
                }
            }
            true
        };
        let mut schedule = Windowed { paced: self.paced(), window, handed: &handed };
        engine::run_source(
            engine::Streamed(items),
            |slot, item| on.launch(&token, slot, item),
            &mut schedule,
            &self.gauge,
            &token,
            done,
            cancelled,
        )
        .await;
    }
}

/// At most `limit` in flight, starts at least `pause` apart.
struct Paced {
    limit: Option<usize>,
    pause: Option<Duration>,
    /// The earliest the next start may be.
    next: Option<Instant>,
}

impl Schedule for Paced {
    #[inline]
    fn admit(&mut self, _: usize, in_flight: usize) -> engine::Admit {
        if self.limit.is_some_and(|n| in_flight >= n) {
            return engine::Admit::Wait;
        }
        let Some(pause) = self.pause else { return engine::Admit::Start };
        let now = Instant::now();
        match self.next {
            Some(at) if at > now => engine::Admit::SleepUntil(at),
            _ => {
                self.next = Some(now + pause);
                engine::Admit::Start
            }
        }
    }
}

/// [`Paced`], and at most `window` started and not yet handed on.
struct Windowed<'a> {
    paced: Paced,
    window: usize,
    handed: &'a AtomicUsize,
}

impl Schedule for Windowed<'_> {
    fn admit(&mut self, started: usize, in_flight: usize) -> engine::Admit {
        if started - self.handed.load(Ordering::Relaxed) >= self.window {
            return engine::Admit::Wait;
        }
        self.paced.admit(started, in_flight)
    }
}

/// One node over items, as the fan-out family runs it: item `i` on the scope
/// `item-<offset + i>` of `store`, named `name` in errors.
pub(crate) struct Items<'a, N> {
    pub(crate) node: &'a N,
    pub(crate) name: &'a str,
    pub(crate) store: &'a Store,
    pub(crate) offset: usize,
}

impl<'a, N: Node> Items<'a, N> {
    /// The run of the item in `slot`.
    pub(crate) fn launch(
        &self,
        token: &'a CancellationToken,
        slot: Slot,
        item: N::Input,
    ) -> impl Future<Output = (Slot, Result<N::Output, RunError>)> + use<'a, N> {
        let (node, name) = (self.node, self.name);
        let scope = self.store.scope_indexed("item", self.offset + slot.index());
        async move {
            let result = run_node_unchecked(node, name, &scope, item, token).await;
            (slot, result.map(|(out, _)| out))
        }
    }

    /// Fail fast under `schedule`: results in input order, or the first failing item.
    pub(crate) async fn fail_fast(
        &self,
        items: impl IntoIterator<Item = N::Input>,
        schedule: &mut impl Schedule,
        gauge: &TaskGauge,
        token: &'a CancellationToken,
    ) -> Result<Vec<N::Output>, ItemError> {
        let cancelled = |_| RunError::Cancelled { node: self.name.to_string() };
        engine::fail_fast(items, |slot, item| self.launch(token, slot, item), schedule, gauge, token, cancelled)
            .await
            .map_err(|(index, error)| ItemError { index: self.offset + index, error })
    }
}

/// A fan-out is a node over a list: it takes `Vec<item>` and hands on `Vec<output>` (in input
/// order), so a graph step can fan out. It runs on the run's store (items on the scopes
/// `<node>:item-<i>` of it, named after the graph node, so two fan-out nodes of one graph keep
/// their items' data apart) and token; the first failing item fails the
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
        // Inside a graph, items carry the graph node's name, and their scopes are the node's
        // (`<node>:item-<i>:`): two fan-out nodes of one graph never share an item's data.
        let scoped = ctx.store().scope(ctx.node());
        let on = Items { node: &self.node, name: ctx.node(), store: &scoped, offset: 0 };
        let token = ctx.token().child_token();
        on.fail_fast(items.iter().cloned(), &mut self.paced(), &self.gauge, &token)
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

//! The metrics layer: count, time and log every lifecycle of a node, never touching the payload.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::action::Next;
use crate::ctx::Ctx;
use crate::error::NodeError;
use crate::layer::Layer;
use crate::node::Node;
use crate::store::{Store, StoreView};

/// Latency bucket upper bounds of [`NodeMetrics::latency`], in milliseconds (the last bucket
/// is everything slower).
pub const LATENCY_BUCKETS_MS: [u64; 9] = [1, 5, 10, 50, 100, 500, 1_000, 5_000, 10_000];

/// What [`Metrics`] counted for one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeMetrics {
    /// Lifecycles started.
    pub calls: u64,
    /// Lifecycles that succeeded.
    pub successes: u64,
    /// Lifecycles that failed (in any step).
    pub failures: u64,
    /// Counts per latency bucket ([`LATENCY_BUCKETS_MS`], plus one for slower).
    pub latency: [u64; 10],
    /// Total time spent, for averages.
    pub total: Duration,
}

/// A shared registry of per-node counts, errors and latency histograms, fed by
/// [`NodeExt::metrics`](crate::NodeExt::metrics). Nodes are keyed by their name in the run.
///
/// # Examples
///
/// ```
/// use pocket::layer::metrics::Metrics;
/// use pocket::{exec_fn, NodeError, NodeExt, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let metrics = Metrics::new();
/// let node = exec_fn(|x: i32| async move { if x < 0 { Err(NodeError::msg("negative")) } else { Ok(x) } })
///     .metrics(metrics.clone());
/// let store = Store::new();
/// for x in [1, -1, 2] {
///     let _ = pocket::run_node(&node, &store, x).await;
/// }
/// let m = &metrics.snapshot()["node"];
/// assert_eq!((m.calls, m.successes, m.failures), (3, 2, 1));
/// # });
/// ```
#[derive(Clone, Default)]
pub struct Metrics(Arc<Mutex<BTreeMap<String, NodeMetrics>>>);

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Metrics").field(&self.snapshot()).finish()
    }
}

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the counts, by node name.
    pub fn snapshot(&self) -> BTreeMap<String, NodeMetrics> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, node: &str, elapsed: Duration, success: bool) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let m = all.entry(node.to_string()).or_default();
        m.calls += 1;
        if success {
            m.successes += 1;
        } else {
            m.failures += 1;
        }
        let ms = elapsed.as_millis();
        let bucket = LATENCY_BUCKETS_MS.iter().position(|b| ms <= u128::from(*b)).unwrap_or(LATENCY_BUCKETS_MS.len());
        m.latency[bucket] += 1;
        m.total += elapsed;
    }
}

/// The Prep result of a [`Measured`] node: the inner Prep and when the lifecycle started. The
/// node's own values pass through untouched.
#[derive(Debug)]
pub struct Started<P> {
    inner: P,
    at: Instant,
}

/// Dereferences to the inner Prep.
impl<P> std::ops::Deref for Started<P> {
    type Target = P;
    fn deref(&self) -> &P {
        &self.inner
    }
}

/// A registry is a layer; its nodes count into it.
impl<N: Node> Layer<N> for Metrics {
    type Node = Measured<N>;
    fn layer(&self, inner: N) -> Measured<N> {
        Measured::new(inner, self.clone())
    }
}

/// A node whose lifecycles are counted and timed in a [`Metrics`] registry, and logged as
/// tracing events (debug on success, warn on failure) with their duration. Built by
/// [`NodeExt::metrics`](crate::NodeExt::metrics).
#[derive(Debug, Clone)]
#[must_use = "a layered node does nothing until it is run"]
pub struct Measured<N> {
    inner: N,
    metrics: Metrics,
}

impl<N> Measured<N> {
    /// Wrap `inner`.
    pub fn new(inner: N, metrics: Metrics) -> Self {
        Measured { inner, metrics }
    }

    fn done(&self, ctx: &Ctx<'_>, at: Instant, error: Option<&NodeError>) {
        let elapsed = at.elapsed();
        self.metrics.record(ctx.node(), elapsed, error.is_none());
        match error {
            None => tracing::debug!(node = ctx.node(), ?elapsed, "node succeeded"),
            Some(error) => tracing::warn!(node = ctx.node(), ?elapsed, %error, "node failed"),
        }
    }
}

impl<N: Node> Node for Measured<N> {
    type Input = N::Input;
    type Prep = Started<N::Prep>;
    type Exec = N::Exec;
    type Output = N::Output;

    crate::node::delegate!(finish actions);

    async fn prep(&self, ctx: &Ctx<'_>, store: &StoreView, input: &N::Input) -> Result<Self::Prep, NodeError> {
        let at = Instant::now();
        match self.inner.prep(ctx, store, input).await {
            Ok(inner) => Ok(Started { inner, at }),
            Err(error) => {
                self.done(ctx, at, Some(&error));
                Err(error)
            }
        }
    }

    async fn exec(&self, ctx: &Ctx<'_>, prep: &Self::Prep) -> Result<N::Exec, NodeError> {
        let result = self.inner.exec(ctx, &prep.inner).await;
        if let Err(error) = &result {
            self.done(ctx, prep.at, Some(error));
        }
        result
    }

    async fn post(
        &self,
        ctx: &Ctx<'_>,
        store: &Store,
        input: N::Input,
        prep: Self::Prep,
        exec: N::Exec,
    ) -> Result<(N::Output, Next), NodeError> {
        let Started { inner, at } = prep;
        let result = self.inner.post(ctx, store, input, inner, exec).await;
        self.done(ctx, at, result.as_ref().err());
        result
    }
}

//! The timeout layer: a limit per step and/or per node lifecycle.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::action::Next;
use crate::ctx::Ctx;
use crate::error::NodeError;
use crate::layer::Layer;
use crate::node::Node;
use crate::store::{Store, StoreView};

/// Whether a timeout covered one step or the whole node lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutScope {
    /// The limit applies to each step separately.
    Step,
    /// The limit applies to the node's whole lifecycle (prep + exec + post).
    Node,
}

impl std::fmt::Display for TimeoutScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutScope::Step => "step",
            TimeoutScope::Node => "node",
        })
    }
}

/// A timeout layer abandoned the step. Retryable (the next attempt may be faster).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {after:?} ({scope} timeout)")]
pub struct Elapsed {
    after: Duration,
    scope: TimeoutScope,
}

impl Elapsed {
    /// The configured limit.
    pub fn after(&self) -> Duration {
        self.after
    }

    /// Whether the limit was per step or per node.
    pub fn scope(&self) -> TimeoutScope {
        self.scope
    }
}

/// Limits for [`Timeout`]: per step, per node lifecycle, or both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct Timeouts {
    step: Option<Duration>,
    node: Option<Duration>,
}

impl Timeouts {
    /// A limit for the whole lifecycle (prep + exec + post).
    pub fn node(limit: Duration) -> Self {
        Timeouts { step: None, node: Some(limit) }
    }

    /// A limit for each step separately.
    pub fn step(limit: Duration) -> Self {
        Timeouts { step: Some(limit), node: None }
    }

    /// Add a per-step limit.
    pub fn and_step(mut self, limit: Duration) -> Self {
        self.step = Some(limit);
        self
    }

    /// Add a whole-lifecycle limit.
    pub fn and_node(mut self, limit: Duration) -> Self {
        self.node = Some(limit);
        self
    }
}

/// The Prep result of a [`Timeout`] node: the inner Prep plus the lifecycle's deadline. It
/// dereferences to the inner Prep, so an outer layer that reads the Prep (a rate limit's cost
/// function, a cache key) sees the wrapped node's.
#[derive(Debug, Clone)]
pub struct Timed<P> {
    inner: P,
    deadline: Option<Instant>,
}

impl<P> std::ops::Deref for Timed<P> {
    type Target = P;
    fn deref(&self) -> &P {
        &self.inner
    }
}

impl<P: serde::Serialize> serde::Serialize for Timed<P> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.inner.serialize(serializer)
    }
}

/// A node whose steps are abandoned when they take too long. Built by
/// [`NodeExt::timeout`](crate::NodeExt::timeout).
///
/// A step that runs past its limit is dropped (abandoned, not awaited, whether or not it
/// watches cancellation) and fails with [`Elapsed`] (retryable), which says whether the step or
/// the node limit was hit; the run error names the node and the step. Code that blocks a
/// thread without yielding cannot be interrupted by any async timeout: run such code with
/// `tokio::task::spawn_blocking`.
///
/// Wrapped around a retry layer, the node limit bounds all attempts together; wrapped inside
/// one, each attempt gets its own limit.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use pocket::layer::timeout::Timeouts;
/// use pocket::{exec_fn, NodeError, NodeExt, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let stuck = exec_fn(|x: u32| async move {
///     std::future::pending::<()>().await; // never finishes, ignores cancellation
///     Ok(x)
/// })
/// .timeout(Timeouts::step(Duration::from_secs(2)));
///
/// let err = pocket::run_node(&stuck, &Store::new(), 1).await.unwrap_err();
/// assert_eq!(pocket::report(&err), "node `node` failed in exec: timed out after 2s (step timeout)");
/// # });
/// ```
#[derive(Debug, Clone)]
#[must_use = "a layered node does nothing until it is run"]
pub struct Timeout<N> {
    inner: N,
    limits: Timeouts,
}

/// Builds [`Timeout`] nodes.
#[derive(Debug, Clone, Copy)]
pub struct TimeoutLayer(pub Timeouts);

impl<N: Node> Layer<N> for TimeoutLayer {
    type Node = Timeout<N>;
    fn layer(&self, inner: N) -> Timeout<N> {
        Timeout { inner, limits: self.0 }
    }
}

impl<N> Timeout<N> {
    /// Wrap `inner`.
    pub fn new(inner: N, limits: Timeouts) -> Self {
        Timeout { inner, limits }
    }

    async fn limit<T>(
        &self,
        deadline: Option<Instant>,
        fut: impl Future<Output = Result<T, NodeError>>,
    ) -> Result<T, NodeError> {
        // A limit too large to add to the clock is no limit.
        let step_deadline = self.limits.step.and_then(|d| Instant::now().checked_add(d));
        let (until, scope, after) = match (step_deadline, deadline) {
            (None, None) => return fut.await,
            (Some(s), Some(n)) if n < s => (n, TimeoutScope::Node, self.limits.node),
            (Some(s), _) => (s, TimeoutScope::Step, self.limits.step),
            (None, Some(n)) => (n, TimeoutScope::Node, self.limits.node),
        };
        match tokio::time::timeout_at(until, fut).await {
            Ok(result) => result,
            Err(_) => Err(NodeError::retryable(Elapsed { after: after.unwrap_or_default(), scope })),
        }
    }
}

impl<N: Node> Node for Timeout<N> {
    type Input = N::Input;
    type Prep = Timed<N::Prep>;
    type Exec = N::Exec;
    type Output = N::Output;

    crate::node::delegate!(finish actions);

    async fn prep(&self, ctx: &Ctx<'_>, store: &StoreView, input: &N::Input) -> Result<Self::Prep, NodeError> {
        let deadline = self.limits.node.and_then(|d| Instant::now().checked_add(d));
        let inner = self.limit(deadline, self.inner.prep(ctx, store, input)).await?;
        Ok(Timed { inner, deadline })
    }

    async fn exec(&self, ctx: &Ctx<'_>, prep: &Self::Prep) -> Result<N::Exec, NodeError> {
        self.limit(prep.deadline, self.inner.exec(ctx, &prep.inner)).await
    }

    async fn post(
        &self,
        ctx: &Ctx<'_>,
        store: &Store,
        input: N::Input,
        prep: Self::Prep,
        exec: N::Exec,
    ) -> Result<(N::Output, Next), NodeError> {
        let Timed { inner, deadline } = prep;
        self.limit(deadline, self.inner.post(ctx, store, input, inner, exec)).await
    }
}

//! The concurrency-limit layer: at most N executions of a node at once.

use std::fmt;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Layer;
use crate::action::Next;
use crate::ctx::Ctx;
use crate::error::NodeError;
use crate::node::Node;
use crate::store::{Store, StoreView};

/// A shared cap on executions in flight. Clones share the cap, so one limiter can bound a node
/// across all runs and fan-outs that use it, or several nodes that hit one service.
///
/// Unlike a [`RateLimiter`](super::rate_limit::RateLimiter) (calls per second), this bounds calls *at once*.
///
/// # Examples
///
/// ```
/// use pocket::layer::concurrency_limit::ConcurrencyLimit;
/// use pocket::{exec_fn, FanOut, NodeExt, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let db = ConcurrencyLimit::new(4); // the database takes 4 connections
/// let query = exec_fn(|id: u32| async move { Ok(id * 10) }).concurrency_limit(db.clone());
/// let rows = FanOut::new(query).unlimited().run(&Store::new(), 0..100).await.unwrap();
/// assert_eq!(rows.len(), 100);
/// assert_eq!(db.available(), 4);
/// # });
/// ```
#[derive(Clone)]
pub struct ConcurrencyLimit {
    semaphore: Arc<Semaphore>,
    max: usize,
    label: Option<Arc<str>>,
}

impl fmt::Debug for ConcurrencyLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrencyLimit").field("max", &self.max).field("available", &self.available()).finish()
    }
}

impl ConcurrencyLimit {
    /// At most `max` (at least 1) executions at once.
    pub fn new(max: usize) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        ConcurrencyLimit { semaphore: Arc::new(Semaphore::new(max)), max, label: None }
    }

    /// Name the limit in the `pocket::wait` events its waits emit (`limit = label`).
    #[must_use]
    pub fn labeled(mut self, label: impl Into<Arc<str>>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Free slots right now.
    pub fn available(&self) -> usize {
        self.semaphore.available_permits()
    }
}

/// The Prep result of a [`Limited`] node: the inner Prep and the slot it holds until Post ends.
#[derive(Debug)]
pub struct Permitted<P> {
    inner: P,
    _permit: OwnedSemaphorePermit,
}

/// Dereferences to the inner Prep (for the cost function of an outer rate limit, say).
impl<P> std::ops::Deref for Permitted<P> {
    type Target = P;
    fn deref(&self) -> &P {
        &self.inner
    }
}

/// A limit is a layer; its nodes share the slots.
impl<N: Node> Layer<N> for ConcurrencyLimit {
    type Node = Limited<N>;
    fn layer(&self, inner: N) -> Limited<N> {
        Limited::new(inner, self.clone())
    }
}

/// A node that takes a slot of a [`ConcurrencyLimit`] for its whole lifecycle (from Prep to the
/// end of Post; a failure releases it). Waiting for a slot ends early when the run is
/// cancelled. Built by [`NodeExt::concurrency_limit`](crate::NodeExt::concurrency_limit).
#[derive(Debug, Clone)]
#[must_use = "a layered node does nothing until it is run"]
pub struct Limited<N> {
    inner: N,
    limit: ConcurrencyLimit,
}

impl<N> Limited<N> {
    /// Wrap `inner`.
    pub fn new(inner: N, limit: ConcurrencyLimit) -> Self {
        Limited { inner, limit }
    }
}

impl<N: Node> Node for Limited<N> {
    type Input = N::Input;
    type Prep = Permitted<N::Prep>;
    type Exec = N::Exec;
    type Output = N::Output;

    crate::node::delegate!(finish actions);

    async fn prep(&self, ctx: &Ctx<'_>, store: &StoreView, input: &N::Input) -> Result<Self::Prep, NodeError> {
        let permit = match self.limit.semaphore.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let since = tokio::time::Instant::now();
                let permit = tokio::select! {
                    biased;
                    () = ctx.cancelled() => return Err(NodeError::cancelled()),
                    permit = self.limit.semaphore.clone().acquire_owned() => {
                        permit.map_err(|_| NodeError::fatal_msg("the concurrency limiter was closed"))?
                    }
                };
                super::rate_limit::waited_for(ctx.node(), self.limit.label.as_deref(), since.elapsed());
                permit
            }
        };
        let inner = self.inner.prep(ctx, store, input).await?;
        Ok(Permitted { inner, _permit: permit })
    }

    async fn exec(&self, ctx: &Ctx<'_>, prep: &Self::Prep) -> Result<N::Exec, NodeError> {
        self.inner.exec(ctx, &prep.inner).await
    }

    async fn post(
        &self,
        ctx: &Ctx<'_>,
        store: &Store,
        input: N::Input,
        prep: Self::Prep,
        exec: N::Exec,
    ) -> Result<(N::Output, Next), NodeError> {
        let Permitted { inner, _permit } = prep;
        self.inner.post(ctx, store, input, inner, exec).await
    }
}

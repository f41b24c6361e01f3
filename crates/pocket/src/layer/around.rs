//! [`AroundExec`]: a layer that only changes Exec, written as one method.

use std::fmt;
use std::future::Future;

use super::Layer;
use crate::ctx::Ctx;
use crate::error::NodeError;
use crate::node::Node;

/// A behaviour around a node's Exec — pace it, guard it, cache it, replace its failure. The one
/// method receives the wrapped node and calls (or skips) `inner.exec(ctx, prep)`; [`Around`]
/// passes Prep, Post, the hooks and the declared actions through unchanged. The rate limit,
/// the circuit breaker, the cache and the fallback are written this way.
///
/// # Examples
///
/// A layer that counts the calls that reach Exec:
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use pocket::layer::{AroundExec, AroundLayer};
/// use pocket::{exec_fn, Ctx, Node, NodeError, NodeExt, Store};
///
/// #[derive(Clone, Default)]
/// struct CountCalls(Arc<AtomicU32>);
///
/// impl<N: Node> AroundExec<N> for CountCalls {
///     async fn exec(&self, inner: &N, ctx: &Ctx<'_>, prep: &N::Prep) -> Result<N::Exec, NodeError> {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         inner.exec(ctx, prep).await
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let calls = CountCalls::default();
/// let node = exec_fn(|x: u32| async move { Ok(x + 1) }).layer(AroundLayer(calls.clone()));
/// pocket::run_node(&node, &Store::new(), 1).await.unwrap();
/// assert_eq!(calls.0.load(Ordering::Relaxed), 1);
/// # });
/// ```
pub trait AroundExec<N: Node>: Send + Sync + 'static {
    /// Run (or skip) `inner`'s Exec on `prep`.
    fn exec(&self, inner: &N, ctx: &Ctx<'_>, prep: &N::Prep)
    -> impl Future<Output = Result<N::Exec, NodeError>> + Send;
}

/// A node whose Exec goes through an [`AroundExec`] behaviour; the other steps are the inner
/// node's. Built by [`NodeExt::around`](crate::NodeExt::around), the `NodeExt` methods of the
/// Exec-only layers, or an [`AroundLayer`].
#[derive(Clone)]
#[must_use = "a layered node does nothing until it is run"]
pub struct Around<N, W> {
    inner: N,
    wrap: W,
}

impl<N: fmt::Debug, W> fmt::Debug for Around<N, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Around").field("inner", &self.inner).field("wrap", &std::any::type_name::<W>()).finish()
    }
}

impl<N, W> Around<N, W> {
    /// `inner` with `wrap` around its Exec.
    pub fn new(inner: N, wrap: W) -> Self {
        Around { inner, wrap }
    }

    /// The wrapped node.
    pub fn get_ref(&self) -> &N {
        &self.inner
    }

    /// The behaviour around it.
    pub fn wrapper(&self) -> &W {
        &self.wrap
    }
}

impl<N: Node, W: AroundExec<N>> Node for Around<N, W> {
    type Input = N::Input;
    type Prep = N::Prep;
    type Exec = N::Exec;
    type Output = N::Output;

    crate::node::delegate!(prep post finish actions);

    fn exec(&self, ctx: &Ctx<'_>, prep: &N::Prep) -> impl Future<Output = Result<N::Exec, NodeError>> + Send {
        self.wrap.exec(&self.inner, ctx, prep)
    }
}

/// The layer value of an [`AroundExec`] behaviour: wraps each node in an [`Around`] with a clone
/// of it (clones of the shared primitives — a rate limiter, a breaker, a cache — share their
/// state).
#[derive(Debug, Clone, Copy, Default)]
pub struct AroundLayer<W>(pub W);

impl<N: Node, W: AroundExec<N> + Clone> Layer<N> for AroundLayer<W> {
    type Node = Around<N, W>;
    fn layer(&self, inner: N) -> Around<N, W> {
        Around::new(inner, self.0.clone())
    }
}

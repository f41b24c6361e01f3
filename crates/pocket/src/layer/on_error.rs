//! The error handler: a callback with the node, the failed step and the error.

use std::fmt;

use crate::ctx::Ctx;
use crate::error::{NodeError, Step};
use crate::layer::Layer;
use crate::node::{Node, Outcome};
use crate::store::Store;

/// A node with an error handler: called once with the node name, the failed step and the
/// error, after all hooks. Built by [`NodeExt::on_error`](crate::NodeExt::on_error).
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use pocket::{exec_fn, NodeError, NodeExt, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let node = exec_fn(|_: u8| async move { Err::<u8, _>(NodeError::msg("boom")) })
///     .on_error(move |node, step, err| log.lock().unwrap().push(format!("{node}/{step}: {err}")));
/// assert!(pocket::run_node(&node, &Store::new(), 0).await.is_err());
/// assert_eq!(*seen.lock().unwrap(), ["node/exec: boom"]);
/// # });
/// ```
#[derive(Clone)]
#[must_use = "a layered node does nothing until it is run"]
pub struct OnError<N, F> {
    inner: N,
    handler: F,
}

impl<N: fmt::Debug, F> fmt::Debug for OnError<N, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnError").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<N, F> OnError<N, F> {
    /// Wrap `inner`.
    pub fn new(inner: N, handler: F) -> Self {
        OnError { inner, handler }
    }
}

impl<N, F> Node for OnError<N, F>
where
    N: Node,
    F: Fn(&str, Step, &NodeError) + Send + Sync + 'static,
{
    type Input = N::Input;
    type Prep = N::Prep;
    type Exec = N::Exec;
    type Output = N::Output;

    crate::node::delegate!(prep exec post actions);

    fn finish(&self, ctx: &Ctx<'_>, store: &Store, outcome: Outcome<'_, N::Output>) {
        self.inner.finish(ctx, store, outcome);
        if let Err((step, error)) = outcome {
            (self.handler)(ctx.node(), step, error);
        }
    }
}

/// The layer value of an error handler.
#[derive(Debug, Clone, Copy)]
pub struct OnErrorLayer<F>(pub F);

impl<N, F> Layer<N> for OnErrorLayer<F>
where
    N: Node,
    F: Fn(&str, Step, &NodeError) + Clone + Send + Sync + 'static,
{
    type Node = OnError<N, F>;
    fn layer(&self, inner: N) -> OnError<N, F> {
        OnError::new(inner, self.0.clone())
    }
}

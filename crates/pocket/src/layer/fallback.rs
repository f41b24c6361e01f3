//! The fallback layer: a replacement Exec result when Exec fails for good.

use std::fmt;
use std::future::Future;

use crate::ctx::Ctx;
use crate::error::NodeError;
use crate::node::Node;

/// A node whose failed Exec is replaced by a fallback. Built by
/// [`NodeExt::fallback`](crate::NodeExt::fallback).
///
/// The fallback receives (a clone of) the Prep result and a reference to the final Exec error — after any
/// retries, if it wraps a retry layer. It is not called when the run was cancelled. If it
/// fails too, the node fails with [`NodeError::FallbackFailed`], which keeps both errors.
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, NodeError, NodeExt, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let answer = exec_fn(|q: String| async move { Err::<String, _>(NodeError::msg("model down")) })
///     .fallback(|q: String, err: &NodeError| {
///         let why = err.to_string(); // the future must not borrow the error
///         async move { Ok(format!("canned answer to {q} ({why})")) }
///     });
///
/// let out = pocket::run_node(&answer, &Store::new(), "hi".into()).await.unwrap();
/// assert_eq!(out, "canned answer to hi (model down)");
/// # });
/// ```
#[derive(Clone)]
pub struct Fallback<N, F> {
    inner: N,
    fallback: F,
}

impl<N: fmt::Debug, F> fmt::Debug for Fallback<N, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fallback").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<N, F> Fallback<N, F> {
    /// Wrap `inner`.
    pub fn new(inner: N, fallback: F) -> Self {
        Fallback { inner, fallback }
    }
}

impl<N, F, Fut> Node for Fallback<N, F>
where
    N: Node,
    N::Prep: Clone,
    F: Fn(N::Prep, &NodeError) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<N::Exec, NodeError>> + Send,
{
    type Input = N::Input;
    type Prep = N::Prep;
    type Exec = N::Exec;
    type Output = N::Output;

    crate::node::delegate!(prep post finish actions);

    async fn exec(&self, ctx: &Ctx<'_>, prep: &N::Prep) -> Result<N::Exec, NodeError> {
        let primary = match self.inner.exec(ctx, prep).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if ctx.is_cancelled() || primary.is_cancelled() {
            return Err(primary);
        }
        tracing::warn!(node = ctx.node(), error = %primary, "exec failed, running the fallback");
        (self.fallback)(prep.clone(), &primary)
            .await
            .map_err(|fallback| NodeError::FallbackFailed { primary: Box::new(primary), fallback: Box::new(fallback) })
    }
}

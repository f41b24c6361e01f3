//! The fallback layer: a replacement Exec result when Exec fails for good.

use std::fmt;
use std::future::Future;

use super::AroundExec;
use crate::ctx::Ctx;
use crate::error::NodeError;
use crate::node::Node;

/// Exec failed and the fallback failed too; both errors are kept (the fallback's is the
/// source, and decides the classification).
#[derive(Debug, thiserror::Error)]
#[error("exec failed ({primary}) and the fallback failed too")]
pub struct BothFailed {
    primary: NodeError,
    #[source]
    fallback: NodeError,
}

impl BothFailed {
    /// The final Exec error.
    pub fn primary(&self) -> &NodeError {
        &self.primary
    }

    /// The fallback's own error.
    pub fn fallback(&self) -> &NodeError {
        &self.fallback
    }
}

/// A fallback function around Exec: a failed Exec is replaced by `f(prep, &error)`. Built by
/// [`NodeExt::fallback`](crate::NodeExt::fallback); the node is an
/// [`Around`](super::Around)`<N, FallbackFn<F>>`.
///
/// The fallback receives (a clone of) the Prep result and a reference to the final Exec error —
/// after any retries, if it wraps a retry layer. It is not called when the run was cancelled.
/// If it fails too, the node fails with [`BothFailed`], which keeps both errors.
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
pub struct FallbackFn<F>(pub F);

impl<F> fmt::Debug for FallbackFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FallbackFn")
    }
}

impl<N, F, Fut> AroundExec<N> for FallbackFn<F>
where
    N: Node,
    N::Prep: Clone,
    F: Fn(N::Prep, &NodeError) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<N::Exec, NodeError>> + Send,
{
    async fn exec(&self, inner: &N, ctx: &Ctx<'_>, prep: &N::Prep) -> Result<N::Exec, NodeError> {
        let primary = match inner.exec(ctx, prep).await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        if ctx.is_cancelled() || primary.is_cancelled() {
            return Err(primary);
        }
        tracing::warn!(node = ctx.node(), error = %primary, "exec failed, running the fallback");
        (self.0)(prep.clone(), &primary)
            .await
            .map_err(|fallback| NodeError::new(fallback.kind(), BothFailed { primary, fallback }))
    }
}

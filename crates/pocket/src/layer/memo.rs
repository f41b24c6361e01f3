//! The exec-memo layer: in a durable run, a node's Exec result is saved before its Post runs,
//! so a run resumed after a crash between the two runs only Post — a finished LLM call or
//! HTTP request is not paid for or sent twice.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::AroundExec;
use crate::ctx::Ctx;
use crate::error::NodeError;
use crate::node::Node;

/// Save each successful Exec result in the run's journal ([`Ctx::journal`]) and, when the
/// journal holds one for this step (the step was in flight when the run stopped), return it
/// instead of running Exec. Outside durable runs it does nothing. Put it around the call
/// itself, inside retries: an attempt that fails saves nothing.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use pocket::durable::{Checkpointer, Durable, MemoryCheckpointer, RunRecord};
/// use pocket::layer::{Around, memo::ExecMemo};
/// use pocket::{exec_post_fn, Graph, Next, NodeError, RunOptions, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let calls = Arc::new(AtomicU32::new(0));
/// let paid = |crash: bool| {
///     let calls = calls.clone();
///     let call = exec_post_fn(
///         move |q: String| {
///             let calls = calls.clone();
///             async move {
///                 calls.fetch_add(1, Ordering::SeqCst);
///                 Ok(format!("answer to {q}"))
///             }
///         },
///         move |_, _, answer: String| async move {
///             if crash { Err(NodeError::fatal("the process died here")) } else { Ok((answer, Next::End)) }
///         },
///     );
///     Graph::<String, String>::builder().serde_node("ask", Around::new(call, ExecMemo)).build().unwrap()
/// };
/// let checkpointer = Arc::new(MemoryCheckpointer::new());
/// let run = Durable::new(checkpointer.clone(), RunRecord::new("r", "demo", serde_json::Value::Null));
/// assert!(paid(true).run_with(&Store::new(), "why".into(), RunOptions::new().durable(run)).await.is_err());
/// let saved = checkpointer.load("r").unwrap();
/// let out = paid(false).resume(&Store::new(), &saved, checkpointer.clone(), RunOptions::new()).await;
/// assert_eq!(out.unwrap(), "answer to why");
/// assert_eq!(calls.load(Ordering::SeqCst), 1, "the call was made once");
/// # });
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecMemo;

/// Saving the memo failed: the step fails rather than go on without it.
#[derive(Debug, thiserror::Error)]
#[error("cannot save the exec result of node `{node}`")]
pub struct MemoFailed {
    node: String,
    #[source]
    source: crate::durable::CheckpointError,
}

impl<N> AroundExec<N> for ExecMemo
where
    N: Node,
    N::Exec: Serialize + DeserializeOwned,
{
    async fn exec(&self, inner: &N, ctx: &Ctx<'_>, prep: &N::Prep) -> Result<N::Exec, NodeError> {
        let Some(journal) = ctx.journal() else { return inner.exec(ctx, prep).await };
        if let Some(saved) = journal.memo()
            && let Ok(value) = N::Exec::deserialize(saved)
        {
            tracing::debug!(node = ctx.node(), step = journal.step(), "exec result from the run's journal");
            return Ok(value);
        }
        let value = inner.exec(ctx, prep).await?;
        // A result that cannot be written down is not memoised (the step runs again on resume).
        if let Ok(json) = serde_json::to_value(&value) {
            journal
                .save_memo(json)
                .wait()
                .await
                .map_err(|source| NodeError::fatal(MemoFailed { node: ctx.node().to_string(), source }))?;
        }
        Ok(value)
    }
}

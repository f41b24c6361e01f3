//! Nodes: the [`Node`] lifecycle trait, nodes from closures ([`exec_fn`], [`node_fn`], ...),
//! nodes that never wait ([`SyncNode`]), type-erased nodes ([`BoxNode`]), typed chains
//! ([`Chain`]) and the [`NodeExt`] methods that put layers one call away.

mod boxed;
mod chain;
mod compose;
mod ext;
mod fn_node;
mod sync;

pub use crate::ctx::{Ctx, OwnedCtx};
pub use boxed::{BoxExec, BoxNode, BoxPrep};
pub use chain::{Chain, StageFailed};
pub use compose::{Compose, Composite, RunCx};
pub use ext::NodeExt;
pub use fn_node::{ExecCtxFn, ExecFn, ExecPostFn, FnNode, exec_fn, exec_fn_ctx, exec_post_fn, node_fn};
pub(crate) use sync::run_sync;
pub use sync::{Immediate, SyncFn, SyncNode, sync_fn};

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, Ordering};

use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::action::{Action, Next};
use crate::error::{NodeError, RunError, Step};
use crate::store::{Store, StoreView};

/// The outcome handed to [`Node::finish`]: the output, or the failed step and its error.
pub type Outcome<'a, O> = Result<&'a O, (Step, &'a NodeError)>;

/// A unit of work in a graph: **Prep** reads the store, **Exec** does the work (no store, safe
/// to retry), **Post** writes the store and chooses the next action.
///
/// The associated types are the node's contract: `Input` is what it receives, `Output` what it
/// hands on. Graphs check at build time that connected nodes agree, and typed chains
/// ([`NodeExt::then`]) are checked by the compiler.
///
/// For the common shapes, build nodes from closures instead: [`exec_fn`],
/// [`exec_post_fn`], [`node_fn`].
///
/// # Examples
///
/// ```
/// use pocket::{Ctx, Key, Next, Node, NodeError, Store, StoreView};
///
/// const GREETED: Key<u32> = Key::new("greeted");
///
/// struct Greet;
///
/// impl Node for Greet {
///     type Input = String;
///     type Prep = (String, u32);
///     type Exec = String;
///     type Output = String;
///
///     async fn prep(&self, _: &Ctx<'_>, store: &StoreView, name: &String) -> Result<Self::Prep, NodeError> {
///         Ok((name.clone(), store.get(&GREETED)?.unwrap_or(0)))
///     }
///     async fn exec(&self, _: &Ctx<'_>, (name, n): &Self::Prep) -> Result<String, NodeError> {
///         Ok(format!("hello {name} (#{})", n + 1))
///     }
///     async fn post(&self, _: &Ctx<'_>, store: &Store, _: String, (_, n): Self::Prep, text: String)
///         -> Result<(String, Next), NodeError> {
///         store.set(&GREETED, n + 1);
///         Ok((text, Next::Default))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let store = Store::new();
/// let out = pocket::run_node(&Greet, &store, "ada".to_string()).await.unwrap();
/// assert_eq!(out, "hello ada (#1)");
/// assert_eq!(store.get(&GREETED).unwrap(), Some(1));
/// # });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a Pocket node",
    label = "this is not a `Node`",
    note = "make one from a closure with `pocket::exec_fn(|input| async move {{ Ok(output) }})`, or implement `Node` (prep, exec, post)",
    note = "a `SyncNode` becomes a `Node` with `.into_node()`"
)]
pub trait Node: Send + Sync + 'static {
    /// What the node receives (the previous node's output, or the run's input).
    type Input: Send + Sync + 'static;
    /// What Prep hands to Exec (and, afterwards, to Post).
    type Prep: Send + Sync + 'static;
    /// What Exec hands to Post.
    type Exec: Send + 'static;
    /// What the node hands on.
    type Output: Send + 'static;

    /// Read what the work needs from the (read-only) store and the input.
    fn prep(
        &self,
        ctx: &Ctx<'_>,
        store: &StoreView,
        input: &Self::Input,
    ) -> impl Future<Output = Result<Self::Prep, NodeError>> + Send;

    /// Do the work. No store access: Exec may be retried, so it should not have side effects
    /// the store would need to see.
    fn exec(&self, ctx: &Ctx<'_>, prep: &Self::Prep) -> impl Future<Output = Result<Self::Exec, NodeError>> + Send;

    /// Write results to the store and return the output and where to go next. Never retried.
    fn post(
        &self,
        ctx: &Ctx<'_>,
        store: &Store,
        input: Self::Input,
        prep: Self::Prep,
        exec: Self::Exec,
    ) -> impl Future<Output = Result<(Self::Output, Next), NodeError>> + Send;

    /// Called once after the lifecycle, with the output or with the step that failed and its
    /// error (write access to the store). Layers such as [`Hooks`](crate::layer::hooks::Hooks) use it; the
    /// default does nothing.
    fn finish(&self, ctx: &Ctx<'_>, store: &Store, outcome: Outcome<'_, Self::Output>) {
        let _ = (ctx, store, outcome);
    }

    /// The actions this node can return, if it knows them. Building a graph warns about
    /// declared actions without an edge.
    fn actions(&self) -> Option<Vec<Action>> {
        None
    }
}

/// Forward the listed [`Node`] methods of a wrapper to `self.inner` (the wrapped node, with the
/// same step types): `delegate!(prep post finish actions);` inside the wrapper's `impl Node`.
macro_rules! delegate {
    ($($method:ident)*) => { $($crate::node::delegate!(@ $method);)* };
    (@prep) => {
        fn prep(
            &self,
            ctx: &$crate::Ctx<'_>,
            store: &$crate::StoreView,
            input: &Self::Input,
        ) -> impl ::std::future::Future<Output = Result<Self::Prep, $crate::NodeError>> + Send {
            self.inner.prep(ctx, store, input)
        }
    };
    (@exec) => {
        fn exec(
            &self,
            ctx: &$crate::Ctx<'_>,
            prep: &Self::Prep,
        ) -> impl ::std::future::Future<Output = Result<Self::Exec, $crate::NodeError>> + Send {
            self.inner.exec(ctx, prep)
        }
    };
    (@post) => {
        fn post(
            &self,
            ctx: &$crate::Ctx<'_>,
            store: &$crate::Store,
            input: Self::Input,
            prep: Self::Prep,
            exec: Self::Exec,
        ) -> impl ::std::future::Future<Output = Result<(Self::Output, $crate::Next), $crate::NodeError>> + Send {
            self.inner.post(ctx, store, input, prep, exec)
        }
    };
    (@finish) => {
        fn finish(&self, ctx: &$crate::Ctx<'_>, store: &$crate::Store, outcome: $crate::node::Outcome<'_, Self::Output>) {
            self.inner.finish(ctx, store, outcome);
        }
    };
    (@actions) => {
        fn actions(&self) -> Option<Vec<$crate::Action>> {
            self.inner.actions()
        }
    };
}
pub(crate) use delegate;

/// Run one node's whole lifecycle (prep → exec → post, then [`Node::finish`]), catching panics.
/// A step's panic becomes a [`Panicked`](crate::error::Panicked) error of that step.
pub(crate) async fn lifecycle<N: Node>(
    node: &N,
    ctx: &Ctx<'_>,
    store: &Store,
    view: &StoreView,
    input: N::Input,
) -> Result<(N::Output, Next), (Step, NodeError)> {
    // One unwind guard for the three steps; `step` says which one was running.
    let step = AtomicU8::new(0);
    let run = async {
        let prep = node.prep(ctx, view, &input).await.map_err(|e| (Step::Prep, e))?;
        step.store(1, Ordering::Relaxed);
        let exec = node.exec(ctx, &prep).await.map_err(|e| (Step::Exec, e))?;
        step.store(2, Ordering::Relaxed);
        node.post(ctx, store, input, prep, exec).await.map_err(|e| (Step::Post, e))
    };
    let result = match AssertUnwindSafe(run).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let step = [Step::Prep, Step::Exec, Step::Post][usize::from(step.load(Ordering::Relaxed))];
            Err((step, NodeError::from_panic(panic)))
        }
    };
    let outcome = match &result {
        Ok((output, _)) => Ok(output),
        Err((step, error)) => Err((*step, error)),
    };
    let finished = std::panic::catch_unwind(AssertUnwindSafe(|| node.finish(ctx, store, outcome)));
    match finished {
        Ok(()) => result,
        Err(panic) => Err((Step::Hooks, NodeError::from_panic(panic))),
    }
}

/// Run a single node (any node: a leaf, a layered node, a sub-graph or a chain) on `store`,
/// outside of a graph. The node's name in errors is `node`.
///
/// # Errors
///
/// [`RunError::Node`] naming the failed step.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let double = pocket::exec_fn(|x: i64| async move { Ok(x * 2) });
/// let out = pocket::run_node(&double, &pocket::Store::new(), 21).await.unwrap();
/// assert_eq!(out, 42);
/// # });
/// ```
pub async fn run_node<N: Node>(node: &N, store: &Store, input: N::Input) -> Result<N::Output, RunError> {
    let token = CancellationToken::new();
    run_node_with(node, "node", store, input, &token).await.map(|(out, _)| out)
}

/// Like [`run_node`], with a name for errors and a cancellation token; also returns the
/// node's [`Next`].
///
/// # Errors
///
/// [`RunError::Cancelled`] when `token` is already cancelled, [`RunError::Node`] when a step
/// fails.
pub async fn run_node_with<N: Node>(
    node: &N,
    name: &str,
    store: &Store,
    input: N::Input,
    token: &CancellationToken,
) -> Result<(N::Output, Next), RunError> {
    if token.is_cancelled() {
        return Err(RunError::Cancelled { node: name.to_string() });
    }
    run_node_unchecked(node, name, store, input, token).await
}

/// [`run_node_with`], abandoning a node that ignores the cancellation: if `token` is cancelled
/// first, the node is dropped and the result is [`RunError::Cancelled`].
pub(crate) async fn run_node_racing<N: Node>(
    node: &N,
    name: &str,
    store: &Store,
    input: N::Input,
    token: &CancellationToken,
) -> Result<(N::Output, Next), RunError> {
    crate::cancel::race(run_node_with(node, name, store, input, token), token)
        .await
        .unwrap_or_else(|| Err(RunError::Cancelled { node: name.to_string() }))
}

/// [`run_node_with`] without the up-front cancellation check, for patterns that check a
/// [`Watch`](crate::cancel::Watch) themselves.
pub(crate) async fn run_node_unchecked<N: Node>(
    node: &N,
    name: &str,
    store: &Store,
    input: N::Input,
    token: &CancellationToken,
) -> Result<(N::Output, Next), RunError> {
    let ctx = Ctx::new(name, token, store);
    let view = store.view();
    lifecycle(node, &ctx, store, &view, input).await.map_err(|(step, source)| RunError::Node {
        node: name.to_string(),
        step,
        source,
    })
}

/// A shared node is a node: share one node between graphs, fan-outs and tasks without copying
/// it (its layers and state, such as a shared rate limiter, stay one).
impl<N: Node> Node for std::sync::Arc<N> {
    type Input = N::Input;
    type Prep = N::Prep;
    type Exec = N::Exec;
    type Output = N::Output;

    fn prep(
        &self,
        ctx: &Ctx<'_>,
        store: &StoreView,
        input: &Self::Input,
    ) -> impl Future<Output = Result<Self::Prep, NodeError>> + Send {
        (**self).prep(ctx, store, input)
    }

    fn exec(&self, ctx: &Ctx<'_>, prep: &Self::Prep) -> impl Future<Output = Result<Self::Exec, NodeError>> + Send {
        (**self).exec(ctx, prep)
    }

    fn post(
        &self,
        ctx: &Ctx<'_>,
        store: &Store,
        input: Self::Input,
        prep: Self::Prep,
        exec: Self::Exec,
    ) -> impl Future<Output = Result<(Self::Output, Next), NodeError>> + Send {
        (**self).post(ctx, store, input, prep, exec)
    }

    fn finish(&self, ctx: &Ctx<'_>, store: &Store, outcome: Outcome<'_, Self::Output>) {
        (**self).finish(ctx, store, outcome);
    }

    fn actions(&self) -> Option<Vec<Action>> {
        (**self).actions()
    }
}

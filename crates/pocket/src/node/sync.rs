//! Nodes whose steps never wait: plain functions, run without any allocation inside a graph.

use std::fmt;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;

use crate::action::{Action, Next};
use crate::ctx::Ctx;
use crate::error::{NodeError, Step};
use crate::node::Node;
use crate::store::{Store, StoreView};

/// A node whose Prep, Exec and Post are plain functions that never wait (routers, transforms,
/// templates, counters). Add it to a graph with
/// [`GraphBuilder::sync_node`](crate::graph::GraphBuilder::sync_node): the graph then runs it inline,
/// without boxing a future, which makes such steps several times cheaper than async ones.
///
/// Anything that waits (I/O, timers, other tasks) belongs in a [`Node`]. A `SyncNode` is also a
/// [`Node`] through [`Immediate`] (`node.into_node()`), so layers and chains apply to it too.
///
/// # Examples
///
/// ```
/// use pocket::{Ctx, Graph, Next, NodeError, Store, StoreView, SyncNode};
///
/// struct Classify;
///
/// impl SyncNode for Classify {
///     type Input = i64;
///     type Prep = i64;
///     type Exec = bool;
///     type Output = i64;
///     fn prep(&self, _: &Ctx<'_>, _: &StoreView, n: &i64) -> Result<i64, NodeError> {
///         Ok(*n)
///     }
///     fn exec(&self, _: &Ctx<'_>, n: &i64) -> Result<bool, NodeError> {
///         Ok(n % 2 == 0)
///     }
///     fn post(&self, _: &Ctx<'_>, _: &Store, n: i64, _: i64, even: bool) -> Result<(i64, Next), NodeError> {
///         Ok((n, Next::to(if even { "even" } else { "odd" })))
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let graph = Graph::<i64, i64>::builder().sync_node("classify", Classify).build().unwrap();
/// assert_eq!(graph.run(&Store::new(), 4).await.unwrap(), 4);
/// # });
/// ```
pub trait SyncNode: Send + Sync + 'static {
    /// What the node receives.
    type Input: Send + Sync + 'static;
    /// What Prep hands to Exec and Post.
    type Prep: Send + Sync + 'static;
    /// What Exec hands to Post.
    type Exec: Send + 'static;
    /// What the node hands on.
    type Output: Send + 'static;

    /// Read the store (read-only) and the input.
    fn prep(&self, ctx: &Ctx<'_>, store: &StoreView, input: &Self::Input) -> Result<Self::Prep, NodeError>;
    /// Do the work, without store access.
    fn exec(&self, ctx: &Ctx<'_>, prep: &Self::Prep) -> Result<Self::Exec, NodeError>;
    /// Write the store; return the output and where to go next.
    fn post(
        &self,
        ctx: &Ctx<'_>,
        store: &Store,
        input: Self::Input,
        prep: Self::Prep,
        exec: Self::Exec,
    ) -> Result<(Self::Output, Next), NodeError>;

    /// The actions this node can return, if it knows them.
    fn actions(&self) -> Option<Vec<Action>> {
        None
    }

    /// This node as an async [`Node`] (to add layers or chain it).
    fn into_node(self) -> Immediate<Self>
    where
        Self: Sized,
    {
        Immediate(self)
    }
}

/// Run a [`SyncNode`]'s three steps, catching panics (which become the failing step's error).
pub(crate) fn run_sync<S: SyncNode>(
    node: &S,
    ctx: &Ctx<'_>,
    store: &Store,
    view: &StoreView,
    input: S::Input,
) -> Result<(S::Output, Next), (Step, NodeError)> {
    let mut step = Step::Prep;
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let prep = node.prep(ctx, view, &input).map_err(|e| (Step::Prep, e))?;
        step = Step::Exec;
        let exec = node.exec(ctx, &prep).map_err(|e| (Step::Exec, e))?;
        step = Step::Post;
        node.post(ctx, store, input, prep, exec).map_err(|e| (Step::Post, e))
    }));
    result.unwrap_or_else(|panic| Err((step, NodeError::from_panic(panic))))
}

/// A [`SyncNode`] as a [`Node`]. Built by [`SyncNode::into_node`].
#[derive(Debug, Clone)]
pub struct Immediate<S>(pub S);

impl<S: SyncNode> Node for Immediate<S> {
    type Input = S::Input;
    type Prep = S::Prep;
    type Exec = S::Exec;
    type Output = S::Output;

    async fn prep(&self, ctx: &Ctx<'_>, store: &StoreView, input: &S::Input) -> Result<S::Prep, NodeError> {
        self.0.prep(ctx, store, input)
    }

    async fn exec(&self, ctx: &Ctx<'_>, prep: &S::Prep) -> Result<S::Exec, NodeError> {
        self.0.exec(ctx, prep)
    }

    async fn post(
        &self,
        ctx: &Ctx<'_>,
        store: &Store,
        input: S::Input,
        prep: S::Prep,
        exec: S::Exec,
    ) -> Result<(S::Output, Next), NodeError> {
        self.0.post(ctx, store, input, prep, exec)
    }

    fn actions(&self) -> Option<Vec<Action>> {
        self.0.actions()
    }
}

/// A [`SyncNode`] made of one function: the input is cloned into `f`, its result is the output,
/// the action is `default`. Built by [`sync_fn`].
pub struct SyncFn<F, I, O> {
    f: F,
    _types: PhantomData<fn(I) -> O>,
}

impl<F, I, O> fmt::Debug for SyncFn<F, I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SyncFn<{} -> {}>", std::any::type_name::<I>(), std::any::type_name::<O>())
    }
}

/// A [`SyncNode`] from a plain function.
///
/// # Examples
///
/// ```
/// use pocket::{Graph, Store, sync_fn};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let graph = Graph::<u32, u32>::builder()
///     .sync_node("double", sync_fn(|x: u32| Ok(x * 2)))
///     .sync_node("inc", sync_fn(|x: u32| Ok(x + 1)))
///     .edge("double", "default", "inc")
///     .build()
///     .unwrap();
/// assert_eq!(graph.run(&Store::new(), 20).await.unwrap(), 41);
/// # });
/// ```
pub fn sync_fn<F, I, O>(f: F) -> SyncFn<F, I, O>
where
    F: Fn(I) -> Result<O, NodeError> + Send + Sync + 'static,
    I: Clone + Send + Sync + 'static,
    O: Send + 'static,
{
    SyncFn { f, _types: PhantomData }
}

impl<F, I, O> SyncNode for SyncFn<F, I, O>
where
    F: Fn(I) -> Result<O, NodeError> + Send + Sync + 'static,
    I: Clone + Send + Sync + 'static,
    O: Send + 'static,
{
    type Input = I;
    type Prep = I;
    type Exec = O;
    type Output = O;

    fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &I) -> Result<I, NodeError> {
        Ok(input.clone())
    }

    fn exec(&self, _: &Ctx<'_>, prep: &I) -> Result<O, NodeError> {
        (self.f)(prep.clone())
    }

    fn post(&self, _: &Ctx<'_>, _: &Store, _: I, _: I, exec: O) -> Result<(O, Next), NodeError> {
        Ok((exec, Next::Default))
    }
}

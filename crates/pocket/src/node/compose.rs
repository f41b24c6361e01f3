//! [`Compose`]: nodes that run other nodes, with the run's store.

use std::future::Future;

use tokio_util::sync::CancellationToken;

use crate::action::{Action, Next};
use crate::ctx::Ctx;
use crate::error::NodeError;
use crate::node::Node;
use crate::store::{Store, StoreView};

/// What a composite node's [`Compose::run`] gets: the run's store (to run other nodes on it or
/// on its scopes), the node's name and the run's cancellation token.
#[derive(Debug, Clone, Copy)]
pub struct RunCx<'a> {
    ctx: &'a Ctx<'a>,
}

impl<'a> RunCx<'a> {
    /// The run's store.
    pub fn store(&self) -> &'a Store {
        self.ctx.store()
    }

    /// The composite node's name in the run.
    pub fn node(&self) -> &'a str {
        self.ctx.node()
    }

    /// The run's cancellation token: hand it to the nodes you run.
    pub fn token(&self) -> &'a CancellationToken {
        self.ctx.token()
    }

    /// The step's context.
    pub fn ctx(&self) -> &'a Ctx<'a> {
        self.ctx
    }
}

/// A node that runs other nodes — a fan-out over tasks, a loop, a sub-workflow — on the run's
/// store. Wrap it in [`Composite`] to get a [`Node`].
///
/// `run` is the composite node's Exec, but unlike a plain Exec it reaches the store: the nodes
/// it runs write it in their Posts. So it is **not** retry-safe in the Prep/Exec sense: a retry
/// layer around a composite node re-runs the inner nodes, Posts included. Put retries on the
/// inner nodes instead, or make their Posts idempotent.
///
/// # Examples
///
/// ```
/// use pocket::node::{Compose, Composite, RunCx, run_node_with};
/// use pocket::{exec_fn, Key, NodeError, Store};
///
/// const SEEN: Key<u32> = Key::new("seen");
///
/// /// Runs `inner` twice, each time on a scope of the run's store.
/// struct Twice<N>(N);
///
/// impl<N: pocket::Node<Input = u32, Output = u32>> Compose for Twice<N> {
///     type Input = u32;
///     type Output = u32;
///     async fn run(&self, cx: &RunCx<'_>, x: &u32) -> Result<u32, NodeError> {
///         let mut value = *x;
///         for round in 0..2 {
///             let scope = cx.store().scope(&format!("round-{round}"));
///             scope.set(&SEEN, value);
///             let name = format!("{}.{round}", cx.node());
///             value = run_node_with(&self.0, &name, &scope, value, cx.token()).await.map_err(NodeError::fatal)?.0;
///         }
///         Ok(value)
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let node = Composite(Twice(exec_fn(|x: u32| async move { Ok(x * 3) })));
/// let store = Store::new();
/// assert_eq!(pocket::run_node(&node, &store, 2).await.unwrap(), 18);
/// assert_eq!(store.scope("round-1").get(&SEEN).unwrap(), Some(6));
/// # });
/// ```
pub trait Compose: Send + Sync + 'static {
    /// What the composite node receives (cloned for `run`, which may be called again).
    type Input: Clone + Send + Sync + 'static;
    /// What it hands on.
    type Output: Send + 'static;

    /// Run the inner nodes.
    fn run(&self, cx: &RunCx<'_>, input: &Self::Input) -> impl Future<Output = Result<Self::Output, NodeError>> + Send;

    /// Where to go after producing `output` (default: the `default` edge).
    ///
    /// # Errors
    ///
    /// A [`NodeError`] of the Post step.
    fn next(&self, output: &Self::Output) -> Result<Next, NodeError> {
        let _ = output;
        Ok(Next::Default)
    }

    /// The actions [`Compose::next`] can return, if known.
    fn actions(&self) -> Option<Vec<Action>> {
        None
    }
}

/// The [`Node`] of a [`Compose`]: Prep clones the input, Exec is [`Compose::run`], Post hands
/// the output on along [`Compose::next`].
#[derive(Debug, Clone)]
#[must_use = "a node does nothing until it is run"]
pub struct Composite<C>(pub C);

impl<C: Compose> Node for Composite<C> {
    type Input = C::Input;
    type Prep = C::Input;
    type Exec = C::Output;
    type Output = C::Output;

    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &C::Input) -> Result<C::Input, NodeError> {
        Ok(input.clone())
    }

    async fn exec(&self, ctx: &Ctx<'_>, input: &C::Input) -> Result<C::Output, NodeError> {
        self.0.run(&RunCx { ctx }, input).await
    }

    async fn post(
        &self,
        _: &Ctx<'_>,
        _: &Store,
        _: C::Input,
        _: C::Input,
        output: C::Output,
    ) -> Result<(C::Output, Next), NodeError> {
        let next = self.0.next(&output)?;
        Ok((output, next))
    }

    fn actions(&self) -> Option<Vec<Action>> {
        self.0.actions()
    }
}

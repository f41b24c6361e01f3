//! [`Either`]: a node that is one of two nodes, chosen when the graph is built — how a layer
//! is applied only when configured (`node.layer_if(config, |n, c| n.timeout(c))`, or an
//! `Option<L>` layer).

use crate::action::{Action, Next};
use crate::ctx::Ctx;
use crate::error::NodeError;
use crate::node::{Node, Outcome};
use crate::store::{Store, StoreView};

/// One of two nodes (or of two step results) with the same input and output: the node as it
/// is, or wrapped in a layer. Built by [`NodeExt::layer_if`](crate::NodeExt::layer_if).
///
/// ```
/// use std::time::Duration;
/// use pocket::layer::timeout::Timeouts;
/// use pocket::{NodeExt, Store, exec_fn};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let configured: Option<Duration> = Some(Duration::from_secs(5)); // e.g. read from a file
/// let node = exec_fn(|x: u32| async move { Ok(x + 1) })
///     .layer_if(configured, |n, limit| n.timeout(Timeouts::step(limit)));
/// assert_eq!(pocket::run_node(&node, &Store::new(), 1).await.unwrap(), 2);
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Either<A, B> {
    /// The first node (the bare one, for [`layer_if`](crate::NodeExt::layer_if)).
    Left(A),
    /// The second node (the layered one).
    Right(B),
}

fn crossed() -> NodeError {
    NodeError::fatal_msg("internal error: a step result reached the other branch of an Either node")
}

impl<A, B> Node for Either<A, B>
where
    A: Node,
    B: Node<Input = A::Input, Output = A::Output>,
{
    type Input = A::Input;
    type Prep = Either<A::Prep, B::Prep>;
    type Exec = Either<A::Exec, B::Exec>;
    type Output = A::Output;

    async fn prep(&self, ctx: &Ctx<'_>, store: &StoreView, input: &Self::Input) -> Result<Self::Prep, NodeError> {
        match self {
            Either::Left(a) => a.prep(ctx, store, input).await.map(Either::Left),
            Either::Right(b) => b.prep(ctx, store, input).await.map(Either::Right),
        }
    }

    async fn exec(&self, ctx: &Ctx<'_>, prep: &Self::Prep) -> Result<Self::Exec, NodeError> {
        match (self, prep) {
            (Either::Left(a), Either::Left(p)) => a.exec(ctx, p).await.map(Either::Left),
            (Either::Right(b), Either::Right(p)) => b.exec(ctx, p).await.map(Either::Right),
            _ => Err(crossed()),
        }
    }

    async fn post(
        &self,
        ctx: &Ctx<'_>,
        store: &Store,
        input: Self::Input,
        prep: Self::Prep,
        exec: Self::Exec,
    ) -> Result<(Self::Output, Next), NodeError> {
        match (self, prep, exec) {
            (Either::Left(a), Either::Left(p), Either::Left(e)) => a.post(ctx, store, input, p, e).await,
            (Either::Right(b), Either::Right(p), Either::Right(e)) => b.post(ctx, store, input, p, e).await,
            _ => Err(crossed()),
        }
    }

    fn finish(&self, ctx: &Ctx<'_>, store: &Store, outcome: Outcome<'_, Self::Output>) {
        match self {
            Either::Left(a) => a.finish(ctx, store, outcome),
            Either::Right(b) => b.finish(ctx, store, outcome),
        }
    }

    fn actions(&self) -> Option<Vec<Action>> {
        match self {
            Either::Left(a) => a.actions(),
            Either::Right(b) => b.actions(),
        }
    }
}

/// Serializes as the value it holds (so a cache can key on an `Either` step result).
impl<A: serde::Serialize, B: serde::Serialize> serde::Serialize for Either<A, B> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Either::Left(a) => a.serialize(serializer),
            Either::Right(b) => b.serialize(serializer),
        }
    }
}

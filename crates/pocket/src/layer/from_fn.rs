//! Middleware from a plain async function: decide what happens around the wrapped node's whole
//! lifecycle without implementing a trait.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::action::Next;
use crate::ctx::Ctx;
use crate::error::NodeError;
use crate::layer::Layer;
use crate::node::{Node, lifecycle};
use crate::store::{Store, StoreView};

/// The rest of the chain, handed to a [`middleware`] function: [`Proceed::run`] runs the wrapped
/// node's whole lifecycle on an input.
pub struct Proceed<N> {
    node: Arc<N>,
    name: String,
    store: Store,
    token: CancellationToken,
}

impl<N> fmt::Debug for Proceed<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proceed").field("node", &self.name).finish_non_exhaustive()
    }
}

impl<N: Node> Proceed<N> {
    /// Run the wrapped node on `input` (can be called more than once, e.g. to retry).
    ///
    /// # Errors
    ///
    /// The wrapped node's error.
    pub async fn run(&self, input: N::Input) -> Result<(N::Output, Next), NodeError> {
        let ctx = Ctx::new(&self.name, &self.token, &self.store);
        let view = self.store.view();
        lifecycle(&*self.node, &ctx, &self.store, &view, input).await.map_err(|(_, error)| error)
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A node wrapped by an async function: `f(input, next)` decides what happens around
/// `next.run(input)` — change the input or the output, time it, log it, retry it, or answer
/// without calling it. Built by [`middleware`].
#[must_use = "a layered node does nothing until it is run"]
pub struct Middleware<N, F> {
    node: Arc<N>,
    f: F,
}

impl<N: fmt::Debug, F> fmt::Debug for Middleware<N, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Middleware").field("node", &self.node).finish_non_exhaustive()
    }
}

/// Wrap `node` in the async function `f(input, next)`, without implementing any trait.
///
/// # Examples
///
/// ```
/// use pocket::layer::from_fn::middleware;
/// use pocket::{exec_fn, Next, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let answer = exec_fn(|q: String| async move { Ok(format!("answer to {q}")) });
/// // Normalise the question, and never send an empty one.
/// let guarded = middleware(answer, |q: String, next| async move {
///     let q = q.trim().to_lowercase();
///     if q.is_empty() {
///         return Ok(("please ask something".to_string(), Next::to("empty")));
///     }
///     next.run(q).await
/// });
/// let store = Store::new();
/// assert_eq!(pocket::run_node(&guarded, &store, "  WHY? ".into()).await.unwrap(), "answer to why?");
/// assert_eq!(pocket::run_node(&guarded, &store, "   ".into()).await.unwrap(), "please ask something");
/// # });
/// ```
pub fn middleware<N, F, Fut>(node: N, f: F) -> Middleware<N, F>
where
    N: Node,
    N::Input: Clone,
    F: Fn(N::Input, Proceed<N>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(N::Output, Next), NodeError>> + Send,
{
    Middleware { node: Arc::new(node), f }
}

impl<N, F, Fut> Node for Middleware<N, F>
where
    N: Node,
    N::Input: Clone,
    F: Fn(N::Input, Proceed<N>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(N::Output, Next), NodeError>> + Send,
{
    type Input = N::Input;
    type Prep = N::Input;
    type Exec = (N::Output, Next);
    type Output = N::Output;

    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &N::Input) -> Result<N::Input, NodeError> {
        Ok(input.clone())
    }

    async fn exec(&self, ctx: &Ctx<'_>, input: &N::Input) -> Result<Self::Exec, NodeError> {
        let next = Proceed {
            node: self.node.clone(),
            name: ctx.node().to_string(),
            store: ctx.store().clone(),
            token: ctx.token().clone(),
        };
        (self.f)(input.clone(), next).await
    }

    async fn post(
        &self,
        _: &Ctx<'_>,
        _: &Store,
        _: N::Input,
        _: N::Input,
        exec: Self::Exec,
    ) -> Result<(N::Output, Next), NodeError> {
        Ok(exec)
    }

    fn actions(&self) -> Option<Vec<crate::Action>> {
        self.node.actions()
    }
}

/// The layer value of [`middleware`]: wraps each node in a clone of the function.
///
/// ```
/// use pocket::layer::from_fn::FromFnLayer;
/// use pocket::{exec_fn, NodeExt, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let trim = FromFnLayer(|s: String, next: pocket::layer::from_fn::Proceed<_>| async move { next.run(s.trim().to_string()).await });
/// let node = exec_fn(|s: String| async move { Ok(s.len()) }).layer(trim);
/// assert_eq!(pocket::run_node(&node, &Store::new(), "  ab ".into()).await.unwrap(), 2);
/// # });
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FromFnLayer<F>(pub F);

impl<N, F, Fut> Layer<N> for FromFnLayer<F>
where
    N: Node,
    N::Input: Clone,
    F: Fn(N::Input, Proceed<N>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(N::Output, Next), NodeError>> + Send,
{
    type Node = Middleware<N, F>;
    fn layer(&self, inner: N) -> Self::Node {
        middleware(inner, self.0.clone())
    }
}

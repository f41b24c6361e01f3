//! [`BoxNode`]: a type-erased node with fixed input and output types, for collections of
//! different nodes (fan-in sources, scatter-gather services, pipeline stages, YAML nodes).

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::action::{Action, Next};
use crate::ctx::Ctx;
use crate::erased::{AnySend, AnySync, same_type};
use crate::error::NodeError;
use crate::node::{Node, Outcome};
use crate::store::{Store, StoreView};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The Prep result of a [`BoxNode`]: opaque — only the `BoxNode` that made it can open it, so a
/// wrapper can hold it and hand it back, never build or inspect one.
pub struct BoxPrep(AnySync);

/// The Exec result of a [`BoxNode`]: opaque, like [`BoxPrep`].
pub struct BoxExec(AnySend);

impl fmt::Debug for BoxPrep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxPrep")
    }
}

impl fmt::Debug for BoxExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxExec")
    }
}

trait Erased<I, O, P, X>: Send + Sync {
    fn prep<'a>(&'a self, ctx: &'a Ctx<'a>, store: &'a StoreView, input: &'a I) -> BoxFuture<'a, Result<P, NodeError>>;
    fn exec<'a>(&'a self, ctx: &'a Ctx<'a>, prep: &'a P) -> BoxFuture<'a, Result<X, NodeError>>;
    fn post<'a>(
        &'a self,
        ctx: &'a Ctx<'a>,
        store: &'a Store,
        input: I,
        prep: P,
        exec: X,
    ) -> BoxFuture<'a, Result<(O, Next), NodeError>>;
    fn finish(&self, ctx: &Ctx<'_>, store: &Store, outcome: Outcome<'_, O>);
    fn actions(&self) -> Option<Vec<Action>>;
    fn type_name(&self) -> &'static str;
}

fn mismatch<T>() -> NodeError {
    NodeError::fatal_msg(format!("boxed node received a step result that is not a `{}`", std::any::type_name::<T>()))
}

/// A node whose step results are erased too (`BoxNode<I, O>`).
struct Opaque<N>(N);

/// A node whose step results keep their types (`BoxNode<I, O, P, X>`): no `Any` at all.
struct Typed<N>(N);

impl<N: Node> Erased<N::Input, N::Output, BoxPrep, BoxExec> for Opaque<N> {
    fn prep<'a>(
        &'a self,
        ctx: &'a Ctx<'a>,
        store: &'a StoreView,
        input: &'a N::Input,
    ) -> BoxFuture<'a, Result<BoxPrep, NodeError>> {
        Box::pin(async move { Node::prep(&self.0, ctx, store, input).await.map(|p| BoxPrep(AnySync::new(p))) })
    }

    fn exec<'a>(&'a self, ctx: &'a Ctx<'a>, prep: &'a BoxPrep) -> BoxFuture<'a, Result<BoxExec, NodeError>> {
        Box::pin(async move {
            let prep = prep.0.get::<N::Prep>().ok_or_else(mismatch::<N::Prep>)?;
            Node::exec(&self.0, ctx, prep).await.map(|e| BoxExec(AnySend::new(e)))
        })
    }

    fn post<'a>(
        &'a self,
        ctx: &'a Ctx<'a>,
        store: &'a Store,
        input: N::Input,
        prep: BoxPrep,
        exec: BoxExec,
    ) -> BoxFuture<'a, Result<(N::Output, Next), NodeError>> {
        Box::pin(async move {
            let prep = prep.0.into_inner::<N::Prep>().ok_or_else(mismatch::<N::Prep>)?;
            let exec = exec.0.into_inner::<N::Exec>().ok_or_else(mismatch::<N::Exec>)?;
            Node::post(&self.0, ctx, store, input, prep, exec).await
        })
    }

    fn finish(&self, ctx: &Ctx<'_>, store: &Store, outcome: Outcome<'_, N::Output>) {
        Node::finish(&self.0, ctx, store, outcome);
    }

    fn actions(&self) -> Option<Vec<Action>> {
        Node::actions(&self.0)
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<N>()
    }
}

impl<N: Node> Erased<N::Input, N::Output, N::Prep, N::Exec> for Typed<N> {
    fn prep<'a>(
        &'a self,
        ctx: &'a Ctx<'a>,
        store: &'a StoreView,
        input: &'a N::Input,
    ) -> BoxFuture<'a, Result<N::Prep, NodeError>> {
        Box::pin(Node::prep(&self.0, ctx, store, input))
    }

    fn exec<'a>(&'a self, ctx: &'a Ctx<'a>, prep: &'a N::Prep) -> BoxFuture<'a, Result<N::Exec, NodeError>> {
        Box::pin(Node::exec(&self.0, ctx, prep))
    }

    fn post<'a>(
        &'a self,
        ctx: &'a Ctx<'a>,
        store: &'a Store,
        input: N::Input,
        prep: N::Prep,
        exec: N::Exec,
    ) -> BoxFuture<'a, Result<(N::Output, Next), NodeError>> {
        Box::pin(Node::post(&self.0, ctx, store, input, prep, exec))
    }

    fn finish(&self, ctx: &Ctx<'_>, store: &Store, outcome: Outcome<'_, N::Output>) {
        Node::finish(&self.0, ctx, store, outcome);
    }

    fn actions(&self) -> Option<Vec<Action>> {
        Node::actions(&self.0)
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<N>()
    }
}

/// A node whose concrete type is erased: any [`Node`] with input `I` and output `O`. Built by
/// [`NodeExt::boxed`](crate::NodeExt::boxed). Its steps cost one allocation each more than the
/// concrete node's.
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, BoxNode, NodeExt, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// // Different node types in one collection.
/// let nodes: Vec<BoxNode<i64, i64>> = vec![
///     exec_fn(|x: i64| async move { Ok(x + 1) }).boxed(),
///     exec_fn(|x: i64| async move { Ok(x * 10) }).then(exec_fn(|x: i64| async move { Ok(x - 1) })).boxed(),
/// ];
/// let store = Store::new();
/// let mut out = Vec::new();
/// for node in &nodes {
///     out.push(pocket::run_node(node, &store, 5).await.unwrap());
/// }
/// assert_eq!(out, [6, 49]);
/// # });
/// ```
///
/// `BoxNode<I, O, P, X>` erases the node but keeps its Prep and Exec types, so layers that read
/// the Prep result (a rate limit's cost, a cache key) still see it: [`BoxNode::typed`].
pub struct BoxNode<I, O, P = BoxPrep, X = BoxExec> {
    inner: Box<dyn Erased<I, O, P, X>>,
}

impl<I, O, P, X> fmt::Debug for BoxNode<I, O, P, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BoxNode({})", self.inner.type_name())
    }
}

impl<I: Send + Sync + 'static, O: Send + 'static> BoxNode<I, O> {
    /// Erase `node`'s type (a node that is already a `BoxNode<I, O>` is not boxed again).
    pub fn new<N: Node<Input = I, Output = O>>(node: N) -> Self {
        let mut slot = Some(node);
        if let Some(boxed) = same_type::<Option<N>, Option<BoxNode<I, O>>>(&mut slot) {
            return boxed.take().expect("the slot was just filled");
        }
        BoxNode { inner: Box::new(Opaque(slot.expect("the slot was just filled"))) }
    }
}

impl<I, O, P, X> BoxNode<I, O, P, X>
where
    I: Send + Sync + 'static,
    O: Send + 'static,
    P: Send + Sync + 'static,
    X: Send + 'static,
{
    /// Erase `node`'s type, keeping its step types.
    ///
    /// ```
    /// use pocket::{exec_fn, BoxNode, Store};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let node: BoxNode<u32, u32, u32, u32> = BoxNode::typed(exec_fn(|x: u32| async move { Ok(x + 1) }));
    /// assert_eq!(pocket::run_node(&node, &Store::new(), 1).await.unwrap(), 2);
    /// # });
    /// ```
    pub fn typed<N: Node<Input = I, Output = O, Prep = P, Exec = X>>(node: N) -> Self {
        BoxNode { inner: Box::new(Typed(node)) }
    }
}

impl<I, O, P, X> Node for BoxNode<I, O, P, X>
where
    I: Send + Sync + 'static,
    O: Send + 'static,
    P: Send + Sync + 'static,
    X: Send + 'static,
{
    type Input = I;
    type Prep = P;
    type Exec = X;
    type Output = O;

    async fn prep(&self, ctx: &Ctx<'_>, store: &StoreView, input: &I) -> Result<P, NodeError> {
        self.inner.prep(ctx, store, input).await
    }

    async fn exec(&self, ctx: &Ctx<'_>, prep: &P) -> Result<X, NodeError> {
        self.inner.exec(ctx, prep).await
    }

    async fn post(&self, ctx: &Ctx<'_>, store: &Store, input: I, prep: P, exec: X) -> Result<(O, Next), NodeError> {
        self.inner.post(ctx, store, input, prep, exec).await
    }

    fn finish(&self, ctx: &Ctx<'_>, store: &Store, outcome: Outcome<'_, O>) {
        self.inner.finish(ctx, store, outcome);
    }

    fn actions(&self) -> Option<Vec<Action>> {
        self.inner.actions()
    }
}

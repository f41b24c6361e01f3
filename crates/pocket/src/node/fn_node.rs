//! Nodes from plain async closures, for the common shapes.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use crate::action::Next;
use crate::ctx::{Ctx, OwnedCtx};
use crate::error::NodeError;
use crate::node::Node;
use crate::store::{Store, StoreView};

/// Records the step types of an [`FnNode`].
type Steps<I, R, X, O> = PhantomData<fn(I) -> (R, X, O)>;

/// A node made of one async function: the input goes to `exec`, its result is the output, the
/// action is `default`. Built by [`exec_fn`].
pub struct ExecFn<F, I, O> {
    exec: F,
    _types: PhantomData<fn(I) -> O>,
}

/// A node made of an exec and a post function. Built by [`exec_post_fn`].
pub struct ExecPostFn<E, P, I, X, O> {
    exec: E,
    post: P,
    _types: PhantomData<fn(I) -> (X, O)>,
}

/// A node made of prep, exec and post functions. Built by [`node_fn`].
pub struct FnNode<P, E, Q, I, R, X, O> {
    prep: P,
    exec: E,
    post: Q,
    _types: Steps<I, R, X, O>,
}

/// A node whose exec is `f`: the input is cloned into `f`, its result becomes the output, and
/// the action is `default`.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use pocket::{exec_fn, run_node, Store};
///
/// let shout = exec_fn(|s: String| async move { Ok(s.to_uppercase()) });
/// assert_eq!(run_node(&shout, &Store::new(), "hi".into()).await.unwrap(), "HI");
/// # });
/// ```
pub fn exec_fn<F, Fut, I, O>(f: F) -> ExecFn<F, I, O>
where
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, NodeError>> + Send,
    I: Clone + Send + Sync + 'static,
    O: Send + 'static,
{
    ExecFn { exec: f, _types: PhantomData }
}

/// A node with an exec and a post: `exec(input)` does the work, then
/// `post(store, input, exec_result)` writes the store and returns the output and [`Next`].
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use pocket::{exec_post_fn, run_node, Next, Store};
/// use serde_json::json;
///
/// let classify = exec_post_fn(
///     |n: i64| async move { Ok(n % 2 == 0) },
///     |store: Store, n: i64, even: bool| async move {
///         store.set_value("last", json!(n));
///         Ok((n, Next::to(if even { "even" } else { "odd" })))
///     },
/// );
/// let store = Store::new();
/// assert_eq!(run_node(&classify, &store, 7).await.unwrap(), 7);
/// assert_eq!(store.get_value("last").unwrap(), Some(json!(7)));
/// # });
/// ```
pub fn exec_post_fn<E, EFut, P, PFut, I, X, O>(exec: E, post: P) -> ExecPostFn<E, P, I, X, O>
where
    E: Fn(I) -> EFut + Send + Sync + 'static,
    EFut: Future<Output = Result<X, NodeError>> + Send,
    P: Fn(Store, I, X) -> PFut + Send + Sync + 'static,
    PFut: Future<Output = Result<(O, Next), NodeError>> + Send,
    I: Clone + Send + Sync + 'static,
    X: Send + 'static,
    O: Send + 'static,
{
    ExecPostFn { exec, post, _types: PhantomData }
}

/// A node with all three steps as async functions:
/// `prep(store_view, input) -> R`, `exec(R) -> X`, `post(store, input, R, X) -> (O, Next)`.
///
/// # Examples
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use pocket::{node_fn, run_node, Next, Store, StoreView};
/// use serde_json::json;
///
/// let count = node_fn(
///     |store: StoreView, word: String| async move {
///         Ok(store.get_value("seen")?.and_then(|v| v.as_u64()).unwrap_or(0))
///     },
///     |seen: u64| async move { Ok(seen + 1) },
///     |store: Store, word: String, _seen: u64, now: u64| async move {
///         store.set_value("seen", json!(now));
///         Ok((format!("{word} #{now}"), Next::Default))
///     },
/// );
/// let store = Store::new();
/// assert_eq!(run_node(&count, &store, "a".into()).await.unwrap(), "a #1");
/// assert_eq!(run_node(&count, &store, "b".into()).await.unwrap(), "b #2");
/// # });
/// ```
pub fn node_fn<P, PFut, E, EFut, Q, QFut, I, R, X, O>(prep: P, exec: E, post: Q) -> FnNode<P, E, Q, I, R, X, O>
where
    P: Fn(StoreView, I) -> PFut + Send + Sync + 'static,
    PFut: Future<Output = Result<R, NodeError>> + Send,
    E: Fn(R) -> EFut + Send + Sync + 'static,
    EFut: Future<Output = Result<X, NodeError>> + Send,
    Q: Fn(Store, I, R, X) -> QFut + Send + Sync + 'static,
    QFut: Future<Output = Result<(O, Next), NodeError>> + Send,
    I: Clone + Send + Sync + 'static,
    R: Clone + Send + Sync + 'static,
    X: Send + 'static,
    O: Send + 'static,
{
    FnNode { prep, exec, post, _types: PhantomData }
}

impl<F, Fut, I, O> Node for ExecFn<F, I, O>
where
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, NodeError>> + Send,
    I: Clone + Send + Sync + 'static,
    O: Send + 'static,
{
    type Input = I;
    type Prep = I;
    type Exec = O;
    type Output = O;

    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &I) -> Result<I, NodeError> {
        Ok(input.clone())
    }

    async fn exec(&self, _: &Ctx<'_>, prep: &I) -> Result<O, NodeError> {
        (self.exec)(prep.clone()).await
    }

    async fn post(&self, _: &Ctx<'_>, _: &Store, _: I, _: I, exec: O) -> Result<(O, Next), NodeError> {
        Ok((exec, Next::Default))
    }
}

impl<E, EFut, P, PFut, I, X, O> Node for ExecPostFn<E, P, I, X, O>
where
    E: Fn(I) -> EFut + Send + Sync + 'static,
    EFut: Future<Output = Result<X, NodeError>> + Send,
    P: Fn(Store, I, X) -> PFut + Send + Sync + 'static,
    PFut: Future<Output = Result<(O, Next), NodeError>> + Send,
    I: Clone + Send + Sync + 'static,
    X: Send + 'static,
    O: Send + 'static,
{
    type Input = I;
    type Prep = I;
    type Exec = X;
    type Output = O;

    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &I) -> Result<I, NodeError> {
        Ok(input.clone())
    }

    async fn exec(&self, _: &Ctx<'_>, prep: &I) -> Result<X, NodeError> {
        (self.exec)(prep.clone()).await
    }

    async fn post(&self, _: &Ctx<'_>, store: &Store, input: I, _: I, exec: X) -> Result<(O, Next), NodeError> {
        (self.post)(store.clone(), input, exec).await
    }
}

impl<P, PFut, E, EFut, Q, QFut, I, R, X, O> Node for FnNode<P, E, Q, I, R, X, O>
where
    P: Fn(StoreView, I) -> PFut + Send + Sync + 'static,
    PFut: Future<Output = Result<R, NodeError>> + Send,
    E: Fn(R) -> EFut + Send + Sync + 'static,
    EFut: Future<Output = Result<X, NodeError>> + Send,
    Q: Fn(Store, I, R, X) -> QFut + Send + Sync + 'static,
    QFut: Future<Output = Result<(O, Next), NodeError>> + Send,
    I: Clone + Send + Sync + 'static,
    R: Clone + Send + Sync + 'static,
    X: Send + 'static,
    O: Send + 'static,
{
    type Input = I;
    type Prep = R;
    type Exec = X;
    type Output = O;

    async fn prep(&self, _: &Ctx<'_>, store: &StoreView, input: &I) -> Result<R, NodeError> {
        (self.prep)(store.clone(), input.clone()).await
    }

    async fn exec(&self, _: &Ctx<'_>, prep: &R) -> Result<X, NodeError> {
        (self.exec)(prep.clone()).await
    }

    async fn post(&self, _: &Ctx<'_>, store: &Store, input: I, prep: R, exec: X) -> Result<(O, Next), NodeError> {
        (self.post)(store.clone(), input, prep, exec).await
    }
}

impl<F, I, O> fmt::Debug for ExecFn<F, I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExecFn<{} -> {}>", std::any::type_name::<I>(), std::any::type_name::<O>())
    }
}

impl<E, P, I, X, O> fmt::Debug for ExecPostFn<E, P, I, X, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExecPostFn<{} -> {}>", std::any::type_name::<I>(), std::any::type_name::<O>())
    }
}

impl<P, E, Q, I, R, X, O> fmt::Debug for FnNode<P, E, Q, I, R, X, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FnNode<{} -> {}>", std::any::type_name::<I>(), std::any::type_name::<O>())
    }
}

/// A node made of one async function that also receives the step's context. Built by
/// [`exec_fn_ctx`].
pub struct ExecCtxFn<F, I, O> {
    exec: F,
    _types: PhantomData<fn(I) -> O>,
}

impl<F, I, O> fmt::Debug for ExecCtxFn<F, I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ExecCtxFn")
    }
}

/// Like [`exec_fn`], with the step's context as the first argument: an [`OwnedCtx`] (the node's
/// name and the run's cancellation token, owned so the future can keep it).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use pocket::node::{exec_fn_ctx, OwnedCtx};
/// use pocket::{NodeError, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let wait = exec_fn_ctx(|cx: OwnedCtx, ms: u64| async move {
///     tokio::select! {
///         () = tokio::time::sleep(Duration::from_millis(ms)) => Ok(format!("{} waited {ms} ms", cx.node())),
///         () = cx.cancelled() => Err(NodeError::cancelled()),
///     }
/// });
/// assert_eq!(pocket::run_node(&wait, &Store::new(), 5).await.unwrap(), "node waited 5 ms");
/// # });
/// ```
pub fn exec_fn_ctx<F, Fut, I, O>(f: F) -> ExecCtxFn<F, I, O>
where
    F: Fn(OwnedCtx, I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, NodeError>> + Send,
    I: Clone + Send + Sync + 'static,
    O: Send + 'static,
{
    ExecCtxFn { exec: f, _types: PhantomData }
}

impl<F, Fut, I, O> Node for ExecCtxFn<F, I, O>
where
    F: Fn(OwnedCtx, I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, NodeError>> + Send,
    I: Clone + Send + Sync + 'static,
    O: Send + 'static,
{
    type Input = I;
    type Prep = I;
    type Exec = O;
    type Output = O;

    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &I) -> Result<I, NodeError> {
        Ok(input.clone())
    }

    async fn exec(&self, ctx: &Ctx<'_>, prep: &I) -> Result<O, NodeError> {
        (self.exec)(ctx.to_owned(), prep.clone()).await
    }

    async fn post(&self, _: &Ctx<'_>, _: &Store, _: I, _: I, exec: O) -> Result<(O, Next), NodeError> {
        Ok((exec, Next::Default))
    }
}

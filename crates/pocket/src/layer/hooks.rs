//! Hooks: callbacks after a node's lifecycle, with store access.

use std::fmt;
use std::sync::Arc;

use crate::ctx::Ctx;
use crate::error::{NodeError, Step};
use crate::layer::Layer;
use crate::node::{Node, Outcome};
use crate::store::Store;

type Success<O> = Arc<dyn Fn(&Ctx<'_>, &Store, &O) + Send + Sync>;
type Failure = Arc<dyn Fn(&Ctx<'_>, &Store, Step, &NodeError) + Send + Sync>;
type Complete = Arc<dyn Fn(&Ctx<'_>, &Store) + Send + Sync>;

/// Callbacks run once after a node's lifecycle, with write access to the store.
///
/// Order, documented and tested: **`on_success` (after a successful Post) or `on_failure`
/// (after any failed step), then `on_complete`**. Hooks of an inner layer run before those of
/// an outer one. A panicking hook fails the node in [`Step::Hooks`].
///
/// # Examples
///
/// ```
/// use pocket::layer::hooks::Hooks;
/// use pocket::{exec_fn, NodeExt, Store};
/// use serde_json::json;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let node = exec_fn(|x: i64| async move { Ok(x + 1) }).hooks(
///     Hooks::new()
///         .on_success(|_ctx, store: &Store, out: &i64| store.set_value("last", json!(*out)))
///         .on_complete(|_ctx, store: &Store| store.set_value("done", json!(true))),
/// );
/// let store = Store::new();
/// pocket::run_node(&node, &store, 1).await.unwrap();
/// assert_eq!(store.get_value("last").unwrap(), Some(json!(2)));
/// assert_eq!(store.get_value("done").unwrap(), Some(json!(true)));
/// # });
/// ```
#[must_use]
pub struct Hooks<O> {
    on_success: Vec<Success<O>>,
    on_failure: Vec<Failure>,
    on_complete: Vec<Complete>,
}

impl<O> Clone for Hooks<O> {
    fn clone(&self) -> Self {
        Hooks {
            on_success: self.on_success.clone(),
            on_failure: self.on_failure.clone(),
            on_complete: self.on_complete.clone(),
        }
    }
}

impl<O> Default for Hooks<O> {
    fn default() -> Self {
        Hooks { on_success: Vec::new(), on_failure: Vec::new(), on_complete: Vec::new() }
    }
}

impl<O> fmt::Debug for Hooks<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("on_success", &self.on_success.len())
            .field("on_failure", &self.on_failure.len())
            .field("on_complete", &self.on_complete.len())
            .finish()
    }
}

impl<O> Hooks<O> {
    /// No hooks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Run `f` with the output after a successful lifecycle.
    pub fn on_success(mut self, f: impl Fn(&Ctx<'_>, &Store, &O) + Send + Sync + 'static) -> Self {
        self.on_success.push(Arc::new(f));
        self
    }

    /// Run `f` with the failed step and its error after a failed lifecycle.
    pub fn on_failure(mut self, f: impl Fn(&Ctx<'_>, &Store, Step, &NodeError) + Send + Sync + 'static) -> Self {
        self.on_failure.push(Arc::new(f));
        self
    }

    /// Run `f` after every lifecycle, after `on_success` / `on_failure`.
    pub fn on_complete(mut self, f: impl Fn(&Ctx<'_>, &Store) + Send + Sync + 'static) -> Self {
        self.on_complete.push(Arc::new(f));
        self
    }
}

/// A node with [`Hooks`]. Built by [`NodeExt::hooks`](crate::NodeExt::hooks).
#[derive(Clone)]
#[must_use = "a layered node does nothing until it is run"]
pub struct Hooked<N: Node> {
    inner: N,
    hooks: Hooks<N::Output>,
}

impl<N: Node + fmt::Debug> fmt::Debug for Hooked<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooked").field("inner", &self.inner).field("hooks", &self.hooks).finish()
    }
}

impl<N: Node> Hooked<N> {
    /// Wrap `inner`.
    pub fn new(inner: N, hooks: Hooks<N::Output>) -> Self {
        Hooked { inner, hooks }
    }
}

impl<N: Node> Node for Hooked<N> {
    type Input = N::Input;
    type Prep = N::Prep;
    type Exec = N::Exec;
    type Output = N::Output;

    crate::node::delegate!(prep exec post actions);

    fn finish(&self, ctx: &Ctx<'_>, store: &Store, outcome: Outcome<'_, N::Output>) {
        self.inner.finish(ctx, store, outcome);
        match outcome {
            Ok(output) => self.hooks.on_success.iter().for_each(|f| f(ctx, store, output)),
            Err((step, error)) => self.hooks.on_failure.iter().for_each(|f| f(ctx, store, step, error)),
        }
        self.hooks.on_complete.iter().for_each(|f| f(ctx, store));
    }
}

/// The layer value of [`Hooks`]: every node it wraps runs (clones of) the same callbacks.
#[derive(Debug)]
pub struct HooksLayer<O>(pub Hooks<O>);

impl<O> Clone for HooksLayer<O> {
    fn clone(&self) -> Self {
        HooksLayer(self.0.clone())
    }
}

impl<N: Node> Layer<N> for HooksLayer<N::Output> {
    type Node = Hooked<N>;
    fn layer(&self, inner: N) -> Hooked<N> {
        Hooked::new(inner, self.0.clone())
    }
}

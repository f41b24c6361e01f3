//! Hooks and the error handler: callbacks after a node's lifecycle, with store access.

use std::fmt;
use std::sync::Arc;

use crate::ctx::Ctx;
use crate::error::{NodeError, Step};
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
/// use pocket::{exec_fn, Hooks, NodeExt, Store};
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

/// A node with an error handler: called once with the node name, the failed step and the
/// error, after all hooks. Built by [`NodeExt::on_error`](crate::NodeExt::on_error).
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use pocket::{exec_fn, NodeError, NodeExt, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let node = exec_fn(|_: u8| async move { Err::<u8, _>(NodeError::msg("boom")) })
///     .on_error(move |node, step, err| log.lock().unwrap().push(format!("{node}/{step}: {err}")));
/// assert!(pocket::run_node(&node, &Store::new(), 0).await.is_err());
/// assert_eq!(*seen.lock().unwrap(), ["node/exec: boom"]);
/// # });
/// ```
#[derive(Clone)]
pub struct OnError<N, F> {
    inner: N,
    handler: F,
}

impl<N: fmt::Debug, F> fmt::Debug for OnError<N, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnError").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<N, F> OnError<N, F> {
    /// Wrap `inner`.
    pub fn new(inner: N, handler: F) -> Self {
        OnError { inner, handler }
    }
}

impl<N, F> Node for OnError<N, F>
where
    N: Node,
    F: Fn(&str, Step, &NodeError) + Send + Sync + 'static,
{
    type Input = N::Input;
    type Prep = N::Prep;
    type Exec = N::Exec;
    type Output = N::Output;

    crate::node::delegate!(prep exec post actions);

    fn finish(&self, ctx: &Ctx<'_>, store: &Store, outcome: Outcome<'_, N::Output>) {
        self.inner.finish(ctx, store, outcome);
        if let Err((step, error)) = outcome {
            (self.handler)(ctx.node(), step, error);
        }
    }
}

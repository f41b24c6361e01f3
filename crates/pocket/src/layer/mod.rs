//! Layers: behaviours that wrap any node — a leaf, a layered node, a sub-graph or a chain —
//! each implemented once, in its own module here.
//!
//! | behaviour | module | what it wraps | [`NodeExt`](crate::NodeExt) method | layer value |
//! |---|---|---|---|---|
//! | retry with backoff | [`retry`] | Prep, Exec | `retry` | [`RetryLayer`](retry::RetryLayer) |
//! | timeout per step / per node | [`timeout`] | every step | `timeout` | [`TimeoutLayer`](timeout::TimeoutLayer) |
//! | fallback result | [`fallback`] | Exec | `fallback` | [`FallbackFn`](fallback::FallbackFn) in an [`AroundLayer`] |
//! | fallback chain of nodes | [`fallback_chain`] | the whole node | — (it is a node) | — |
//! | hooks after the lifecycle | [`hooks`] | finish | `hooks` | [`HooksLayer`](hooks::HooksLayer) |
//! | error handler | [`on_error`] | finish | `on_error` | [`OnErrorLayer`](on_error::OnErrorLayer) |
//! | rate limit (token bucket) | [`rate_limit`] | Exec | `rate_limit`, `rate_limit_by` | [`RateLimiter`](rate_limit::RateLimiter), [`RateLimit`](rate_limit::RateLimit) in an [`AroundLayer`] |
//! | concurrency limit | [`concurrency_limit`] | Prep to Post | `concurrency_limit` | [`ConcurrencyLimit`](concurrency_limit::ConcurrencyLimit) |
//! | adaptive concurrency limit (AIMD on push-back) | [`adaptive_limit`] | Exec | — | [`AdaptiveLimit`](adaptive_limit::AdaptiveLimit) in an [`AroundLayer`] |
//! | circuit breaker | [`circuit_breaker`] | Exec | `circuit_breaker` | [`CircuitBreaker`](circuit_breaker::CircuitBreaker) |
//! | result cache | [`cache`] | Exec | `cache`, `cache_by` | [`ResultCache`](cache::ResultCache), [`CacheBy`](cache::CacheBy) in an [`AroundLayer`] |
//! | exec memo in durable runs | [`memo`] | Exec | — | [`ExecMemo`](memo::ExecMemo) in an [`AroundLayer`] |
//! | middleware from an async fn | [`from_fn`] | the whole lifecycle | — | [`FromFnLayer`](from_fn::FromFnLayer) |
//! | metrics and logs | [`metrics`] | the whole lifecycle | `metrics` | [`Metrics`](metrics::Metrics) |
//! | a layer or not | [`either`] | — | `layer_if` | `Option<L>` |
//!
//! Every layer is a value implementing [`Layer`], so a stack of layers can be built once,
//! stored and applied to many nodes: tuples are stacks (the first element innermost, as in
//! a chain of [`NodeExt`](crate::NodeExt) calls), [`Identity`] is the empty stack, `Option<L>`
//! applies `L` or nothing, and [`BoxLayer`] erases a stack for nodes of one input and output
//! type (how the YAML loader holds its node-level layers).
//!
//! A layer that only changes Exec is one method: implement [`AroundExec`] and wrap with
//! [`Around`] / [`AroundLayer`] — Prep, Post, the hooks and the declared actions are passed
//! through for you. A layer's failures are its own error type in its module, carried by a
//! [`NodeError`](crate::NodeError) with the classification decided where it is made; adding a
//! layer never touches a central enum.
//!
//! # Examples
//!
//! One stack, applied to two nodes:
//!
//! ```
//! use std::time::Duration;
//! use pocket::layer::{Layer, retry::{RetryLayer, RetryPolicy}, timeout::{TimeoutLayer, Timeouts}};
//! use pocket::{exec_fn, NodeExt, Store};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
//! let resilient = (
//!     TimeoutLayer(Timeouts::step(Duration::from_secs(5))),          // each attempt
//!     RetryLayer(RetryPolicy::exponential(3, Duration::from_millis(100))), // around the timeout
//! );
//! let add = exec_fn(|x: u32| async move { Ok(x + 1) }).layer(&resilient);
//! let double = resilient.layer(exec_fn(|x: u32| async move { Ok(x * 2) }));
//! let store = Store::new();
//! assert_eq!(pocket::run_node(&add, &store, 1).await.unwrap(), 2);
//! assert_eq!(pocket::run_node(&double, &store, 4).await.unwrap(), 8);
//! # });
//! ```

pub mod adaptive_limit;
pub mod cache;
pub mod circuit_breaker;
pub mod concurrency_limit;
pub mod either;
pub mod fallback;
pub mod fallback_chain;
pub mod from_fn;
pub mod hooks;
pub mod memo;
pub mod metrics;
pub mod on_error;
pub mod rate_limit;
pub mod retry;
pub mod timeout;

mod around;
mod boxed;
mod stack;

pub use around::{Around, AroundExec, AroundLayer};
pub use boxed::BoxLayer;
pub use stack::{Identity, Stack};

use crate::node::Node;

/// Wraps a node in another node (retry, timeout, hooks, ...). The wrapped node is still a
/// [`Node`], so layers stack and apply to sub-graphs like to any node. A layer is applied by
/// reference, so one value (a stack, say) can wrap many nodes.
pub trait Layer<N: Node> {
    /// The wrapping node.
    type Node: Node;
    /// Wrap `inner`.
    fn layer(&self, inner: N) -> Self::Node;
}

impl<N: Node, L: Layer<N>> Layer<N> for &L {
    type Node = L::Node;
    fn layer(&self, inner: N) -> L::Node {
        (**self).layer(inner)
    }
}

impl<N: Node, L: Layer<N>> Layer<N> for std::sync::Arc<L> {
    type Node = L::Node;
    fn layer(&self, inner: N) -> L::Node {
        (**self).layer(inner)
    }
}

/// `Some(layer)` applies it, `None` leaves the node as it is; the result is either node
/// ([`Either`](either::Either)), so optional layers stack without boxing.
impl<N, L> Layer<N> for Option<L>
where
    N: Node,
    L: Layer<N>,
    L::Node: Node<Input = N::Input, Output = N::Output>,
{
    type Node = either::Either<N, L::Node>;
    fn layer(&self, inner: N) -> Self::Node {
        match self {
            Some(layer) => either::Either::Right(layer.layer(inner)),
            None => either::Either::Left(inner),
        }
    }
}

//! Layers: behaviours that wrap any node (leaf, layered, sub-graph or chain), each implemented
//! once. [`NodeExt`] puts them one method call away.

pub(crate) mod fallback;
pub(crate) mod hooks;
pub(crate) mod maybe;
pub(crate) mod retry;
pub(crate) mod timeout;

use std::future::Future;

use crate::chain::Chain;
use crate::error::{NodeError, Step};
use crate::node::{Layer, Node};
use fallback::Fallback;
use hooks::{Hooked, Hooks, OnError};
use retry::{Retry, RetryPolicy};
use timeout::{Timeout, Timeouts};

/// Extension methods for every [`Node`]: layers and chaining.
///
/// # Composition order
///
/// Layers stack from the inside out, and the order changes the behaviour (each case below is
/// tested):
///
/// * `node.timeout(t).retry(p)`: every attempt gets its own limit; `node.retry(p).timeout(t)`:
///   one limit for all attempts together, waits included.
/// * `node.timeout(t).circuit_breaker(b)`: the breaker sees timeouts as failures;
///   `node.circuit_breaker(b).timeout(t)`: an abandoned call counts neither way.
/// * `node.circuit_breaker(b).retry(p)`: every attempt counts, and an open breaker ends the
///   retrying at once (its error is not retryable).
/// * `node.rate_limit(l).retry(p)`: every attempt pays for its tokens.
/// * `node.retry(p).fallback(f)`: the fallback runs once, after the last attempt.
/// * `node.hooks(h).retry(p)`: hooks and metrics see the final outcome once, whatever their
///   position, because they run after the lifecycle.
///
/// The recommended stack for an LLM call, inside out:
///
/// ```text
/// llm.timeout(Timeouts::step(per_attempt))  // each attempt limited in time
///    .rate_limit(limiter)                   // paced by the shared token bucket
///    .circuit_breaker(breaker)              // guarded by the shared breaker (sees timeouts)
///    .retry(policy)                         // attempts repeat the three above
///    .fallback(cheaper_answer)              // or FallbackChain: when every attempt failed
///    .metrics(metrics)                      // counts and times the final outcome
/// ```
///
/// `cargo run -p pocket --example resilient_llm_call` runs this stack around a flaky model.
pub trait NodeExt: Node + Sized {
    /// Wrap this node in `layer`.
    fn layer<L: Layer<Self>>(self, layer: L) -> L::Node {
        layer.layer(self)
    }

    /// Retry Prep and Exec on retryable errors ([`Retry`]).
    fn retry(self, policy: RetryPolicy) -> Retry<Self> {
        Retry::new(self, policy)
    }

    /// Abandon steps that take too long ([`Timeout`]).
    fn timeout(self, limits: Timeouts) -> Timeout<Self> {
        Timeout::new(self, limits)
    }

    /// Replace a failed Exec with `fallback(prep, &error)` ([`Fallback`]).
    fn fallback<F, Fut>(self, fallback: F) -> Fallback<Self, F>
    where
        Self::Prep: Clone,
        F: Fn(Self::Prep, &NodeError) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Self::Exec, NodeError>> + Send,
    {
        Fallback::new(self, fallback)
    }

    /// Run [`Hooks`] after the lifecycle ([`Hooked`]).
    fn hooks(self, hooks: Hooks<Self::Output>) -> Hooked<Self> {
        Hooked::new(self, hooks)
    }

    /// Call `handler(node_name, step, error)` when the lifecycle fails ([`OnError`]).
    fn on_error<F>(self, handler: F) -> OnError<Self, F>
    where
        F: Fn(&str, Step, &NodeError) + Send + Sync + 'static,
    {
        OnError::new(self, handler)
    }

    /// Wait for one token of `limiter` before each Exec ([`RateLimited`](crate::RateLimited)).
    fn rate_limit(self, limiter: crate::RateLimiter) -> crate::RateLimited<Self, fn(&Self::Prep) -> u32> {
        crate::RateLimited::new(self, limiter, |_| 1)
    }

    /// Wait for `cost(prep)` tokens of `limiter` before each Exec.
    fn rate_limit_by<C>(self, limiter: crate::RateLimiter, cost: C) -> crate::RateLimited<Self, C>
    where
        C: Fn(&Self::Prep) -> u32 + Send + Sync + 'static,
    {
        crate::RateLimited::new(self, limiter, cost)
    }

    /// Take a slot of `limit` for the whole lifecycle ([`Limited`](crate::Limited)).
    fn concurrency_limit(self, limit: crate::ConcurrencyLimit) -> crate::Limited<Self> {
        crate::Limited::new(self, limit)
    }

    /// Send Exec through `breaker` ([`Breaker`](crate::Breaker)).
    fn circuit_breaker(self, breaker: crate::CircuitBreaker) -> crate::Breaker<Self> {
        crate::Breaker::new(self, breaker)
    }

    /// Cache Exec results in `cache`, keyed by the Prep result as JSON ([`Cached`](crate::Cached)).
    #[allow(clippy::type_complexity)]
    fn cache(self, cache: crate::ResultCache) -> crate::Cached<Self, fn(&Self::Prep) -> Option<String>>
    where
        Self::Prep: serde::Serialize,
    {
        crate::Cached::new(self, cache, crate::resilience::json_key::<Self::Prep>)
    }

    /// Cache Exec results in `cache` under `key(prep)` (`None`: do not cache this call).
    fn cache_by<K>(self, cache: crate::ResultCache, key: K) -> crate::Cached<Self, K>
    where
        K: Fn(&Self::Prep) -> Option<String> + Send + Sync + 'static,
    {
        crate::Cached::new(self, cache, key)
    }

    /// Count, time and log every lifecycle in `metrics` ([`Measured`](crate::Measured)).
    fn metrics(self, metrics: crate::Metrics) -> crate::Measured<Self> {
        crate::Measured::new(self, metrics)
    }

    /// Wrap this node with `wrap` only when `config` is given (a layer read from a file, say):
    /// the result is either node, so optional layers stack without boxing. See [`Either`](crate::Either).
    fn layer_if<C, M>(self, config: Option<C>, wrap: impl FnOnce(Self, C) -> M) -> crate::Either<Self, M>
    where
        M: Node<Input = Self::Input, Output = Self::Output>,
    {
        match config {
            Some(c) => crate::Either::Right(wrap(self, c)),
            None => crate::Either::Left(self),
        }
    }

    /// Erase this node's type ([`BoxNode`](crate::BoxNode)).
    fn boxed(self) -> crate::BoxNode<Self::Input, Self::Output> {
        crate::BoxNode::new(self)
    }

    /// Chain `next` after this node: the compiler checks that `next` takes this node's output.
    /// See [`Chain`].
    fn then<B>(self, next: B) -> Chain<Self, B>
    where
        B: Node<Input = Self::Output>,
        Self::Input: Clone + Sync,
    {
        Chain::new(self, next)
    }
}

impl<N: Node> NodeExt for N {}

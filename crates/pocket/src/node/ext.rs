//! [`NodeExt`]: every layer one method call away, typed chains, boxing.

use std::future::Future;

use super::{BoxNode, Chain, Node};
use crate::error::{NodeError, Step};
use crate::layer::cache::{CacheBy, JsonKey, ResultCache};
use crate::layer::circuit_breaker::CircuitBreaker;
use crate::layer::concurrency_limit::{ConcurrencyLimit, Limited};
use crate::layer::either::Either;
use crate::layer::fallback::FallbackFn;
use crate::layer::hooks::{Hooked, Hooks};
use crate::layer::metrics::{Measured, Metrics};
use crate::layer::on_error::OnError;
use crate::layer::rate_limit::{RateLimit, RateLimiter};
use crate::layer::retry::{Retry, RetryPolicy};
use crate::layer::timeout::{Timeout, Timeouts};
use crate::layer::{Around, AroundExec, Layer};

/// Extension methods for every [`Node`]: layers and chaining. Each layer method is
/// `self.layer(<the layer value>)`; the layers themselves live in [`crate::layer`].
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
///    .rate_limit_by(limiter, |p| cost(p))   // paced by the shared token bucket, priced per call
///    .circuit_breaker(breaker)              // guarded by the shared breaker (sees timeouts)
///    .retry(policy)                         // attempts repeat the three above
///    .fallback(cheaper_answer)              // or FallbackChain: when every attempt failed
///    .metrics(metrics)                      // counts and times the final outcome
/// ```
///
/// The Prep types of wrapping layers dereference to the wrapped node's, so the cost function
/// above reads the prompt through the timeout layer. `cargo run -p pocket --example
/// resilient_llm_call` runs this stack around a flaky model.
pub trait NodeExt: Node + Sized {
    /// Wrap this node in `layer` (any [`Layer`] value, a stack of them, or a reference to one).
    fn layer<L: Layer<Self>>(self, layer: L) -> L::Node {
        layer.layer(self)
    }

    /// Put `wrap` around Exec ([`AroundExec`]).
    fn around<W: AroundExec<Self>>(self, wrap: W) -> Around<Self, W> {
        Around::new(self, wrap)
    }

    /// Retry Prep and Exec on retryable errors ([`Retry`]).
    fn retry(self, policy: RetryPolicy) -> Retry<Self> {
        Retry::new(self, policy)
    }

    /// Abandon steps that take too long ([`Timeout`]).
    fn timeout(self, limits: Timeouts) -> Timeout<Self> {
        Timeout::new(self, limits)
    }

    /// Replace a failed Exec with `fallback(prep, &error)` ([`FallbackFn`]).
    fn fallback<F, Fut>(self, fallback: F) -> Around<Self, FallbackFn<F>>
    where
        Self::Prep: Clone,
        F: Fn(Self::Prep, &NodeError) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Self::Exec, NodeError>> + Send,
    {
        self.around(FallbackFn(fallback))
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

    /// Wait for one token of `limiter` before each Exec ([`RateLimit`]).
    fn rate_limit(self, limiter: RateLimiter) -> Around<Self, RateLimit> {
        self.around(RateLimit::per_call(limiter))
    }

    /// Wait for `cost(prep)` tokens of `limiter` before each Exec ([`RateLimit`]).
    fn rate_limit_by<C>(self, limiter: RateLimiter, cost: C) -> Around<Self, RateLimit<C>>
    where
        C: Fn(&Self::Prep) -> u32 + Send + Sync + 'static,
    {
        self.around(RateLimit::by(limiter, cost))
    }

    /// Take a slot of `limit` for the whole lifecycle ([`Limited`]).
    fn concurrency_limit(self, limit: ConcurrencyLimit) -> Limited<Self> {
        Limited::new(self, limit)
    }

    /// Send Exec through `breaker` ([`CircuitBreaker`]).
    fn circuit_breaker(self, breaker: CircuitBreaker) -> Around<Self, CircuitBreaker> {
        self.around(breaker)
    }

    /// Cache Exec results in `cache`, keyed by the Prep result as JSON ([`CacheBy`]).
    fn cache(self, cache: ResultCache) -> Around<Self, CacheBy<JsonKey>>
    where
        Self::Prep: serde::Serialize,
        Self::Exec: Clone + serde::Serialize + Sync,
    {
        self.around(CacheBy::new(cache, JsonKey))
    }

    /// Cache Exec results in `cache` under `key(prep)` (`None`: do not cache this call).
    fn cache_by<K>(self, cache: ResultCache, key: K) -> Around<Self, CacheBy<K>>
    where
        K: Fn(&Self::Prep) -> Option<String> + Send + Sync + 'static,
        Self::Exec: Clone + serde::Serialize + Sync,
    {
        self.around(CacheBy::new(cache, key))
    }

    /// Count, time and log every lifecycle in `metrics` ([`Measured`]).
    fn metrics(self, metrics: Metrics) -> Measured<Self> {
        Measured::new(self, metrics)
    }

    /// Wrap this node with `wrap` only when `config` is given (a layer read from a file, say):
    /// the result is either node, so optional layers stack without boxing. See [`Either`]; an
    /// `Option` of a layer value does the same through [`NodeExt::layer`].
    fn layer_if<C, M>(self, config: Option<C>, wrap: impl FnOnce(Self, C) -> M) -> Either<Self, M>
    where
        M: Node<Input = Self::Input, Output = Self::Output>,
    {
        match config {
            Some(c) => Either::Right(wrap(self, c)),
            None => Either::Left(self),
        }
    }

    /// Erase this node's type ([`BoxNode`]).
    fn boxed(self) -> BoxNode<Self::Input, Self::Output> {
        BoxNode::new(self)
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

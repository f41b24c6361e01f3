//! The retry layer: re-run Prep and Exec on retryable errors, with backoff and jitter, waiting
//! at least what a throttled call asked for.

use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::ctx::Ctx;
use crate::error::{NodeError, Step};
use crate::layer::Layer;
use crate::node::Node;
use crate::store::StoreView;

/// Retrying stopped after `attempts` attempts; the last attempt's error is the source. Its
/// [`NodeError`] has the last error's classification.
#[derive(Debug, thiserror::Error)]
#[error("gave up after {attempts} attempts")]
pub struct Exhausted {
    attempts: u32,
    #[source]
    last: NodeError,
}

impl Exhausted {
    /// How many attempts were made.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The last attempt's error.
    pub fn last(&self) -> &NodeError {
        &self.last
    }
}

/// How long to wait between attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Backoff {
    /// The same delay before every retry.
    Constant(Duration),
    /// `initial`, then multiplied by `multiplier` before each further retry, capped at
    /// `max_delay`.
    Exponential {
        /// The delay before the first retry.
        initial: Duration,
        /// The growth factor (values below 1 are treated as 1).
        multiplier: f64,
        /// The cap.
        max_delay: Duration,
    },
}

/// When and how often to retry. Applies to Prep and Exec, never to Post.
///
/// Only errors for which [`NodeError::is_retryable`] is true are retried; a fatal error stops
/// at once. Waiting between attempts ends early, with a cancelled [`NodeError`], when the run is
/// cancelled.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use pocket::layer::retry::RetryPolicy;
///
/// let policy = RetryPolicy::exponential(4, Duration::from_millis(100))
///     .multiplier(2.0)
///     .max_delay(Duration::from_millis(250));
/// assert_eq!(policy.delay(1), Duration::from_millis(100));
/// assert_eq!(policy.delay(2), Duration::from_millis(200));
/// assert_eq!(policy.delay(3), Duration::from_millis(250)); // capped
/// ```
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct RetryPolicy {
    max_attempts: u32,
    backoff: Backoff,
    jitter: f64,
}

impl RetryPolicy {
    /// Up to `max_attempts` attempts in all (at least 1), `delay` between them.
    pub fn constant(max_attempts: u32, delay: Duration) -> Self {
        RetryPolicy { max_attempts: max_attempts.max(1), backoff: Backoff::Constant(delay), jitter: 0.0 }
    }

    /// Up to `max_attempts` attempts, starting with `initial` delay and doubling (by default)
    /// up to one minute (by default).
    pub fn exponential(max_attempts: u32, initial: Duration) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            backoff: Backoff::Exponential { initial, multiplier: 2.0, max_delay: Duration::from_secs(60) },
            jitter: 0.0,
        }
    }

    /// Set the growth factor of an exponential backoff (turns a constant one into exponential).
    pub fn multiplier(mut self, multiplier: f64) -> Self {
        self.backoff = match self.backoff {
            Backoff::Constant(d) => Backoff::Exponential { initial: d, multiplier, max_delay: Duration::MAX },
            Backoff::Exponential { initial, max_delay, .. } => Backoff::Exponential { initial, multiplier, max_delay },
        };
        self
    }

    /// Cap the delay between attempts.
    pub fn max_delay(mut self, cap: Duration) -> Self {
        self.backoff = match self.backoff {
            Backoff::Constant(d) => Backoff::Constant(d.min(cap)),
            Backoff::Exponential { initial, multiplier, .. } => {
                Backoff::Exponential { initial, multiplier, max_delay: cap }
            }
        };
        self
    }

    /// Randomise each delay down by up to `fraction` of it (0.0 = none, 1.0 = "full jitter").
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_nan() { 0.0 } else { fraction.clamp(0.0, 1.0) };
        self
    }

    /// The total number of attempts.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delay after failed attempt number `attempt` (1-based), before jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        match self.backoff {
            Backoff::Constant(d) => d,
            Backoff::Exponential { initial, multiplier, max_delay } => {
                let factor = multiplier.max(1.0).powi(attempt.saturating_sub(1).min(1024) as i32);
                let secs = (initial.as_secs_f64() * factor).min(max_delay.as_secs_f64());
                Duration::try_from_secs_f64(secs).unwrap_or(max_delay).min(max_delay)
            }
        }
    }

    fn jittered(&self, attempt: u32) -> Duration {
        let delay = self.delay(attempt);
        if self.jitter == 0.0 {
            return delay;
        }
        delay.mul_f64(1.0 - self.jitter * random_unit())
    }

    /// Run `attempt` until it succeeds, fails fatally, or the attempts run out.
    pub(crate) async fn run<T, F, Fut>(&self, ctx: &Ctx<'_>, step: Step, mut attempt: F) -> Result<T, NodeError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, NodeError>>,
    {
        let mut n = 1;
        loop {
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if !error.is_retryable() || n >= self.max_attempts || ctx.is_cancelled() {
                return Err(if n > 1 {
                    let kind = error.kind();
                    NodeError::new(kind, Exhausted { attempts: n, last: error })
                } else {
                    error
                });
            }
            // The other side's `Retry-After`, when it gave one, is a floor on the wait.
            let delay = self.jittered(n).max(error.retry_after().unwrap_or_default());
            tracing::warn!(node = ctx.node(), %step, attempt = n, ?delay, %error, "retrying");
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = ctx.cancelled() => return Err(NodeError::cancelled()),
            }
            n += 1;
        }
    }
}

fn random_unit() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// A node whose Prep and Exec are retried by a [`RetryPolicy`]. Built by
/// [`NodeExt::retry`](crate::NodeExt::retry).
///
/// # Examples
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use pocket::layer::retry::RetryPolicy;
/// use pocket::{exec_fn, NodeError, NodeExt, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let calls = Arc::new(AtomicU32::new(0));
/// let c = calls.clone();
/// let flaky = exec_fn(move |x: u32| {
///     let n = c.fetch_add(1, Ordering::SeqCst);
///     async move { if n < 2 { Err(NodeError::msg("busy")) } else { Ok(x) } }
/// })
/// .retry(RetryPolicy::constant(3, Duration::from_millis(10)));
///
/// assert_eq!(pocket::run_node(&flaky, &Store::new(), 7).await.unwrap(), 7);
/// assert_eq!(calls.load(Ordering::SeqCst), 3);
/// # });
/// ```
#[derive(Debug, Clone)]
#[must_use = "a layered node does nothing until it is run"]
pub struct Retry<N> {
    inner: N,
    policy: RetryPolicy,
}

/// Builds [`Retry`] nodes.
#[derive(Debug, Clone)]
pub struct RetryLayer(pub RetryPolicy);

impl<N: Node> Layer<N> for RetryLayer {
    type Node = Retry<N>;
    fn layer(&self, inner: N) -> Retry<N> {
        Retry { inner, policy: self.0.clone() }
    }
}

impl<N> Retry<N> {
    /// Wrap `inner`.
    pub fn new(inner: N, policy: RetryPolicy) -> Self {
        Retry { inner, policy }
    }

    /// The wrapped node.
    pub fn get_ref(&self) -> &N {
        &self.inner
    }
}

impl<N: Node> Node for Retry<N> {
    type Input = N::Input;
    type Prep = N::Prep;
    type Exec = N::Exec;
    type Output = N::Output;

    crate::node::delegate!(post finish actions);

    async fn prep(&self, ctx: &Ctx<'_>, store: &StoreView, input: &N::Input) -> Result<N::Prep, NodeError> {
        self.policy.run(ctx, Step::Prep, || self.inner.prep(ctx, store, input)).await
    }

    async fn exec(&self, ctx: &Ctx<'_>, prep: &N::Prep) -> Result<N::Exec, NodeError> {
        self.policy.run(ctx, Step::Exec, || self.inner.exec(ctx, prep)).await
    }
}

//! A token-bucket rate limiter, shareable by nodes, fan-outs and streams, and its layer.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::{Around, AroundExec, Layer};
use crate::ctx::Ctx;
use crate::error::NodeError;
use crate::node::Node;

/// A rate limiter was configured with an unusable value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RateLimitError {
    /// The rate must be a positive, finite number of tokens per second.
    #[error("rate must be a positive number of tokens per second, got {0}")]
    Rate(f64),
    /// The burst must be at least 1.
    #[error("burst must be at least 1")]
    Burst,
}

/// A token bucket: `rate` tokens per second, up to `burst` saved up. Clones share one bucket, so
/// one limiter can pace several nodes, fan-outs and streams together (one upstream API).
///
/// A call may cost more than one token (an LLM call can cost its estimated tokens). Acquiring
/// reserves the tokens at once and waits until they are paid for, so callers are served in
/// order and a cost larger than the burst is allowed (it waits longer). A waiting acquisition
/// that is dropped (cancelled) gives its reservation back.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use pocket::layer::rate_limit::RateLimiter;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let limiter = RateLimiter::new(10.0, 1).unwrap(); // 10 per second, no saving up
/// let start = tokio::time::Instant::now();
/// for _ in 0..5 {
///     limiter.acquire(1).await;
/// }
/// assert_eq!(start.elapsed(), Duration::from_millis(400)); // the first is free
/// # });
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    bucket: Arc<Mutex<Bucket>>,
    rate: f64,
    burst: f64,
    label: Option<Arc<str>>,
}

struct Bucket {
    tokens: f64,
    last: Instant,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter").field("rate", &self.rate).field("burst", &self.burst).finish()
    }
}

impl RateLimiter {
    /// `rate` tokens per second, bursts of up to `burst` tokens (the bucket starts full).
    ///
    /// # Errors
    ///
    /// [`RateLimitError`] when the rate is not positive and finite or the burst is 0.
    pub fn new(rate: f64, burst: u32) -> Result<Self, RateLimitError> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(RateLimitError::Rate(rate));
        }
        if burst == 0 {
            return Err(RateLimitError::Burst);
        }
        let burst = f64::from(burst);
        Ok(RateLimiter {
            bucket: Arc::new(Mutex::new(Bucket { tokens: burst, last: Instant::now() })),
            rate,
            burst,
            label: None,
        })
    }

    /// Name the limiter in the `pocket::wait` events its waits emit (`limit = label`).
    #[must_use]
    pub fn labeled(mut self, label: impl Into<Arc<str>>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The configured rate (tokens per second).
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// Reserve `cost` tokens now; how long to wait until they are paid for.
    fn reserve(&self, cost: f64) -> Duration {
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.last = now;
        bucket.tokens -= cost;
        if bucket.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(-bucket.tokens / self.rate).unwrap_or(Duration::MAX)
        }
    }

    fn refund(&self, cost: f64) {
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        bucket.tokens = (bucket.tokens + cost).min(self.burst);
    }

    /// Wait until `cost` tokens are available and take them. Cancel-safe: dropping the future
    /// before it completes returns the reservation.
    pub async fn acquire(&self, cost: u32) {
        self.acquire_noting(cost, |_| {}).await;
    }

    /// [`acquire`](Self::acquire), telling `waiting` how long it will wait first (when it
    /// waits at all).
    pub(crate) async fn acquire_noting(&self, cost: u32, waiting: impl FnOnce(Duration)) {
        let cost = f64::from(cost);
        let wait = self.reserve(cost);
        if wait.is_zero() {
            return;
        }
        waiting(wait);
        let mut refund = Refund { limiter: self, cost, armed: true };
        tokio::time::sleep(wait).await;
        refund.armed = false;
    }

    /// Settle a call that took `reserved` tokens and turned out to cost `used` (an LLM call
    /// priced by its estimate, then by the usage its reply reports): the difference is
    /// returned to the bucket, or taken from it — below empty if need be, so that the next
    /// callers wait for what was overspent.
    ///
    /// ```
    /// use pocket::layer::rate_limit::RateLimiter;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let tokens = RateLimiter::new(100.0, 1000).unwrap();
    /// tokens.acquire(600).await; // the estimate
    /// tokens.settle(600, 900); // the reply used 900
    /// assert!(!tokens.try_acquire(101));
    /// assert!(tokens.try_acquire(100));
    /// # });
    /// ```
    pub fn settle(&self, reserved: u32, used: u64) {
        #[allow(clippy::cast_precision_loss)]
        let difference = f64::from(reserved) - used as f64;
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        bucket.tokens = (bucket.tokens + difference).min(self.burst);
    }

    /// Take `cost` tokens if they are available now.
    pub fn try_acquire(&self, cost: u32) -> bool {
        let cost = f64::from(cost);
        let mut bucket = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            true
        } else {
            false
        }
    }
}

struct Refund<'a> {
    limiter: &'a RateLimiter,
    cost: f64,
    armed: bool,
}

impl Drop for Refund<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.limiter.refund(self.cost);
        }
    }
}

/// What one call costs in tokens of a [`RateLimiter`]: [`PerCall`] (one), or a function of the
/// Prep result (an LLM call's estimated tokens).
pub trait Cost<P>: Send + Sync + 'static {
    /// The tokens a call with Prep result `prep` takes.
    fn cost(&self, prep: &P) -> u32;
}

/// One token per call.
#[derive(Debug, Clone, Copy, Default)]
pub struct PerCall;

impl<P> Cost<P> for PerCall {
    fn cost(&self, _: &P) -> u32 {
        1
    }
}

impl<P, F: Fn(&P) -> u32 + Send + Sync + 'static> Cost<P> for F {
    fn cost(&self, prep: &P) -> u32 {
        self(prep)
    }
}

/// Exec waits for a [`RateLimiter`] first. Built by
/// [`NodeExt::rate_limit`](crate::NodeExt::rate_limit) (one token per call) or
/// [`NodeExt::rate_limit_by`](crate::NodeExt::rate_limit_by) (a cost computed from the Prep
/// result, e.g. estimated LLM tokens); the node is an [`Around`]`<N, RateLimit<C>>`.
///
/// Inside a retry layer every attempt pays; outside it, only the first. Waiting ends early,
/// with a cancelled error, when the run is cancelled.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use pocket::layer::rate_limit::RateLimiter;
/// use pocket::{exec_fn, FanOut, NodeExt, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let limiter = RateLimiter::new(100.0, 1).unwrap();
/// let call = exec_fn(|q: String| async move { Ok(q.len()) })
///     .rate_limit_by(limiter.clone(), |q: &String| q.len() as u32); // cost: one token per byte
/// let start = tokio::time::Instant::now();
/// let out = FanOut::new(call).run(&Store::new(), ["ab", "cdef"].map(String::from)).await.unwrap();
/// assert_eq!(out, [2, 4]);
/// assert_eq!(start.elapsed(), Duration::from_millis(50)); // 1 saved + 5 paid at 100/s
/// # });
/// ```
#[derive(Clone)]
pub struct RateLimit<C = PerCall> {
    limiter: RateLimiter,
    cost: C,
}

impl<C> fmt::Debug for RateLimit<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit").field("limiter", &self.limiter).finish_non_exhaustive()
    }
}

impl RateLimit {
    /// One token of `limiter` per call.
    pub fn per_call(limiter: RateLimiter) -> Self {
        RateLimit { limiter, cost: PerCall }
    }
}

impl<C> RateLimit<C> {
    /// `cost(prep)` tokens of `limiter` per call.
    pub fn by(limiter: RateLimiter, cost: C) -> Self {
        RateLimit { limiter, cost }
    }
}

impl<N: Node, C: Cost<N::Prep>> AroundExec<N> for RateLimit<C> {
    async fn exec(&self, inner: &N, ctx: &Ctx<'_>, prep: &N::Prep) -> Result<N::Exec, NodeError> {
        let cost = self.cost.cost(prep);
        let mut waited = None;
        tokio::select! {
            biased;
            () = ctx.cancelled() => return Err(NodeError::cancelled()),
            () = self.limiter.acquire_noting(cost, |wait| {
                waited = Some(Instant::now());
                // A long wait is worth knowing about (`-v`): it looks like a hang otherwise.
                if wait > Duration::from_secs(1) {
                    tracing::info!(node = ctx.node(), cost, ?wait, "waiting for the rate limit");
                }
            }) => {}
        }
        if let Some(since) = waited {
            waited_for(ctx.node(), self.limiter.label.as_deref(), since.elapsed());
        }
        inner.exec(ctx, prep).await
    }
}

/// Tell whoever listens (`pocket run --stats`) that `node` waited `waited` for the limit
/// `label` (a `pocket::wait` event; only waits that happened are told).
pub(crate) fn waited_for(node: &str, label: Option<&str>, waited: Duration) {
    let waited_us = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
    tracing::debug!(target: "pocket::wait", node, limit = label.unwrap_or(""), waited_us, "waited for a limit");
}

/// A limiter is a layer of one token per call; its nodes share the bucket.
impl<N: Node> Layer<N> for RateLimiter {
    type Node = Around<N, RateLimit>;
    fn layer(&self, inner: N) -> Self::Node {
        Around::new(inner, RateLimit::per_call(self.clone()))
    }
}

//! A concurrency limit that follows how calls fare: additive increase while they succeed,
//! multiplicative decrease when the other side pushes back (a throttled call — an HTTP 429,
//! a `Retry-After` — or a timeout), between a floor and a ceiling. The limit is shared by
//! every node it wraps, like a [`ConcurrencyLimit`](super::concurrency_limit::ConcurrencyLimit).
//!
//! The policy is TCP's: from the floor the limit grows by one per success (slow start) until
//! the first push-back; then by one per window of `limit` successes; a push-back halves it —
//! once per window: the push-backs of calls that started before the last decrease do not count
//! again (they were let in under the old limit). Calls already running when the limit falls
//! finish; new ones wait for a slot.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::Notify;

use super::AroundExec;
use super::timeout::Elapsed;
use crate::ctx::Ctx;
use crate::error::{ErrorKind, NodeError};
use crate::node::Node;

/// An adaptive concurrency limit (see the module docs). Cloning shares it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use pocket::layer::adaptive_limit::AdaptiveLimit;
/// use pocket::layer::AroundLayer;
/// use pocket::{exec_fn, FanOut, NodeError, NodeExt, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let limit = AdaptiveLimit::new(2, 32);
/// // A service that pushes back whenever more than 8 calls are in flight.
/// let busy = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
/// let service = exec_fn(move |x: u32| {
///     let busy = busy.clone();
///     async move {
///         let now = busy.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
///         tokio::time::sleep(Duration::from_millis(10)).await;
///         busy.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
///         if now > 8 { Err(NodeError::throttled("busy", Duration::ZERO)) } else { Ok(x) }
///     }
/// });
/// let node = service.layer(&AroundLayer(limit.clone())).retry(pocket::layer::retry::RetryPolicy::constant(20, Duration::ZERO));
/// let out = FanOut::new(node).limit(32).run(&Store::new(), 0..200u32).await.unwrap();
/// assert_eq!(out.len(), 200);
/// assert!(limit.current() <= 9, "it settled near what the service takes: {}", limit.current());
/// # });
/// ```
#[derive(Clone)]
pub struct AdaptiveLimit {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    freed: Notify,
    min: usize,
    max: usize,
}

struct State {
    /// The limit, fractional (additive increase adds 1/limit per success).
    limit: f64,
    in_flight: usize,
    /// Still growing by one per success (no push-back yet).
    slow_start: bool,
    /// Counts the decreases: a call remembers the one it started under.
    epoch: u64,
}

impl fmt::Debug for AdaptiveLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveLimit")
            .field("min", &self.shared.min)
            .field("max", &self.shared.max)
            .field("current", &self.current())
            .finish()
    }
}

impl AdaptiveLimit {
    /// Between `min` and `max` calls at once (both at least 1), starting at `min`.
    pub fn new(min: usize, max: usize) -> Self {
        let min = min.max(1);
        let max = max.max(min);
        AdaptiveLimit {
            shared: Arc::new(Shared {
                state: Mutex::new(State { limit: min as f64, in_flight: 0, slow_start: true, epoch: 0 }),
                freed: Notify::new(),
                min,
                max,
            }),
        }
    }

    /// The limit now.
    pub fn current(&self) -> usize {
        let state = self.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        Self::whole(state.limit)
    }

    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    fn whole(limit: f64) -> usize {
        limit.floor().max(1.0) as usize
    }

    /// Wait for a slot under the current limit.
    async fn acquire(&self) -> Slot<'_> {
        loop {
            let freed = self.shared.freed.notified();
            {
                let mut state = self.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
                if state.in_flight < Self::whole(state.limit) {
                    state.in_flight += 1;
                    return Slot { limit: self, epoch: state.epoch };
                }
            }
            freed.await;
        }
    }

    /// A call ended: grow on success, shrink on push-back.
    fn record(&self, outcome: Outcome, epoch: u64) {
        let mut state = self.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (min, max) = (self.shared.min as f64, self.shared.max as f64);
        match outcome {
            Outcome::Fine => {
                let step = if state.slow_start { 1.0 } else { 1.0 / state.limit.max(1.0) };
                state.limit = (state.limit + step).min(max);
            }
            // Once per window: a call let in before the last decrease does not decrease again.
            Outcome::PushedBack => {
                if epoch == state.epoch {
                    state.limit = (state.limit / 2.0).max(min);
                    state.epoch += 1;
                    state.slow_start = false;
                    tracing::debug!(limit = Self::whole(state.limit), "adaptive limit lowered");
                }
            }
            Outcome::Other => {}
        }
        drop(state);
        // A higher limit may admit callers waiting.
        self.shared.freed.notify_waiters();
    }
}

/// How a call fared, for the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Fine,
    PushedBack,
    /// A failure that says nothing about load (bad input, say).
    Other,
}

impl Outcome {
    fn of<T>(result: &Result<T, NodeError>) -> Outcome {
        match result {
            Ok(_) => Outcome::Fine,
            Err(e) if e.kind() == ErrorKind::Throttled || e.find::<Elapsed>().is_some() => Outcome::PushedBack,
            Err(_) => Outcome::Other,
        }
    }
}

/// A slot taken; given back when dropped (the call ended, or was dropped).
struct Slot<'a> {
    limit: &'a AdaptiveLimit,
    /// The decreases there had been when the call started.
    epoch: u64,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut state = self.limit.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.in_flight -= 1;
        drop(state);
        self.limit.shared.freed.notify_waiters();
    }
}

/// Each Exec takes a slot under the current limit, and its outcome moves the limit. Put it
/// outside a timeout (so that it sees the timeout) and inside a retry (so that it sees each
/// attempt).
impl<N: Node> AroundExec<N> for AdaptiveLimit {
    async fn exec(&self, inner: &N, ctx: &Ctx<'_>, prep: &N::Prep) -> Result<N::Exec, NodeError> {
        let slot = tokio::select! {
            biased;
            () = ctx.cancelled() => return Err(NodeError::cancelled()),
            slot = self.acquire() => slot,
        };
        let result = inner.exec(ctx, prep).await;
        self.record(Outcome::of(&result), slot.epoch);
        drop(slot);
        result
    }
}

//! The circuit-breaker layer: stop calling a failing service for a while, then probe it.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::{Around, AroundExec, Layer};
use crate::ctx::Ctx;
use crate::error::NodeError;
use crate::node::Node;

/// A circuit breaker refused the call. Fatal: retrying at once cannot help (the breaker says
/// when it will let a trial through).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", if .retry_in.is_zero() { "circuit half-open: the trial calls are in flight, failing fast".to_string() } else { format!("circuit open: failing fast, next trial in {:?}", .retry_in) })]
pub struct CircuitOpen {
    retry_in: Duration,
}

impl CircuitOpen {
    /// How long until the breaker lets a trial call through (zero: trials are in flight).
    pub fn retry_in(&self) -> Duration {
        self.retry_in
    }
}

/// The state of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BreakerState {
    /// Calls go through; consecutive failures are counted.
    Closed,
    /// Calls fail at once until the open period ends.
    Open,
    /// A limited number of trial calls go through; their outcome closes or re-opens the breaker.
    HalfOpen,
}

type Listener = Arc<dyn Fn(BreakerState, BreakerState) + Send + Sync>;

/// A circuit breaker, shareable by several nodes that call one downstream service.
///
/// * **Closed**: calls go through. `failure_threshold` consecutive failures open it; a success
///   resets the count.
/// * **Open**: calls fail at once with [`CircuitOpen`], which says when the breaker
///   will try again. After `open_for` it turns half-open.
/// * **Half-open**: at most `half_open_trials` calls go through at once (the others fail fast).
///   When that many trials have succeeded it closes; any failed trial re-opens it.
///
/// State changes are reported, in the order they happen, to [`on_state_change`]
/// (called under the breaker's lock: it must not call the breaker) and as tracing events.
/// A cancelled call counts neither as a success nor as a failure.
///
/// [`on_state_change`]: CircuitBreaker::on_state_change
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use pocket::layer::circuit_breaker::{BreakerState, CircuitBreaker};
/// use pocket::{exec_fn, NodeError, NodeExt, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let breaker = CircuitBreaker::new(2, Duration::from_secs(30));
/// let call = exec_fn(|_: u8| async move { Err::<u8, _>(NodeError::msg("503")) }).circuit_breaker(breaker.clone());
/// let store = Store::new();
/// for _ in 0..2 {
///     assert!(pocket::run_node(&call, &store, 0).await.is_err());
/// }
/// assert_eq!(breaker.state(), BreakerState::Open);
/// let err = pocket::run_node(&call, &store, 0).await.unwrap_err();
/// assert_eq!(pocket::report(&err), "node `node` failed in exec: circuit open: failing fast, next trial in 30s");
/// # });
/// ```
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Mutex<Inner>>,
    config: Config,
}

#[derive(Clone, Copy)]
struct Config {
    failure_threshold: u32,
    open_for: Duration,
    half_open_trials: u32,
}

struct Inner {
    state: BreakerState,
    consecutive_failures: u32,
    opened_until: Instant,
    trials_in_flight: u32,
    trial_successes: u32,
    listener: Option<Listener>,
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("state", &self.state())
            .field("failure_threshold", &self.config.failure_threshold)
            .field("open_for", &self.config.open_for)
            .field("half_open_trials", &self.config.half_open_trials)
            .finish()
    }
}

/// Permission for one call, handed back with its outcome.
#[derive(Debug)]
pub(crate) struct Ticket {
    trial: bool,
}

impl CircuitBreaker {
    /// Open after `failure_threshold` (at least 1) consecutive failures, for `open_for`; one
    /// half-open trial at a time.
    pub fn new(failure_threshold: u32, open_for: Duration) -> Self {
        CircuitBreaker {
            inner: Arc::new(Mutex::new(Inner {
                state: BreakerState::Closed,
                consecutive_failures: 0,
                opened_until: Instant::now(),
                trials_in_flight: 0,
                trial_successes: 0,
                listener: None,
            })),
            config: Config { failure_threshold: failure_threshold.max(1), open_for, half_open_trials: 1 },
        }
    }

    /// Let up to `n` (at least 1) trial calls through at once while half-open; that many
    /// successes close the breaker.
    #[must_use]
    pub fn half_open_trials(mut self, n: u32) -> Self {
        self.config.half_open_trials = n.max(1);
        self
    }

    /// Call `f(from, to)` on every state change, in order.
    #[must_use]
    pub fn on_state_change(self, f: impl Fn(BreakerState, BreakerState) + Send + Sync + 'static) -> Self {
        self.lock().listener = Some(Arc::new(f));
        self
    }

    /// The current state (an open breaker whose period is over reads as half-open).
    pub fn state(&self) -> BreakerState {
        let inner = self.lock();
        match inner.state {
            BreakerState::Open if Instant::now() >= inner.opened_until => BreakerState::HalfOpen,
            state => state,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn transition(inner: &mut Inner, to: BreakerState) {
        let from = inner.state;
        if from == to {
            return;
        }
        inner.state = to;
        tracing::info!(?from, ?to, "circuit breaker state change");
        if let Some(listener) = &inner.listener {
            listener(from, to);
        }
    }

    /// Ask to make a call: a ticket, or how long until the next trial.
    pub(crate) fn acquire(&self) -> Result<Ticket, Duration> {
        let mut inner = self.lock();
        let now = Instant::now();
        if inner.state == BreakerState::Open {
            if now < inner.opened_until {
                return Err(inner.opened_until - now);
            }
            Self::transition(&mut inner, BreakerState::HalfOpen);
            inner.trials_in_flight = 0;
            inner.trial_successes = 0;
        }
        match inner.state {
            BreakerState::HalfOpen => {
                if inner.trials_in_flight + inner.trial_successes >= self.config.half_open_trials {
                    return Err(Duration::ZERO);
                }
                inner.trials_in_flight += 1;
                Ok(Ticket { trial: true })
            }
            _ => Ok(Ticket { trial: false }),
        }
    }

    /// Report the outcome of a call (`None`: cancelled, counts for nothing).
    pub(crate) fn record(&self, ticket: Ticket, success: Option<bool>) {
        let mut inner = self.lock();
        if ticket.trial {
            inner.trials_in_flight = inner.trials_in_flight.saturating_sub(1);
            if inner.state != BreakerState::HalfOpen {
                return; // a late trial after the breaker already moved on
            }
            match success {
                Some(true) => {
                    inner.trial_successes += 1;
                    if inner.trial_successes >= self.config.half_open_trials {
                        inner.consecutive_failures = 0;
                        Self::transition(&mut inner, BreakerState::Closed);
                    }
                }
                Some(false) => self.open(&mut inner),
                None => {}
            }
            return;
        }
        match success {
            Some(true) if inner.state == BreakerState::Closed => inner.consecutive_failures = 0,
            Some(false) if inner.state == BreakerState::Closed => {
                inner.consecutive_failures += 1;
                if inner.consecutive_failures >= self.config.failure_threshold {
                    self.open(&mut inner);
                }
            }
            _ => {}
        }
    }

    fn open(&self, inner: &mut Inner) {
        let now = Instant::now();
        // An open period too long to add to the clock means "open for good" (~30 years).
        inner.opened_until = now.checked_add(self.config.open_for).unwrap_or(now + Duration::from_secs(1 << 30));
        inner.trials_in_flight = 0;
        inner.trial_successes = 0;
        Self::transition(inner, BreakerState::Open);
    }
}

/// Exec goes through the breaker. Put retries *outside* the breaker so that every attempt counts
/// and an open breaker stops the retrying.
impl<N: Node> AroundExec<N> for CircuitBreaker {
    async fn exec(&self, inner: &N, ctx: &Ctx<'_>, prep: &N::Prep) -> Result<N::Exec, NodeError> {
        let ticket = self.acquire().map_err(|retry_in| NodeError::fatal(CircuitOpen { retry_in }))?;
        let mut guard = Outcome { breaker: self, ticket: Some(ticket) };
        let result = inner.exec(ctx, prep).await;
        let success = match &result {
            Ok(_) => Some(true),
            Err(e) if e.is_cancelled() => None,
            Err(_) => Some(false),
        };
        if let Some(ticket) = guard.ticket.take() {
            self.record(ticket, success);
        }
        result
    }
}

/// A breaker is a layer: its nodes share it (and its state).
impl<N: Node> Layer<N> for CircuitBreaker {
    type Node = Around<N, CircuitBreaker>;
    fn layer(&self, inner: N) -> Self::Node {
        Around::new(inner, self.clone())
    }
}

/// Reports a dropped (abandoned) call as cancelled, so a half-open slot is never lost.
struct Outcome<'a> {
    breaker: &'a CircuitBreaker,
    ticket: Option<Ticket>,
}

impl Drop for Outcome<'_> {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.breaker.record(ticket, None);
        }
    }
}

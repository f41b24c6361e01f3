//! Batches and adaptive fan-out: fan-out variants that shape how many items run at once.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::engine::{Admit, Schedule};
use super::fan_out::Items;
use super::{ItemError, TaskGauge};
use crate::error::RunError;
use crate::node::Node;
use crate::store::Store;

/// An item of a batch failed.
#[derive(Debug, thiserror::Error)]
#[error("batch {batch}, item {item} failed")]
pub struct BatchError {
    /// The batch's position (0-based).
    pub batch: usize,
    /// The item's position in the whole input (0-based).
    pub item: usize,
    /// Its error.
    #[source]
    pub error: RunError,
}

/// Items in batches of `size`: the items of a batch run concurrently (at most `concurrency` at
/// once), batches run one after the other, with an optional pause in between. Results come
/// back in input order; the first failure stops everything (the rest of its batch is cancelled,
/// later batches never start) and names the batch and the item. Item `i` runs on the scope
/// `item-<i>`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use pocket::{exec_fn, Store};
/// use pocket::pattern::Batches;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// let batches = Batches::new(exec_fn(|x: u32| async move { Ok(x + 1) }), 2).pause(Duration::from_secs(1));
/// let start = tokio::time::Instant::now();
/// assert_eq!(batches.run(&Store::new(), 0..5).await.unwrap(), [1, 2, 3, 4, 5]);
/// assert_eq!(start.elapsed(), Duration::from_secs(2)); // 3 batches, 2 pauses
/// # });
/// ```
pub struct Batches<N> {
    node: N,
    size: usize,
    concurrency: usize,
    pause: Option<Duration>,
    name: String,
    gauge: TaskGauge,
}

impl<N: fmt::Debug> fmt::Debug for Batches<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batches")
            .field("node", &self.node)
            .field("size", &self.size)
            .field("concurrency", &self.concurrency)
            .field("pause", &self.pause)
            .finish_non_exhaustive()
    }
}

impl<N: Node> Batches<N> {
    /// Batches of `size` items (at least 1); by default all items of a batch run at once.
    pub fn new(node: N, size: usize) -> Self {
        let size = size.max(1);
        Batches { node, size, concurrency: size, pause: None, name: "batch".into(), gauge: TaskGauge::new() }
    }

    /// At most `n` items of a batch at once.
    #[must_use]
    pub fn limit(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Wait `pause` between batches.
    #[must_use]
    pub fn pause(mut self, pause: Duration) -> Self {
        self.pause = Some(pause);
        self
    }

    /// The node's name in errors.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Count items in flight on `gauge`.
    #[must_use]
    pub fn gauge(mut self, gauge: TaskGauge) -> Self {
        self.gauge = gauge;
        self
    }

    /// Run all batches.
    ///
    /// # Errors
    ///
    /// The first failing item's [`BatchError`].
    pub async fn run(
        &self,
        store: &Store,
        items: impl IntoIterator<Item = N::Input>,
    ) -> Result<Vec<N::Output>, BatchError> {
        self.run_with(store, items, &CancellationToken::new()).await
    }

    /// [`Batches::run`] under a cancellation token (also interrupts the pause).
    ///
    /// # Errors
    ///
    /// As [`Batches::run`].
    pub async fn run_with(
        &self,
        store: &Store,
        items: impl IntoIterator<Item = N::Input>,
        token: &CancellationToken,
    ) -> Result<Vec<N::Output>, BatchError> {
        let token = token.child_token();
        let on = Items { node: &self.node, name: &self.name, store, offset: 0 };
        let mut schedule = Batched { size: self.size, concurrency: self.concurrency, pause: self.pause, paused: 0 };
        on.fail_fast(items, &mut schedule, &self.gauge, &token).await.map_err(|e| BatchError {
            batch: e.index / self.size,
            item: e.index,
            error: e.error,
        })
    }
}

/// Batches as a schedule: the items of batch `b` are `b * size ..`, at most `concurrency` of
/// them at once; the next batch starts when the last one has drained, after `pause`.
struct Batched {
    size: usize,
    concurrency: usize,
    pause: Option<Duration>,
    /// The batch whose pause has been scheduled (batches before it need none).
    paused: usize,
}

impl Schedule for Batched {
    fn admit(&mut self, started: usize, in_flight: usize) -> Admit {
        let batch = started / self.size;
        if started.is_multiple_of(self.size) && started > 0 {
            if in_flight > 0 {
                return Admit::Wait; // the previous batch is still running
            }
            if let Some(pause) = self.pause
                && self.paused < batch
            {
                self.paused = batch;
                return Admit::SleepUntil(Instant::now() + pause);
            }
        }
        if in_flight >= self.concurrency { Admit::Wait } else { Admit::Start }
    }
}

/// A load signal for [`AdaptiveFanOut`]: 0.0 is idle, 1.0 is saturated (values above 1 mean
/// overloaded). Closures returning `f64` are load signals.
pub trait LoadSignal: Send + Sync {
    /// The current load.
    fn load(&self) -> f64;
}

impl<F: Fn() -> f64 + Send + Sync> LoadSignal for F {
    fn load(&self) -> f64 {
        self()
    }
}

/// The system's one-minute load average divided by the number of CPUs (Linux `/proc/loadavg`);
/// 0.5 where it cannot be read.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLoad;

impl LoadSignal for SystemLoad {
    fn load(&self) -> f64 {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from) as f64;
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<f64>().ok()))
            .map_or(0.5, |avg| avg / cpus)
    }
}

/// The worker count for a load: `min` above 0.8, `max` below 0.3, in between proportional
/// to the spare capacity (`1 - load`).
///
/// ```
/// assert_eq!(pocket::pattern::workers_for_load(0.9, 2, 10), 2);
/// assert_eq!(pocket::pattern::workers_for_load(0.1, 2, 10), 10);
/// assert_eq!(pocket::pattern::workers_for_load(0.5, 2, 10), 6);
/// ```
pub fn workers_for_load(load: f64, min: usize, max: usize) -> usize {
    let (min, max) = (min.max(1), max.max(min.max(1)));
    if !load.is_finite() || load > 0.8 {
        return min;
    }
    if load < 0.3 {
        return max;
    }
    let spare = 1.0 - load;
    (min + (spare * (max - min) as f64).round() as usize).clamp(min, max)
}

/// A fan-out whose number of items in flight follows a load signal: between `min` and `max`,
/// chosen by [`workers_for_load`] and re-evaluated while running (when an item finishes, at
/// most once per interval). Results in input order, fail-fast, scopes `item-<i>`, like
/// [`FanOut`](crate::FanOut).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use pocket::{exec_fn, Store};
/// use pocket::pattern::AdaptiveFanOut;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let fan = AdaptiveFanOut::new(exec_fn(|x: u32| async move { Ok(x * 2) }), 1, 8)
///     .signal(|| 0.1) // idle: use all 8
///     .interval(Duration::from_millis(100));
/// assert_eq!(fan.run(&Store::new(), 0..4).await.unwrap(), [0, 2, 4, 6]);
/// # });
/// ```
pub struct AdaptiveFanOut<N> {
    node: N,
    min: usize,
    max: usize,
    interval: Duration,
    signal: Arc<dyn LoadSignal>,
    on_change: Option<Arc<dyn Fn(usize, f64) + Send + Sync>>,
    name: String,
    gauge: TaskGauge,
}

impl<N: fmt::Debug> fmt::Debug for AdaptiveFanOut<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveFanOut")
            .field("node", &self.node)
            .field("min", &self.min)
            .field("max", &self.max)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl<N: Node> AdaptiveFanOut<N> {
    /// Between `min` and `max` items in flight, following [`SystemLoad`] every second.
    pub fn new(node: N, min: usize, max: usize) -> Self {
        let min = min.max(1);
        AdaptiveFanOut {
            node,
            min,
            max: max.max(min),
            interval: Duration::from_secs(1),
            signal: Arc::new(SystemLoad),
            on_change: None,
            name: "adaptive-fan-out".into(),
            gauge: TaskGauge::new(),
        }
    }

    /// Follow another load signal.
    #[must_use]
    pub fn signal(mut self, signal: impl LoadSignal + 'static) -> Self {
        self.signal = Arc::new(signal);
        self
    }

    /// Re-read the signal at most once per `interval`.
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Call `f(workers, load)` whenever the worker count changes (also logged as a tracing
    /// event).
    #[must_use]
    pub fn on_change(mut self, f: impl Fn(usize, f64) + Send + Sync + 'static) -> Self {
        self.on_change = Some(Arc::new(f));
        self
    }

    /// Count items in flight on `gauge`.
    #[must_use]
    pub fn gauge(mut self, gauge: TaskGauge) -> Self {
        self.gauge = gauge;
        self
    }

    /// Run every item; fail fast.
    ///
    /// # Errors
    ///
    /// The first failing item's [`ItemError`].
    pub async fn run(
        &self,
        store: &Store,
        items: impl IntoIterator<Item = N::Input>,
    ) -> Result<Vec<N::Output>, ItemError> {
        self.run_with(store, items, &CancellationToken::new()).await
    }

    /// [`AdaptiveFanOut::run`] under a cancellation token.
    ///
    /// # Errors
    ///
    /// As [`AdaptiveFanOut::run`]; cancelling fails it with the first unfinished item.
    pub async fn run_with(
        &self,
        store: &Store,
        items: impl IntoIterator<Item = N::Input>,
        token: &CancellationToken,
    ) -> Result<Vec<N::Output>, ItemError> {
        let token = token.child_token();
        let mut workers = 0;
        let mut checked: Option<Instant> = None;
        let limit = |_in_flight: usize| {
            if checked.is_none_or(|at| at.elapsed() >= self.interval) {
                checked = Some(Instant::now());
                let load = self.signal.load();
                let next = workers_for_load(load, self.min, self.max);
                if next != workers {
                    tracing::info!(node = %self.name, workers = next, load, "adaptive fan-out changes its worker count");
                    if let Some(f) = &self.on_change {
                        f(next, load);
                    }
                    workers = next;
                }
            }
            workers
        };
        let on = Items { node: &self.node, name: &self.name, store, offset: 0 };
        on.fail_fast(items, &mut { limit }, &self.gauge, &token).await
    }
}

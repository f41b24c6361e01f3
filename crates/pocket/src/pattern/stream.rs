//! Stream processing: a stream in, a stream out, bounded and back-pressured.

use std::collections::BTreeMap;
use std::fmt;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{ItemError, TaskGauge};
use crate::layer::rate_limit::RateLimiter;
use crate::node::{Node, run_node_with};
use crate::store::Store;

/// Runs a node over a stream of items and yields a stream of results.
///
/// * At most `concurrency` items are in flight, and at most `buffer` results wait for the
///   consumer. When the consumer falls behind, the processor stops pulling from the input, so a
///   producer feeding the input through a bounded channel blocks: back-pressure end to end.
/// * [`ordered`](StreamProcessor::ordered) (the default) yields results in input order;
///   [`unordered`](StreamProcessor::unordered) as they finish.
/// * An optional [`RateLimiter`] paces item starts.
/// * Dropping the output stream, or cancelling the token given to
///   [`run_with`](StreamProcessor::run_with), stops the processing at once; nothing keeps
///   running (see the [`TaskGauge`]).
/// * Item `i` runs on the scope `item-<i>`; a failed item yields its [`ItemError`] and the
///   stream goes on.
///
/// The processing runs in a spawned task, so it must be started inside a tokio runtime.
///
/// # Examples
///
/// ```
/// use futures_util::StreamExt;
/// use pocket::{exec_fn, Store};
/// use pocket::pattern::StreamProcessor;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let double = exec_fn(|x: u64| async move { Ok(x * 2) });
/// let input = futures_util::stream::iter(0..5u64);
/// let out: Vec<u64> = StreamProcessor::new(double)
///     .limit(3)
///     .run(&Store::new(), input)
///     .map(|r| r.unwrap())
///     .collect()
///     .await;
/// assert_eq!(out, [0, 2, 4, 6, 8]);
/// # });
/// ```
pub struct StreamProcessor<N> {
    node: Arc<N>,
    name: String,
    concurrency: usize,
    buffer: usize,
    ordered: bool,
    limiter: Option<RateLimiter>,
    gauge: TaskGauge,
}

impl<N: fmt::Debug> fmt::Debug for StreamProcessor<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamProcessor")
            .field("node", &self.node)
            .field("concurrency", &self.concurrency)
            .field("buffer", &self.buffer)
            .field("ordered", &self.ordered)
            .finish_non_exhaustive()
    }
}

impl<N: Node> StreamProcessor<N> {
    /// Process with `node`: 16 items in flight, 16 results buffered, ordered output.
    pub fn new(node: N) -> Self {
        StreamProcessor {
            node: Arc::new(node),
            name: "stream".into(),
            concurrency: 16,
            buffer: 16,
            ordered: true,
            limiter: None,
            gauge: TaskGauge::new(),
        }
    }

    /// At most `n` items in flight (at least 1).
    #[must_use]
    pub fn limit(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// At most `n` finished results waiting for the consumer (at least 1).
    #[must_use]
    pub fn buffer(mut self, n: usize) -> Self {
        self.buffer = n.max(1);
        self
    }

    /// Yield results in input order (the default).
    #[must_use]
    pub fn ordered(mut self) -> Self {
        self.ordered = true;
        self
    }

    /// Yield results as they finish.
    #[must_use]
    pub fn unordered(mut self) -> Self {
        self.ordered = false;
        self
    }

    /// Pace item starts with `limiter` (one token per item).
    #[must_use]
    pub fn rate_limit(mut self, limiter: RateLimiter) -> Self {
        self.limiter = Some(limiter);
        self
    }

    /// The node's name in errors.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Count the processing task and the items in flight on `gauge`.
    #[must_use]
    pub fn gauge(mut self, gauge: TaskGauge) -> Self {
        self.gauge = gauge;
        self
    }

    /// Start processing `input`.
    pub fn run<S>(&self, store: &Store, input: S) -> Processed<N::Output>
    where
        S: Stream<Item = N::Input> + Send + 'static,
    {
        self.run_with(store, input, &CancellationToken::new())
    }

    /// Start processing `input` under a cancellation token.
    pub fn run_with<S>(&self, store: &Store, input: S, token: &CancellationToken) -> Processed<N::Output>
    where
        S: Stream<Item = N::Input> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(self.buffer);
        let token = token.child_token();
        let task = tokio::spawn(drive(
            self.node.clone(),
            self.name.clone(),
            store.clone(),
            input,
            tx,
            token.clone(),
            Shape { concurrency: self.concurrency, ordered: self.ordered },
            self.limiter.clone(),
            self.gauge.clone(),
        ));
        Processed { rx, task, token }
    }
}

struct Shape {
    concurrency: usize,
    ordered: bool,
}

#[allow(clippy::too_many_arguments)]
async fn drive<N: Node, S: Stream<Item = N::Input>>(
    node: Arc<N>,
    name: String,
    store: Store,
    input: S,
    tx: mpsc::Sender<Result<N::Output, ItemError>>,
    token: CancellationToken,
    shape: Shape,
    limiter: Option<RateLimiter>,
    gauge: TaskGauge,
) {
    let _task = gauge.enter();
    let mut input = pin!(input);
    let mut running = FuturesUnordered::new();
    let mut waiting: BTreeMap<usize, Result<N::Output, ItemError>> = BTreeMap::new();
    let (mut next_index, mut next_out, mut input_done) = (0usize, 0usize, false);
    let start = |index: usize, item: N::Input| {
        let guard = gauge.enter();
        let scope = store.scope_indexed("item", index);
        let (node, name, token, limiter) = (&node, &name, &token, &limiter);
        async move {
            if let Some(limiter) = limiter {
                limiter.acquire(1).await;
            }
            let result = run_node_with(&**node, name, &scope, item, token).await;
            drop(guard);
            (index, result.map(|(out, _)| out).map_err(|error| ItemError { index, error }))
        }
    };
    loop {
        if input_done && running.is_empty() {
            return;
        }
        let can_start = !input_done && running.len() + waiting.len() < shape.concurrency;
        tokio::select! {
            biased;
            () = token.cancelled() => return,
            Some((index, result)) = running.next(), if !running.is_empty() => {
                if shape.ordered {
                    waiting.insert(index, result);
                    while let Some(result) = waiting.remove(&next_out) {
                        next_out += 1;
                        if !send(&tx, &token, result).await {
                            return;
                        }
                    }
                } else if !send(&tx, &token, result).await {
                    return;
                }
            }
            item = input.next(), if can_start => match item {
                Some(item) => {
                    running.push(start(next_index, item));
                    next_index += 1;
                }
                None => input_done = true,
            },
        }
    }
}

/// Hands `result` to the consumer, waiting while the buffer is full, unless the token is
/// cancelled first: a consumer that stops reading cannot keep a cancelled processing alive.
/// `false` when the processing is over (cancelled, or the consumer is gone).
async fn send<T>(tx: &mpsc::Sender<T>, token: &CancellationToken, result: T) -> bool {
    tokio::select! {
        biased;
        () = token.cancelled() => false,
        sent = tx.send(result) => sent.is_ok(),
    }
}

/// The output of a [`StreamProcessor`]: a stream of results. Dropping it stops the processing.
pub struct Processed<O> {
    rx: mpsc::Receiver<Result<O, ItemError>>,
    task: tokio::task::JoinHandle<()>,
    token: CancellationToken,
}

impl<O> fmt::Debug for Processed<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Processed").field("finished", &self.task.is_finished()).finish()
    }
}

impl<O> Stream for Processed<O> {
    type Item = Result<O, ItemError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl<O> Drop for Processed<O> {
    fn drop(&mut self) {
        self.token.cancel();
        self.task.abort();
    }
}

//! A worker pool: N spawned workers draining a bounded queue, results streamed back.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::TaskGauge;
use crate::error::RunError;
use crate::node::{Node, run_node_racing};
use crate::store::Store;

/// How a [`WorkerPool`] is started: [`WorkerPool::builder`].
#[derive(Debug)]
#[must_use = "a pool starts only with `start`"]
pub struct PoolBuilder<N> {
    node: N,
    limit: usize,
    capacity: usize,
    gauge: TaskGauge,
}

impl<N: Node> PoolBuilder<N> {
    /// `n` workers, so at most `n` jobs at once (at least 1).
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = n.max(1);
        self
    }

    /// At most `n` jobs waiting in the queue (at least 1); `submit` waits beyond that.
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = n.max(1);
        self
    }

    /// Count workers and jobs on `gauge`.
    pub fn gauge(mut self, gauge: TaskGauge) -> Self {
        self.gauge = gauge;
        self
    }

    /// Start the workers; job `id` runs on the scope `job-<id>` of `store`.
    pub fn start(self, store: &Store) -> WorkerPool<N::Input, N::Output> {
        WorkerPool::start(self.node, store.clone(), self.limit, self.capacity, self.gauge)
    }
}

/// The pool no longer accepts work (it was closed or aborted); the item is handed back.
#[derive(Debug, thiserror::Error)]
#[error("the worker pool is closed")]
pub struct PoolClosed<I>(pub I);

/// One finished job: the id [`WorkerPool::submit`] returned, and the outcome.
#[derive(Debug)]
pub struct Job<O> {
    /// The job's id (its submission order, from 0).
    pub id: usize,
    /// The node's output or its error.
    pub result: Result<O, RunError>,
}

/// `workers` tasks draining a bounded queue of items through one node.
///
/// * [`submit`](WorkerPool::submit) waits while the queue is full (back-pressure);
///   [`submitter`](WorkerPool::submitter) hands out a cloneable [`Submitter`] so producers run
///   beside the consumer.
/// * The pool is a [`Stream`] of results as they finish (completion order, with the job id);
///   [`next`](WorkerPool::next) is the same without `StreamExt`. After
///   [`close`](WorkerPool::close) the stream ends once everything queued has been processed
///   (graceful drain).
/// * [`abort`](WorkerPool::abort) cancels the work in flight (steps see the cancellation) and
///   drops the queue; dropping the pool aborts it too. Either way no worker keeps running.
/// * Job `id` runs on the scope `job-<id>`. Workers and jobs count on the [`TaskGauge`].
///
/// Workers are spawned tokio tasks, so CPU-heavy nodes run in parallel on a multi-threaded
/// runtime. Must be started inside a tokio runtime.
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, Store};
/// use pocket::pattern::WorkerPool;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let mut pool = WorkerPool::builder(exec_fn(|x: u64| async move { Ok(x * x) })).limit(4).capacity(8).start(&Store::new());
/// for x in 0..10 {
///     pool.submit(x).await.unwrap();
/// }
/// pool.close();
/// let mut sum = 0;
/// while let Some(job) = pool.next().await {
///     sum += job.result.unwrap();
/// }
/// assert_eq!(sum, 285);
/// # });
/// ```
pub struct WorkerPool<I, O> {
    queue: Option<mpsc::Sender<(usize, I)>>,
    results: mpsc::UnboundedReceiver<Job<O>>,
    workers: JoinSet<()>,
    token: CancellationToken,
    ids: Arc<AtomicUsize>,
}

/// A handle that queues work on a [`WorkerPool`] from another task, while the pool's owner
/// reads the results. Clones share the pool's job ids. It does not keep the pool open:
/// after [`WorkerPool::close`] (or `abort`, or dropping the pool) submitting fails with
/// [`PoolClosed`].
///
/// # Cancel safety
///
/// [`Submitter::submit`] moves the item into its future: if that future is dropped while it
/// waits for room in the queue (a `select!` branch that lost), the item is dropped with it.
/// [`Submitter::reserve`] is cancel-safe: wait for room first, then hand the item over
/// synchronously.
pub struct Submitter<I> {
    queue: mpsc::WeakSender<(usize, I)>,
    ids: Arc<AtomicUsize>,
}

impl<I> Clone for Submitter<I> {
    fn clone(&self) -> Self {
        Submitter { queue: self.queue.clone(), ids: self.ids.clone() }
    }
}

impl<I> fmt::Debug for Submitter<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Submitter").field("submitted", &self.ids.load(Ordering::Relaxed)).finish()
    }
}

/// Room for one item in a [`WorkerPool`]'s queue, from [`Submitter::reserve`].
pub struct Reserved<I> {
    permit: mpsc::OwnedPermit<(usize, I)>,
    ids: Arc<AtomicUsize>,
}

impl<I> fmt::Debug for Reserved<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reserved")
    }
}

impl<I> Reserved<I> {
    /// Queue `item` in the reserved place; returns the job's id.
    pub fn submit(self, item: I) -> usize {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        self.permit.send((id, item));
        id
    }
}

impl<I: Send + 'static> Submitter<I> {
    /// Queue `item`, waiting while the queue is full; returns the job's id.
    ///
    /// # Errors
    ///
    /// [`PoolClosed`] with the item when the pool was closed, aborted or dropped.
    pub async fn submit(&self, item: I) -> Result<usize, PoolClosed<I>> {
        match self.reserve().await {
            Ok(place) => Ok(place.submit(item)),
            Err(PoolClosed(())) => Err(PoolClosed(item)),
        }
    }

    /// Wait for room in the queue (cancel-safe: nothing is lost if this is dropped).
    ///
    /// # Errors
    ///
    /// [`PoolClosed`] when the pool was closed, aborted or dropped.
    pub async fn reserve(&self) -> Result<Reserved<I>, PoolClosed<()>> {
        // A strong sender only while waiting: closing the pool is not held up by handles.
        let queue = self.queue.upgrade().ok_or(PoolClosed(()))?;
        let permit = queue.reserve_owned().await.map_err(|_| PoolClosed(()))?;
        Ok(Reserved { permit, ids: self.ids.clone() })
    }
}

impl<I, O> fmt::Debug for WorkerPool<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field("workers", &self.workers.len())
            .field("submitted", &self.ids.load(Ordering::Relaxed))
            .field("open", &self.queue.is_some())
            .finish()
    }
}

impl<I: Send + Sync + 'static, O: Send + 'static> WorkerPool<I, O> {
    /// A pool running `node`: 4 workers and a queue of 16 unless told otherwise.
    pub fn builder<N: Node<Input = I, Output = O>>(node: N) -> PoolBuilder<N> {
        PoolBuilder { node, limit: 4, capacity: 16, gauge: TaskGauge::new() }
    }

    fn start<N: Node<Input = I, Output = O>>(
        node: N,
        store: Store,
        workers: usize,
        capacity: usize,
        gauge: TaskGauge,
    ) -> Self {
        let (queue, receiver) = mpsc::channel::<(usize, I)>(capacity.max(1));
        let (done, results) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        let node = Arc::new(node);
        let token = CancellationToken::new();
        let mut set = JoinSet::new();
        for w in 0..workers.max(1) {
            let (node, store, receiver, done, token, gauge) =
                (node.clone(), store.clone(), receiver.clone(), done.clone(), token.clone(), gauge.clone());
            set.spawn(async move {
                let _worker = gauge.enter();
                let name = format!("worker-{w}");
                loop {
                    let next = tokio::select! {
                        biased;
                        () = token.cancelled() => None,
                        next = async { receiver.lock().await.recv().await } => next,
                    };
                    let Some((id, item)) = next else { break };
                    let _job = gauge.enter();
                    let scope = store.scope_indexed("job", id);
                    // Steps that ignore the cancellation are dropped, not waited for.
                    let result = run_node_racing(&*node, &name, &scope, item, &token).await.map(|(out, _)| out);
                    let stop = token.is_cancelled();
                    if done.send(Job { id, result }).is_err() || stop {
                        break;
                    }
                }
            });
        }
        WorkerPool { queue: Some(queue), results, workers: set, token, ids: Arc::default() }
    }

    /// A handle to queue work from another task (`None` once the pool is closed).
    pub fn submitter(&self) -> Option<Submitter<I>> {
        let queue = self.queue.as_ref()?.downgrade();
        Some(Submitter { queue, ids: self.ids.clone() })
    }

    /// Queue `item`, waiting while the queue is full; returns the job's id.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future while it waits for room drops the item; see [`Submitter::reserve`]
    /// for the cancel-safe way.
    ///
    /// # Errors
    ///
    /// [`PoolClosed`] with the item when the pool was closed or aborted.
    pub async fn submit(&mut self, item: I) -> Result<usize, PoolClosed<I>> {
        match self.submitter() {
            Some(submitter) => submitter.submit(item).await,
            None => Err(PoolClosed(item)),
        }
    }

    /// The next finished job, in completion order; `None` once the pool is closed (or aborted)
    /// and everything queued has finished.
    pub async fn next(&mut self) -> Option<Job<O>> {
        std::future::poll_fn(|cx| self.poll_job(cx)).await
    }

    fn poll_job(&mut self, cx: &mut Context<'_>) -> Poll<Option<Job<O>>> {
        if self.queue.is_some() {
            // Still open: results may keep coming; the workers hold the sending side.
            return self.results.poll_recv(cx);
        }
        match self.results.poll_recv(cx) {
            Poll::Ready(None) => {
                while let Poll::Ready(Some(_)) = self.workers.poll_join_next(cx) {}
                if self.workers.is_empty() { Poll::Ready(None) } else { Poll::Pending }
            }
            other => other,
        }
    }

    /// Stop accepting work; the workers finish what is queued, then exit.
    pub fn close(&mut self) {
        self.queue = None;
    }

    /// Cancel everything: work in flight sees the cancellation, queued work is dropped, and
    /// the workers are stopped.
    pub fn abort(&mut self) {
        self.queue = None;
        self.token.cancel();
        self.workers.abort_all();
    }

    /// The pool's cancellation token: cancelling it (from anywhere) stops the pool like
    /// [`abort`](WorkerPool::abort) — work in flight sees the cancellation, workers exit, and
    /// [`next`](WorkerPool::next) returns the results already produced, then `None`.
    pub fn cancel_token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Wait until every worker has exited (after [`close`](WorkerPool::close) or
    /// [`abort`](WorkerPool::abort)); results not yet read are kept for [`next`](WorkerPool::next).
    pub async fn join(&mut self) {
        while self.workers.join_next().await.is_some() {}
    }
}

/// The results, as they finish; the stream ends after [`WorkerPool::close`] once everything
/// queued was processed.
impl<I: Send + Sync + 'static, O: Send + 'static> Stream for WorkerPool<I, O> {
    type Item = Job<O>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Job<O>>> {
        self.get_mut().poll_job(cx)
    }
}

impl<I, O> Drop for WorkerPool<I, O> {
    fn drop(&mut self) {
        self.token.cancel();
        self.workers.abort_all();
    }
}

//! A worker pool: N spawned workers draining a bounded queue, results streamed back.

use std::fmt;
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::TaskGauge;
use crate::error::RunError;
use crate::node::{Node, run_node_racing};
use crate::store::Store;

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
/// * [`submit`](WorkerPool::submit) waits while the queue is full (back-pressure).
/// * [`next`](WorkerPool::next) returns results as they finish (completion order, with the
///   job id); after [`close`](WorkerPool::close) it returns `None` once everything queued has
///   been processed (graceful drain).
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
/// let mut pool = WorkerPool::start(exec_fn(|x: u64| async move { Ok(x * x) }), Store::new(), 4, 8);
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
    submitted: usize,
}

impl<I, O> fmt::Debug for WorkerPool<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerPool")
            .field("workers", &self.workers.len())
            .field("submitted", &self.submitted)
            .field("open", &self.queue.is_some())
            .finish()
    }
}

impl<I: Send + Sync + 'static, O: Send + 'static> WorkerPool<I, O> {
    /// Start `workers` workers (at least 1) running `node`, with a queue of `capacity` items (at
    /// least 1).
    pub fn start<N: Node<Input = I, Output = O>>(node: N, store: Store, workers: usize, capacity: usize) -> Self {
        Self::start_with(node, store, workers, capacity, TaskGauge::new())
    }

    /// [`WorkerPool::start`], counting workers and jobs on `gauge`.
    pub fn start_with<N: Node<Input = I, Output = O>>(
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
        WorkerPool { queue: Some(queue), results, workers: set, token, submitted: 0 }
    }

    /// Queue `item`, waiting while the queue is full; returns the job's id.
    ///
    /// # Errors
    ///
    /// [`PoolClosed`] with the item when the pool was closed or aborted.
    pub async fn submit(&mut self, item: I) -> Result<usize, PoolClosed<I>> {
        let Some(queue) = &self.queue else { return Err(PoolClosed(item)) };
        let id = self.submitted;
        match queue.send((id, item)).await {
            Ok(()) => {
                self.submitted += 1;
                Ok(id)
            }
            Err(mpsc::error::SendError((_, item))) => Err(PoolClosed(item)),
        }
    }

    /// The next finished job, in completion order; `None` once the pool is closed (or aborted)
    /// and everything queued has finished.
    pub async fn next(&mut self) -> Option<Job<O>> {
        if self.queue.is_some() {
            // Still open: results may keep coming; the workers hold the sending side.
            return self.results.recv().await;
        }
        match self.results.recv().await {
            Some(job) => Some(job),
            None => {
                while self.workers.join_next().await.is_some() {}
                None
            }
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

impl<I, O> Drop for WorkerPool<I, O> {
    fn drop(&mut self) {
        self.token.cancel();
        self.workers.abort_all();
    }
}

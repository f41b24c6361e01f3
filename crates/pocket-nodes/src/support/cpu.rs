//! CPU-bound evaluation — jq programs, Go templates, Lua scripts — off the async workers, on
//! threads with a large, known stack.
//!
//! A step that waits for an evaluation can be timed out or cancelled at any moment: the
//! waiting future is dropped and the evaluation is told to stop ([`Stop`]). Evaluators that
//! can look at the flag (Lua's instruction hook, jq between outputs) stop soon; one that
//! cannot (a tight loop inside a single jq output) keeps its thread until it ends, and new
//! work gets new threads meanwhile, up to [`MAX_THREADS`]. Nothing waits for it: the node's
//! timeout, the run's deadline and Ctrl-C hold whatever the evaluation does.
//!
//! The stack is large so that evaluators that recurse (a jq parser on deep nesting, a jq
//! program over a deep value) have room: depth limits are enforced before that, and the
//! stack is the margin behind them.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use pocket::NodeError;

/// Each evaluation thread's stack (reserved address space; pages are used only as touched).
pub(crate) const STACK: usize = 256 << 20;

/// At most this many evaluation threads at once (threads kept by runaway evaluations count).
pub(crate) const MAX_THREADS: usize = 64;

/// An idle thread ends after this long.
const IDLE: Duration = Duration::from_secs(30);

/// Set when the step waiting for the evaluation has gone (timed out, cancelled): the
/// evaluation should stop at its next chance.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Whether the evaluation should stop.
    pub(crate) fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Ask the evaluation to stop.
    pub(crate) fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Sets the flag when the waiting future is dropped, however that happens.
struct StopOnDrop(Stop);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.request();
    }
}

type Job = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    idle: usize,
    threads: usize,
}

struct Pool {
    state: Mutex<State>,
    ready: Condvar,
}

static POOL: Pool =
    Pool { state: Mutex::new(State { queue: VecDeque::new(), idle: 0, threads: 0 }), ready: Condvar::new() };

impl Pool {
    fn submit(&'static self, job: Job) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.queue.push_back(job);
        if state.idle == 0 && state.threads < MAX_THREADS {
            let spawned =
                std::thread::Builder::new().name("pocket-eval".into()).stack_size(STACK).spawn(move || self.work());
            if spawned.is_ok() {
                state.threads += 1;
            }
        }
        drop(state);
        self.ready.notify_one();
    }

    fn work(&'static self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                job();
                state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state.idle += 1;
            let (next, waited) = self.ready.wait_timeout(state, IDLE).unwrap_or_else(PoisonError::into_inner);
            state = next;
            state.idle -= 1;
            if waited.timed_out() && state.queue.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }
}

/// Run `work` on an evaluation thread and wait for it. Dropping the returned future (a
/// timeout, a cancellation) sets the [`Stop`] flag `work` is given.
///
/// The wait itself is a task of tokio's blocking pool, which tokio knows about: a runtime
/// does not count it as idle (a paused test clock does not jump ahead while an evaluation
/// runs), and it ends as soon as the flag is set, so no runtime shutdown waits for an
/// evaluation that does not stop.
///
/// # Errors
///
/// A panic inside `work` is a fatal [`NodeError`].
pub(crate) async fn run<T: Send + 'static>(work: impl FnOnce(&Stop) -> T + Send + 'static) -> Result<T, NodeError> {
    let stop = Stop::default();
    let _stop_on_drop = StopOnDrop(stop.clone());
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let flag = stop.clone();
    POOL.submit(Box::new(move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&flag)));
        let _ = tx.send(out);
    }));
    let waited = tokio::task::spawn_blocking(move || {
        loop {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(out) => return Some(out),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !stop.requested() => {}
                Err(_) => return None,
            }
        }
    })
    .await;
    match waited {
        Ok(Some(Ok(out))) => Ok(out),
        Ok(Some(Err(panic))) => Err(NodeError::from_panic(panic)),
        Ok(None) | Err(_) => Err(NodeError::fatal_msg("the evaluation was stopped")),
    }
}

/// Run `work` on an evaluation thread from synchronous code (building a node) and wait for it.
///
/// # Errors
///
/// A panic inside `work`, as a message.
pub(crate) fn block_on<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    POOL.submit(Box::new(move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        let _ = tx.send(out);
    }));
    match rx.recv() {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(_)) | Err(_) => Err("the evaluation panicked".to_string()),
    }
}

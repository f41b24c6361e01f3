//! The active-task gauge: how many pattern tasks (fan-out items, workers, stream items, ...)
//! are alive right now.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

static GLOBAL: AtomicUsize = AtomicUsize::new(0);

/// The number of pattern tasks alive in the whole process (every [`TaskGauge`] counts here
/// too). Export it as a metric: a number that keeps growing means work is leaking.
pub fn active_tasks() -> usize {
    GLOBAL.load(Ordering::Relaxed)
}

/// Counts the tasks of the patterns it is given to. A task counts from the moment it is started
/// until it is finished or dropped, so after a pattern returns, fails, is cancelled or is
/// dropped, its gauge goes back to where it was.
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, FanOut, Store};
/// use pocket::pattern::TaskGauge;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let gauge = TaskGauge::new();
/// let fan = FanOut::new(exec_fn(|x: u32| async move { Ok(x * 2) })).gauge(gauge.clone());
/// assert_eq!(fan.run(&Store::new(), vec![1, 2, 3]).await.unwrap(), vec![2, 4, 6]);
/// assert_eq!(gauge.active(), 0);
/// # });
/// ```
#[derive(Clone, Default)]
pub struct TaskGauge(Arc<Counts>);

#[derive(Default)]
struct Counts {
    active: AtomicUsize,
    peak: AtomicUsize,
}

impl fmt::Debug for TaskGauge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGauge").field("active", &self.active()).field("peak", &self.peak()).finish()
    }
}

impl TaskGauge {
    /// A gauge at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tasks alive now.
    pub fn active(&self) -> usize {
        self.0.active.load(Ordering::Acquire)
    }

    /// The most tasks that were alive at once.
    pub fn peak(&self) -> usize {
        self.0.peak.load(Ordering::Acquire)
    }

    /// Count one task until the returned guard is dropped.
    pub(crate) fn enter(&self) -> TaskGuard {
        let now = self.0.active.fetch_add(1, Ordering::AcqRel) + 1;
        self.0.peak.fetch_max(now, Ordering::AcqRel);
        GLOBAL.fetch_add(1, Ordering::Relaxed);
        TaskGuard(self.0.clone())
    }
}

/// One counted task; uncounts itself when dropped.
pub(crate) struct TaskGuard(Arc<Counts>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
        GLOBAL.fetch_sub(1, Ordering::Relaxed);
    }
}

//! The concurrency patterns: fan-out, fan-in, pipelines, worker pools, rate limits, streams, ...
//!
//! Every pattern respects cancellation and leaves nothing running once it returns or is dropped;
//! the [`TaskGauge`] shows it.

mod batch;
mod fan_out;
mod gauge;
mod join;
mod pool;
mod stream;

pub use batch::{AdaptiveFanOut, BatchError, Batches, LoadSignal, SystemLoad, workers_for_load};
pub use fan_out::{DEFAULT_FAN_OUT_LIMIT, FanOut};
pub use gauge::{TaskGauge, active_tasks};
pub use join::{
    ConcurrentNodes, FanIn, FanInError, Gathered, Pipeline, ScatterGather, ServiceError, StageError, SubgraphError,
    run_concurrent, run_concurrent_with, run_subgraphs, run_subgraphs_with,
};
pub use pool::{Job, PoolClosed, WorkerPool};
pub use stream::{Processed, StreamProcessor};

use crate::error::RunError;

/// One item of a fan-out (or batch, or stream) failed: which one, and why.
#[derive(Debug, thiserror::Error)]
#[error("item {index} failed")]
pub struct ItemError {
    /// The item's position in the input (0-based).
    pub index: usize,
    /// What went wrong.
    #[source]
    pub error: RunError,
}

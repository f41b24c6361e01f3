//! The concurrency patterns: fan-out, fan-in, pipelines, worker pools, rate limits, streams, ...
//!
//! Every pattern respects cancellation and leaves nothing running once it returns or is dropped;
//! the [`TaskGauge`] shows it.

mod batch;
mod concurrent;
pub(crate) mod engine;
mod fan_in;
mod fan_out;
mod gauge;
mod pipeline;
mod pool;
mod scatter_gather;
mod stream;
mod subgraphs;

pub use batch::{AdaptiveFanOut, BatchError, Batches, LoadSignal, SystemLoad, workers_for_load};
pub use concurrent::{ConcurrentNodes, run_concurrent, run_concurrent_with};
pub use fan_in::{FanIn, FanInError};
pub use fan_out::{DEFAULT_FAN_OUT_LIMIT, FanOut};
pub use gauge::{TaskGauge, active_tasks};
pub use pipeline::{Pipeline, StageError};
pub use pool::{Job, PoolBuilder, PoolClosed, Reserved, Submitter, WorkerPool};
pub use scatter_gather::{Gathered, ScatterGather, ServiceError};
pub use stream::{Processed, StreamProcessor};
pub use subgraphs::{SubgraphError, run_subgraphs, run_subgraphs_with};

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

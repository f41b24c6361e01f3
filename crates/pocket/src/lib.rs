//! # Pocket
//!
//! A workflow engine for LLM agents and data pipelines. A workflow is a graph of nodes; each
//! node runs **Prep** (reads the shared store), **Exec** (pure work, no store, safe to retry)
//! and **Post** (writes the store, returns the output and the next action). Actions route to
//! the next node, so graphs branch and loop.
//!
//! * [`Node`]: the lifecycle trait, with typed input and output. Closures make nodes too:
//!   [`exec_fn`], [`exec_post_fn`], [`node_fn`]. Nodes that never wait can be [`SyncNode`]s
//!   ([`sync_fn`]), which graphs run inline without allocating.
//! * [`Graph`] / [`GraphBuilder`]: named nodes, edges by [`Action`], a fallible `build()` that
//!   reports every problem at once, runs with cancellation, deadlines and a step limit.
//! * [`NodeExt`]: layers around any node — [`Retry`], [`Timeout`], [`Fallback`], [`Hooks`],
//!   [`OnError`] — and typed chains ([`Chain`]).
//! * [`Store`]: the concurrent shared store, with scopes, LRU/TTL bounds and typed [`Key`]s;
//!   Prep gets a read-only [`StoreView`].
//! * Concurrency patterns: [`FanOut`], [`FanIn`], [`Pipeline`], [`ConcurrentNodes`] /
//!   [`run_concurrent`], [`WorkerPool`], [`ScatterGather`], [`RateLimiter`], [`Batches`],
//!   [`AdaptiveFanOut`], [`run_subgraphs`], [`StreamProcessor`]; all cancellable, none leaves a
//!   task behind ([`TaskGauge`]).
//! * Resilience layers: [`ConcurrencyLimit`], [`CircuitBreaker`], [`ResultCache`],
//!   [`FallbackChain`], [`middleware`], [`Metrics`]; the composition order is on [`NodeExt`].
//!
//! ## Quick start
//!
//! ```
//! use pocket::{exec_fn, exec_post_fn, Graph, Next, NodeExt, RetryPolicy, Store};
//! use serde_json::json;
//! use std::time::Duration;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! // Decide: short questions are answered directly, long ones are summarised first.
//! let route = exec_post_fn(
//!     |q: String| async move { Ok(q.len() > 20) },
//!     |store: Store, q: String, long: bool| async move {
//!         store.set_value("question", json!(q));
//!         Ok((q, Next::to(if long { "summarise" } else { "answer" })))
//!     },
//! );
//! let summarise = exec_fn(|q: String| async move { Ok(q[..20].to_string()) });
//! let answer = exec_fn(|q: String| async move { Ok(format!("answer to: {q}")) })
//!     .retry(RetryPolicy::exponential(3, Duration::from_millis(50)));
//!
//! let graph = Graph::<String, String>::builder()
//!     .node("route", route)
//!     .node("summarise", summarise)
//!     .node("answer", answer)
//!     .edge("route", "summarise", "summarise")
//!     .edge("route", "answer", "answer")
//!     .edge("summarise", "default", "answer")
//!     .build()
//!     .expect("valid graph");
//!
//! let store = Store::new();
//! let out = graph.run(&store, "what is pocket?".into()).await.unwrap();
//! assert_eq!(out, "answer to: what is pocket?");
//! # });
//! ```

mod action;
mod boxed;
mod cancel;
mod chain;
mod ctx;
mod error;
mod fn_node;
mod graph;
mod layer;
mod node;
mod pattern;
mod resilience;
pub mod store;
mod sync_node;

pub use action::{Action, Next};
pub use boxed::{AnyExec, AnyPrep, BoxNode};
pub use chain::Chain;
pub use ctx::Ctx;
pub use error::{
    BoxError, BuildError, BuildProblem, BuildWarning, NodeError, ResultExt, RunError, Step, TimeoutScope, report,
};
pub use fn_node::{ExecFn, ExecPostFn, FnNode, exec_fn, exec_post_fn, node_fn};
pub use graph::{DEFAULT_MAX_STEPS, Graph, GraphBuilder, RunOptions};
pub use layer::NodeExt;
pub use layer::fallback::Fallback;
pub use layer::hooks::{Hooked, Hooks, OnError};
pub use layer::maybe::Either;
pub use layer::retry::{Backoff, Retry, RetryLayer, RetryPolicy};
pub use layer::timeout::{Timed, Timeout, TimeoutLayer, Timeouts};
pub use node::{Layer, Node, Outcome, run_node, run_node_with};
pub use pattern::{
    AdaptiveFanOut, BatchError, Batches, ConcurrentNodes, DEFAULT_FAN_OUT_LIMIT, FanIn, FanInError, FanOut, Gathered,
    ItemError, Job, LoadSignal, Pipeline, PoolClosed, Processed, RateLimitError, RateLimited, RateLimiter,
    ScatterGather, ServiceError, StageError, StreamProcessor, SubgraphError, SystemLoad, TaskGauge, WorkerPool,
    active_tasks, run_concurrent, run_concurrent_with, run_subgraphs, run_subgraphs_with, workers_for_load,
};
pub use resilience::{
    Breaker, BreakerState, Cached, CircuitBreaker, ConcurrencyLimit, FallbackChain, LATENCY_BUCKETS_MS, Limited,
    Measured, Metrics, Middleware, NodeMetrics, Permitted, Proceed, ResultCache, Started, Strategy, middleware,
};
pub use store::{Key, Store, StoreView};
pub use sync_node::{Immediate, SyncFn, SyncNode, sync_fn};

/// Re-exported so users need not depend on `tokio-util` to cancel runs.
pub use tokio_util::sync::CancellationToken;

/// The README's code blocks are compiled and run as doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

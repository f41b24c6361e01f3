//! # Pocket
//!
//! A workflow engine for LLM agents and data pipelines. A workflow is a graph of nodes; each
//! node runs **Prep** (reads the shared store), **Exec** (pure work, no store, safe to retry)
//! and **Post** (writes the store, returns the output and the next action). Actions route to
//! the next node, so graphs branch and loop.
//!
//! The crate is laid out as its modules:
//!
//! * [`node`]: the [`Node`] lifecycle trait; nodes from closures ([`exec_fn`],
//!   [`exec_post_fn`], [`node_fn`], [`node::exec_fn_ctx`]); nodes that never wait
//!   ([`SyncNode`], [`sync_fn`]), which graphs run inline without allocating; [`BoxNode`];
//!   typed chains; [`NodeExt`], which puts every layer one method call away.
//! * [`layer`]: every behaviour that wraps a node, one module each — retry, timeout, fallback,
//!   fallback chains, hooks, on-error, rate limit, concurrency limit, circuit breaker, cache,
//!   middleware from a function, metrics — all [`Layer`](layer::Layer) values that stack.
//! * [`graph`]: [`Graph`] and its builder — named nodes, edges by [`Action`], a fallible
//!   `build()` that reports every problem at once, runs with cancellation, deadlines and a
//!   step limit.
//! * [`pattern`]: the concurrency patterns — [`FanOut`], fan-in, pipelines, run-concurrent,
//!   worker pools, scatter-gather, batches, adaptive fan-out, concurrent sub-graphs, streams;
//!   all cancellable, none leaves a task behind.
//! * [`store`]: the concurrent shared [`Store`], with scopes, LRU/TTL bounds and typed
//!   [`Key`]s; Prep gets a read-only [`StoreView`].
//! * [`error`]: [`NodeError`] (a classification and the error itself), [`RunError`], the
//!   graph build errors, [`report`].
//!
//! The root re-exports what a first program needs; [`prelude`] brings the traits into scope.
//!
//! ## Quick start
//!
//! ```
//! use pocket::layer::retry::RetryPolicy;
//! use pocket::{exec_fn, exec_post_fn, Graph, Next, NodeExt, Store};
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
mod cancel;
mod ctx;
pub mod durable;
mod erased;
pub mod error;
pub mod graph;
pub mod layer;
pub mod node;
pub mod pattern;
pub mod prelude;
pub mod store;

pub use action::{Action, Next};
pub use ctx::Ctx;
pub use error::{NodeError, ResultExt, RunError, report};
pub use graph::{Graph, RunOptions};
pub use node::{BoxNode, Node, NodeExt, SyncNode, exec_fn, exec_post_fn, node_fn, run_node, sync_fn};
pub use pattern::FanOut;
pub use store::{Key, Store, StoreView};

/// Re-exported so users need not depend on `tokio-util` to cancel runs.
pub use tokio_util::sync::CancellationToken;

/// The README's code blocks are compiled and run as doctests.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

//! Durable Pocket runs in an SQLite file: [`SqliteCheckpointer`], the
//! [`Checkpointer`](pocket::durable::Checkpointer) behind `pocket run` and `pocket resume`.
//!
//! One file holds every run (`runs`), their logs (`log`: boundaries with store deltas, exec
//! memos, item results) and the large values they refer to (`blobs`, stored once by content
//! hash, so a conversation that grows by one message per step does not grow the file
//! quadratically). The file is in WAL mode and readable with the `sqlite3` tool.
//!
//! Writes go through one writer thread with group commit: what is queued when a commit starts
//! is committed together (at most 256 records). Steps, memos and status changes are committed
//! as soon as the queue is empty, so the appends that arrive while one commit runs share the
//! next; a fan-out's item results wait up to 1 ms for more to arrive, so a wide fan-out costs
//! one commit per millisecond, not one per item. [`Ack::wait`](pocket::durable::Ack::wait)
//! returns once a record is committed.
//!
//! | [`Durability`] | SQLite | survives |
//! |---|---|---|
//! | `Process` | WAL, `synchronous=NORMAL` | a crash or kill of the process |
//! | `Machine` | WAL, `synchronous=FULL` (each commit synced) | power loss |
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use pocket::durable::{Checkpointer, Durability, Durable, RunRecord, RunStatus};
//! use pocket::{exec_fn, Graph, RunOptions, Store};
//! use pocket_sqlite::SqliteCheckpointer;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let checkpointer = Arc::new(SqliteCheckpointer::open(dir.path().join("state.db"), Durability::Process).unwrap());
//! let graph = Graph::<u32, u32>::builder()
//!     .serde_node("double", exec_fn(|x: u32| async move { Ok(x * 2) }))
//!     .build()
//!     .unwrap();
//! let run = Durable::new(checkpointer.clone(), RunRecord::new("r1", "demo", serde_json::Value::Null));
//! assert_eq!(graph.run_with(&Store::new(), 21, RunOptions::new().durable(run)).await.unwrap(), 42);
//! assert_eq!(checkpointer.load("r1").unwrap().run.status, RunStatus::Succeeded);
//! # });
//! ```
//!
//! [`Durability`]: pocket::durable::Durability

mod blobs;
mod checkpointer;
mod json;
mod schema;
mod writer;

pub use checkpointer::SqliteCheckpointer;
pub use schema::DEFAULT_BUSY_TIMEOUT;

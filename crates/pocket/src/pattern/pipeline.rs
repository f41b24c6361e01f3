//! Pipelines: named stages of one type in sequence, on the graph engine.

use std::fmt;

use tokio_util::sync::CancellationToken;

use crate::error::RunError;
use crate::graph::Graph;
use crate::graph::erased::{DynNode, Erased, ErasedSync};
use crate::node::{Node, SyncNode};
use crate::store::Store;

/// A pipeline stage failed.
#[derive(Debug, thiserror::Error)]
#[error("pipeline stage {index} (`{stage}`) failed")]
pub struct StageError {
    /// The stage's position (0-based).
    pub index: usize,
    /// The stage's name.
    pub stage: String,
    /// Its error.
    #[source]
    pub error: RunError,
}

/// Named stages of one type `T` (typically `serde_json::Value`) run in sequence, each stage's
/// output feeding the next; the error names the failing stage. Stages' actions are ignored.
/// Stages run with the graph engine (stages added with [`Pipeline::sync_stage`] run inline
/// without allocating). For stages of different types, chain them instead
/// ([`NodeExt::then`](crate::NodeExt::then)): the compiler then checks every edge.
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, Store};
/// use pocket::pattern::Pipeline;
/// use serde_json::{json, Value};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let pipeline = Pipeline::new()
///     .stage("wrap", exec_fn(|v: Value| async move { Ok(json!({ "data": v })) }))
///     .stage("count", exec_fn(|v: Value| async move { Ok(json!(v["data"].as_array().map_or(0, Vec::len))) }));
/// assert_eq!(pipeline.run(&Store::new(), json!([1, 2, 3])).await.unwrap(), json!(3));
/// # });
/// ```
pub struct Pipeline<T> {
    graph: Graph<T, T>,
    names: Vec<String>,
}

impl<T> fmt::Debug for Pipeline<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline").field("stages", &self.names).finish()
    }
}

impl<T: Send + Sync + 'static> Default for Pipeline<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + Sync + 'static> Pipeline<T> {
    /// No stages yet (an empty pipeline returns its input).
    pub fn new() -> Self {
        Pipeline { graph: Graph::linear(), names: Vec::new() }
    }

    fn push(mut self, name: String, node: Box<dyn DynNode>) -> Self {
        // The graph is private to the pipeline and never shared while stages are added.
        let pushed = self.graph.push_stage(name.clone(), node);
        debug_assert!(pushed, "a pipeline's graph is not shared while it is built");
        self.names.push(name);
        self
    }

    /// Append a stage.
    #[must_use]
    pub fn stage(self, name: impl Into<String>, node: impl Node<Input = T, Output = T>) -> Self {
        self.push(name.into(), Box::new(Erased(node)))
    }

    /// Append a stage that never waits ([`SyncNode`]).
    #[must_use]
    pub fn sync_stage(self, name: impl Into<String>, node: impl SyncNode<Input = T, Output = T>) -> Self {
        self.push(name.into(), Box::new(ErasedSync(node)))
    }

    /// The number of stages.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no stages.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Run the stages in order.
    ///
    /// # Errors
    ///
    /// The failing stage's [`StageError`].
    pub async fn run(&self, store: &Store, input: T) -> Result<T, StageError> {
        self.run_indexed(store, input, None).await
    }

    /// [`Pipeline::run`] under a cancellation token.
    ///
    /// # Errors
    ///
    /// As [`Pipeline::run`].
    pub async fn run_with(&self, store: &Store, input: T, token: &CancellationToken) -> Result<T, StageError> {
        self.run_indexed(store, input, Some(token)).await
    }

    async fn run_indexed(&self, store: &Store, input: T, token: Option<&CancellationToken>) -> Result<T, StageError> {
        if self.names.is_empty() {
            return Ok(input);
        }
        self.graph.run_indexed(store, input, token).await.map_err(|(index, error)| StageError {
            index,
            stage: self.names[index].clone(),
            error,
        })
    }
}

/// A pipeline is a node: it runs its stages on the run's store and token and hands on the last
/// stage's output (an empty pipeline hands on its input). Errors name the stage through
/// [`GraphFailed`](crate::graph::GraphFailed).
impl<T: Clone + Send + Sync + 'static> Node for Pipeline<T> {
    type Input = T;
    type Prep = T;
    type Exec = (T, crate::Next);
    type Output = T;

    async fn prep(&self, _: &crate::Ctx<'_>, _: &crate::StoreView, input: &T) -> Result<T, crate::NodeError> {
        Ok(input.clone())
    }

    async fn exec(&self, ctx: &crate::Ctx<'_>, input: &T) -> Result<(T, crate::Next), crate::NodeError> {
        if self.names.is_empty() {
            return Ok((input.clone(), crate::Next::Default));
        }
        self.graph.exec(ctx, input).await
    }

    async fn post(
        &self,
        _: &crate::Ctx<'_>,
        _: &Store,
        _: T,
        _: T,
        exec: (T, crate::Next),
    ) -> Result<(T, crate::Next), crate::NodeError> {
        Ok(exec)
    }
}

//! Concurrent sub-graphs: named graphs with named inputs at once, outputs by name.

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;

use super::TaskGauge;
use super::engine::{self, Limit};
use crate::error::RunError;
use crate::graph::{Graph, RunOptions};
use crate::store::Store;

/// Some concurrent sub-graphs failed.
#[derive(Debug, thiserror::Error)]
#[error("{} sub-graph(s) failed: {}", .failures.len(), .failures.iter().map(|(n, _)| format!("`{n}`")).collect::<Vec<_>>().join(", "))]
pub struct SubgraphError<O> {
    /// `(name, error)` for each failed sub-graph, in the order they were given.
    pub failures: Vec<(String, RunError)>,
    /// The outputs of the sub-graphs that finished.
    pub completed: HashMap<String, O>,
}

/// Run named graphs with named inputs at once; each runs on the scope named after it, all run
/// to their end (a failure does not cancel the others) and the outputs come back by name.
///
/// # Errors
///
/// [`SubgraphError`] naming every failed sub-graph, with the outputs of the others.
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, Graph, Store};
/// use pocket::pattern::run_subgraphs;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let double = Graph::<i64, i64>::builder().node("d", exec_fn(|x: i64| async move { Ok(x * 2) })).build().unwrap();
/// let negate = Graph::<i64, i64>::builder().node("n", exec_fn(|x: i64| async move { Ok(-x) })).build().unwrap();
/// let out = run_subgraphs(&Store::new(), [("double", double, 4), ("negate", negate, 5)]).await.unwrap();
/// assert_eq!((out["double"], out["negate"]), (8, -5));
/// # });
/// ```
pub async fn run_subgraphs<I, O>(
    store: &Store,
    graphs: impl IntoIterator<Item = (impl Into<String>, Graph<I, O>, I)>,
) -> Result<HashMap<String, O>, SubgraphError<O>>
where
    I: Send + Sync + 'static,
    O: Send + 'static,
{
    run_subgraphs_with(store, graphs, &CancellationToken::new()).await
}

/// [`run_subgraphs`] under a cancellation token shared by every sub-graph.
///
/// # Errors
///
/// As [`run_subgraphs`]; cancelled sub-graphs fail with [`RunError::Cancelled`].
pub async fn run_subgraphs_with<I, O>(
    store: &Store,
    graphs: impl IntoIterator<Item = (impl Into<String>, Graph<I, O>, I)>,
    token: &CancellationToken,
) -> Result<HashMap<String, O>, SubgraphError<O>>
where
    I: Send + Sync + 'static,
    O: Send + 'static,
{
    let graphs: Vec<(String, Graph<I, O>, I)> = graphs.into_iter().map(|(n, g, i)| (n.into(), g, i)).collect();
    let names: Vec<String> = graphs.iter().map(|(n, _, _)| n.clone()).collect();
    let token = token.child_token();
    let launch = |slot, (name, graph, input): (String, Graph<I, O>, I)| {
        let scope = store.scope(&name);
        let options = RunOptions::new().token(token.clone());
        async move { (slot, graph.run_with(&scope, input, options).await) }
    };
    let cancelled = |i: usize| RunError::Cancelled { node: names[i].clone() };
    let results = engine::all(graphs, launch, &mut Limit(None), &TaskGauge::new(), &token, cancelled).await;
    let finished = names.iter().cloned().zip(results);
    let mut completed = HashMap::new();
    let mut failures = Vec::new();
    for (name, result) in finished {
        match result {
            Ok(out) => {
                completed.insert(name, out);
            }
            Err(error) => failures.push((name, error)),
        }
    }
    if failures.is_empty() { Ok(completed) } else { Err(SubgraphError { failures, completed }) }
}

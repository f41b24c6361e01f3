use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::erased::{Codec, Codecs, DynNode, Erased, ErasedSync, TypeInfo, WithCodecs};
use super::{DEFAULT_MAX_STEPS, Graph, GraphNode, Inner};
use crate::action::Action;
use crate::error::{BuildError, BuildProblem, BuildWarning};
use crate::node::Node;
use crate::node::SyncNode;

/// Builds a [`Graph`]: named nodes, edges by action, a start node (default: the first node
/// added). [`GraphBuilder::build`] checks everything at once.
///
/// # Examples
///
/// Every problem is reported, not just the first:
///
/// ```
/// use pocket::{exec_fn, Graph};
/// use pocket::error::BuildProblem;
///
/// let err = Graph::<i64, i64>::builder()
///     .node("a", exec_fn(|x: i64| async move { Ok(x) }))
///     .node("a", exec_fn(|x: i64| async move { Ok(x) }))
///     .node("s", exec_fn(|x: String| async move { Ok(x) }))
///     .edge("a", "default", "s")
///     .edge("a", "retry", "nowhere")
///     .start("missing")
///     .build()
///     .unwrap_err();
/// // duplicate name, unknown start, type mismatch on a -> s, unknown node `nowhere`,
/// // and `s` ends the run with a String although the graph outputs i64:
/// assert_eq!(err.problems.len(), 5);
/// assert!(err.problems.iter().any(|p| matches!(p, BuildProblem::TypeMismatch { .. })));
/// ```
#[must_use]
pub struct GraphBuilder<I, O> {
    nodes: Vec<(String, Box<dyn DynNode>)>,
    edges: Vec<(String, Action, String)>,
    start: Option<String>,
    max_steps: u64,
    strict: bool,
    _types: PhantomData<fn(I) -> O>,
}

impl<I, O> fmt::Debug for GraphBuilder<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GraphBuilder")
            .field("nodes", &self.nodes.iter().map(|(n, _)| n).collect::<Vec<_>>())
            .field("edges", &self.edges)
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

impl<I: Send + Sync + 'static, O: Send + 'static> Default for GraphBuilder<I, O> {
    fn default() -> Self {
        Self::new()
    }
}

impl<I: Send + Sync + 'static, O: Send + 'static> GraphBuilder<I, O> {
    /// An empty builder.
    pub fn new() -> Self {
        GraphBuilder {
            nodes: Vec::new(),
            edges: Vec::new(),
            start: None,
            max_steps: DEFAULT_MAX_STEPS,
            strict: false,
            _types: PhantomData,
        }
    }

    /// Add a node under `name`.
    pub fn node<N: Node>(mut self, name: impl Into<String>, node: N) -> Self {
        self.nodes.push((name.into(), Box::new(Erased(node))));
        self
    }

    /// Add a [`SyncNode`] under `name`: the graph runs it inline, without allocating.
    pub fn sync_node<S: SyncNode>(mut self, name: impl Into<String>, node: S) -> Self {
        self.nodes.push((name.into(), Box::new(ErasedSync(node))));
        self
    }

    /// Add a node whose input and output can be written down (JSON): the value before and
    /// after it can be snapshotted during a run ([`RunOptions::on_boundary`]) and a run can
    /// start at it from a snapshot ([`Graph::run_from`]). Every node of a workflow file is
    /// added this way.
    ///
    /// [`RunOptions::on_boundary`]: crate::RunOptions::on_boundary
    /// [`Graph::run_from`]: crate::Graph::run_from
    pub fn serde_node<N>(mut self, name: impl Into<String>, node: N) -> Self
    where
        N: Node,
        N::Input: Serialize + DeserializeOwned,
        N::Output: Serialize + DeserializeOwned,
    {
        let codecs = Codecs { input: Some(Codec::of::<N::Input>()), output: Some(Codec::of::<N::Output>()) };
        self.nodes.push((name.into(), Box::new(WithCodecs { node: Erased(node), codecs })));
        self
    }

    /// [`GraphBuilder::serde_node`] for a [`SyncNode`].
    pub fn serde_sync_node<S>(mut self, name: impl Into<String>, node: S) -> Self
    where
        S: SyncNode,
        S::Input: Serialize + DeserializeOwned,
        S::Output: Serialize + DeserializeOwned,
    {
        let codecs = Codecs { input: Some(Codec::of::<S::Input>()), output: Some(Codec::of::<S::Output>()) };
        self.nodes.push((name.into(), Box::new(WithCodecs { node: ErasedSync(node), codecs })));
        self
    }

    /// Connect `from` to `to` on `action`.
    pub fn edge(mut self, from: impl Into<String>, action: impl Into<Action>, to: impl Into<String>) -> Self {
        self.edges.push((from.into(), action.into(), to.into()));
        self
    }

    /// Start the run at `name` (default: the first node added).
    pub fn start(mut self, name: impl Into<String>) -> Self {
        self.start = Some(name.into());
        self
    }

    /// Stop runs after `limit` node executions with [`RunError::StepLimit`](crate::RunError::StepLimit)
    /// (default [`DEFAULT_MAX_STEPS`](crate::graph::DEFAULT_MAX_STEPS)).
    pub fn max_steps(mut self, limit: u64) -> Self {
        self.max_steps = limit;
        self
    }

    /// In strict mode, a node that has outgoing edges but returns an action without one fails
    /// the run with [`RunError::NoEdge`](crate::RunError::NoEdge) instead of ending it. Nodes
    /// without any outgoing edge (terminal nodes) and [`Next::End`](crate::Next::End) still end
    /// a strict run.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// Check the graph and build it.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] listing every problem: no nodes, duplicate names, an unknown start, edges
    /// naming unknown nodes, duplicate `(from, action)` edges, type mismatches between connected
    /// nodes, a start node that does not take `I`, and terminal nodes whose output is not `O`.
    /// Warnings (unreachable nodes, declared actions without an edge, nodes that may end the
    /// run with another type than `O`) do not fail the build; they are in
    /// [`Graph::warnings`] and logged as `tracing` warnings.
    pub fn build(self) -> Result<Graph<I, O>, BuildError> {
        let mut problems = Vec::new();
        let mut warnings = Vec::new();
        if self.nodes.is_empty() {
            problems.push(BuildProblem::Empty);
            return Err(BuildError { problems, warnings });
        }

        let mut index: HashMap<&str, usize> = HashMap::new();
        for (i, (name, _)) in self.nodes.iter().enumerate() {
            if index.contains_key(name.as_str()) {
                problems.push(BuildProblem::DuplicateNode { name: name.clone() });
            } else {
                index.insert(name, i);
            }
        }

        let start = match &self.start {
            None => Some(0),
            Some(name) => {
                let found = index.get(name.as_str()).copied();
                if found.is_none() {
                    problems.push(BuildProblem::UnknownStart { name: name.clone() });
                }
                found
            }
        };
        if let Some(start) = start {
            let input = self.nodes[start].1.input();
            let graph = TypeInfo::of::<I>();
            if input.id != graph.id {
                problems.push(BuildProblem::InputType {
                    node: self.nodes[start].0.clone(),
                    graph: graph.name,
                    input: input.name,
                });
            }
        }

        let mut edges: Vec<Vec<(Action, usize)>> = vec![Vec::new(); self.nodes.len()];
        let mut seen: HashMap<(usize, &Action), &str> = HashMap::new();
        for (from, action, to) in &self.edges {
            let (f, t) = (index.get(from.as_str()).copied(), index.get(to.as_str()).copied());
            for (name, found) in [(from, f), (to, t)] {
                if found.is_none() {
                    problems.push(BuildProblem::UnknownNode {
                        from: from.clone(),
                        action: action.clone(),
                        to: to.clone(),
                        missing: name.clone(),
                    });
                }
            }
            let (Some(f), Some(t)) = (f, t) else { continue };
            if let Some(first) = seen.insert((f, action), to) {
                problems.push(BuildProblem::DuplicateEdge {
                    from: from.clone(),
                    action: action.clone(),
                    first: first.to_string(),
                    second: to.clone(),
                });
                continue;
            }
            let (output, input) = (self.nodes[f].1.output(), self.nodes[t].1.input());
            if output.id != input.id {
                problems.push(BuildProblem::TypeMismatch {
                    from: from.clone(),
                    action: action.clone(),
                    to: to.clone(),
                    output: output.name,
                    input: input.name,
                });
            }
            edges[f].push((action.clone(), t));
        }

        let graph_out = TypeInfo::of::<O>();
        for (i, (name, node)) in self.nodes.iter().enumerate() {
            let declared = node.actions();
            if let Some(actions) = &declared {
                for action in actions {
                    if !edges[i].iter().any(|(a, _)| a == action) {
                        warnings.push(BuildWarning::UnconnectedAction { node: name.clone(), action: action.clone() });
                    }
                }
            }
            let output = node.output();
            if output.id != graph_out.id {
                if edges[i].is_empty() {
                    problems.push(BuildProblem::OutputType {
                        node: name.clone(),
                        output: output.name,
                        graph: graph_out.name,
                    });
                } else if declared.is_none_or(|a| a.iter().any(|a| !edges[i].iter().any(|(e, _)| e == a))) {
                    warnings.push(BuildWarning::OutputType {
                        node: name.clone(),
                        output: output.name,
                        graph: graph_out.name,
                    });
                }
            }
        }

        if let Some(start) = start {
            let mut reached = HashSet::from([start]);
            let mut queue = VecDeque::from([start]);
            while let Some(i) = queue.pop_front() {
                for (_, t) in &edges[i] {
                    if reached.insert(*t) {
                        queue.push_back(*t);
                    }
                }
            }
            for (i, (name, _)) in self.nodes.iter().enumerate() {
                if !reached.contains(&i) && index.get(name.as_str()) == Some(&i) {
                    warnings.push(BuildWarning::Unreachable { name: name.clone() });
                }
            }
        }

        if !problems.is_empty() {
            return Err(BuildError { problems, warnings });
        }
        for warning in &warnings {
            tracing::warn!(%warning, "graph built with a warning");
        }
        let codecs = self.nodes.iter().map(|(_, node)| node.codecs()).collect();
        let nodes = self
            .nodes
            .into_iter()
            .zip(edges)
            .map(|((name, node), edges)| {
                let default_edge = edges.iter().find(|(a, _)| *a == Action::DEFAULT).map(|(_, to)| *to);
                let sync = node.is_sync();
                GraphNode { name, node, edges, default_edge, sync }
            })
            .collect();
        Ok(Graph {
            inner: Arc::new(Inner {
                nodes,
                start: start.unwrap_or(0),
                max_steps: self.max_steps,
                strict: self.strict,
                linear: false,
                idle: CancellationToken::new(),
                warnings,
                codecs,
            }),
            _types: PhantomData,
        })
    }
}

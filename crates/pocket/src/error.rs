//! Error types: what a step reports ([`NodeError`]), what a run reports ([`RunError`]) and what
//! building a graph reports ([`BuildError`]).

use std::fmt;
use std::time::Duration;

use crate::action::Action;

/// A boxed error that can cross threads; the source type of [`NodeError::Failed`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One step of a node's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// Reads the store and prepares the work.
    Prep,
    /// Does the work; no store access; may be retried.
    Exec,
    /// Writes the store and chooses the next action.
    Post,
    /// The hooks that run after the lifecycle (`on_success`, `on_failure`, `on_complete`).
    Hooks,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Prep => "prep",
            Step::Exec => "exec",
            Step::Post => "post",
            Step::Hooks => "hooks",
        })
    }
}

/// Whether a timeout covered one step or the whole node lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutScope {
    /// The limit applies to each step separately.
    Step,
    /// The limit applies to the node's whole lifecycle (prep + exec + post).
    Node,
}

impl fmt::Display for TimeoutScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutScope::Step => "step",
            TimeoutScope::Node => "node",
        })
    }
}

/// The error a node step returns.
///
/// Node authors create one with [`NodeError::retryable`], [`NodeError::fatal`] or
/// [`NodeError::msg`], or with the [`ResultExt`] helpers on any `Result`. The retry layer reads
/// the classification: [`NodeError::is_retryable`].
///
/// # Examples
///
/// ```
/// use pocket::{NodeError, ResultExt};
///
/// let parsed: Result<i64, NodeError> = "12x".parse::<i64>().fatal();
/// assert!(!parsed.unwrap_err().is_retryable());
/// assert!(NodeError::msg("upstream busy").is_retryable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The step failed with an error of its own.
    #[error("{source}")]
    Failed {
        /// The underlying error.
        source: BoxError,
        /// `false` when retrying cannot help (bad input, refused permission, ...).
        retryable: bool,
    },
    /// The step failed because the other side is busy and said when to come back (an HTTP
    /// 429 or 503 with `Retry-After`, say). Retryable; a retry layer waits at least `after`.
    #[error("{source} (retry after {after:?})")]
    Throttled {
        /// The underlying error.
        source: BoxError,
        /// How long the other side asked to wait.
        after: Duration,
    },
    /// A timeout layer abandoned the step.
    #[error("timed out after {after:?} ({scope} timeout)")]
    Timeout {
        /// The configured limit.
        after: Duration,
        /// Whether the limit was per step or per node.
        scope: TimeoutScope,
    },
    /// The run was cancelled while the step was running or waiting to retry.
    #[error("cancelled")]
    Cancelled,
    /// The step panicked; the panic was caught and the process carries on.
    #[error("panicked: {message}")]
    Panicked {
        /// The panic payload, when it was a string.
        message: String,
    },
    /// Exec failed and the fallback failed too; both errors are kept.
    #[error("exec failed ({primary}) and the fallback failed too")]
    FallbackFailed {
        /// The final exec error.
        primary: Box<NodeError>,
        /// The fallback's own error (the `source`).
        #[source]
        fallback: Box<NodeError>,
    },
    /// Retrying stopped after the given number of attempts.
    #[error("gave up after {attempts} attempts")]
    RetriesExhausted {
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's error.
        #[source]
        last: Box<NodeError>,
    },
    /// A stage of a [`Chain`](crate::Chain) failed (stages count from 0).
    #[error("stage {index} failed in {step}")]
    Stage {
        /// The stage's position in the chain.
        index: usize,
        /// The stage's failed step.
        step: Step,
        /// The stage's error.
        #[source]
        source: Box<NodeError>,
    },
    /// A circuit breaker is open and refused the call.
    #[error("{}", circuit_open(*.retry_in))]
    CircuitOpen {
        /// How long until the breaker lets a trial call through (zero: trials are in flight).
        retry_in: Duration,
    },
    /// Every node of a [`FallbackChain`](crate::FallbackChain) failed; each attempt's error is
    /// kept, in the order the nodes were declared.
    #[error("all {} alternatives failed: {}", .attempts.len(), attempts_list(.attempts))]
    AllFailed {
        /// `(node name, error)` per attempt.
        attempts: Vec<(String, RunError)>,
    },
    /// An item of a fan-out used as a node failed.
    #[error("item {index} failed")]
    Item {
        /// The item's position in the list.
        index: usize,
        /// Its error.
        #[source]
        source: Box<RunError>,
    },
    /// A sub-graph used as a node failed.
    #[error("sub-graph failed")]
    Graph(#[source] Box<RunError>),
}

impl NodeError {
    /// A failure that retrying may fix (a timeout, a busy upstream, a dropped connection).
    pub fn retryable(error: impl Into<BoxError>) -> Self {
        NodeError::Failed { source: error.into(), retryable: true }
    }

    /// A failure that retrying cannot fix; a retry layer stops at once.
    pub fn fatal(error: impl Into<BoxError>) -> Self {
        NodeError::Failed { source: error.into(), retryable: false }
    }

    /// A retryable failure whose source asked to wait `after` before trying again; a retry
    /// layer waits at least that long.
    ///
    /// ```
    /// use std::time::Duration;
    /// use pocket::NodeError;
    ///
    /// let busy = NodeError::throttled("429 Too Many Requests", Duration::from_secs(2));
    /// assert!(busy.is_retryable());
    /// assert_eq!(busy.retry_after(), Some(Duration::from_secs(2)));
    /// ```
    pub fn throttled(error: impl Into<BoxError>, after: Duration) -> Self {
        NodeError::Throttled { source: error.into(), after }
    }

    /// How long the failed call asked to wait before a retry, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            NodeError::Throttled { after, .. } => Some(*after),
            _ => None,
        }
    }

    /// A retryable failure described by a message.
    pub fn msg(message: impl fmt::Display) -> Self {
        NodeError::retryable(message.to_string())
    }

    /// A fatal failure described by a message.
    pub fn fatal_msg(message: impl fmt::Display) -> Self {
        NodeError::fatal(message.to_string())
    }

    /// Whether a retry layer should try again after this error.
    ///
    /// Cancellation, panics and fatal failures are not retryable; a failed fallback or an
    /// exhausted retry takes the classification of its last cause.
    pub fn is_retryable(&self) -> bool {
        match self {
            NodeError::Failed { retryable, .. } => *retryable,
            NodeError::Timeout { .. } | NodeError::Throttled { .. } => true,
            NodeError::Cancelled | NodeError::Panicked { .. } | NodeError::CircuitOpen { .. } => false,
            NodeError::FallbackFailed { fallback, .. } => fallback.is_retryable(),
            NodeError::RetriesExhausted { last, .. } => last.is_retryable(),
            NodeError::Stage { source, .. } => source.is_retryable(),
            NodeError::Item { source, .. } => source.node_error().is_some_and(NodeError::is_retryable),
            NodeError::AllFailed { attempts } => {
                attempts.iter().any(|(_, e)| e.node_error().is_some_and(NodeError::is_retryable))
            }
            NodeError::Graph(run) => match run.as_ref() {
                RunError::Node { source, .. } => source.is_retryable(),
                _ => false,
            },
        }
    }

    /// Whether this error (or the error it wraps) is a cancellation.
    pub fn is_cancelled(&self) -> bool {
        match self {
            NodeError::Cancelled => true,
            NodeError::RetriesExhausted { last, .. } => last.is_cancelled(),
            NodeError::Stage { source, .. } => source.is_cancelled(),
            NodeError::Item { source, .. } => matches!(source.as_ref(), RunError::Cancelled { .. }),
            NodeError::Graph(run) => matches!(run.as_ref(), RunError::Cancelled { .. }),
            _ => false,
        }
    }

    pub(crate) fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_string()
        };
        NodeError::Panicked { message }
    }
}

impl From<String> for NodeError {
    fn from(message: String) -> Self {
        NodeError::msg(message)
    }
}

impl From<&str> for NodeError {
    fn from(message: &str) -> Self {
        NodeError::msg(message)
    }
}

impl From<std::io::Error> for NodeError {
    fn from(error: std::io::Error) -> Self {
        NodeError::retryable(error)
    }
}

impl From<serde_json::Error> for NodeError {
    fn from(error: serde_json::Error) -> Self {
        NodeError::fatal(error)
    }
}

impl From<crate::store::StoreError> for NodeError {
    fn from(error: crate::store::StoreError) -> Self {
        NodeError::fatal(error)
    }
}

/// Classify the error of any `Result` as a [`NodeError`] at the call site.
///
/// # Examples
///
/// ```
/// use pocket::{NodeError, ResultExt};
///
/// fn parse(s: &str) -> Result<u32, NodeError> {
///     s.parse::<u32>().fatal() // retrying cannot fix a bad number
/// }
/// assert!(parse("7").is_ok());
/// assert!(!parse("x").unwrap_err().is_retryable());
/// ```
pub trait ResultExt<T> {
    /// Turn the error into a retryable [`NodeError`].
    fn retryable(self) -> Result<T, NodeError>;
    /// Turn the error into a fatal [`NodeError`].
    fn fatal(self) -> Result<T, NodeError>;
}

impl<T, E: Into<BoxError>> ResultExt<T> for Result<T, E> {
    fn retryable(self) -> Result<T, NodeError> {
        self.map_err(NodeError::retryable)
    }
    fn fatal(self) -> Result<T, NodeError> {
        self.map_err(NodeError::fatal)
    }
}

/// Why a run stopped without an output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// A node failed in one of its steps.
    #[error("node `{node}` failed in {step}")]
    Node {
        /// The node's name in the graph.
        node: String,
        /// The step that failed.
        step: Step,
        /// What went wrong.
        #[source]
        source: NodeError,
    },
    /// Strict mode: a node returned an action that has no edge.
    #[error("node `{node}` returned action `{action}`, which has no edge (connected actions: {})", list(.connected))]
    NoEdge {
        /// The node's name.
        node: String,
        /// The action it returned.
        action: Action,
        /// The actions that do have an edge from this node.
        connected: Vec<Action>,
    },
    /// The step limit stopped a run that kept looping.
    #[error("step limit of {limit} reached before running node `{node}` again")]
    StepLimit {
        /// The node that would have run next.
        node: String,
        /// The configured limit.
        limit: u64,
    },
    /// The run's cancellation token was cancelled.
    #[error("run cancelled at node `{node}`")]
    Cancelled {
        /// The node that was about to run (or was running).
        node: String,
    },
    /// The run-level deadline passed.
    #[error("run deadline of {after:?} exceeded while running node `{node}`")]
    Deadline {
        /// The node that was running when the deadline passed.
        node: String,
        /// The configured limit.
        after: Duration,
    },
    /// The node that ended the run produced a value of another type than the graph's output.
    #[error("node `{node}` ended the run with a `{found}`, but the graph outputs `{expected}`")]
    OutputType {
        /// The node that ended the run.
        node: String,
        /// The graph's declared output type.
        expected: &'static str,
        /// The type the node produced.
        found: &'static str,
    },
}

impl RunError {
    /// The name of the node the error is about.
    pub fn node(&self) -> &str {
        match self {
            RunError::Node { node, .. }
            | RunError::NoEdge { node, .. }
            | RunError::StepLimit { node, .. }
            | RunError::Cancelled { node }
            | RunError::Deadline { node, .. }
            | RunError::OutputType { node, .. } => node,
        }
    }

    /// The failing step, when a node step failed.
    pub fn step(&self) -> Option<Step> {
        match self {
            RunError::Node { step, .. } => Some(*step),
            _ => None,
        }
    }

    /// The node error, when a node step failed.
    pub fn node_error(&self) -> Option<&NodeError> {
        match self {
            RunError::Node { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The whole cause chain of an error on one line, `outer: inner: root`.
///
/// # Examples
///
/// ```
/// use pocket::{report, NodeError, RunError, Step};
///
/// let err = RunError::Node { node: "fetch".into(), step: Step::Exec, source: NodeError::msg("503") };
/// assert_eq!(report(&err), "node `fetch` failed in exec: 503");
/// ```
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        current = cause.source();
    }
    out
}

fn attempts_list(attempts: &[(String, RunError)]) -> String {
    attempts.iter().map(|(name, e)| format!("`{name}`: {}", report(e))).collect::<Vec<_>>().join("; ")
}

fn circuit_open(retry_in: Duration) -> String {
    if retry_in.is_zero() {
        "circuit half-open: the trial calls are in flight, failing fast".to_string()
    } else {
        format!("circuit open: failing fast, next trial in {retry_in:?}")
    }
}

fn list(actions: &[Action]) -> String {
    if actions.is_empty() {
        return "none".to_string();
    }
    actions.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
}

/// One problem found while building a graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildProblem {
    /// The graph has no nodes.
    #[error("the graph has no nodes")]
    Empty,
    /// Two nodes share a name.
    #[error("node `{name}` is added more than once")]
    DuplicateNode {
        /// The repeated name.
        name: String,
    },
    /// The start node is not in the graph.
    #[error("start node `{name}` is not in the graph")]
    UnknownStart {
        /// The missing name.
        name: String,
    },
    /// An edge names a node that is not in the graph.
    #[error("edge `{from}` --{action}--> `{to}` names unknown node `{missing}`")]
    UnknownNode {
        /// The edge's source.
        from: String,
        /// The edge's action.
        action: Action,
        /// The edge's target.
        to: String,
        /// Which of the two is unknown.
        missing: String,
    },
    /// Two edges leave the same node on the same action.
    #[error("node `{from}` has two edges for action `{action}` (to `{first}` and to `{second}`)")]
    DuplicateEdge {
        /// The source node.
        from: String,
        /// The action.
        action: Action,
        /// The first target.
        first: String,
        /// The second target.
        second: String,
    },
    /// The types of two connected nodes disagree.
    #[error("node `{from}` outputs `{output}` but node `{to}` (via action `{action}`) expects `{input}`")]
    TypeMismatch {
        /// The source node.
        from: String,
        /// The action.
        action: Action,
        /// The target node.
        to: String,
        /// The source's output type.
        output: &'static str,
        /// The target's input type.
        input: &'static str,
    },
    /// A node without outgoing edges (so it always ends the run) outputs another type than
    /// the graph.
    #[error("node `{node}` ends the run with `{output}`, but the graph outputs `{graph}`")]
    OutputType {
        /// The node.
        node: String,
        /// The node's output type.
        output: &'static str,
        /// The graph's output type.
        graph: &'static str,
    },
    /// The graph's input type is not the start node's input type.
    #[error("the graph takes `{graph}` but start node `{node}` expects `{input}`")]
    InputType {
        /// The start node.
        node: String,
        /// The graph's input type.
        graph: &'static str,
        /// The start node's input type.
        input: &'static str,
    },
}

/// Something suspicious but legal found while building a graph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildWarning {
    /// No path from the start node reaches this node.
    #[error("node `{name}` is unreachable from the start node")]
    Unreachable {
        /// The unreachable node.
        name: String,
    },
    /// A node declares an action that has no edge; returning it ends the run
    /// (or fails it in strict mode).
    #[error("node `{node}` declares action `{action}`, which has no edge")]
    UnconnectedAction {
        /// The node.
        node: String,
        /// The declared action.
        action: Action,
    },
    /// A node may end the run, but its output type is not the graph's output type.
    #[error("node `{node}` outputs `{output}` but the graph outputs `{graph}`: if it ends the run, the run fails")]
    OutputType {
        /// The node.
        node: String,
        /// The node's output type.
        output: &'static str,
        /// The graph's output type.
        graph: &'static str,
    },
}

/// Every problem found by [`GraphBuilder::build`](crate::GraphBuilder::build), at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the graph is invalid ({} problem{}): {}", .problems.len(), if .problems.len() == 1 { "" } else { "s" }, join(.problems))]
pub struct BuildError {
    /// The problems, in the order they were found.
    pub problems: Vec<BuildProblem>,
    /// Warnings found alongside.
    pub warnings: Vec<BuildWarning>,
}

fn join(problems: &[BuildProblem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

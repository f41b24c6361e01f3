//! Error types: what a step reports ([`NodeError`]), what a run reports ([`RunError`]) and what
//! building a graph reports ([`BuildError`]).

use std::fmt;
use std::time::Duration;

use crate::action::Action;

/// A boxed error that can cross threads; what a [`NodeError`] wraps.
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

/// How a failure should be treated: the classification a retry layer, a fallback and a run
/// read. It is decided where the error is made (by the node, or by the layer that wraps one)
/// and travels with it; what the error *is* stays in its source type (see
/// [`NodeError::downcast_ref`] and [`NodeError::find`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Trying again may help (a timeout, a dropped connection, a busy upstream).
    Retryable,
    /// Trying again cannot help (bad input, a refused permission, an open circuit).
    Fatal,
    /// The other side is busy and said when to come back (an HTTP 429 or 503 with
    /// `Retry-After`). Retryable; a retry layer waits at least
    /// [`NodeError::retry_after`].
    Throttled,
    /// The run was cancelled while the step was running or waiting.
    Cancelled,
    /// The step panicked; the panic was caught and the process carries on.
    Panicked,
}

/// The error a node step returns: a classification ([`ErrorKind`]) and the error itself.
///
/// # Making one
///
/// Node authors classify at the call site: [`NodeError::retryable`], [`NodeError::fatal`],
/// [`NodeError::throttled`], or the [`ResultExt`] helpers on any `Result`. An error that is not
/// classified explicitly — [`NodeError::msg`], `From<&str>`, `From<String>`,
/// `From<std::io::Error>` — is **retryable**, as in Temporal and Restate: a retry layer is
/// opt-in and bounded by its policy, and a transient failure that is not retried is the more
/// expensive mistake. Mark what retrying cannot fix (a validation failure, a bad config) with
/// [`NodeError::fatal`] / [`ResultExt::fatal`]; `serde_json` and store errors convert as fatal.
///
/// # Reading one
///
/// `Display` and `source` are those of the wrapped error, so [`report`] and `anyhow`'s `{:#}`
/// print each cause once. Layers and patterns wrap their own error types, each defined next to
/// the layer ([`layer::timeout::Elapsed`](crate::layer::timeout::Elapsed),
/// [`layer::retry::Exhausted`](crate::layer::retry::Exhausted), ...): ask for them with
/// [`downcast_ref`](NodeError::downcast_ref) (this error) or [`find`](NodeError::find) (this
/// error or any cause).
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
pub struct NodeError {
    kind: ErrorKind,
    source: BoxError,
}

impl fmt::Debug for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeError").field("kind", &self.kind).field("source", &self.source).finish()
    }
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

/// The source of a throttled step's [`NodeError`]: the error and how long the other side asked
/// to wait. Kept in the source (not in [`ErrorKind`]) so that a `NodeError` stays two words and
/// a flag: every step's `Result` carries one.
#[derive(Debug, thiserror::Error)]
#[error("{source} (retry after {after:?})")]
struct Throttled {
    after: Duration,
    #[source]
    source: BoxError,
}

impl std::error::Error for NodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.source()
    }
}

/// The source of a cancelled step's [`NodeError`] ([`NodeError::cancelled`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled")]
#[non_exhaustive]
pub struct Cancelled;

/// The source of a panicked step's [`NodeError`]: the panic's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("panicked: {message}")]
pub struct Panicked {
    message: String,
}

impl Panicked {
    /// The panic payload, when it was a string.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl NodeError {
    /// An error of the given kind.
    pub fn new(kind: ErrorKind, error: impl Into<BoxError>) -> Self {
        NodeError { kind, source: error.into() }
    }

    /// A failure that retrying may fix (a timeout, a busy upstream, a dropped connection).
    pub fn retryable(error: impl Into<BoxError>) -> Self {
        NodeError::new(ErrorKind::Retryable, error)
    }

    /// A failure that retrying cannot fix; a retry layer stops at once.
    pub fn fatal(error: impl Into<BoxError>) -> Self {
        NodeError::new(ErrorKind::Fatal, error)
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
        NodeError::new(ErrorKind::Throttled, Throttled { after, source: error.into() })
    }

    /// The step stopped because the run was cancelled.
    pub fn cancelled() -> Self {
        NodeError::new(ErrorKind::Cancelled, Cancelled)
    }

    /// A failure described by a message; **retryable**, like every error that is not
    /// classified explicitly (use [`NodeError::fatal_msg`] when retrying cannot help).
    pub fn msg(message: impl fmt::Display) -> Self {
        NodeError::retryable(message.to_string())
    }

    /// A fatal failure described by a message.
    pub fn fatal_msg(message: impl fmt::Display) -> Self {
        NodeError::fatal(message.to_string())
    }

    /// How this failure should be treated.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether a retry layer should try again after this error ([`ErrorKind::Retryable`] or
    /// [`ErrorKind::Throttled`]).
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Retryable | ErrorKind::Throttled)
    }

    /// Whether this error is (or wraps) a cancellation.
    pub fn is_cancelled(&self) -> bool {
        self.kind == ErrorKind::Cancelled
    }

    /// How long the failed call (or the cause it wraps) asked to wait before a retry, if it
    /// did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.kind {
            ErrorKind::Throttled => self.find::<Throttled>().map(|t| t.after),
            _ => None,
        }
    }

    /// The same error with another classification.
    #[must_use]
    pub fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// Whether the wrapped error is an `E`.
    pub fn is<E: std::error::Error + 'static>(&self) -> bool {
        self.source.is::<E>()
    }

    /// The wrapped error, if it is an `E` (this error only; see [`NodeError::find`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use pocket::layer::timeout::{Elapsed, Timeouts};
    /// use pocket::{exec_fn, NodeExt, Store};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let slow = exec_fn(|x: u32| async move {
    ///     tokio::time::sleep(Duration::from_secs(5)).await;
    ///     Ok(x)
    /// })
    /// .timeout(Timeouts::step(Duration::from_secs(1)));
    /// let err = pocket::run_node(&slow, &Store::new(), 1).await.unwrap_err();
    /// let elapsed = err.node_error().and_then(|e| e.downcast_ref::<Elapsed>()).unwrap();
    /// assert_eq!(elapsed.after(), Duration::from_secs(1));
    /// # });
    /// ```
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.source.downcast_ref::<E>()
    }

    /// The first `E` in this error or its causes (through the errors of layers, chains,
    /// fan-outs and sub-graphs).
    pub fn find<E: std::error::Error + 'static>(&self) -> Option<&E> {
        let mut current: Option<&(dyn std::error::Error + 'static)> = Some(&*self.source);
        while let Some(error) = current {
            if let Some(found) = error.downcast_ref::<E>() {
                return Some(found);
            }
            current = match error.downcast_ref::<NodeError>() {
                Some(node) => Some(&*node.source),
                None => error.source(),
            };
        }
        None
    }

    /// The wrapped error.
    pub fn into_source(self) -> BoxError {
        self.source
    }

    /// The error for a caught panic (the payload of [`std::panic::catch_unwind`]), its message
    /// kept: for nodes that run work on threads of their own.
    pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "non-string panic payload".to_string()
        };
        NodeError::new(ErrorKind::Panicked, Panicked { message })
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
    /// A run could not start from a snapshot ([`Graph::run_from`](crate::Graph::run_from)).
    #[error("cannot start the run at node `{node}`: {reason}")]
    Restore {
        /// The node the run was to start at.
        node: String,
        /// Why it cannot.
        reason: String,
    },
    /// A node suspended the run until it is answered ([`Next::Interrupt`](crate::Next::Interrupt)).
    #[error("node `{node}` is waiting for an answer")]
    Interrupted {
        /// The node that asked.
        node: String,
        /// What it asks (its request, as JSON).
        request: serde_json::Value,
    },
    /// A durable run could not write its checkpoint (the records before it stay usable).
    #[error("the checkpoint after node `{node}` failed")]
    Checkpoint {
        /// The node whose boundary was being written (or the node the run was at).
        node: String,
        /// What the checkpointer said.
        #[source]
        source: crate::durable::CheckpointError,
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
            | RunError::Restore { node, .. }
            | RunError::Checkpoint { node, .. }
            | RunError::Interrupted { node, .. }
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

    /// How a node that ran this (as a sub-graph, an item, an alternative) should treat the
    /// failure: a failed node's own kind, [`ErrorKind::Cancelled`] for a cancelled run, fatal
    /// otherwise (a step limit, a deadline or a missing edge does not go away on a retry).
    pub fn kind(&self) -> ErrorKind {
        match self {
            RunError::Node { source, .. } => source.kind(),
            RunError::Cancelled { .. } => ErrorKind::Cancelled,
            _ => ErrorKind::Fatal,
        }
    }
}

/// The whole cause chain of an error on one line, `outer: inner: root`.
///
/// # Examples
///
/// ```
/// use pocket::{report, NodeError, RunError};
/// use pocket::error::Step;
///
/// let err = RunError::Node { node: "fetch".into(), step: Step::Exec, source: NodeError::msg("503") };
/// assert_eq!(report(&err), "node `fetch` failed in exec: 503");
/// ```
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut current = error.source();
    while let Some(cause) = current {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        current = cause.source();
    }
    out
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

/// Every problem found by [`GraphBuilder::build`](crate::graph::GraphBuilder::build), at once.
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

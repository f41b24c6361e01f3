//! Pocket's YAML workflow format — the Go original's, so existing files load unchanged:
//! parsing with line and column, validation that reports every problem at once, Go durations
//! and `${VAR}` expansion.
//!
//! This crate is the loader's front end; turning a [`Workflow`] into a runnable graph (the node
//! registry) and the `pocket` CLI build on it.
//!
//! ```
//! let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/hello.yaml")).unwrap();
//! let workflow = pocket_yaml::parse_workflow(&source, "hello.yaml").unwrap();
//! assert_eq!(workflow.start, "greet");
//! assert_eq!(workflow.connections.len(), 2);
//! ```

mod duration;
mod env;
mod located;
mod retry;
mod value;
mod workflow;

pub use duration::{DURATION_PATTERN, DurationError, GoDuration, format_duration, parse_duration};
pub use env::{ExpandError, expand_env};
pub use retry::{RETRY_KEYS, RetrySpec};
pub use value::{
    DEEPEST, DEFAULT_MAX_DEPTH, JsonError, describe, json_exact, max_depth, nests_deeper_than, set_max_depth,
};
pub use workflow::{
    BreakerSpec, CacheSpec, Connection, LIMIT_KEYS, LimitSpec, LoadError, MAX_YAML_VALUES, NodeDef, Position, Problem,
    ProblemKind, Severity, Workflow, closest, did_you_mean, parse_workflow, parse_workflow_with_env,
};

/// Parse a YAML (or JSON) document into a JSON value.
///
/// # Errors
///
/// The parser's message, with line and column.
///
/// ```
/// let value = pocket_yaml::parse_value("a: 1\nb: [x, y]\n").unwrap();
/// assert_eq!(value, serde_json::json!({"a": 1, "b": ["x", "y"]}));
/// ```
pub fn parse_value(source: &str) -> Result<serde_json::Value, String> {
    serde_saphyr::from_str_with_options(source, workflow::go_yaml()).map_err(|e| e.to_string())
}

//! Pocket's built-in YAML node types and the builder that turns a workflow file into a graph.
//!
//! - [`Registry`]: the node types by `type:` name, each with a typed config (unknown keys are
//!   errors; the aliases the original's docs promise are accepted), a JSON Schema generated
//!   from that same type, a description and an example.
//! - [`build_graph`]: a [`pocket_yaml::Workflow`] to a runnable `Graph<Value, Value>`, every
//!   node built first so every config problem is reported at once, node-level `retry`,
//!   `timeout`, `circuit_breaker`, `cache` and `fallback` applied through the library's layers.
//! - [`Template`]: Go `text/template` rendering over JSON, with documented helpers.
//!
//! Node types: `echo`, `delay`, `router`, `conditional` (core); `transform` (jq), `template`,
//! `jsonpath`, `validate` (JSON Schema), `aggregate` (data). `pocket nodes info TYPE` prints
//! each one's schema and an example.

mod build;
mod kind;
mod layers;
mod limits;
mod nodes;
mod registry;
mod support;

pub use build::{BuildOptions, WorkflowError, build_graph, check_nodes, seed_store};
pub use kind::{BuildCx, Built, Category, ConfigError, NodeInfo, NodeKind, NodeSpec, StepNode};
pub use limits::SharedLimiters;
pub use nodes::input::check_answer;
pub use registry::Registry;
pub use support::items::json_lines;
pub use support::process::stop_children;
pub use support::template::{Template, TemplateError};
pub use support::text::printable;

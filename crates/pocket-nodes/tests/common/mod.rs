//! Build and run small workflows written inline.

#![allow(dead_code, unreachable_pub)]

use pocket::{Graph, RunError, Store};
use pocket_nodes::{BuildOptions, Registry, WorkflowError, build_graph};
use serde_json::Value;

pub fn graph(yaml: &str) -> Result<Graph<Value, Value>, WorkflowError> {
    let workflow = pocket_yaml::parse_workflow(yaml, "test.yaml").expect("the workflow parses");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    build_graph(&workflow, &Registry::builtin(), BuildOptions::new(dir.as_ref()))
}

/// The problems of a workflow that does not build, one string each.
pub fn problems(yaml: &str) -> Vec<String> {
    match graph(yaml) {
        Ok(_) => panic!("the workflow was expected not to build"),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

pub async fn run(yaml: &str, input: Value) -> Result<Value, RunError> {
    graph(yaml).expect("the workflow builds").run(&Store::new(), input).await
}

/// A workflow of one node of `kind` with `config` (YAML flow or block text, indented 4).
pub fn single(kind: &str, config: &str) -> String {
    format!("name: t\nstart: n\nnodes:\n  - name: n\n    type: {kind}\n    config:\n{config}\n")
}

pub async fn run_single(kind: &str, config: &str, input: Value) -> Result<Value, RunError> {
    run(&single(kind, config), input).await
}

pub fn error_text(e: &RunError) -> String {
    pocket::report(e)
}

//! Workflow nodes in durable runs: the Exec result of `exec` (as of `llm` and `http`) is
//! saved before Post, so a run that stops between the two does not run the program again.

use pocket::durable::conformance::Faulty;
use pocket::durable::{Checkpointer, Durable, Record, RunRecord};
use pocket::{RunOptions, Store};
use pocket_nodes::{BuildOptions, Registry, build_graph};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;

fn graph(log: &Path) -> pocket::Graph<Value, Value> {
    let yaml = format!(
        "name: t\nstart: call\nnodes:\n  - name: call\n    type: exec\n    config:\n      command: sh\n      \
         args: ['-c', 'echo called >> {}; echo answer']\n  - name: read\n    type: transform\n    \
         config: {{ jq: '.stdout' }}\nconnections:\n  - {{ from: call, to: read }}\n",
        log.display()
    );
    let workflow = pocket_yaml::parse_workflow(&yaml, "t.yaml").unwrap();
    let allow = vec!["sh".to_string()];
    build_graph(&workflow, &Registry::builtin(), BuildOptions::new(Path::new(".")).allow_exec(&allow)).unwrap()
}

#[tokio::test]
async fn an_exec_node_that_finished_before_the_run_stopped_is_not_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    // Step records fail, as a crash after the node's Exec (and its memo) but before its
    // boundary would.
    let c = Arc::new(Faulty::new(|r| matches!(r, Record::Step(_))));
    let run = Durable::new(c.clone(), RunRecord::new("r", "t", Value::Null));
    let err = graph(&log).run_with(&Store::new(), json!(null), RunOptions::new().durable(run)).await.unwrap_err();
    assert!(pocket::report(&err).contains("No space left"), "{}", pocket::report(&err));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "called\n");
    let saved = c.load("r").unwrap();
    assert!(saved.last_step().is_none(), "no boundary was written");
    assert!(saved.log.iter().any(|r| matches!(r, Record::Memo { node, .. } if node == "call")), "the memo was");

    c.set(false);
    let out = graph(&log).resume(&Store::new(), &saved, c.clone(), RunOptions::new()).await.unwrap();
    assert_eq!(out, json!("answer\n"));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "called\n", "the program ran once");
}

#[tokio::test]
async fn without_a_durable_run_nothing_is_saved_and_nothing_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    for _ in 0..2 {
        graph(&log).run(&Store::new(), json!(null)).await.unwrap();
    }
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "called\ncalled\n");
}

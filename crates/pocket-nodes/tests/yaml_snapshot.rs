//! Every node of a workflow file carries a JSON codec: the value between two nodes of a running
//! workflow is written down and the run restarts from it.

mod common;

use std::sync::{Arc, Mutex};

use pocket::{RunOptions, Store};
use serde_json::{Value, json};

const FLOW: &str = "name: s\nstart: score\nnodes:
  - name: score
    type: transform
    config: { jq: '{score: (.points * 10)}' }
  - name: label
    type: template
    config: { template: 'score {{.score}}' }
connections:
  - { from: score, to: label }
";

#[tokio::test]
async fn a_workflow_run_is_snapshotted_between_nodes_and_restarted_from_the_snapshot() {
    let graph = common::graph(FLOW).unwrap();
    let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let log = seen.clone();
    let options = RunOptions::new().on_boundary(move |b| {
        log.lock().unwrap().push((b.node().to_string(), b.value_json().unwrap().unwrap()));
    });
    let full = graph.run_with(&Store::new(), json!({"points": 4}), options).await.unwrap();
    let (node, between) = seen.lock().unwrap()[0].clone();
    assert_eq!((node.as_str(), &between), ("score", &json!({"score": 40})));
    let restored = graph.run_from(&Store::new(), "label", between, RunOptions::new()).await.unwrap();
    assert_eq!(restored, full);
}

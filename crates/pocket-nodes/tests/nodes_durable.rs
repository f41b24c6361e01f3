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

#[tokio::test]
async fn templates_of_effectful_nodes_see_the_run_and_a_key_stable_across_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    let (log, marker) = (dir.path().join("keys.log"), dir.path().join("marker"));
    let yaml = format!(
        "name: t\nstart: call\nnodes:\n  - name: call\n    type: exec\n    \
         config:\n      command: sh\n      args: ['-c', 'echo \"{{{{.run.key}}}} {{{{.run.id}}}} {{{{.n}}}}\" >> {log}; \
         [ -e {marker} ] || {{ touch {marker}; exit 1; }}']\n",
        log = log.display(),
        marker = marker.display()
    );
    let workflow = pocket_yaml::parse_workflow(&yaml, "t.yaml").unwrap();
    let allow = vec!["sh".to_string()];
    let graph =
        build_graph(&workflow, &Registry::builtin(), BuildOptions::new(Path::new(".")).allow_exec(&allow)).unwrap();
    let c = Arc::new(pocket::durable::MemoryCheckpointer::new());
    let run = Durable::new(c.clone(), RunRecord::new("run-7", "t", Value::Null));
    // The first attempt fails; the resumed run runs the step again, with the same key.
    graph.run_with(&Store::new(), json!({"n": 1}), RunOptions::new().durable(run)).await.unwrap_err();
    let saved = c.load("run-7").unwrap();
    graph.resume(&Store::new(), &saved, c.clone(), RunOptions::new()).await.unwrap();
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "run-7:call:1 run-7 1\nrun-7:call:1 run-7 1\n");
    // Not recorded: the process's id, and a key new for every call (never one two requests share).
    std::fs::remove_file(&log).unwrap();
    graph.run(&Store::new(), json!({"n": 2})).await.unwrap();
    graph.run(&Store::new(), json!({"n": 3})).await.unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines[0][1], lines[1][1], "one process, one id: {text}");
    assert_ne!(lines[0][0], lines[1][0], "a key per call: {text}");
    assert!(lines[0][0].starts_with(lines[0][1]) && lines[0][0].contains(":call:"), "{text}");
}

/// An `llm` call answered before the run stopped is not asked again on resume: the stub
/// server sees one request.
#[cfg(feature = "http")]
#[tokio::test]
async fn a_finished_llm_call_is_not_paid_for_twice() {
    use pocket_stub::{Reply, Server};
    let reply = Reply::json(
        200,
        json!({
            "id": "x", "object": "chat.completion", "model": "stub-1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
        }),
    );
    let server = Server::scripted(vec![reply]).await.unwrap();
    let yaml = format!(
        "name: l\nstart: ask\nnodes:\n  - name: ask\n    type: llm\n    config:\n      base_url: {}\n      \
         model: stub-1\n      prompt: 'Capital of {{{{.country}}}}?'\n  - name: read\n    type: transform\n    \
         config: {{ jq: '.text' }}\nconnections:\n  - {{ from: ask, to: read }}\n",
        server.url("/v1")
    );
    let workflow = pocket_yaml::parse_workflow(&yaml, "l.yaml").unwrap();
    let graph = build_graph(&workflow, &Registry::builtin(), BuildOptions::new(Path::new("."))).unwrap();
    let c = Arc::new(Faulty::new(|r| matches!(r, Record::Step(_))));
    let run = Durable::new(c.clone(), RunRecord::new("r", "l", Value::Null));
    let input = json!({"country": "France"});
    graph.run_with(&Store::new(), input, RunOptions::new().durable(run)).await.unwrap_err();
    c.set(false);
    let saved = c.load("r").unwrap();
    let out = graph.resume(&Store::new(), &saved, c.clone(), RunOptions::new()).await.unwrap();
    assert_eq!(out, json!("Paris."));
    assert_eq!(server.requests().len(), 1, "one request reached the server");
}

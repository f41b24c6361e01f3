//! The `workflow` node type and `map` bodies that are workflows: another file (or an inline
//! workflow) run as one node on a scope of the store; cycles, the sandbox and the sub-file's
//! problems named at validate time; timeouts hold.

use std::path::Path;
use std::time::Duration;

use pocket::Store;
use pocket_nodes::{BuildOptions, Registry, build_graph};
use serde_json::{Value, json};

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn build(dir: &Path, yaml: &str) -> Result<pocket::Graph<Value, Value>, String> {
    let workflow = pocket_yaml::parse_workflow(yaml, "main.yaml").map_err(|e| e.to_string())?;
    build_graph(&workflow, &Registry::builtin(), BuildOptions::new(dir)).map_err(|e| e.to_string())
}

/// A workflow of one node `w` of `kind` with `config` (a flow mapping), plus `extra` nodes.
fn one(kind: &str, config: &str) -> String {
    format!("name: main\nstart: w\nnodes:\n  - name: w\n    type: {kind}\n    config: {config}\n")
}

const DOUBLE: &str = "name: double\nstart: d\nnodes:\n  - name: d\n    type: transform\n    config: { jq: '{n: (.n * 2)}' }\n  - name: keep\n    type: file\n    config: { path: 'seen-{{.n}}.txt', operation: write, content: '{{.n}}' }\nconnections:\n  - { from: d, to: keep }\n";

#[tokio::test]
async fn a_workflow_file_runs_as_one_node_its_paths_relative_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "lib/double.yaml", DOUBLE);
    let graph = build(dir.path(), &one("workflow", "{file: lib/double.yaml}")).unwrap();
    let store = Store::new();
    let out = graph.run(&store, json!({"n": 21})).await.unwrap();
    assert_eq!(out["path"].as_str().map(|p| p.ends_with("seen-42.txt")), Some(true), "{out}");
    // The sub-workflow's `file` node wrote beside its own file.
    assert_eq!(std::fs::read_to_string(dir.path().join("lib/seen-42.txt")).unwrap(), "42");
    // Its nodes wrote their outputs on the node's scope of the store, not the caller's keys.
    let keys = store.keys();
    assert!(keys.iter().all(|k| !k.starts_with("keep") && !k.starts_with("d:")), "{keys:?}");
}

#[tokio::test]
async fn a_map_body_can_be_a_workflow_file_or_one_written_inline() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "double.yaml", DOUBLE);
    let file_body = build(dir.path(), &one("map", "{body: {workflow: double.yaml}}")).unwrap();
    let out = file_body.run(&Store::new(), json!([{"n": 1}, {"n": 2}])).await.unwrap();
    assert_eq!(out["stats"]["succeeded"], 2, "{out}");
    assert!(dir.path().join("seen-2.txt").exists() && dir.path().join("seen-4.txt").exists());
    let inline = "{body: {start: a, nodes: [{name: a, type: transform, config: {jq: '. + 1'}}, \
                  {name: b, type: transform, config: {jq: '. * 10'}}], connections: [{from: a, to: b}]}}";
    let out = build(dir.path(), &one("map", inline)).unwrap().run(&Store::new(), json!([1, 2, 3])).await.unwrap();
    assert_eq!(out["results"], json!([20, 30, 40]));
}

#[test]
fn files_that_include_each_other_are_refused_naming_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", &one("workflow", "{file: b.yaml}").replace("name: main", "name: a"));
    write(dir.path(), "b.yaml", &one("map", "{body: {workflow: a.yaml}}").replace("name: main", "name: b"));
    let err = build(dir.path(), &one("workflow", "{file: a.yaml}")).unwrap_err();
    assert!(err.contains("workflow files include each other"), "{err}");
    assert!(err.contains("a.yaml -> ") && err.contains("b.yaml -> a.yaml"), "{err}");
    write(dir.path(), "self.yaml", &one("workflow", "{file: self.yaml}"));
    let err = build(dir.path(), &one("workflow", "{file: self.yaml}")).unwrap_err();
    assert!(err.contains("include each other"), "{err}");
}

#[test]
fn a_sub_workflows_problems_are_named_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "bad.yaml",
        "name: bad\nstart: x\nnodes:\n  - name: x\n    type: transform\n    config: { jq: '.[' }\n  - name: y\n    type: nope\n",
    );
    let err = build(dir.path(), &one("workflow", "{file: bad.yaml}")).unwrap_err();
    assert!(err.contains("`config.file`: bad.yaml: 6:"), "{err}");
    assert!(err.contains("unknown node type `nope`"), "{err}");
    let err = build(dir.path(), &one("map", "{body: {workflow: bad.yaml}}")).unwrap_err();
    assert!(err.contains("`config.body.workflow`: bad.yaml"), "{err}");
    let err = build(dir.path(), &one("map", "{body: {type: echo, workflow: bad.yaml}}")).unwrap_err();
    assert!(err.contains("give one of `type`"), "{err}");
}

#[test]
fn workflow_files_outside_the_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("flows");
    write(dir.path(), "outside.yaml", DOUBLE);
    std::fs::create_dir(&inner).unwrap();
    for file in ["../outside.yaml", "/etc/passwd", "missing.yaml"] {
        let err = build(&inner, &one("workflow", &format!("{{file: '{file}'}}"))).unwrap_err();
        assert!(err.contains("`config.file`"), "{file}: {err}");
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.path().join("outside.yaml"), inner.join("link.yaml")).unwrap();
        let err = build(&inner, &one("workflow", "{file: link.yaml}")).unwrap_err();
        assert!(err.contains("leads outside the base directory"), "{err}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_sub_workflow_names_its_file_and_a_timeout_holds_around_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "fails.yaml",
        "name: f\nstart: x\nnodes:\n  - name: x\n    type: transform\n    config: { jq: 'error(\"no\")' }\n",
    );
    let err = build(dir.path(), &one("workflow", "{file: fails.yaml}"))
        .unwrap()
        .run(&Store::new(), json!(1))
        .await
        .unwrap_err();
    let text = pocket::report(&err);
    assert!(text.contains("workflow fails.yaml failed") && text.contains("no"), "{text}");
    write(
        dir.path(),
        "slow.yaml",
        "name: s\nstart: x\nnodes:\n  - name: x\n    type: delay\n    config: { duration: 1h }\n",
    );
    let yaml = one("workflow", "{file: slow.yaml}") + "    timeout: 2s\n";
    let started = tokio::time::Instant::now();
    let err = build(dir.path(), &yaml).unwrap().run(&Store::new(), json!(1)).await.unwrap_err();
    assert!(pocket::report(&err).contains("timed out"), "{}", pocket::report(&err));
    assert!(started.elapsed() < Duration::from_secs(3));
}

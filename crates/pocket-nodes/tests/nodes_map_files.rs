//! The `map` node over files: `items_file` (JSON Lines, CSV, a JSON array) read as items
//! start, `output_file` written in input order and put in place only when the node succeeds;
//! bad files named by line; the file sandbox.

use std::path::Path;

use pocket::Store;
use pocket_nodes::{BuildOptions, Registry, build_graph};
use serde_json::{Value, json};

/// Run a one-`map` workflow in `dir` with `config` (a YAML flow mapping).
async fn run_in(dir: &Path, config: &str, input: Value) -> Result<Value, String> {
    let yaml = format!("name: t\nstart: m\nnodes:\n  - name: m\n    type: map\n    config: {config}\n");
    let workflow = pocket_yaml::parse_workflow(&yaml, "t.yaml").unwrap();
    let graph = build_graph(&workflow, &Registry::builtin(), BuildOptions::new(dir)).map_err(|e| e.to_string())?;
    graph.run(&Store::new(), input).await.map_err(|e| pocket::report(&e))
}

const DOUBLE: &str = "body: {type: transform, config: {jq: '.n * 2'}}";
const FAILING: &str =
    "body: {type: transform, config: {jq: 'if .n == 3 or .n == 6 then error(\"bad \\(.n)\") else .n end'}}";

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[tokio::test]
async fn items_come_from_json_lines_csv_and_a_json_array() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.jsonl", "{\"n\": 1}\n\n{\"n\": 2}\n  \n{\"n\": 3}");
    write(dir.path(), "a.csv", "n,name\n1,x\n2,\"y, z\"\n");
    write(dir.path(), "a.json", "[{\"n\": 5}, {\"n\": 6}]");
    let out = run_in(dir.path(), &format!("{{items_file: a.jsonl, {DOUBLE}}}"), Value::Null).await.unwrap();
    assert_eq!(out["results"], json!([2, 4, 6]));
    assert_eq!(out["stats"], json!({"total": 3, "succeeded": 3, "failed": 0}));
    let csv = "{items_file: a.csv, body: {type: transform}}";
    let out = run_in(dir.path(), csv, Value::Null).await.unwrap();
    assert_eq!(out["results"], json!([{"n": "1", "name": "x"}, {"n": "2", "name": "y, z"}]));
    let out = run_in(dir.path(), &format!("{{items_file: a.json, {DOUBLE}}}"), Value::Null).await.unwrap();
    assert_eq!(out["results"], json!([10, 12]));
    // The format can be named whatever the file is called.
    write(dir.path(), "lines.txt", "{\"n\": 7}\n");
    let out = run_in(dir.path(), &format!("{{items_file: lines.txt, items_format: jsonl, {DOUBLE}}}"), Value::Null)
        .await
        .unwrap();
    assert_eq!(out["results"], json!([14]));
}

#[tokio::test]
async fn failed_items_are_named_by_index_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let lines: String = (0..10).map(|n| format!("{{\"n\": {n}}}\n\n")).collect();
    write(dir.path(), "items.jsonl", &lines);
    let err = run_in(dir.path(), &format!("{{items_file: items.jsonl, {FAILING}}}"), Value::Null).await.unwrap_err();
    // Fail fast names the failure that came first in time: item 3 or item 6, with its line.
    assert!(
        (err.contains("map: item 3 (line 7) failed") && err.contains("bad 3"))
            || (err.contains("map: item 6 (line 13) failed") && err.contains("bad 6")),
        "{err}"
    );
    let out = run_in(dir.path(), &format!("{{items_file: items.jsonl, on_error: collect, {FAILING}}}"), Value::Null)
        .await
        .unwrap();
    assert_eq!(out["results"][3]["line"], 7);
    assert_eq!(out["results"][6]["index"], 6);
    assert_eq!(out["errors"].as_array().unwrap().len(), 2);
    assert_eq!(out["stats"], json!({"total": 10, "succeeded": 8, "failed": 2}));
    // A share of a file's items is checked at its end: 2 of 10 is more than 10%.
    let err = run_in(
        dir.path(),
        &format!("{{items_file: items.jsonl, on_error: skip, max_failures: '10%', {FAILING}}}"),
        Value::Null,
    )
    .await
    .unwrap_err();
    assert!(err.contains("more than 1 of 10 items failed"), "{err}");
    // A count is checked as failures come.
    let err = run_in(
        dir.path(),
        &format!("{{items_file: items.jsonl, on_error: skip, max_failures: 1, {FAILING}}}"),
        Value::Null,
    )
    .await
    .unwrap_err();
    assert!(err.contains("more than 1 of"), "{err}");
}

#[tokio::test]
async fn bad_files_are_named_by_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "bad.jsonl", "{\"n\": 1}\n{\"n\": 2}\n{oops}\n{\"n\": 4}\n");
    write(dir.path(), "ragged.csv", "a,b\n1,2\n3\n");
    write(dir.path(), "bad.json", "{\"n\": 1}");
    write(dir.path(), "latin1.jsonl", "\"caf\u{e9}\"\n");
    std::fs::write(dir.path().join("latin1.jsonl"), b"\"caf\xe9\"\n").unwrap();
    let cases = [
        ("bad.jsonl", "items_file bad.jsonl: line 3: not JSON"),
        ("ragged.csv", "items_file ragged.csv: line 3: 1 fields where the header has 2"),
        ("bad.json", "items_file bad.json: invalid type: map, expected a JSON array of items"),
        ("latin1.jsonl", "items_file latin1.jsonl: line 1: not UTF-8 text"),
        ("missing.jsonl", "cannot open"),
    ];
    for (file, expected) in cases {
        let err = run_in(dir.path(), &format!("{{items_file: {file}, body: {{type: echo}}}}"), Value::Null)
            .await
            .unwrap_err();
        assert!(err.contains(expected), "{file}: {err}");
    }
}

#[tokio::test]
async fn a_line_past_the_item_cap_is_refused_without_reading_it_whole() {
    let dir = tempfile::tempdir().unwrap();
    let long = format!("{{\"n\": 1}}\n\"{}\"\n", "x".repeat(17 << 20));
    write(dir.path(), "long.jsonl", &long);
    let err = run_in(dir.path(), "{items_file: long.jsonl, body: {type: echo}}", Value::Null).await.unwrap_err();
    assert!(err.contains("line 2: longer than 16 MiB"), "{err}");
    let array = format!("[1, \"{}\"]", "x".repeat(17 << 20));
    write(dir.path(), "long.json", &array);
    let err = run_in(dir.path(), "{items_file: long.json, body: {type: echo}}", Value::Null).await.unwrap_err();
    assert!(err.contains("an item longer than 16 MiB"), "{err}");
}

#[tokio::test]
async fn files_outside_the_workflows_directory_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("flow");
    std::fs::create_dir(&inner).unwrap();
    write(dir.path(), "secret.jsonl", "1\n");
    for config in ["{items_file: ../secret.jsonl, body: {type: echo}}", "{items_file: /etc/passwd, body: {type: echo}}"]
    {
        let err = run_in(&inner, config, Value::Null).await.unwrap_err();
        assert!(err.contains("items_file"), "{err}");
    }
    let err = run_in(&inner, "{output_file: ../out.jsonl, body: {type: echo}}", json!([1])).await.unwrap_err();
    assert!(err.contains("output_file"), "{err}");
    // A symlink out is refused when it is opened.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.path().join("secret.jsonl"), inner.join("link.jsonl")).unwrap();
        let err = run_in(&inner, "{items_file: link.jsonl, body: {type: echo}}", Value::Null).await.unwrap_err();
        assert!(err.contains("leads outside the base directory"), "{err}");
    }
}

#[tokio::test]
async fn the_output_file_holds_what_the_output_would() {
    let dir = tempfile::tempdir().unwrap();
    let lines: String = (0..300).map(|n| format!("{{\"n\": {n}}}\n")).collect();
    write(dir.path(), "items.jsonl", &lines);
    let body =
        "body: {type: transform, config: {jq: 'if .n % 7 == 3 then error(\"seven\") else {n, sq: (.n * .n)} end'}}";
    let in_memory = run_in(
        dir.path(),
        &format!("{{items_file: items.jsonl, on_error: collect, max_concurrency: 5, {body}}}"),
        Value::Null,
    )
    .await
    .unwrap();
    let to_file = run_in(
        dir.path(),
        &format!(
            "{{items_file: items.jsonl, on_error: collect, max_concurrency: 5, output_file: out/r.jsonl, {body}}}"
        ),
        Value::Null,
    )
    .await
    .unwrap();
    let written: Vec<Value> = std::fs::read_to_string(dir.path().join("out/r.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(Value::Array(written), in_memory["results"]);
    assert_eq!(to_file["output_file"], "out/r.jsonl");
    assert_eq!(to_file["count"], 300);
    assert_eq!(to_file["failed"], 43);
    assert_eq!(to_file["errors"], in_memory["errors"]);
    // Items from the input can go to a file too, in batches.
    let out = run_in(
        dir.path(),
        "{output_file: b.jsonl, batch_size: 2, body: {type: transform, config: {jq: add}}}",
        json!([1, 2, 3, 4, 5]),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read_to_string(dir.path().join("b.jsonl")).unwrap(), "3\n7\n5\n");
    assert_eq!(out["stats"], json!({"total": 5, "succeeded": 3, "failed": 0}));
}

#[tokio::test]
async fn a_failed_map_leaves_the_old_output_file_and_no_temporary_one() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "out.jsonl", "old\n");
    let items: Value = (0..10).map(|n| json!({"n": n})).collect();
    let err = run_in(dir.path(), &format!("{{output_file: out.jsonl, {FAILING}}}"), items).await.unwrap_err();
    assert!(err.contains("item 3 failed") || err.contains("item 6 failed"), "{err}");
    assert_eq!(std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap(), "old\n");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn file_options_are_checked_at_validate_time() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "name: t\nstart: m\nnodes:\n  - name: m\n    type: map\n    config: {items: '.', items_file: a.jsonl, \
                items_format: xml, output_file: ../o.jsonl, body: {type: echo}}\n";
    let workflow = pocket_yaml::parse_workflow(yaml, "t.yaml").unwrap();
    let err = build_graph(&workflow, &Registry::builtin(), BuildOptions::new(dir.path())).unwrap_err().to_string();
    assert!(err.contains("items_format"), "{err}");
    let yaml = yaml.replace("items_format: xml, ", "");
    let workflow = pocket_yaml::parse_workflow(&yaml, "t.yaml").unwrap();
    let err = build_graph(&workflow, &Registry::builtin(), BuildOptions::new(dir.path())).unwrap_err().to_string();
    assert!(err.contains("give `items` or `items_file`, not both"), "{err}");
    assert!(err.contains("output_file"), "{err}");
}

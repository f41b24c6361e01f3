//! `pocket nodes`, `pocket nodes info`, `pocket graph` and `pocket version`.

mod common;

use common::{pocket, repo, text};
use serde_json::Value;

#[test]
fn nodes_lists_every_type_by_category() {
    let out = pocket(&["nodes"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let listing = text(&out.stdout);
    for kind in [
        "echo",
        "delay",
        "router",
        "conditional",
        "transform",
        "template",
        "jsonpath",
        "validate",
        "aggregate",
        "file",
        "exec",
        "parallel",
        "map",
    ] {
        assert!(listing.contains(&format!("  {kind} ")), "{kind} in {listing}");
    }
    assert!(
        listing.contains("Core:")
            && listing.contains("Data:")
            && listing.contains("I/O:")
            && listing.contains("Flow:")
            && listing.contains("Total: 18 node types")
    );

    let out = pocket(&["nodes", "--output", "json"], &[]);
    let all: Value = serde_json::from_slice(&out.stdout).unwrap();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 18);
    assert!(
        all.iter().all(|n| n["config_schema"]["additionalProperties"] == false && n["example"]["config"].is_object())
    );
}

#[test]
fn nodes_info_shows_the_schema_and_an_example() {
    let out = pocket(&["nodes", "info", "aggregate"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let info = text(&out.stdout);
    assert!(info.starts_with("Node type: aggregate\nCategory: data\n"), "{info}");
    assert!(
        info.contains("\"mode\"") && info.contains("\"const\": \"merge\"") && info.contains("\"partial\""),
        "{info}"
    );
    assert!(info.contains("Example:\n- name: my-aggregate\n  type: aggregate\n  config:\n"), "{info}");

    let out = pocket(&["nodes", "info", "validate", "-o", "json"], &[]);
    let info: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["type"], "validate");
    assert!(info["config_schema"]["properties"]["fail_on_error"].is_object());

    let out = pocket(&["nodes", "info", "templat"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown node type `templat` (did you mean `template`?)"));
}

#[test]
fn graph_draws_the_built_graph_with_edge_labels() {
    let file = repo("examples/workflows/router.yaml");
    let out = pocket(&["graph", &file], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mermaid = text(&out.stdout);
    assert!(mermaid.starts_with("flowchart TD"), "{mermaid}");
    // The edges the router's `routes` declare are part of the graph as built.
    for label in ["|\"bug\"|", "|\"feature\"|", "|\"inbox\"|"] {
        assert!(mermaid.contains(label), "{label} in {mermaid}");
    }
    let out = pocket(&["graph", &repo("examples/workflows/conditional.yaml"), "--format", "dot"], &[]);
    let dot = text(&out.stdout);
    assert!(dot.starts_with("digraph") && dot.contains("\"check-score\" -> \"high\" [label=\"high\"]"), "{dot}");
    let out = pocket(&["graph", "/no/such.yaml"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn version_in_text_and_json() {
    let out = pocket(&["version", "-o", "json"], &[]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn a_reader_that_goes_away_is_not_a_crash() {
    // `pocket nodes | head -c0`: the pipe is closed before anything is written.
    let mut child = common::command(&["nodes", "-o", "json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
}

#[test]
fn docs_is_the_registry_as_markdown_and_the_checked_in_reference_is_current() {
    let out = pocket(&["docs"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let md = text(&out.stdout);
    assert_eq!(text(&pocket(&["nodes", "docs"], &[]).stdout), md, "`pocket nodes docs` is the same");
    let listed: Value = serde_json::from_slice(&pocket(&["nodes", "-o", "json"], &[]).stdout).unwrap();
    let kinds: Vec<String> =
        listed.as_array().unwrap().iter().filter_map(|i| i["type"].as_str().map(str::to_string)).collect();
    assert!(kinds.len() >= 15, "{listed}");
    for kind in &kinds {
        assert!(md.contains(&format!("\n### {kind}\n")), "a section for {kind}");
    }
    // Fields come from the config schemas: a field added to a config appears here.
    assert!(md.contains("| `save_to` | string |"), "{md}");
    assert!(md.contains("| `url` | string | yes |"));
    let checked_in = std::fs::read_to_string(repo("docs/nodes.md")).unwrap();
    assert!(
        checked_in == md,
        "docs/nodes.md is stale: regenerate it with `cargo run -p pocket-cli -- docs > docs/nodes.md`"
    );
}

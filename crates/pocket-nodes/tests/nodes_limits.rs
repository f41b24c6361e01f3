//! Named `limits:` shared across nodes: a request rate held per item, a bound on calls in
//! flight shared by two nodes, token budgets, unknown names at validate time (paused clock).

mod common;

use std::time::Duration;

use common::{graph, problems};
use pocket::Store;
use serde_json::Value;
use tokio::time::Instant;

/// A workflow with `limits` (YAML block text) and one node `m` of `kind` with `config`.
fn workflow(limits: &str, kind: &str, config: &str) -> String {
    format!("name: t\nstart: m\nlimits:\n{limits}\nnodes:\n  - name: m\n    type: {kind}\n    config: {config}\n")
}

fn numbers(n: u64) -> Value {
    Value::Array((0..n).map(Value::from).collect())
}

#[tokio::test(start_paused = true)]
async fn a_request_rate_holds_for_every_item_of_a_map() {
    // 20 a second, bursts of 20: 100 items take 4 s after the first 20.
    let yaml = workflow(
        "  api: { requests_per_second: 20 }",
        "map",
        "{limit: api, max_concurrency: 50, body: {type: transform}}",
    );
    let start = Instant::now();
    let out = graph(&yaml).unwrap().run(&Store::new(), numbers(100)).await.unwrap();
    let took = start.elapsed();
    assert_eq!(out["results"], numbers(100));
    assert!(took >= Duration::from_millis(3_950) && took <= Duration::from_millis(4_100), "{took:?}");
    // Per minute means the same; a burst of 1 spaces every item.
    let yaml =
        workflow("  api: { requests_per_minute: 600, burst: 1 }", "map", "{limit: api, body: {type: transform}}");
    let start = Instant::now();
    graph(&yaml).unwrap().run(&Store::new(), numbers(11)).await.unwrap();
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(990) && took <= Duration::from_millis(1_050), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn two_nodes_naming_one_limit_share_its_slots() {
    // Two maps of 30 items of 100 ms each, side by side, each allowed 10 at once by itself —
    // but the limit they share allows 3 calls in flight: 60 items, 3 at a time, 2 s.
    let task = "type: map, config: {limit: pool, max_concurrency: 10, body: {type: delay, config: {duration: 100ms}}}";
    let yaml = workflow(
        "  pool: { max_concurrency: 3 }",
        "parallel",
        &format!("{{tasks: [{{name: a, {task}}}, {{name: b, {task}}}]}}"),
    );
    let graph = graph(&yaml).unwrap();
    let start = Instant::now();
    let out = graph.run(&Store::new(), numbers(30)).await.unwrap();
    let took = start.elapsed();
    assert_eq!(out["results"][1]["result"]["stats"]["succeeded"], 30, "{out}");
    assert!(took >= Duration::from_millis(1_990) && took <= Duration::from_millis(2_100), "{took:?}: {out}");
}

#[test]
fn unknown_limit_names_and_conflicting_budgets_are_named_at_validate_time() {
    let found = problems(&workflow("  api: { requests_per_second: 5 }", "map", "{limit: apj, body: {type: echo}}"));
    assert!(
        found
            .iter()
            .any(|p| p.contains("limit") && p.contains("no limit is named `apj`") && p.contains("did you mean `api`")),
        "{found:?}"
    );
    let found =
        problems(&workflow("  api: { requests_per_second: 5 }", "http", "{url: 'http://127.0.0.1:9/x', limit: nope}"));
    assert!(found.iter().any(|p| p.contains("no limit is named `nope`")), "{found:?}");
    let found = problems(&workflow(
        "  openai: { tokens_per_minute: 1000 }",
        "llm",
        "{model: m, prompt: hi, base_url: 'http://127.0.0.1:9/v1', limit: openai, rate_limit: {tokens_per_minute: 500}}",
    ));
    assert!(found.iter().any(|p| p.contains("not both")), "{found:?}");
    let found = problems(&workflow(
        "  openai: { tokens_per_minute: 1000 }",
        "llm",
        "{model: m, prompt: hi, base_url: 'http://127.0.0.1:9/v1', limit: openai, max_tokens: 2000}",
    ));
    assert!(
        found.iter().any(|p| p.contains("can never fit the budget of 1000 tokens a minute of limit `openai`")),
        "{found:?}"
    );
}

#[test]
fn a_limit_no_node_names_is_fine_and_a_workflow_without_limits_says_so() {
    assert!(graph(&workflow("  spare: { max_concurrency: 2 }", "echo", "{}")).is_ok());
    let yaml = "name: t\nstart: m\nnodes:\n  - name: m\n    type: map\n    config: {limit: x, body: {type: echo}}\n";
    let found = problems(yaml);
    assert!(found.iter().any(|p| p.contains("the workflow has no `limits:`")), "{found:?}");
    // Reported beside the body's own problems, all at once.
    let yaml = "name: t\nstart: m\nnodes:\n  - name: m\n    type: map\n    config: {limit: x, body: {type: nope}}\n";
    let found = problems(yaml);
    assert!(found.iter().any(|p| p.contains("no limit is named `x`")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("unknown node type `nope`")), "{found:?}");
}

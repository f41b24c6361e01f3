//! Node-level `retry`, `timeout`, `circuit_breaker`, `cache` and `fallback` in workflow files,
//! applied through the library's layers (paused clock).

mod common;

use std::time::Duration;

use common::{error_text, graph, problems, run};
use pocket::Store;
use serde_json::json;
use tokio::time::Instant;

fn slow(extra: &str) -> String {
    format!("name: t\nstart: slow\nnodes:\n  - name: slow\n    type: delay\n    config: {{ duration: 10s }}\n{extra}")
}

#[tokio::test(start_paused = true)]
async fn timeout_applies_to_any_node_type() {
    let started = Instant::now();
    let err = run(&slow("    timeout: 1s\n"), json!(null)).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert!(error_text(&err).contains("timed out"), "{}", error_text(&err));
}

#[tokio::test(start_paused = true)]
async fn retry_repeats_each_timed_out_attempt_with_growing_delays() {
    let yaml = slow("    timeout: 1s\n    retry: { max_attempts: 3, delay: 1s, multiplier: 2, max_delay: 10s }\n");
    let started = Instant::now();
    let err = run(&yaml, json!(null)).await.unwrap_err();
    // attempt (1s) + wait 1s + attempt (1s) + wait 2s + attempt (1s)
    assert_eq!(started.elapsed(), Duration::from_secs(6));
    let text = error_text(&err);
    assert!(text.contains('3') && text.contains("timed out"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn circuit_breaker_opens_after_the_threshold_and_fails_fast() {
    let g = graph(&slow("    timeout: 1s\n    circuit_breaker: { failure_threshold: 2, open_for: 30s }\n")).unwrap();
    let store = Store::new();
    for _ in 0..2 {
        let err = g.run(&store, json!(null)).await.unwrap_err();
        assert!(error_text(&err).contains("timed out"), "{}", error_text(&err));
    }
    let started = Instant::now();
    let err = g.run(&store, json!(null)).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO, "an open breaker fails at once");
    assert!(error_text(&err).contains("circuit open"), "{}", error_text(&err));
}

#[tokio::test(start_paused = true)]
async fn cache_returns_the_result_for_the_same_input_without_running_again() {
    let g = graph(&slow("    cache: { max_entries: 10, ttl: 1m }\n")).unwrap();
    let store = Store::new();
    let started = Instant::now();
    assert_eq!(g.run(&store, json!({"q": 1})).await.unwrap(), json!({"q": 1}));
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(g.run(&store, json!({"q": 1})).await.unwrap(), json!({"q": 1}));
    assert_eq!(started.elapsed(), Duration::from_secs(10), "a hit does not wait");
    assert_eq!(g.run(&store, json!({"q": 2})).await.unwrap(), json!({"q": 2}));
    assert_eq!(started.elapsed(), Duration::from_secs(20), "another input misses");
    // Past the TTL the entry is never returned.
    tokio::time::advance(Duration::from_secs(61)).await;
    let before = Instant::now();
    g.run(&store, json!({"q": 1})).await.unwrap();
    assert_eq!(before.elapsed(), Duration::from_secs(10));
}

const FALLBACK: &str = r#"
name: f
start: primary
nodes:
  - name: primary
    type: transform
    config: { jq: 'error("model unavailable")' }
    fallback: canned
  - name: canned
    type: echo
    config: { message: "canned answer for {{.question}}" }
  - name: done
    type: template
    config: { template: "answer: {{.message}}" }
connections:
  - { from: primary, to: done }
"#;

#[tokio::test]
async fn fallback_runs_the_named_node_and_routing_goes_on() {
    let out = run(FALLBACK, json!({"question": "why"})).await.unwrap();
    assert_eq!(out, json!("answer: canned answer for why"));
}

#[tokio::test]
async fn when_the_fallback_fails_too_both_errors_are_kept() {
    let yaml = FALLBACK.replace("message: \"canned answer for {{.question}}\"", "message: \"{{.question.deep}}\"");
    let err = run(&yaml, json!({"question": "why"})).await.unwrap_err();
    let text = error_text(&err);
    assert!(text.contains("model unavailable") && text.contains("canned"), "{text}");
}

#[test]
fn fallback_cycles_are_refused() {
    let yaml = FALLBACK.replace(
        "config: { message: \"canned answer for {{.question}}\" }",
        "config: { message: x }\n    fallback: primary",
    );
    let found = problems(&yaml);
    assert!(found.iter().any(|p| p.contains("fallbacks form a cycle: primary -> canned -> primary")), "{found:?}");
}

#[tokio::test(start_paused = true)]
async fn a_node_and_its_uses_as_a_fallback_share_one_breaker() {
    let yaml = r#"
name: shared
start: pick
nodes:
  - name: pick
    type: router
    config: { route: "{{.go}}" }
  - name: a
    type: transform
    config: { jq: 'error("a is down")' }
    fallback: b
  - name: b
    type: transform
    config: { jq: 'error("b is down")' }
    circuit_breaker: { failure_threshold: 1, open_for: 30s }
connections:
  - { from: pick, to: a, action: a }
  - { from: pick, to: b, action: b }
"#;
    let g = graph(yaml).unwrap();
    let store = Store::new();
    let err = g.run(&store, json!({"go": "a"})).await.unwrap_err();
    assert!(error_text(&err).contains("b is down"), "{}", error_text(&err));
    // `b` failed once as `a`'s fallback: its breaker is open for `b` itself too.
    let err = g.run(&store, json!({"go": "b"})).await.unwrap_err();
    assert!(error_text(&err).contains("circuit open"), "{}", error_text(&err));
}

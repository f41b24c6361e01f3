//! echo, delay, router and conditional: what they output, where they route, what they refuse.

mod common;

use std::time::Duration;

use common::{error_text, graph, problems, run, run_single};
use pocket::{CancellationToken, RunError, RunOptions, Store};
use serde_json::json;

#[tokio::test]
async fn echo_wraps_the_input_and_templates_its_message() {
    let out = run_single("echo", "      message: 'hi {{.who}}'", json!({"who": "ada"})).await.unwrap();
    assert_eq!(out, json!({"message": "hi ada", "input": {"who": "ada"}, "node": "n"}));
    // A message without `{{` is used as it is; no config at all gives the default message.
    let out = run("name: t\nstart: n\nnodes:\n  - name: n\n    type: echo\n", json!(null)).await.unwrap();
    assert_eq!(out["message"], "Hello from echo node");
}

#[test]
fn echo_refuses_unknown_keys_and_bad_templates() {
    let found = problems(&common::single("echo", "      mesage: hi"));
    assert!(found[0].contains("`config.mesage`: unknown field `mesage`, expected `message`"), "{found:?}");
    let found = problems(&common::single("echo", "      message: '{{.x'"));
    assert!(found[0].contains("`config.message`") && found[0].contains("n.message"), "{found:?}");
    let found = problems(&common::single("echo", "      message: [1, 2]"));
    assert!(found[0].contains("`config.message`: invalid type: sequence"), "{found:?}");
}

#[tokio::test(start_paused = true)]
async fn delay_waits_its_duration_in_go_syntax() {
    let started = tokio::time::Instant::now();
    let out = run_single("delay", "      duration: 1m30s", json!({"x": 1})).await.unwrap();
    assert_eq!(out, json!({"x": 1}));
    assert_eq!(started.elapsed(), Duration::from_secs(90));
    let started = tokio::time::Instant::now();
    run_single("delay", "      duration: 1.5s", json!(null)).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(1500));
}

#[tokio::test(start_paused = true)]
async fn a_delay_is_cancelled_without_waiting_it_out() {
    let g = graph(&common::single("delay", "      duration: 1h")).unwrap();
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        cancel.cancel();
    });
    let started = tokio::time::Instant::now();
    let err = g.run_with(&Store::new(), json!(null), RunOptions::new().token(token)).await.unwrap_err();
    assert!(matches!(err, RunError::Cancelled { .. }), "{err}");
    assert_eq!(started.elapsed(), Duration::from_secs(1));
}

#[test]
fn delay_refuses_bad_durations() {
    let found = problems(&common::single("delay", "      duration: 5x"));
    assert!(found[0].contains("`config.duration`: invalid duration `5x`"), "{found:?}");
    let found = problems(&common::single("delay", "      duration: 5"));
    assert!(found[0].contains("must be a duration like `30s`, not the number 5"), "{found:?}");
}

const ROUTER: &str = r#"
name: r
start: route
nodes:
  - name: route
    type: router
    config: CONFIG
  - name: a
    type: echo
    config: { message: took a }
  - name: b
    type: echo
    config: { message: took b }
  - name: other
    type: echo
    config: { message: took other }
connections:
  - { from: route, to: a, action: a }
  - { from: route, to: b, action: b }
  - { from: route, to: other, action: other }
"#;

async fn route(config: &str, input: serde_json::Value) -> String {
    let out = run(&ROUTER.replace("CONFIG", config), input).await.unwrap();
    out["message"].as_str().unwrap_or("ended at the router").to_string()
}

#[tokio::test]
async fn router_routes_on_a_fixed_rendered_or_input_route() {
    assert_eq!(route("{ route: b }", json!(null)).await, "took b");
    assert_eq!(route("{ route: '{{.kind}}' }", json!({"kind": "a"})).await, "took a");
    // No `route`: the input's `route` field.
    assert_eq!(route("{}", json!({"route": "b"})).await, "took b");
    // The documented `default_route` / `default` keys are honoured, not ignored.
    assert_eq!(route("{ default_route: a }", json!(null)).await, "took a");
    assert_eq!(route("{ route: '{{.kind}}', default: other }", json!({})).await, "took other");
}

#[tokio::test]
async fn router_routes_declares_edges_and_falls_back_on_unknown_names() {
    let yaml = r#"
name: r
start: route
nodes:
  - name: route
    type: router
    config:
      route: "{{.kind}}"
      routes: { bug: triage, feature: backlog }
      default: unsorted
  - { name: triage, type: echo, config: { message: triage } }
  - { name: backlog, type: echo, config: { message: backlog } }
  - { name: inbox, type: echo, config: { message: inbox } }
connections:
  - { from: route, to: inbox, action: unsorted }
"#;
    for (kind, expected) in [("bug", "triage"), ("feature", "backlog"), ("question", "inbox")] {
        let out = run(yaml, json!({"kind": kind})).await.unwrap();
        assert_eq!(out["message"], expected, "kind {kind}");
    }
    let found = problems(&yaml.replace("feature: backlog", "feature: nowhere"));
    assert!(found[0].contains("`config.routes.feature`: no node is named `nowhere`"), "{found:?}");
}

const CONDITIONAL: &str = r#"
name: c
start: check
nodes:
  - name: check
    type: conditional
    config:
      conditions:
        - if: "{{gt .score 0.8}}"
          then: high
        - if: "{{gt .score 0.5}}"
          then: medium
      else: low
  - { name: high, type: echo, config: { message: high } }
  - { name: medium, type: echo, config: { message: medium } }
  - { name: low, type: echo, config: { message: low } }
connections:
  - { from: check, to: high, action: high }
  - { from: check, to: medium, action: medium }
  - { from: check, to: low, action: low }
"#;

#[tokio::test]
async fn conditional_takes_the_first_condition_that_holds() {
    for (score, expected) in [(json!(0.9), "high"), (json!(1), "high"), (json!(0.6), "medium"), (json!(0), "low")] {
        let out = run(CONDITIONAL, json!({"score": score})).await.unwrap();
        assert_eq!(out["message"], expected, "score {score}");
        assert_eq!(out["input"], json!({"score": score}), "the input passes through");
    }
    // A condition that cannot be evaluated (no score) does not hold, as in the original.
    assert_eq!(run(CONDITIONAL, json!({})).await.unwrap()["message"], "low");
}

#[tokio::test]
async fn conditional_without_else_ends_the_run_with_its_input() {
    let yaml = CONDITIONAL.replace("      else: low\n", "");
    assert_eq!(run(&yaml, json!({"score": 0.1})).await.unwrap(), json!({"score": 0.1}));
}

#[test]
fn conditional_reports_each_bad_condition_by_index() {
    let found = problems(&CONDITIONAL.replace("{{gt .score 0.5}}", "{{gt .score"));
    assert!(found[0].contains("`config.conditions[1].if`"), "{found:?}");
    let found = problems(&CONDITIONAL.replace("then: medium", "than: medium"));
    assert!(
        found[0].contains("`config.conditions[1].than`: unknown field `than`, expected `if` or `then`"),
        "{found:?}"
    );
    let found = problems(&CONDITIONAL.replace("{{gt .score 0.5}}", "{{bigger .score 0.5}}"));
    assert!(found[0].contains("function \"bigger\" not defined"), "{found:?}");
}

#[test]
fn an_unknown_type_names_the_closest_known_one() {
    let found = problems(&common::single("condtional", "      {}"));
    assert!(found[0].contains("unknown node type `condtional` (did you mean `conditional`?)"), "{found:?}");
    let found = problems(&common::single("frobnicate", "      {}"));
    assert!(found[0].contains("unknown node type `frobnicate`;"), "{found:?}");
}

#[tokio::test]
async fn errors_name_the_node_and_step() {
    let err = run_single("template", "      template: '{{.a.b}}'", json!({"a": "text"})).await.unwrap_err();
    let text = error_text(&err);
    assert!(text.starts_with("node `n` failed in exec:"), "{text}");
}

#[test]
fn every_field_problem_of_a_node_is_reported_at_once() {
    let found = problems(&common::single(
        "aggregate",
        "      mode: sideways\n      count: 0\n      timeout: soon\n      extra: 1",
    ));
    let fields: Vec<&str> = ["config.mode", "config.count", "config.timeout", "config.extra"]
        .into_iter()
        .filter(|f| found.iter().any(|p| p.contains(&format!("`{f}`"))))
        .collect();
    assert_eq!(fields.len(), 4, "one problem per bad field: {found:#?}");
}

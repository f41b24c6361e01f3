//! `parallel`: real node types as tasks, results in task order, the concurrency limit,
//! fail-fast and collect-all, timeouts (paused clock).

mod common;

use std::time::Duration;

use common::{error_text, problems, run, single};
use serde_json::json;
use tokio::time::Instant;

fn parallel(extra: &str) -> String {
    single(
        "parallel",
        &format!(
            "{extra}      tasks:
        - {{ name: slow, type: delay, config: {{ duration: 3s }} }}
        - {{ name: fast, type: delay, config: {{ duration: 1s }} }}
        - {{ name: double, type: transform, config: {{ jq: '.x * 2' }} }}
        - {{ name: fixed, type: template, config: {{ template: 'in: {{{{.}}}}' }}, input: 'for {{{{.x}}}}' }}"
        ),
    )
}

#[tokio::test(start_paused = true)]
async fn results_come_back_in_task_order_not_completion_order() {
    let started = Instant::now();
    let out = run(&parallel(""), json!({"x": 21})).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(3), "the tasks ran at the same time");
    let tasks: Vec<&str> = out["results"].as_array().unwrap().iter().map(|r| r["task"].as_str().unwrap()).collect();
    assert_eq!(tasks, ["slow", "fast", "double", "fixed"]);
    assert_eq!(out["results"][2]["result"], 42);
    assert_eq!(out["results"][3]["result"], "in: for 21");
    assert_eq!(out["errors"], json!([]));
    assert_eq!(out["summary"], json!({"total": 4, "successful": 4, "failed": 0}));
    assert_eq!(out["duration"], "3s");
}

#[tokio::test(start_paused = true)]
async fn max_concurrency_limits_the_tasks_running_at_once() {
    let started = Instant::now();
    run(&parallel("      max_concurrency: 1\n"), json!({"x": 1})).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(4), "one at a time: 3s + 1s");
    let started = Instant::now();
    run(&parallel("      max_concurrency: \"2\"\n"), json!({"x": 1})).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(3));
}

const FAILING: &str = "      tasks:
        - { name: boom, type: transform, config: { jq: 'error(\"no data\")' } }
        - { name: slow, type: delay, config: { duration: 10s } }
        - { name: ok, type: transform, config: { jq: '.x' } }";

#[tokio::test(start_paused = true)]
async fn without_fail_fast_every_task_runs_and_errors_are_listed() {
    let started = Instant::now();
    let out = run(&single("parallel", FAILING), json!({"x": 5})).await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(out["summary"], json!({"total": 3, "successful": 2, "failed": 1}));
    assert_eq!(out["errors"][0]["task"], "boom");
    assert!(out["errors"][0]["error"].as_str().unwrap().contains("no data"), "{out}");
    let tasks: Vec<&str> = out["results"].as_array().unwrap().iter().map(|r| r["task"].as_str().unwrap()).collect();
    assert_eq!(tasks, ["slow", "ok"]);
}

#[tokio::test(start_paused = true)]
async fn fail_fast_stops_at_the_first_failure_and_cancels_the_rest() {
    let started = Instant::now();
    let err =
        run(&single("parallel", &format!("      fail_fast: true\n{FAILING}")), json!({"x": 5})).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::ZERO, "the slow task was not waited for");
    let text = error_text(&err);
    assert!(text.contains("parallel (fail-fast): task `boom` failed") && text.contains("no data"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_timeout_bounds_all_tasks_together() {
    let err = run(&single("parallel", &format!("      timeout: 2s\n{FAILING}")), json!({"x": 5})).await.unwrap_err();
    assert!(error_text(&err).contains("did not finish within 2s"), "{}", error_text(&err));
}

#[test]
fn task_problems_name_the_task() {
    let found = problems(&single("parallel", "      tasks:\n        - { name: a, type: tranform }"));
    assert!(
        found[0].contains("`config.tasks[0].type`: unknown node type `tranform` (did you mean `transform`?)"),
        "{found:?}"
    );
    let found =
        problems(&single("parallel", "      tasks:\n        - { name: a, type: transform, config: { jq: '.[' } }"));
    assert!(found[0].contains("`config.tasks[0].config.jq`: jq expression does not parse"), "{found:?}");
    let found = problems(&single(
        "parallel",
        "      tasks:\n        - { name: a, type: echo }\n        - { name: a, type: echo }",
    ));
    assert!(found[0].contains("`config.tasks[1].name`: `a` is used twice"), "{found:?}");
    let found = problems(&single("parallel", "      tasks: []"));
    assert!(found[0].contains("needs at least one task"), "{found:?}");
    let found = problems(&single("parallel", "      tasks:\n        - { name: a }"));
    assert!(found[0].contains("needs a `type`"), "{found:?}");
}

#[tokio::test]
async fn tasks_run_on_scopes_of_the_run_store() {
    // An `aggregate` task keeps its partial state in the store: on the run's store, under the
    // parallel node's and the task's scope (not on a throwaway store).
    let yaml = single(
        "parallel",
        "      tasks:
        - { name: collect, type: aggregate, config: { count: 2 } }",
    );
    let graph = common::graph(&yaml).unwrap();
    let store = pocket::Store::new();
    graph.run(&store, json!({"x": 1})).await.unwrap();
    let keys = store.keys();
    assert!(keys.iter().any(|k| k.starts_with("n:item-0:")), "the task wrote the run's store: {keys:?}");
}

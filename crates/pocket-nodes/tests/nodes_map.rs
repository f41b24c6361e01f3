//! The `map` node type: a body over each item, in input order, under a bound (paused clock),
//! in batches, with tolerated failures; bad configs named at validate time.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{error_text, problems, run, single};
use pocket::{Ctx, Next, Node, NodeError, Store, StoreView};
use pocket_nodes::{BuildCx, BuildOptions, Built, Category, ConfigError, NodeKind, Registry, build_graph};
use serde_json::{Value, json};

thread_local! {
    /// How many probes run at once now, and the most that ever did, on this test's thread
    /// (each test runs on its own single-threaded runtime).
    static RUNNING: AtomicUsize = const { AtomicUsize::new(0) };
    static MOST: AtomicUsize = const { AtomicUsize::new(0) };
}

/// A node that sleeps the item's `ms` and gives its `id` (and writes it to the store under
/// `seen`), counting how many run at once.
struct Probe;

impl Node for Probe {
    type Input = Value;
    type Prep = Value;
    type Exec = Value;
    type Output = Value;
    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &Value) -> Result<Value, NodeError> {
        Ok(input.clone())
    }
    async fn exec(&self, _: &Ctx<'_>, input: &Value) -> Result<Value, NodeError> {
        let now = RUNNING.with(|r| r.fetch_add(1, Ordering::SeqCst)) + 1;
        MOST.with(|m| m.fetch_max(now, Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(input["ms"].as_u64().unwrap_or(0))).await;
        RUNNING.with(|r| r.fetch_sub(1, Ordering::SeqCst));
        Ok(input["id"].clone())
    }
    async fn post(
        &self,
        _: &Ctx<'_>,
        store: &Store,
        _: Value,
        _: Value,
        out: Value,
    ) -> Result<(Value, Next), NodeError> {
        store.set_value("seen", out.clone());
        Ok((out, Next::Default))
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct NoConfig {}

struct ProbeKind;

impl NodeKind for ProbeKind {
    const TYPE: &'static str = "probe";
    const CATEGORY: Category = Category::Other;
    const DESCRIPTION: &'static str = "Sleeps the item's `ms`, gives its `id`.";
    type Config = NoConfig;
    fn example() -> Value {
        json!({})
    }
    fn build(_: NoConfig, _: &BuildCx<'_>) -> Result<Built, ConfigError> {
        Ok(Built::new(Probe))
    }
}

/// A one-`map` workflow with `config`, whose body may be a `probe`.
fn with_probe(config: &str) -> pocket::Graph<Value, Value> {
    let mut registry = Registry::builtin();
    registry.register::<ProbeKind>();
    let workflow = pocket_yaml::parse_workflow(&single("map", config), "map.yaml").unwrap();
    build_graph(&workflow, &registry, BuildOptions::new(".".as_ref())).unwrap()
}

#[tokio::test(start_paused = true)]
async fn results_keep_input_order_and_the_bound_holds() {
    let graph = with_probe("      max_concurrency: 3\n      body: { type: probe }");
    // Later items finish first: the results still come in input order.
    let items: Vec<Value> = (0..10).map(|i| json!({"id": i, "ms": 100 - i * 10})).collect();
    let started = tokio::time::Instant::now();
    let out = graph.run(&Store::new(), Value::Array(items)).await.unwrap();
    assert_eq!(out["results"], json!([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    assert_eq!(out["stats"], json!({"total": 10, "succeeded": 10, "failed": 0}));
    assert_eq!(MOST.with(|m| m.load(Ordering::SeqCst)), 3, "at most 3 at once, and 3 were used");
    // Three at a time over 550 ms of sleeps: more than a third of it, less than all of it.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(190) && took < Duration::from_millis(550), "{took:?}");
}

#[tokio::test]
async fn items_come_from_a_jq_expression_over_the_input() {
    let yaml = single(
        "map",
        "      items: .tickets[]\n      body: { type: transform, config: { jq: '.text | ascii_upcase' } }",
    );
    let out = run(&yaml, json!({"tickets": [{"text": "a"}, {"text": "b"}]})).await.unwrap();
    assert_eq!(out["results"], json!(["A", "B"]));
    let err = run(&single("map", "      items: .n\n      body: { type: echo }"), json!({"n": 3})).await.unwrap_err();
    assert!(
        error_text(&err).contains("map: items: the expression gave the number 3, not a list"),
        "{}",
        error_text(&err)
    );
}

#[tokio::test]
async fn batches_give_the_body_lists_and_one_result_each() {
    let yaml = single("map", "      batch_size: 3\n      body: { type: transform, config: { jq: 'add' } }");
    let out = run(&yaml, json!([1, 2, 3, 4, 5, 6, 7])).await.unwrap();
    assert_eq!(out["results"], json!([6, 15, 7]));
    assert_eq!(out["stats"]["total"], 7);
}

const FAILING: &str = "body: { type: transform, config: { jq: 'if .bad then error(\"bad \\(.id)\") else .id end' } }";

fn items(bad: &[usize]) -> Value {
    Value::Array((0..10).map(|i| json!({"id": i, "bad": bad.contains(&i)})).collect())
}

#[tokio::test]
async fn fail_fast_names_the_item() {
    let err = run(&single("map", &format!("      {FAILING}")), items(&[4])).await.unwrap_err();
    assert!(error_text(&err).contains("map: item 4 failed"), "{}", error_text(&err));
    assert!(error_text(&err).contains("bad 4"), "{}", error_text(&err));
}

#[tokio::test]
async fn collect_puts_errors_in_place_and_skip_leaves_them_out() {
    let out = run(&single("map", &format!("      on_error: collect\n      {FAILING}")), items(&[1, 7])).await.unwrap();
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), 10);
    assert_eq!(results[0], json!(0));
    assert_eq!(results[1]["index"], 1);
    assert!(results[1]["error"].as_str().unwrap().contains("bad 1"), "{}", results[1]);
    assert_eq!(out["errors"].as_array().unwrap().len(), 2);
    assert_eq!(out["stats"], json!({"total": 10, "succeeded": 8, "failed": 2}));

    let out = run(&single("map", &format!("      on_error: skip\n      {FAILING}")), items(&[1, 7])).await.unwrap();
    assert_eq!(out["results"], json!([0, 2, 3, 4, 5, 6, 8, 9]));
    assert_eq!(out["errors"][1]["index"], 7);
}

#[tokio::test]
async fn failures_past_max_failures_fail_the_node() {
    // 10% of 10 items tolerates one failure: one passes, two fail the node.
    let config = |n: &str| format!("      on_error: skip\n      max_failures: {n}\n      {FAILING}");
    assert!(run(&single("map", &config("'10%'")), items(&[3])).await.is_ok());
    let err = run(&single("map", &config("'10%'")), items(&[3, 8])).await.unwrap_err();
    assert!(error_text(&err).contains("more than 1 of 10 items failed (`max_failures`)"), "{}", error_text(&err));
    let err = run(&single("map", &config("0")), items(&[5])).await.unwrap_err();
    assert!(error_text(&err).contains("the first: item 5 failed"), "{}", error_text(&err));
}

#[tokio::test]
async fn a_map_body_can_be_a_map() {
    let inner = "{ type: map, config: { body: { type: transform, config: { jq: '. * 10' } } } }";
    let out = run(&single("map", &format!("      body: {inner}")), json!([[1, 2], [3]])).await.unwrap();
    assert_eq!(out["results"][0]["results"], json!([10, 20]));
    assert_eq!(out["results"][1]["results"], json!([30]));
}

#[tokio::test(start_paused = true)]
async fn the_body_gets_node_level_retry_and_timeout() {
    let yaml = single("map", "      body: { type: delay, config: { duration: 2s }, timeout: 1s }");
    let err = run(&yaml, json!([1])).await.unwrap_err();
    assert!(error_text(&err).contains("map: item 0 failed"), "{}", error_text(&err));
    assert!(
        error_text(&err).to_lowercase().contains("timed out") || error_text(&err).contains("1s"),
        "{}",
        error_text(&err)
    );
}

#[test]
fn bad_configs_are_named_at_validate_time() {
    let found = problems(&single("map", "      max_concurrency: 0\n      body: { type: echo }")).join("\n");
    assert!(found.contains("config.max_concurrency") && found.contains("at least 1"), "{found}");
    let found = problems(&single("map", "      items: '.[[['\n      max_failures: 3\n      body: { type: transfrom }"));
    let all = found.join("\n");
    assert!(all.contains("config.items"), "{all}");
    assert!(all.contains("config.max_failures") && all.contains("needs `on_error: collect`"), "{all}");
    assert!(all.contains("config.body.type") && all.contains("did you mean `transform`"), "{all}");
    let found = problems(&single("map", "      body: { type: transform, config: { jq: 1, nope: 2 } }")).join("\n");
    assert!(found.contains("config.body.config.jq") || found.contains("config.body.config.nope"), "{found}");
    let found = problems(&single("map", "      max_failures: lots\n      on_error: skip\n      body: { type: echo }"))
        .join("\n");
    assert!(found.contains("expected a count or a percentage"), "{found}");
}

#[tokio::test]
async fn every_item_has_its_own_scope_of_the_store() {
    // Item i writes under `<map node>:item-<i>:`, so two maps (or two items) never share keys.
    let graph = with_probe("      body: { type: probe }");
    let store = Store::new();
    graph.run(&store, json!([{"id": "a"}, {"id": "b"}])).await.unwrap();
    assert_eq!(store.keys(), ["n:item-0:seen", "n:item-1:seen"]);
    assert_eq!(store.get_value("n:item-1:seen").unwrap(), Some(json!("b")));
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_limit_starts_at_min_and_grows_while_the_body_succeeds() {
    // (How it halves on push-back is the library layer's test, `layer_adaptive_limit`.) The
    // map still gives every result, and never more than `max` run at once.
    MOST.with(|m| m.store(0, Ordering::SeqCst));
    let graph = with_probe(
        "      max_concurrency: { min: 2, max: 6 }\n      body: { type: probe, retry: { max_attempts: 3, delay: 1ms } }",
    );
    let items: Vec<Value> = (0..40).map(|i| json!({"id": i, "ms": 10})).collect();
    let out = graph.run(&Store::new(), Value::Array(items)).await.unwrap();
    assert_eq!(out["results"], Value::Array((0..40).map(|i| json!(i)).collect()));
    let most = MOST.with(|m| m.load(Ordering::SeqCst));
    assert!((3..=6).contains(&most), "it grew from 2 and stayed at most 6: {most}");
}

#[test]
fn an_adaptive_limit_is_checked_at_validate_time() {
    for (config, expected) in [
        ("{ min: 8, max: 4 }", "`min` (8) is above `max` (4)"),
        ("{ min: 2 }", "`max` is missing"),
        ("{ min: 0, max: 4 }", "`min` must be a whole number"),
        ("{ min: 1, max: 4, step: 2 }", "unknown setting `step`"),
    ] {
        let found = problems(&single("map", &format!("      max_concurrency: {config}\n      body: {{ type: echo }}")));
        assert!(found.iter().any(|p| p.contains(expected)), "{config}: {found:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_pause_spaces_the_batches_starts() {
    // Three batches of two, 8 at once allowed, a second apart: the last starts at 2 s.
    let yaml = single(
        "map",
        "      batch_size: 2\n      pause: 1s\n      max_concurrency: 8\n      body: { type: transform, config: { jq: 'add' } }",
    );
    let started = tokio::time::Instant::now();
    let out = run(&yaml, json!([1, 2, 3, 4, 5, 6])).await.unwrap();
    assert_eq!(out["results"], json!([3, 7, 11]));
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2) && took < Duration::from_millis(2_100), "{took:?}");
    let found = problems(&single("map", "      pause: soon\n      body: { type: echo }"));
    assert!(found.iter().any(|p| p.contains("pause")), "{found:?}");
}

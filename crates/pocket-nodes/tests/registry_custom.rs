//! A node type from outside the crate: registered, validated like the built-in ones, layered
//! by node-level keys, and run from a workflow file.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use pocket::{Ctx, Next, Node, NodeError, Store, StoreView};
use pocket_nodes::{
    BuildCx, BuildOptions, Built, Category, ConfigError, NodeKind, Registry, SharedLimiters, build_graph,
};
use serde_json::{Value, json};

static CALLS: AtomicU32 = AtomicU32::new(0);

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct FlakyConfig {
    /// Fail this many calls first.
    fail_first: u32,
}

/// Fails its first `fail_first` calls (retryable), then echoes its input with a call count.
struct Flaky {
    fail_first: u32,
    calls: Arc<AtomicU32>,
}

impl Node for Flaky {
    type Input = Value;
    type Prep = Value;
    type Exec = Value;
    type Output = Value;

    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &Value) -> Result<Value, NodeError> {
        Ok(input.clone())
    }

    async fn exec(&self, _: &Ctx<'_>, input: &Value) -> Result<Value, NodeError> {
        CALLS.fetch_add(1, Ordering::SeqCst);
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.fail_first {
            return Err(NodeError::msg(format!("call {n} failed")));
        }
        Ok(json!({ "input": input, "call": n }))
    }

    async fn post(&self, _: &Ctx<'_>, _: &Store, _: Value, _: Value, out: Value) -> Result<(Value, Next), NodeError> {
        Ok((out, Next::Default))
    }
}

struct FlakyKind;

impl NodeKind for FlakyKind {
    const TYPE: &'static str = "flaky";
    const CATEGORY: Category = Category::Other;
    const DESCRIPTION: &'static str = "Fails its first calls, then answers.";
    type Config = FlakyConfig;

    fn example() -> Value {
        json!({ "fail_first": 1 })
    }

    fn build(config: FlakyConfig, _: &BuildCx<'_>) -> Result<Built, ConfigError> {
        if config.fail_first > 10 {
            return Err(ConfigError::field("fail_first", "at most 10"));
        }
        Ok(Built::new(Flaky { fail_first: config.fail_first, calls: Arc::default() }))
    }
}

fn registry() -> Registry {
    let mut registry = Registry::builtin();
    registry.register::<FlakyKind>();
    registry
}

fn graph(source: &str) -> Result<pocket::Graph<Value, Value>, pocket_nodes::WorkflowError> {
    let workflow = pocket_yaml::parse_workflow(source, "custom.yaml").expect("the file parses");
    build_graph(&workflow, &registry(), BuildOptions::new(".".as_ref()))
}

#[tokio::test(start_paused = true)]
async fn a_registered_type_runs_with_node_level_layers() {
    let graph = graph(
        "name: c\nstart: f\nnodes:\n  - name: f\n    type: flaky\n    config: { fail_first: 2 }\n    retry: { max_attempts: 3, delay: 1ms }\n    cache: { max_entries: 10 }\n",
    )
    .unwrap();
    let store = Store::new();
    let before = CALLS.load(Ordering::SeqCst);
    let out = graph.run(&store, json!({"q": 1})).await.unwrap();
    assert_eq!(out, json!({"input": {"q": 1}, "call": 2}), "two failures retried");
    let again = graph.run(&store, json!({"q": 1})).await.unwrap();
    assert_eq!(again, out, "the cache answers the same input");
    assert_eq!(CALLS.load(Ordering::SeqCst) - before, 3);
}

#[test]
fn a_registered_type_is_listed_and_validated_like_the_built_in_ones() {
    let registry = registry();
    let info = registry.info("flaky").expect("listed");
    assert_eq!((info.category, info.description), (Category::Other, FlakyKind::DESCRIPTION));
    let schema = registry.schema("flaky").unwrap();
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(registry.example("flaky"), Some(json!({"fail_first": 1})));
    assert_eq!(registry.closest("flakey"), Some("flaky"));

    let err = graph("name: c\nstart: f\nnodes:\n  - name: f\n    type: flaky\n    config: { fail_frist: 1 }\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("node `f`") && err.contains("unknown field `fail_frist`"), "{err}");
    let err = graph("name: c\nstart: f\nnodes:\n  - name: f\n    type: flaky\n    config: { fail_first: 11 }\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("config.fail_first") && err.contains("at most 10"), "{err}");
}

#[test]
fn an_empty_registry_knows_nothing_and_options_can_share_buckets() {
    let empty = Registry::new();
    assert!(empty.types().is_empty());
    let workflow =
        pocket_yaml::parse_workflow("name: c\nstart: e\nnodes:\n  - name: e\n    type: echo\n", "c.yaml").unwrap();
    let err = build_graph(&workflow, &empty, BuildOptions::new(".".as_ref())).unwrap_err().to_string();
    assert!(err.contains("unknown node type `echo`"), "{err}");
    // Shared on purpose: the options carry one set of buckets for several graphs.
    let shared = SharedLimiters::new();
    let options = BuildOptions::new(".".as_ref()).limiters(&shared);
    assert!(build_graph(&workflow, &Registry::builtin(), options).is_ok());
}

//! The `parallel` node type: a fixed list of tasks (node types), run on the library's fan-out
//! over scopes of the run's store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use pocket::node::{BoxExec as AnyExec, BoxPrep as AnyPrep, Compose, Composite, RunCx};
use pocket::{BoxNode, Ctx, FanOut, Next, Node, NodeError, Store, StoreView};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind, NodeSpec};
use crate::support::text::Text;
use crate::support::time::go_duration;

/// One task of a `parallel` node: a node type with its config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskConfig {
    /// The task's name (in the output).
    name: String,
    /// The node type to run (`node` is the docs' spelling).
    #[serde(default, rename = "type")]
    kind: Option<String>,
    /// The same as `type`.
    #[serde(default)]
    node: Option<String>,
    /// The original's spelling: `http_get` runs an `http` node; other names are node types.
    #[serde(default)]
    operation: Option<String>,
    /// The node's config.
    #[serde(default)]
    config: Map<String, Value>,
    /// The task's input (a string with `{{` is a template over the parallel node's input);
    /// default: the parallel node's input.
    #[serde(default)]
    input: Option<Value>,
}

/// `parallel` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ParallelConfig {
    /// The tasks, run concurrently; results come back in this order.
    tasks: Vec<TaskConfig>,
    /// At most this many tasks at once (default 10).
    #[serde(default, deserialize_with = "crate::support::de::opt_count")]
    #[schemars(with = "Option<u64>")]
    max_concurrency: Option<u64>,
    /// Stop at the first failure (the other tasks are cancelled) and fail the node; otherwise
    /// run every task and report failures in `errors` (default false, as in the original).
    #[serde(default)]
    fail_fast: bool,
    /// The most all the tasks together may take (a Go duration, default 5m).
    #[serde(default, deserialize_with = "crate::support::de::opt_duration")]
    #[schemars(with = "Option<String>")]
    timeout: Option<Duration>,
}

enum TaskInput {
    Same,
    Fixed(Value),
    Rendered(Text),
}

pub(crate) struct Parallel {
    name: String,
    tasks: Arc<Vec<(String, BoxNode<Value, Value>)>>,
    inputs: Vec<TaskInput>,
    limit: usize,
    fail_fast: bool,
    timeout: Duration,
}

impl NodeKind for Parallel {
    const TYPE: &'static str = "parallel";
    const CATEGORY: Category = Category::Flow;
    const DESCRIPTION: &'static str =
        "Runs tasks (each a node type with its config) concurrently; results in task order.";
    type Config = ParallelConfig;

    fn example() -> Value {
        json!({
            "max_concurrency": 2,
            "tasks": [
                {"name": "shout", "type": "transform", "config": {"jq": ".text | ascii_upcase"}},
                {"name": "count", "type": "transform", "config": {"jq": ".text | length"}}
            ]
        })
    }

    fn build(config: ParallelConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let spec = cx.spec();
        if config.tasks.is_empty() {
            return Err(ConfigError::field("tasks", "needs at least one task"));
        }
        let mut tasks = Vec::with_capacity(config.tasks.len());
        let mut inputs = Vec::with_capacity(config.tasks.len());
        let mut warnings = Vec::new();
        for (i, task) in config.tasks.into_iter().enumerate() {
            let field = format!("tasks[{i}]");
            if tasks.iter().any(|(name, _)| *name == task.name) {
                return Err(ConfigError::field(format!("{field}.name"), format!("`{}` is used twice", task.name)));
            }
            // The original's `operation:` tasks carry config keys it never read: warned about
            // and left out, so its files still load.
            let lenient = task.operation.is_some();
            let kind = match (task.kind, task.node, task.operation) {
                (Some(k), None, None) | (None, Some(k), None) => k,
                (None, None, Some(op)) => {
                    if op == "http_get" {
                        "http".into()
                    } else {
                        op
                    }
                }
                (None, None, None) => return Err(ConfigError::field(&field, "needs a `type` (the node type to run)")),
                _ => return Err(ConfigError::field(&field, "give one of `type`, `node` and `operation`")),
            };
            let mut task_config = task.config;
            if task_config.is_empty() && kind == "http" {
                // `http_get` tasks of the original carry only a URL.
                task_config.insert("method".into(), Value::String("GET".into()));
            }
            let name = format!("{}.{}", spec.name, task.name);
            let built = loop {
                let task_spec = NodeSpec { name: &name, config: &task_config, ..spec.clone() };
                match cx.build_child(&kind, &task_spec) {
                    None => return Err(ConfigError::field(format!("{field}.type"), cx.unknown_type(&kind))),
                    Some(Err(e)) => {
                        let unknown: Vec<String> = std::iter::once(&e)
                            .chain(&e.also)
                            .filter(|p| p.message.starts_with("unknown field"))
                            .filter_map(|p| p.field.clone())
                            .filter(|key| task_config.contains_key(key))
                            .collect();
                        if !lenient || unknown.is_empty() {
                            let inner =
                                e.field.map_or_else(|| format!("{field}.config"), |f| format!("{field}.config.{f}"));
                            return Err(ConfigError::field(inner, e.message));
                        }
                        for key in unknown {
                            task_config.remove(&key);
                            warnings.push(ConfigError::field(
                                format!("{field}.config.{key}"),
                                format!("is not a `{kind}` setting: ignored (as the original ignored it)"),
                            ));
                        }
                    }
                    // A task's own layers (an `http` task's retry, say) wrap it.
                    Some(Ok(built)) => break built,
                }
            };
            inputs.push(match task.input {
                None => TaskInput::Same,
                Some(Value::String(s)) if s.contains("{{") => {
                    TaskInput::Rendered(Text::new(spec.name, &format!("{field}.input"), &s)?)
                }
                Some(v) => TaskInput::Fixed(v),
            });
            tasks.push((task.name, crate::layers::own_layers(built)));
        }
        let built = Built::new(Composite(Parallel {
            name: spec.name.to_string(),
            tasks: Arc::new(tasks),
            inputs,
            limit: usize::try_from(config.max_concurrency.unwrap_or(10)).unwrap_or(usize::MAX),
            fail_fast: config.fail_fast,
            timeout: config.timeout.unwrap_or(Duration::from_secs(300)),
        }));
        Ok(warnings.into_iter().fold(built, Built::warn))
    }
}

/// Runs task `i` of the list: the fan-out's node, so every task gets the fan-out's limit,
/// cancellation and scoped store.
struct Dispatch {
    tasks: Arc<Vec<(String, BoxNode<Value, Value>)>>,
    node: String,
    done: Arc<AtomicUsize>,
}

impl Node for Dispatch {
    type Input = (usize, Value);
    type Prep = (usize, AnyPrep);
    type Exec = (usize, AnyExec);
    type Output = Value;

    async fn prep(
        &self,
        ctx: &Ctx<'_>,
        store: &StoreView,
        (i, input): &(usize, Value),
    ) -> Result<(usize, AnyPrep), NodeError> {
        Ok((*i, self.tasks[*i].1.prep(ctx, store, input).await?))
    }

    async fn exec(&self, ctx: &Ctx<'_>, (i, prep): &(usize, AnyPrep)) -> Result<(usize, AnyExec), NodeError> {
        Ok((*i, self.tasks[*i].1.exec(ctx, prep).await?))
    }

    async fn post(
        &self,
        ctx: &Ctx<'_>,
        store: &Store,
        (i, input): (usize, Value),
        (_, prep): (usize, AnyPrep),
        (_, exec): (usize, AnyExec),
    ) -> Result<(Value, Next), NodeError> {
        let out = self.tasks[i].1.post(ctx, store, input, prep, exec).await?;
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(target: "pocket::progress", node = %self.node, task = %self.tasks[i].0, done, total = self.tasks.len(), "task done");
        Ok(out)
    }
}

impl Parallel {
    fn inputs_for(&self, input: &Value) -> Result<Vec<(usize, Value)>, NodeError> {
        self.inputs
            .iter()
            .enumerate()
            .map(|(i, how)| {
                let value = match how {
                    TaskInput::Same => input.clone(),
                    TaskInput::Fixed(v) => v.clone(),
                    TaskInput::Rendered(t) => Value::String(t.render(input)?),
                };
                Ok((i, value))
            })
            .collect()
    }
}

/// The tasks run on the run's store: task `i` on the scope `<node>:item-<i>:` of it, under the
/// run's cancellation.
impl Compose for Parallel {
    type Input = Value;
    type Output = Value;

    async fn run(&self, cx: &RunCx<'_>, input: &Value) -> Result<Value, NodeError> {
        let result = self.run_tasks(cx, input).await;
        if result.is_err() && cx.token().is_cancelled() {
            return Err(NodeError::cancelled());
        }
        result
    }
}

impl Parallel {
    async fn run_tasks(&self, cx: &RunCx<'_>, input: &Value) -> Result<Value, NodeError> {
        let items = self.inputs_for(input)?;
        let dispatch = Dispatch { tasks: self.tasks.clone(), node: self.name.clone(), done: Arc::default() };
        let fan_out = FanOut::new(dispatch).name(self.name.clone()).limit(self.limit);
        let store = cx.store().scope(cx.node());
        let token = cx.token();
        let started = Instant::now();
        let total = self.tasks.len();
        let timed_out = |what: &str| {
            NodeError::retryable(format!("parallel: {what} did not finish within {}", go_duration(self.timeout)))
        };
        let task_name = |i: usize| self.tasks[i].0.clone();
        if self.fail_fast {
            let outputs = tokio::time::timeout(self.timeout, fan_out.run_with(&store, items, token))
                .await
                .map_err(|_| timed_out("the tasks"))?
                .map_err(|e| {
                    NodeError::fatal_msg(format!(
                        "parallel (fail-fast): task `{}` failed: {}",
                        task_name(e.index),
                        pocket::report(&e.error)
                    ))
                })?;
            let results: Vec<Value> =
                outputs.into_iter().enumerate().map(|(i, r)| json!({"task": task_name(i), "result": r})).collect();
            return Ok(json!({
                "results": results,
                "errors": [],
                "duration": go_duration(started.elapsed()),
                "summary": {"total": total, "successful": total, "failed": 0},
            }));
        }
        let all = tokio::time::timeout(self.timeout, fan_out.run_all_with(&store, items, token))
            .await
            .map_err(|_| timed_out("the tasks"))?;
        let mut results = Vec::new();
        let mut errors = Vec::new();
        for (i, result) in all.into_iter().enumerate() {
            match result {
                Ok(r) => results.push(json!({"task": task_name(i), "result": r})),
                Err(e) => errors.push(json!({"task": task_name(i), "error": pocket::report(&e.error)})),
            }
        }
        let (ok, failed) = (results.len(), errors.len());
        Ok(json!({
            "results": results,
            "errors": errors,
            "duration": go_duration(started.elapsed()),
            "summary": {"total": total, "successful": ok, "failed": failed},
        }))
    }
}

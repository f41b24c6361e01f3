//! The built-in node types and the one [`Node`] that runs them all.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use pocket::{Action, Ctx, Next, Node, NodeError, Store, StoreView};

use crate::kind::Built;
use crate::registry::Registry;
use serde_json::Value;

mod aggregate;
mod conditional;
mod delay;
mod echo;
mod exec;
mod file;
#[cfg(feature = "http")]
mod http;
pub(crate) mod input;
mod jsonpath;
#[cfg(feature = "http")]
mod llm;
#[cfg(feature = "lua")]
mod lua;
mod map;
mod parallel;
mod router;
mod template;
mod transform;
mod validate;
mod workflow;

/// A boxed future of a step's result.
pub(crate) type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<Value, NodeError>> + Send + 'a>>;

/// What a node type does, over JSON values. Prep and Post default to "pass the input in, hand
/// the result on along `next`"; nodes with state (aggregate) override them.
pub(crate) trait Behaviour: Send + Sync + 'static {
    /// Read what Exec needs (default: the input).
    fn prep(&self, store: &StoreView, input: &Value) -> Result<Value, NodeError> {
        let _ = store;
        Ok(input.clone())
    }

    /// The work (no store; may be retried).
    fn exec<'a>(&'a self, prep: &'a Value) -> StepFuture<'a>;

    /// Write the store and choose where to go (default: hand `exec` on along [`next`](Self::next)).
    fn post(&self, store: &Store, prep: Value, exec: Value) -> Result<(Value, Next), NodeError> {
        let _ = (store, prep);
        let next = self.next(&exec)?;
        Ok((exec, next))
    }

    /// Where to go after producing `output` (default: the `default` edge).
    fn next(&self, output: &Value) -> Result<Next, NodeError> {
        let _ = output;
        Ok(Next::Default)
    }

    /// The actions this node can take, when it knows them.
    fn actions(&self) -> Option<Vec<Action>> {
        None
    }

    /// Whether its templates see the recorded run as `.run` (`{id, node, step, key}`) in Exec:
    /// the node types that send requests with effects (`http`, `exec`), for idempotency keys,
    /// when their templates mention `.run` (otherwise `.` is the input, exactly).
    fn sees_run(&self) -> bool {
        false
    }
}

/// Whether a config's templates mention `.run` (`{{.run.key}}`, `{{ .run }}`).
pub(crate) fn mentions_run(config: &serde_json::Map<String, Value>) -> bool {
    fn strings(value: &Value, found: &mut bool) {
        match value {
            Value::String(s) => {
                *found |= s.contains("{{") && [".run.", ".run}", ".run ", ".run)"].iter().any(|m| s.contains(m));
            }
            Value::Array(items) => items.iter().for_each(|v| strings(v, found)),
            Value::Object(map) => map.values().for_each(|v| strings(v, found)),
            _ => {}
        }
    }
    let mut found = false;
    config.values().for_each(|v| strings(v, &mut found));
    found
}

/// `prep` with `run: {id, node, step, key}` added, when `prep` is an object without a `run`
/// of its own. In a recorded run, `key` (`<run>:<node>:<step>`) is the same for every attempt
/// of the step, in this process or a resumed one: an `Idempotency-Key`. Elsewhere (a run not
/// recorded, the items of a `map`) `id` is this process's and `key` is new for every call:
/// never a key two different requests share.
fn with_run(ctx: &Ctx<'_>, prep: &Value) -> Option<Value> {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PROCESS: OnceLock<String> = OnceLock::new();
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let object = prep.as_object().filter(|o| !o.contains_key("run"))?;
    let mut object = object.clone();
    let run = match ctx.journal() {
        Some(journal) => {
            let key = format!("{}:{}:{}", journal.run_id(), journal.node(), journal.step());
            serde_json::json!({"id": journal.run_id(), "node": journal.node(), "step": journal.step(), "key": key})
        }
        None => {
            let id = PROCESS.get_or_init(pocket::durable::new_run_id);
            let call = CALLS.fetch_add(1, Ordering::Relaxed);
            serde_json::json!({"id": id, "node": ctx.node(), "step": null, "key": format!("{id}:{}:call-{call}", ctx.node())})
        }
    };
    object.insert("run".into(), run);
    Some(Value::Object(object))
}

/// A ready result as a step future.
pub(crate) fn ready<'a>(result: Result<Value, NodeError>) -> StepFuture<'a> {
    Box::pin(std::future::ready(result))
}

/// A built-in node type's node: its [`Behaviour`] over JSON values.
pub(crate) fn built(behaviour: impl Behaviour) -> Built {
    Built::new(BehaviourNode(Arc::new(behaviour)))
}

/// The [`Node`] of a [`Behaviour`]: Input, Prep, Exec and Output are JSON values.
struct BehaviourNode(Arc<dyn Behaviour>);

impl Node for BehaviourNode {
    type Input = Value;
    type Prep = Value;
    type Exec = Value;
    type Output = Value;

    async fn prep(&self, _: &Ctx<'_>, store: &StoreView, input: &Value) -> Result<Value, NodeError> {
        self.0.prep(store, input)
    }

    async fn exec(&self, ctx: &Ctx<'_>, prep: &Value) -> Result<Value, NodeError> {
        if self.0.sees_run()
            && let Some(prep) = with_run(ctx, prep)
        {
            return self.0.exec(&prep).await;
        }
        self.0.exec(prep).await
    }

    async fn post(
        &self,
        _: &Ctx<'_>,
        store: &Store,
        _: Value,
        prep: Value,
        exec: Value,
    ) -> Result<(Value, Next), NodeError> {
        self.0.post(store, prep, exec)
    }

    fn actions(&self) -> Option<Vec<Action>> {
        self.0.actions()
    }
}

impl Registry {
    /// Pocket's built-in node types (the only list of them).
    pub fn builtin() -> Self {
        let mut registry = Registry::new();
        registry
            .register::<echo::Echo>()
            .register::<delay::Delay>()
            .register::<input::Input>()
            .register::<router::Router>()
            .register::<conditional::Conditional>()
            .register::<transform::Transform>()
            .register::<template::TemplateNode>()
            .register::<jsonpath::JsonPathNode>()
            .register::<validate::Validate>()
            .register::<aggregate::Aggregate>()
            .register::<file::FileNode>()
            .register::<exec::Exec>()
            .register::<parallel::Parallel>()
            .register::<map::MapNode>()
            .register::<workflow::WorkflowNode>();
        #[cfg(feature = "http")]
        registry.register::<http::Http>().register::<llm::Llm>();
        #[cfg(feature = "lua")]
        registry.register::<lua::LuaNode>();
        registry
    }
}

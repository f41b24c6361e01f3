//! The `workflow` node type: another workflow — a file, or one written inline — run as one
//! node, on a scope of the run's store, under the run's cancellation.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use pocket::node::{Compose, Composite, RunCx};
use pocket::{Graph, NodeError, RunError, RunOptions};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::support::sandbox::Sandbox;

/// Workflow files may include each other this deep at most.
const MAX_DEPTH: usize = 16;

/// At most this many sub-workflows are built for one top-level build (a file included twice
/// at every level would otherwise double the work with each level).
const MAX_BUILDS: usize = 1_000;

/// `workflow` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WorkflowConfig {
    /// The workflow file to run (relative to this workflow's directory, never outside it). Its
    /// nodes' relative paths are relative to its own directory.
    #[serde(default)]
    file: Option<String>,
    /// Or the workflow itself, written here: `start`, `nodes`, `connections` (and optionally
    /// `name`, `limits`), as in a file.
    #[serde(default)]
    workflow: Option<Map<String, Value>>,
}

/// A failed sub-workflow: which one, and the inner run's error.
#[derive(Debug, thiserror::Error)]
#[error("workflow {origin} failed")]
pub(crate) struct SubWorkflowFailed {
    origin: String,
    #[source]
    error: RunError,
}

pub(crate) struct WorkflowNode {
    origin: String,
    graph: Graph<Value, Value>,
}

thread_local! {
    /// The files being built on this thread, outermost first (builds are synchronous and
    /// nest on one thread), and the sub-workflows built under the outermost one.
    static BUILDING: RefCell<(Vec<PathBuf>, usize)> = const { RefCell::new((Vec::new(), 0)) };
}

/// Marks `path` as being built until dropped.
struct Building;

impl Building {
    fn enter(path: PathBuf, shown: &str) -> Result<Building, String> {
        BUILDING.with(|b| {
            let mut b = b.borrow_mut();
            let (stack, count) = &mut *b;
            if stack.is_empty() {
                *count = 0;
            }
            if let Some(at) = stack.iter().position(|p| *p == path) {
                let chain: Vec<String> = stack[at..].iter().map(|p| p.display().to_string()).collect();
                return Err(format!("workflow files include each other: {} -> {shown}", chain.join(" -> ")));
            }
            if stack.len() >= MAX_DEPTH {
                return Err(format!("workflow files nest deeper than {MAX_DEPTH} levels"));
            }
            *count += 1;
            if *count > MAX_BUILDS {
                return Err(format!("more than {MAX_BUILDS} sub-workflows in one workflow"));
            }
            stack.push(path);
            Ok(Building)
        })
    }
}

impl Drop for Building {
    fn drop(&mut self) {
        BUILDING.with(|b| {
            b.borrow_mut().0.pop();
        });
    }
}

impl NodeKind for WorkflowNode {
    const TYPE: &'static str = "workflow";
    const CATEGORY: Category = Category::Flow;
    const DESCRIPTION: &'static str =
        "Runs another workflow (a file, or one written inline) as one node; its output is the node's output.";
    type Config = WorkflowConfig;

    fn example() -> Value {
        // (`{"file": "summarise-one.yaml"}` runs a file; the example must build anywhere.)
        json!({"workflow": {
            "start": "words",
            "nodes": [
                {"name": "words", "type": "transform", "config": {"jq": "{id, words: (.text | split(\" \") | length)}"}}
            ]
        }})
    }

    fn build(config: WorkflowConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let spec = cx.spec();
        let (field, source, origin, base, key) = match (config.file, config.workflow) {
            (Some(_), Some(_)) => return Err(ConfigError::whole("give `file` or `workflow`, not both")),
            (None, None) => return Err(ConfigError::whole("either `file` or `workflow` is required")),
            (Some(file), None) => {
                let sandbox =
                    Sandbox::open(spec.base_dir).map_err(|e| ConfigError::field("file", pocket::report(&e)))?;
                let relative =
                    sandbox.relative(&file, false).map_err(|e| ConfigError::field("file", pocket::report(&e)))?;
                let text = sandbox.dir.read_to_string(&relative).map_err(|e| {
                    ConfigError::field("file", pocket::report(&sandbox.error("cannot read", &relative, &e)))
                })?;
                let path = sandbox.shown.join(&relative);
                let base = path.parent().map_or_else(|| spec.base_dir.to_path_buf(), Path::to_path_buf);
                ("file", text, file, base, path)
            }
            (None, Some(inline)) => {
                let mut inline = inline;
                inline.entry("name").or_insert_with(|| Value::from(format!("{}.workflow", spec.name)));
                let text =
                    serde_json::to_string(&Value::Object(inline)).map_err(|e| ConfigError::field("workflow", e))?;
                // An inline workflow is its node's: cycles are through files only.
                let key = spec.base_dir.join(format!("<{} inline>", spec.name));
                ("workflow", text, format!("{}.workflow", spec.name), spec.base_dir.to_path_buf(), key)
            }
        };
        let _building = Building::enter(key, &origin).map_err(|e| ConfigError::field(field, e))?;
        let env = |name: &str| std::env::var(name).ok();
        let workflow = match pocket_yaml::parse_workflow_with_env(&source, &origin, &env) {
            Ok(workflow) => workflow,
            Err(pocket_yaml::LoadError::Invalid { problems, .. }) => {
                return Err(problems_at(field, &origin, &problems));
            }
            Err(e) => return Err(ConfigError::field(field, e.to_string())),
        };
        let options = cx.build_options(&base);
        let graph = crate::build_graph(&workflow, cx.registry(), options)
            .map_err(|e| problems_at(field, &origin, &e.problems))?;
        Ok(Built::new(Composite(WorkflowNode { origin, graph })))
    }
}

/// The problems of a sub-workflow as the calling node's, each naming its place in the file.
fn problems_at(field: &str, origin: &str, problems: &[pocket_yaml::Problem]) -> ConfigError {
    let mut all: Vec<ConfigError> =
        problems.iter().map(|p| ConfigError::field(field, format!("{origin}: {p}"))).collect();
    if all.is_empty() {
        return ConfigError::field(field, format!("{origin} is invalid"));
    }
    let mut first = all.remove(0);
    first.also = all;
    first
}

/// The sub-workflow runs on the scope `<node>:` of the run's store.
impl Compose for WorkflowNode {
    type Input = Value;
    type Output = Value;

    async fn run(&self, cx: &RunCx<'_>, input: &Value) -> Result<Value, NodeError> {
        let store = cx.store().scope(cx.node());
        let options = RunOptions::new().token(cx.token().clone());
        match self.graph.run_with(&store, input.clone(), options).await {
            Ok(out) => Ok(out),
            Err(_) if cx.token().is_cancelled() => Err(NodeError::cancelled()),
            Err(error) => Err(NodeError::new(error.kind(), SubWorkflowFailed { origin: self.origin.clone(), error })),
        }
    }
}

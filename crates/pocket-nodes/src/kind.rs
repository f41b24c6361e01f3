//! The extension point for node types: a [`NodeKind`] is a `type:` of a workflow file — a
//! typed config (its JSON Schema generated from the same type), a description, an example and a
//! builder. [`Registry::register`](crate::Registry::register) adds one; nothing here knows any
//! built-in node type.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pocket::layer::rate_limit::RateLimiter;
use pocket::layer::retry::RetryPolicy;
use pocket::{BoxNode, Node};

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::limits::{NamedLimit, SharedLimiters};
use crate::registry::Registry;

/// A node's config that cannot be used: the field (a path such as `conditions[1].if`, when the
/// problem has one) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", field.as_ref().map(|f| format!("config field `{f}`: ")).unwrap_or_default())]
pub struct ConfigError {
    /// The config field, if the problem is in one.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// Further problems of the same config, found alongside (every field of a node is
    /// checked, not only the first that fails).
    pub also: Vec<ConfigError>,
}

impl ConfigError {
    /// A problem in the config field `field` (a path such as `routes.high`).
    pub fn field(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        ConfigError { field: Some(field.into()), message: message.to_string(), also: Vec::new() }
    }

    /// A problem with the config as a whole.
    pub fn whole(message: impl std::fmt::Display) -> Self {
        ConfigError { field: None, message: message.to_string(), also: Vec::new() }
    }
}

/// What a node type's builder gets: the node's name, its config and the directory relative
/// paths in the config are resolved against (the workflow file's).
#[derive(Debug, Clone)]
pub struct NodeSpec<'a> {
    /// The node's name.
    pub name: &'a str,
    /// The node's `config:` mapping.
    pub config: &'a Map<String, Value>,
    /// Where relative paths (template files, schema files, `file` nodes' base) are resolved.
    pub base_dir: &'a Path,
    /// Programs the run allows `exec` nodes to start (`pocket run --allow-exec`); a node's own
    /// `allowed_commands` can only narrow the list.
    pub allow_exec: &'a [String],
}

impl NodeSpec<'_> {
    /// `path` resolved against the base directory.
    pub fn resolve(&self, path: &str) -> PathBuf {
        self.base_dir.join(path)
    }

    /// The text of the file a config `field` names (relative to the base directory).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] on `field` when the file cannot be read.
    pub fn read(&self, field: &str, path: &str) -> Result<String, ConfigError> {
        let path = self.resolve(path);
        std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::field(field, format!("cannot read {}: {e}", path.display())))
    }

    /// Exactly one of an inline text and a file holding it: the field it came from, and the text.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when both or neither are given, or the file cannot be read.
    pub fn inline_or_file(
        &self,
        (inline_field, inline): (&'static str, Option<String>),
        (file_field, file): (&'static str, Option<String>),
    ) -> Result<(&'static str, String), ConfigError> {
        match (inline, file) {
            (Some(text), None) => Ok((inline_field, text)),
            (None, Some(path)) => Ok((file_field, self.read(file_field, &path)?)),
            (Some(_), Some(_)) => {
                Err(ConfigError::whole(format!("give either `{inline_field}` or `{file_field}`, not both")))
            }
            (None, None) => Err(ConfigError::whole(format!("either `{inline_field}` or `{file_field}` is required"))),
        }
    }
}

/// A node type's category, as in the original's `pocket nodes` listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Category {
    /// echo, delay, router, conditional.
    Core,
    /// transform, template, jsonpath, validate, aggregate.
    Data,
    /// file, exec, http.
    Io,
    /// parallel.
    Flow,
    /// lua.
    Script,
    /// Node types registered by an application.
    Other,
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Category::Core => "core",
            Category::Data => "data",
            Category::Io => "io",
            Category::Flow => "flow",
            Category::Script => "script",
            Category::Other => "other",
        })
    }
}

/// A node type as the registry describes it (`pocket nodes`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeInfo {
    /// The `type:` that selects it.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Its category.
    pub category: Category,
    /// What it does.
    pub description: &'static str,
}

/// A node type of workflow files.
///
/// # Examples
///
/// A `shout` node type, registered from outside the crate and used by a workflow file:
///
/// ```
/// use pocket::{Ctx, Next, Node, NodeError, Store, StoreView};
/// use pocket_nodes::{BuildCx, BuildOptions, Built, Category, ConfigError, NodeKind, Registry, build_graph};
/// use serde_json::{json, Value};
///
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// #[serde(deny_unknown_fields)]
/// struct ShoutConfig {
///     /// How many exclamation marks.
///     #[serde(default)]
///     marks: usize,
/// }
///
/// struct Shout(usize);
///
/// impl Node for Shout {
///     type Input = Value;
///     type Prep = Value;
///     type Exec = Value;
///     type Output = Value;
///     async fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &Value) -> Result<Value, NodeError> {
///         Ok(input.clone())
///     }
///     async fn exec(&self, _: &Ctx<'_>, input: &Value) -> Result<Value, NodeError> {
///         let text = input["text"].as_str().unwrap_or_default().to_uppercase();
///         Ok(json!(format!("{text}{}", "!".repeat(self.0))))
///     }
///     async fn post(&self, _: &Ctx<'_>, _: &Store, _: Value, _: Value, out: Value) -> Result<(Value, Next), NodeError> {
///         Ok((out, Next::Default))
///     }
/// }
///
/// struct ShoutKind;
///
/// impl NodeKind for ShoutKind {
///     const TYPE: &'static str = "shout";
///     const CATEGORY: Category = Category::Other;
///     const DESCRIPTION: &'static str = "Upper-cases the input's `text`.";
///     type Config = ShoutConfig;
///     fn example() -> Value {
///         json!({"marks": 2})
///     }
///     fn build(config: ShoutConfig, _: &BuildCx<'_>) -> Result<Built, ConfigError> {
///         Ok(Built::new(Shout(config.marks)))
///     }
/// }
///
/// let mut registry = Registry::builtin();
/// registry.register::<ShoutKind>();
/// let source = "name: loud\nstart: s\nnodes:\n  - name: s\n    type: shout\n    config: { marks: 3 }\n";
/// let workflow = pocket_yaml::parse_workflow(source, "loud.yaml").unwrap();
/// let graph = build_graph(&workflow, &registry, BuildOptions::new(".".as_ref())).unwrap();
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let out = graph.run(&Store::new(), json!({"text": "hi"})).await.unwrap();
/// assert_eq!(out, json!("HI!!!"));
/// # });
/// ```
pub trait NodeKind: 'static {
    /// The `type:` that selects it.
    const TYPE: &'static str;
    /// Its category in `pocket nodes`.
    const CATEGORY: Category;
    /// What it does (one or two sentences).
    const DESCRIPTION: &'static str;
    /// The config; use `#[serde(deny_unknown_fields)]` so a typo is an error.
    type Config: DeserializeOwned + JsonSchema;
    /// An example `config:` (YAML-shaped JSON), checked against the schema by the tests.
    fn example() -> Value;
    /// Build the node from its parsed config.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the field that cannot be used.
    fn build(config: Self::Config, cx: &BuildCx<'_>) -> Result<Built, ConfigError>;
}

/// A node of a workflow file: every step's value is JSON, so every layer (a rate limit priced
/// from the Prep result, a cache keyed by it) applies, and every value can be written down.
pub type StepNode = BoxNode<Value, Value, Value, Value>;

/// What a builder returns: the node, plus the edges its config declares (router `routes`),
/// the retry policy its config asks for (`http`'s `retry`; a node-level `retry` replaces it)
/// and the shared token bucket it spends (`llm`'s `rate_limit`).
pub struct Built {
    pub(crate) node: Arc<StepNode>,
    pub(crate) edges: Vec<(String, String)>,
    pub(crate) retry: Option<RetryPolicy>,
    pub(crate) limiter: Option<Limiter>,
    /// The named limits it runs under (its config's `limit:`; a `map` adds its own to its
    /// body's).
    pub(crate) limits: Vec<NamedLimit>,
    /// The adaptive concurrency limit each attempt is held to (a `map` with
    /// `max_concurrency: {min, max}` puts it on its body).
    pub(crate) adaptive: Option<pocket::layer::adaptive_limit::AdaptiveLimit>,
    /// Whether its Exec result is saved before Post in durable runs (the calls that cost or
    /// have effects: `llm`, `http`, `exec`).
    pub(crate) memo: bool,
    pub(crate) warnings: Vec<ConfigError>,
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built").field("node", &self.node).field("edges", &self.edges).finish_non_exhaustive()
    }
}

impl Built {
    /// A built node.
    pub fn new(node: impl Node<Input = Value, Prep = Value, Exec = Value, Output = Value>) -> Self {
        Built {
            node: Arc::new(BoxNode::typed(node)),
            edges: Vec::new(),
            retry: None,
            limiter: None,
            limits: Vec::new(),
            adaptive: None,
            memo: false,
            warnings: Vec::new(),
        }
    }

    /// A warning about its config (a key it ignores, say): loading goes on, and `pocket
    /// validate --strict` fails.
    #[must_use]
    pub fn warn(mut self, warning: ConfigError) -> Self {
        self.warnings.push(warning);
        self
    }

    /// An edge its config declares: taking `action` goes to the node `to` (an explicit
    /// connection of the same action wins).
    #[must_use]
    pub fn edge(mut self, action: impl Into<String>, to: impl Into<String>) -> Self {
        self.edges.push((action.into(), to.into()));
        self
    }

    /// The retry policy its config asks for (a node-level `retry:` replaces it).
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Each Exec waits for `cost(prep)` tokens of `limiter` (inside the node-level timeout and
    /// retry, outside the cache).
    #[must_use]
    pub fn rate_limit(mut self, limiter: RateLimiter, cost: fn(&Value) -> u32) -> Self {
        self.limiter = Some((limiter, cost));
        self
    }
}

/// A shared token bucket and the cost of one call (from the Prep result).
pub(crate) type Limiter = (RateLimiter, fn(&Value) -> u32);

/// What a builder can use besides its config: the node's [`NodeSpec`], the registry (to build
/// the nodes a composite node runs) and the run's shared token buckets.
#[derive(Debug, Clone, Copy)]
pub struct BuildCx<'a> {
    spec: &'a NodeSpec<'a>,
    registry: &'a Registry,
    limiters: &'a SharedLimiters,
}

impl<'a> BuildCx<'a> {
    pub(crate) fn new(spec: &'a NodeSpec<'a>, registry: &'a Registry, limiters: &'a SharedLimiters) -> Self {
        BuildCx { spec, registry, limiters }
    }

    /// The node's name, config, base directory and permissions.
    pub fn spec(&self) -> &'a NodeSpec<'a> {
        self.spec
    }

    /// The node's name.
    pub fn name(&self) -> &'a str {
        self.spec.name
    }

    /// Build a node of type `kind` from `spec` (the tasks of a `parallel` node, say), with the
    /// layers its own config asks for. `None`: no such type.
    pub fn build_child(&self, kind: &str, spec: &NodeSpec<'_>) -> Option<Result<Built, ConfigError>> {
        self.registry.build(kind, spec, self.limiters)
    }

    /// The message for a `type:` nobody registered, with the closest known one.
    pub fn unknown_type(&self, kind: &str) -> String {
        self.registry.unknown_type(kind)
    }

    /// The token bucket of `endpoint` for this run, created at `per_second` (bursts of
    /// `burst`) by the first node that names it; later nodes must ask for the same rate.
    ///
    /// # Errors
    ///
    /// A message when another node asked for a different rate, or the rate is unusable.
    pub fn shared_limiter(&self, endpoint: &str, per_second: f64, burst: u32) -> Result<RateLimiter, String> {
        self.limiters.get(endpoint, per_second, burst)
    }

    /// The registry the node is built from (for nodes that build other workflows).
    pub(crate) fn registry(&self) -> &'a Registry {
        self.registry
    }

    /// Options to build another workflow with, whose files are relative to `base_dir`: the
    /// same permissions and the same run-wide limits as this node's.
    pub(crate) fn build_options<'b>(&'b self, base_dir: &'b Path) -> crate::BuildOptions<'b> {
        let mut options = crate::BuildOptions::new(base_dir).allow_exec(self.spec.allow_exec);
        options.limiters = Some(self.limiters);
        options
    }

    /// The workflow's named limit `name` (its `limits:`), shared by every node that names it.
    pub(crate) fn named_limit(&self, name: &str) -> Result<NamedLimit, String> {
        self.limiters.named(name)
    }
}

/// Parse a node's config into its typed form; errors name the field.
pub(crate) fn parse_config<C: DeserializeOwned>(config: &Map<String, Value>) -> Result<C, ConfigError> {
    parse_once::<C>(config.clone()).map_err(|first| {
        // Serde stops at the first problem: set the offending field aside and parse again, so
        // that every field's problem is reported in one run (a field set aside is not then
        // reported missing).
        let mut rest = config.clone();
        let mut set_aside = Vec::new();
        let mut also = Vec::new();
        let mut current = first.clone();
        for _ in 0..rest.len() {
            let Some(key) = current.field.as_deref().and_then(|f| f.split(['.', '[']).next()).map(str::to_string)
            else {
                break;
            };
            if rest.remove(&key).is_none() {
                break;
            }
            set_aside.push(key);
            match parse_once::<C>(rest.clone()) {
                Ok(_) => break,
                Err(next) if set_aside.iter().any(|k| next.message.starts_with(&format!("missing field `{k}`"))) => {
                    break;
                }
                Err(next) => {
                    also.push(next.clone());
                    current = next;
                }
            }
        }
        ConfigError { also, ..first }
    })
}

fn parse_once<C: DeserializeOwned>(config: Map<String, Value>) -> Result<C, ConfigError> {
    serde_path_to_error::deserialize::<_, C>(Value::Object(config)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        if path == "." || path.is_empty() { ConfigError::whole(message) } else { ConfigError::field(path, message) }
    })
}

//! The node registry: each node type's typed config, its JSON Schema (generated from the same
//! type, so the two cannot drift), its docs and its builder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::nodes::{self, Behaviour, ValueNode};

/// A node's config that cannot be used: the field (a path such as `conditions[1].if`, when the
/// problem has one) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", field.as_ref().map(|f| format!("config field `{f}`: ")).unwrap_or_default())]
pub struct ConfigError {
    /// The config field, if the problem is in one.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    pub(crate) fn field(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        ConfigError { field: Some(field.into()), message: message.to_string() }
    }

    pub(crate) fn whole(message: impl std::fmt::Display) -> Self {
        ConfigError { field: None, message: message.to_string() }
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
    /// Programs the run allows `exec` nodes to start (`pocket run --allow-exec`), besides
    /// each node's own `allowed_commands`.
    pub allow_exec: &'a [String],
}

impl NodeSpec<'_> {
    /// `path` resolved against the base directory.
    pub(crate) fn resolve(&self, path: &str) -> PathBuf {
        self.base_dir.join(path)
    }

    /// The text of the file a config `field` names (relative to the base directory).
    pub(crate) fn read(&self, field: &str, path: &str) -> Result<String, ConfigError> {
        let path = self.resolve(path);
        std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::field(field, format!("cannot read {}: {e}", path.display())))
    }

    /// Exactly one of an inline text and a file holding it: the field it came from, and the text.
    pub(crate) fn inline_or_file(
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
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Category::Core => "core",
            Category::Data => "data",
            Category::Io => "io",
            Category::Flow => "flow",
            Category::Script => "script",
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

/// A node type: its typed config and how to build it.
pub(crate) trait NodeKind {
    const TYPE: &'static str;
    const CATEGORY: Category;
    const DESCRIPTION: &'static str;
    /// The config; `#[serde(deny_unknown_fields)]` so a typo is an error, with the documented
    /// aliases the original's users write.
    type Config: DeserializeOwned + JsonSchema;
    /// An example `config:` (YAML-shaped JSON).
    fn example() -> Value;
    fn build(config: Self::Config, spec: &NodeSpec<'_>, registry: &Registry) -> Result<Built, ConfigError>;
}

/// What a builder returns: the behaviour, plus edges its config declares (router `routes`)
/// and the retry policy its config asks for (`http`'s `retry`), applied by the retry layer
/// unless the node sets a node-level `retry`.
pub(crate) struct Built {
    pub(crate) behaviour: Arc<dyn Behaviour>,
    pub(crate) edges: Vec<(String, String)>,
    pub(crate) retry: Option<pocket::layer::retry::RetryPolicy>,
    pub(crate) limiter: Option<Limiter>,
}

/// A shared token bucket and the cost of one call (from the Prep result).
pub(crate) type Limiter = (pocket::layer::rate_limit::RateLimiter, fn(&Value) -> u32);

impl Built {
    pub(crate) fn new(behaviour: impl Behaviour) -> Self {
        Built { behaviour: Arc::new(behaviour), edges: Vec::new(), retry: None, limiter: None }
    }
}

/// A built node with what its config declares besides.
pub(crate) struct BuiltNode {
    pub(crate) node: ValueNode,
    pub(crate) edges: ConfigEdges,
    pub(crate) retry: Option<pocket::layer::retry::RetryPolicy>,
    pub(crate) limiter: Option<Limiter>,
}

impl BuiltNode {
    /// The node with the layers its own config asks for (rate limit, retry), through the same
    /// table of layer kinds as node-level keys.
    pub(crate) fn with_own_layers(self) -> pocket::BoxNode<Value, Value> {
        let cx = crate::layers::LayerCx {
            def: None,
            limiter: self.limiter.as_ref(),
            own_retry: self.retry.as_ref(),
            breaker: None,
            cache: None,
            fallback: None,
        };
        crate::layers::apply(self.node, "", &cx)
    }
}

/// Edges a node's config declares: (action, target node).
pub(crate) type ConfigEdges = Vec<(String, String)>;

type BuildFn = fn(&NodeSpec<'_>, &Registry) -> Result<Built, ConfigError>;

struct Entry {
    info: NodeInfo,
    schema: fn() -> Value,
    example: fn() -> Value,
    build: BuildFn,
}

/// Parse a node's config into its typed form; errors name the field.
pub(crate) fn parse_config<C: DeserializeOwned>(config: &Map<String, Value>) -> Result<C, ConfigError> {
    let value = Value::Object(config.clone());
    serde_path_to_error::deserialize::<_, C>(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        if path == "." || path.is_empty() { ConfigError::whole(message) } else { ConfigError::field(path, message) }
    })
}

fn build_kind<K: NodeKind>(spec: &NodeSpec<'_>, registry: &Registry) -> Result<Built, ConfigError> {
    K::build(parse_config::<K::Config>(spec.config)?, spec, registry)
}

fn schema_of<K: NodeKind>() -> Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(K::Config)).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut schema {
        map.insert("title".into(), Value::String(format!("{} node config", K::TYPE)));
        map.insert("description".into(), Value::String(K::DESCRIPTION.into()));
    }
    schema
}

/// The node types a workflow can use, by `type:` name.
///
/// ```
/// use pocket_nodes::Registry;
///
/// let registry = Registry::builtin();
/// assert!(registry.info("conditional").is_some());
/// // The JSON Schema comes from the same type that parses the config.
/// let schema = registry.schema("echo").unwrap();
/// assert_eq!(schema["additionalProperties"], false);
/// assert_eq!(registry.closest("tempalte"), Some("template"));
/// ```
pub struct Registry {
    entries: BTreeMap<&'static str, Entry>,
    /// Token buckets shared by the nodes that name the same endpoint (`llm` `rate_limit`).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    limiters: std::sync::Mutex<std::collections::HashMap<String, (f64, pocket::layer::rate_limit::RateLimiter)>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.keys()).finish()
    }
}

impl Registry {
    /// The built-in node types of this crate.
    pub fn builtin() -> Self {
        let mut registry = Registry { entries: BTreeMap::new(), limiters: std::sync::Mutex::default() };
        registry.add::<nodes::core::Echo>();
        registry.add::<nodes::core::Delay>();
        registry.add::<nodes::core::Router>();
        registry.add::<nodes::core::Conditional>();
        registry.add::<nodes::data::Transform>();
        registry.add::<nodes::data::TemplateNode>();
        registry.add::<nodes::data::JsonPathNode>();
        registry.add::<nodes::data::Validate>();
        registry.add::<nodes::data::Aggregate>();
        registry.add::<nodes::io::FileNode>();
        registry.add::<nodes::io::Exec>();
        #[cfg(feature = "http")]
        registry.add::<nodes::http::Http>();
        #[cfg(feature = "http")]
        registry.add::<nodes::llm::Llm>();
        registry.add::<nodes::flow::Parallel>();
        #[cfg(feature = "lua")]
        registry.add::<nodes::lua::LuaNode>();
        registry
    }

    fn add<K: NodeKind>(&mut self) {
        let info = NodeInfo { kind: K::TYPE, category: K::CATEGORY, description: K::DESCRIPTION };
        self.entries
            .insert(K::TYPE, Entry { info, schema: schema_of::<K>, example: K::example, build: build_kind::<K> });
    }

    /// Every node type, sorted by category then name.
    pub fn types(&self) -> Vec<&NodeInfo> {
        let mut all: Vec<&NodeInfo> = self.entries.values().map(|e| &e.info).collect();
        all.sort_by_key(|info| (info.category, info.kind));
        all
    }

    /// One node type's description.
    pub fn info(&self, kind: &str) -> Option<&NodeInfo> {
        self.entries.get(kind).map(|e| &e.info)
    }

    /// The JSON Schema of a node type's config.
    pub fn schema(&self, kind: &str) -> Option<Value> {
        self.entries.get(kind).map(|e| (e.schema)())
    }

    /// An example config of a node type.
    pub fn example(&self, kind: &str) -> Option<Value> {
        self.entries.get(kind).map(|e| (e.example)())
    }

    /// The known type closest to a misspelt one, if any is close.
    pub fn closest(&self, kind: &str) -> Option<&'static str> {
        pocket_yaml::closest(kind, self.entries.keys().copied())
    }

    /// The message for a `type:` nobody registered, with the closest known one.
    pub fn unknown_type(&self, kind: &str) -> String {
        format!(
            "unknown node type `{kind}`{}; `pocket nodes` lists the known types",
            pocket_yaml::did_you_mean(kind, self.entries.keys().copied())
        )
    }

    /// The token bucket of `endpoint`, created at `per_second` (bursts of `burst`) by the first
    /// node that names it; later nodes must ask for the same rate.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn shared_limiter(
        &self,
        endpoint: &str,
        per_second: f64,
        burst: u32,
    ) -> Result<pocket::layer::rate_limit::RateLimiter, String> {
        let mut all = self.limiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((rate, limiter)) = all.get(endpoint) {
            if (rate - per_second).abs() > f64::EPSILON {
                return Err(format!(
                    "another node already limits `{endpoint}` to a different rate; give them the same"
                ));
            }
            return Ok(limiter.clone());
        }
        let limiter = pocket::layer::rate_limit::RateLimiter::new(per_second, burst).map_err(|e| e.to_string())?;
        all.insert(endpoint.to_string(), (per_second, limiter.clone()));
        Ok(limiter)
    }

    /// Check a config the way building the node does (`None`: the type is unknown).
    ///
    /// # Errors
    ///
    /// The first problem in the config, naming its field.
    pub fn check_config(&self, kind: &str, spec: &NodeSpec<'_>) -> Option<Result<(), ConfigError>> {
        self.build(kind, spec).map(|built| built.map(|_| ()))
    }

    /// Build one node (without node-level layers).
    pub(crate) fn build(&self, kind: &str, spec: &NodeSpec<'_>) -> Option<Result<BuiltNode, ConfigError>> {
        let entry = self.entries.get(kind)?;
        Some((entry.build)(spec, self).map(|built| BuiltNode {
            node: ValueNode { kind: entry.info.kind, behaviour: built.behaviour },
            edges: built.edges,
            retry: built.retry,
            limiter: built.limiter,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::Registry;

    #[test]
    fn nodes_naming_one_endpoint_share_one_bucket() {
        let registry = Registry::builtin();
        let a = registry.shared_limiter("http://x/v1", 10.0, 100).unwrap();
        let b = registry.shared_limiter("http://x/v1", 10.0, 100).unwrap();
        let other = registry.shared_limiter("http://y/v1", 10.0, 100).unwrap();
        assert!(a.try_acquire(100), "the bucket starts full");
        assert!(!b.try_acquire(1), "the second node sees the first one's spending");
        assert!(other.try_acquire(100), "another endpoint has its own bucket");
        assert!(registry.shared_limiter("http://x/v1", 20.0, 100).unwrap_err().contains("different rate"));
    }

    #[test]
    fn closest_names() {
        let registry = Registry::builtin();
        assert_eq!(registry.closest("jsonpth"), Some("jsonpath"));
        assert_eq!(registry.closest("zzzzzzzz"), None);
    }
}

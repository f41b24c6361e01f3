//! The node registry: the node types a workflow can use, by `type:` name. It knows node types
//! only through [`NodeKind`]; the built-in ones are registered by `Registry::builtin`
//! (`nodes/mod.rs`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::kind::{BuildCx, Built, ConfigError, NodeInfo, NodeKind, NodeSpec, parse_config};
use crate::limits::SharedLimiters;

type BuildFn = fn(&BuildCx<'_>) -> Result<Built, ConfigError>;

struct Entry {
    info: NodeInfo,
    schema: fn() -> Value,
    example: fn() -> Value,
    build: BuildFn,
}

fn build_kind<K: NodeKind>(cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
    K::build(parse_config::<K::Config>(cx.spec().config)?, cx)
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
#[derive(Default)]
pub struct Registry {
    entries: BTreeMap<&'static str, Entry>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.keys()).finish()
    }
}

impl Registry {
    /// No node types yet (see [`Registry::builtin`] for Pocket's own).
    pub fn new() -> Self {
        Registry::default()
    }

    /// Add (or replace) a node type: workflow files can then use its `type:`.
    pub fn register<K: NodeKind>(&mut self) -> &mut Self {
        let info = NodeInfo { kind: K::TYPE, category: K::CATEGORY, description: K::DESCRIPTION };
        self.entries
            .insert(K::TYPE, Entry { info, schema: schema_of::<K>, example: K::example, build: build_kind::<K> });
        self
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

    /// Check a config the way building the node does (`None`: the type is unknown).
    ///
    /// # Errors
    ///
    /// The first problem in the config, naming its field.
    pub fn check_config(&self, kind: &str, spec: &NodeSpec<'_>) -> Option<Result<(), ConfigError>> {
        self.build(kind, spec, &SharedLimiters::new()).map(|built| built.map(|_| ()))
    }

    /// Build one node (without node-level layers), spending the run's shared buckets.
    pub(crate) fn build(
        &self,
        kind: &str,
        spec: &NodeSpec<'_>,
        limiters: &SharedLimiters,
    ) -> Option<Result<Built, ConfigError>> {
        let entry = self.entries.get(kind)?;
        Some((entry.build)(&BuildCx::new(spec, self, limiters)))
    }
}

#[cfg(test)]
mod tests {
    use super::Registry;

    #[test]
    fn closest_names() {
        let registry = Registry::builtin();
        assert_eq!(registry.closest("jsonpth"), Some("jsonpath"));
        assert_eq!(registry.closest("zzzzzzzz"), None);
    }
}

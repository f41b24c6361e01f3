//! The `jsonpath` node type: extracts values with a JSONPath expression.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Behaviour, StepFuture, ready};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::support::text::{MAX_NESTING, max_nesting};

/// `jsonpath` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JsonPathConfig {
    /// The JSONPath expression (RFC 9535), e.g. `$.items[*].price`.
    path: String,
    /// All matches as a list (default: the first match only).
    #[serde(default)]
    multiple: bool,
    /// The output when nothing matches (default: null, or `[]` with `multiple`).
    #[serde(default)]
    default: Option<Value>,
    /// When the single match is a one-element list, output its element (default true).
    #[serde(default = "yes")]
    unwrap: bool,
}

fn yes() -> bool {
    true
}

pub(crate) struct JsonPathNode {
    path: serde_json_path::JsonPath,
    multiple: bool,
    default: Option<Value>,
    unwrap: bool,
}

impl NodeKind for JsonPathNode {
    const TYPE: &'static str = "jsonpath";
    const CATEGORY: Category = Category::Data;
    const DESCRIPTION: &'static str = "Extracts values from its input with a JSONPath expression.";
    type Config = JsonPathConfig;

    fn example() -> Value {
        json!({"path": "$.items[*].name", "multiple": true})
    }

    fn build(config: JsonPathConfig, _: &BuildCx<'_>) -> Result<Built, ConfigError> {
        // The parser recurses on nesting: bound it first, and give it a known stack.
        let depth = max_nesting(&config.path);
        if depth > MAX_NESTING {
            return Err(ConfigError::field("path", format!("the JSONPath nests deeper than {MAX_NESTING} levels")));
        }
        let source = config.path.clone();
        let path = crate::support::cpu::block_on(move || serde_json_path::JsonPath::parse(&source))
            .map_err(|e| ConfigError::field("path", e))?
            .map_err(|e| ConfigError::field("path", format!("invalid JSONPath `{}`: {e}", config.path)))?;
        Ok(super::built(JsonPathNode {
            path,
            multiple: config.multiple,
            default: config.default.filter(|d| !d.is_null()),
            unwrap: config.unwrap,
        }))
    }
}

impl Behaviour for JsonPathNode {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        let matches = self.path.query(input).all();
        let out = if matches.is_empty() {
            self.default.clone().unwrap_or(if self.multiple { Value::Array(Vec::new()) } else { Value::Null })
        } else if self.multiple {
            Value::Array(matches.into_iter().cloned().collect())
        } else {
            match matches[0] {
                Value::Array(items) if self.unwrap && items.len() == 1 => items[0].clone(),
                first => first.clone(),
            }
        };
        ready(Ok(out))
    }
}

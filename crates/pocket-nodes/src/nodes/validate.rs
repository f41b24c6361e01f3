//! The `validate` node type: checks the input against a JSON Schema.

use pocket::NodeError;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Behaviour, StepFuture, ready};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};

/// What `on_error` (the docs' spelling of `fail_on_error`) accepts.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OnError {
    /// Fail the node when the input is invalid.
    Fail,
    /// Output the error list and go on.
    Pass,
}

/// `validate` config: exactly one of `schema` and `schema_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ValidateConfig {
    /// The JSON Schema (any draft; `format` is checked).
    #[serde(default)]
    schema: Option<Value>,
    /// A file holding the schema (JSON or YAML), relative to the workflow file.
    #[serde(default)]
    schema_file: Option<String>,
    /// Fail the node when the input is invalid (default true); otherwise output the errors.
    #[serde(default)]
    fail_on_error: Option<bool>,
    /// `fail` or `pass`: the same choice in the docs' spelling.
    #[serde(default)]
    on_error: Option<OnError>,
}

pub(crate) struct Validate {
    validator: jsonschema::Validator,
    fail_on_error: bool,
}

impl NodeKind for Validate {
    const TYPE: &'static str = "validate";
    const CATEGORY: Category = Category::Data;
    const DESCRIPTION: &'static str =
        "Checks its input against a JSON Schema; outputs {valid, errors: [{field, type, description}], data}.";
    type Config = ValidateConfig;

    fn example() -> Value {
        json!({"schema": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}, "fail_on_error": false})
    }

    fn build(config: ValidateConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let spec = cx.spec();
        let (field, schema) = match (config.schema, config.schema_file) {
            (Some(schema), None) => ("schema", schema),
            (None, Some(file)) => {
                let text = spec.read("schema_file", &file)?;
                let schema = pocket_yaml::parse_value(&text)
                    .map_err(|e| ConfigError::field("schema_file", format!("{file} is not JSON or YAML: {e}")))?;
                ("schema_file", schema)
            }
            (Some(_), Some(_)) => return Err(ConfigError::whole("give either `schema` or `schema_file`, not both")),
            (None, None) => return Err(ConfigError::whole("either `schema` or `schema_file` is required")),
        };
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| ConfigError::field(field, format!("not a usable JSON Schema: {e}")))?;
        let fail_on_error = match (config.fail_on_error, config.on_error) {
            (Some(a), Some(b)) if a != matches!(b, OnError::Fail) => {
                return Err(ConfigError::whole("`fail_on_error` and `on_error` disagree"));
            }
            (Some(a), _) => a,
            (None, Some(b)) => matches!(b, OnError::Fail),
            (None, None) => true,
        };
        Ok(super::built(Validate { validator, fail_on_error }))
    }
}

/// `/a/0/b` as `a.0.b`, and the root as `(root)` (the original's spelling).
fn field_path(pointer: &str) -> String {
    if pointer.is_empty() || pointer == "/" {
        return "(root)".into();
    }
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

impl Behaviour for Validate {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        let errors: Vec<Value> = self
            .validator
            .iter_errors(input)
            .map(|e| {
                json!({
                    "field": field_path(&e.instance_path().to_string()),
                    "type": e.kind().keyword(),
                    "description": e.to_string(),
                })
            })
            .collect();
        if !errors.is_empty() && self.fail_on_error {
            let list: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", e["field"].as_str().unwrap_or(""), e["description"].as_str().unwrap_or("")))
                .collect();
            return ready(Err(NodeError::fatal_msg(format!(
                "validation failed: {} error(s): {}",
                errors.len(),
                list.join("; ")
            ))));
        }
        ready(Ok(json!({"valid": errors.is_empty(), "errors": errors, "data": input})))
    }
}

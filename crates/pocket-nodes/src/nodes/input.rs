//! The `input` node type: pause the run for a person's answer. The run ends as `waiting`
//! (recorded, so it survives restarts); `pocket resume RUN --input JSON` checks the answer
//! against the node's schema and goes on with the answer as the node's output.

use std::time::Duration;

use pocket::Next;
use pocket_yaml::GoDuration;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Behaviour, StepFuture};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::support::text::Text;

/// `input` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InputConfig {
    /// What to ask (a Go template, rendered with the node's input).
    prompt: String,
    /// A JSON Schema the answer must match (checked before the run goes on).
    #[serde(default)]
    schema: Option<Value>,
    /// How long the question stays open (a Go duration); a resume after that, without an
    /// answer, goes on along `on_timeout` with `{timed_out: true}` as the node's output.
    #[serde(default)]
    timeout: Option<GoDuration>,
    /// The action taken when the question timed out (default `timeout`).
    #[serde(default)]
    on_timeout: Option<String>,
}

pub(crate) struct Input {
    prompt: Text,
    schema: Option<Value>,
    timeout: Option<Duration>,
    on_timeout: String,
}

impl NodeKind for Input {
    const TYPE: &'static str = "input";
    const CATEGORY: Category = Category::Core;
    const DESCRIPTION: &'static str = "Pauses the run for a person's answer (status `waiting`, exit code 4); \
        `pocket resume RUN --input JSON` checks it against `schema` and goes on with it as the output.";
    type Config = InputConfig;

    fn example() -> Value {
        json!({
            "prompt": "Refund {{.amount}} to {{.customer}}?",
            "schema": {"type": "object", "required": ["approve"], "properties": {"approve": {"type": "boolean"}}},
            "timeout": "24h",
            "on_timeout": "reject",
        })
    }

    fn build(config: InputConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let spec = cx.spec();
        let prompt = Text::new(spec.name, "prompt", &config.prompt)?;
        if let Some(schema) = &config.schema {
            jsonschema::options()
                .build(schema)
                .map_err(|e| ConfigError::field("schema", format!("not a usable JSON Schema: {e}")))?;
        }
        Ok(super::built(Input {
            prompt,
            schema: config.schema,
            timeout: config.timeout.map(Into::into),
            on_timeout: config.on_timeout.unwrap_or_else(|| "timeout".into()),
        }))
    }
}

impl Behaviour for Input {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        Box::pin(async move {
            let prompt = self.prompt.render_off_thread(input).await?;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            let deadline = self.timeout.map(|t| (now + t).as_millis() as u64);
            Ok(json!({
                "prompt": prompt,
                "schema": self.schema,
                "deadline_ms": deadline,
                "on_timeout": self.on_timeout,
            }))
        })
    }

    fn next(&self, output: &Value) -> Result<Next, pocket::NodeError> {
        Ok(Next::Interrupt(output.clone()))
    }
}

/// Check `answer` against the schema of `request` (an `input` node's question): the problems
/// found, one line each (none: it may be given).
pub fn check_answer(request: &Value, answer: &Value) -> Vec<String> {
    let Some(schema) = request.get("schema").filter(|s| !s.is_null()) else { return Vec::new() };
    match jsonschema::options().should_validate_formats(true).build(schema) {
        Err(e) => vec![format!("the question's schema is not usable: {e}")],
        Ok(validator) => validator
            .iter_errors(answer)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() { e.to_string() } else { format!("{at}: {e}") }
            })
            .collect(),
    }
}

//! The `transform` node type: a jq program over the input (jaq; see [`Jq`] for its limits).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Behaviour, StepFuture, ready};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::support::jq::Jq;

/// `transform` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransformConfig {
    /// A jq expression applied to the input. One result is the output; several become a
    /// list; none is null. Without it the input passes through. `import "lib" as lib;`,
    /// `include "lib";` and `import "table" as $table;` read `lib.jq` / `table.json` from the
    /// workflow's directory (never outside it).
    #[serde(default)]
    jq: Option<String>,
    /// The same as `jq`, in the original's documentation's spelling.
    #[serde(default)]
    expression: Option<String>,
}

pub(crate) struct Transform {
    jq: Option<Jq>,
}

impl NodeKind for Transform {
    const TYPE: &'static str = "transform";
    const CATEGORY: Category = Category::Data;
    const DESCRIPTION: &'static str = "Applies a jq expression to its input (no expression: passes the input through).";
    type Config = TransformConfig;

    fn example() -> Value {
        json!({"jq": "{total: (.items | map(.price) | add), count: (.items | length)}"})
    }

    fn build(config: TransformConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let (field, code) = match (config.jq, config.expression) {
            (Some(_), Some(_)) => return Err(ConfigError::whole("give `jq` or `expression`, not both")),
            (Some(code), None) => ("jq", Some(code)),
            (None, code) => ("expression", code),
        };
        let jq = code
            .as_deref()
            .map(|code| Jq::compile(code, Some(cx.spec().base_dir)))
            .transpose()
            .map_err(|e| ConfigError::field(field, e))?;
        Ok(super::built(Transform { jq }))
    }
}

impl Behaviour for Transform {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        match &self.jq {
            None => ready(Ok(input.clone())),
            Some(jq) => Box::pin(jq.run(input)),
        }
    }
}

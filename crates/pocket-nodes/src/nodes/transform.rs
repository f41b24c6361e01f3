//! The `transform` node type: a jq program over the input (jaq).

use pocket::NodeError;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Behaviour, StepFuture, ready};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};

/// `transform` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransformConfig {
    /// A jq expression applied to the input. One result is the output; several become a
    /// list; none is null. Without it the input passes through.
    #[serde(default)]
    jq: Option<String>,
    /// The same as `jq`, in the original's documentation's spelling.
    #[serde(default)]
    expression: Option<String>,
}

type JqFilter = jaq_core::Filter<jaq_core::data::JustLut<jaq_json::Val>>;

pub(crate) struct Transform {
    filter: Option<JqFilter>,
}

fn compile_jq(code: &str) -> Result<JqFilter, String> {
    use jaq_core::load::{Arena, File, Loader};
    let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
    let funs = jaq_core::funs().chain(jaq_std::funs()).chain(jaq_json::funs());
    let arena = Arena::default();
    let modules = Loader::new(defs).load(&arena, File { code, path: () }).map_err(|errors| {
        let mut messages = Vec::new();
        for (_, error) in errors {
            match error {
                jaq_core::load::Error::Io(io) => {
                    messages.extend(io.into_iter().map(|(path, e)| format!("{path}: {e}")))
                }
                jaq_core::load::Error::Lex(lex) => messages.extend(
                    lex.into_iter().map(|(expect, at)| format!("expected {} at `{}`", expect.as_str(), snippet(at))),
                ),
                jaq_core::load::Error::Parse(parse) => messages.extend(
                    parse.into_iter().map(|(expect, at)| format!("expected {} at `{}`", expect.as_str(), snippet(at))),
                ),
            }
        }
        format!("jq expression does not parse: {}", messages.join("; "))
    })?;
    jaq_core::Compiler::default().with_funs(funs).compile(modules).map_err(|errors| {
        let undefined: Vec<String> = errors
            .into_iter()
            .flat_map(|(_, list)| list.into_iter().map(|(name, what)| format!("{} `{name}`", what.as_str())))
            .collect();
        format!("jq expression does not compile: undefined {}", undefined.join(", "))
    })
}

fn snippet(at: &str) -> String {
    let at = at.trim_start();
    if at.is_empty() { "end of expression".into() } else { at.chars().take(20).collect() }
}

fn run_jq(filter: &JqFilter, input: &Value) -> Result<Value, NodeError> {
    use jaq_core::{Ctx, Vars, unwrap_valr};
    let input: jaq_json::Val =
        serde_json::from_value(input.clone()).map_err(|e| NodeError::fatal_msg(format!("jq input: {e}")))?;
    let ctx = Ctx::<jaq_core::data::JustLut<jaq_json::Val>>::new(&filter.lut, Vars::new([]));
    let mut outputs = Vec::new();
    for out in filter.id.run((ctx, input)).map(unwrap_valr) {
        let out = out.map_err(|e| NodeError::fatal_msg(format!("jq: {e}")))?;
        let json: Value = serde_json::from_str(&out.to_string())
            .map_err(|e| NodeError::fatal_msg(format!("jq produced a value that is not JSON ({out}): {e}")))?;
        outputs.push(json);
    }
    Ok(match outputs.len() {
        0 => Value::Null,
        1 => outputs.pop().unwrap_or(Value::Null),
        _ => Value::Array(outputs),
    })
}

impl NodeKind for Transform {
    const TYPE: &'static str = "transform";
    const CATEGORY: Category = Category::Data;
    const DESCRIPTION: &'static str = "Applies a jq expression to its input (no expression: passes the input through).";
    type Config = TransformConfig;

    fn example() -> Value {
        json!({"jq": "{total: (.items | map(.price) | add), count: (.items | length)}"})
    }

    fn build(config: TransformConfig, _: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let (field, code) = match (config.jq, config.expression) {
            (Some(_), Some(_)) => return Err(ConfigError::whole("give `jq` or `expression`, not both")),
            (Some(code), None) => ("jq", Some(code)),
            (None, code) => ("expression", code),
        };
        let filter = code.as_deref().map(compile_jq).transpose().map_err(|e| ConfigError::field(field, e))?;
        Ok(super::built(Transform { filter }))
    }
}

impl Behaviour for Transform {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        ready(match &self.filter {
            None => Ok(input.clone()),
            Some(filter) => run_jq(filter, input),
        })
    }
}

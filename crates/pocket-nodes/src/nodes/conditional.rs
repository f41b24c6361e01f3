//! The `conditional` node type: the first condition (a Go template) that holds picks the action.

use pocket::{Action, Next, NodeError, Store};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Behaviour, StepFuture};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::support::template::Template;

/// One `conditional` branch.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Condition {
    /// A Go template rendered with the input; the branch is taken when it renders `true` or `1`.
    #[serde(rename = "if")]
    when: String,
    /// The action to take.
    then: String,
}

/// `conditional` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConditionalConfig {
    /// Conditions, tried in order; the first that holds chooses the action.
    conditions: Vec<Condition>,
    /// The action when none holds (none: the workflow ends here).
    #[serde(default, rename = "else")]
    otherwise: Option<String>,
}

pub(crate) struct Conditional {
    name: String,
    conditions: std::sync::Arc<Vec<(Template, String)>>,
    otherwise: Option<String>,
}

impl NodeKind for Conditional {
    const TYPE: &'static str = "conditional";
    const CATEGORY: Category = Category::Core;
    const DESCRIPTION: &'static str =
        "Routes its input unchanged along the action of the first condition (a Go template) that renders true.";
    type Config = ConditionalConfig;

    fn example() -> Value {
        json!({"conditions": [{"if": "{{gt .score 0.8}}", "then": "high"}, {"if": "{{gt .score 0.5}}", "then": "medium"}], "else": "low"})
    }

    fn build(config: ConditionalConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let spec = cx.spec();
        let mut conditions = Vec::with_capacity(config.conditions.len());
        for (i, condition) in config.conditions.into_iter().enumerate() {
            let field = format!("conditions[{i}].if");
            let template = Template::parse(&format!("{}.{field}", spec.name), &condition.when)
                .map_err(|e| ConfigError::field(&field, e))?;
            if condition.then.is_empty() {
                return Err(ConfigError::field(format!("conditions[{i}].then"), "must name an action"));
            }
            conditions.push((template, condition.then));
        }
        Ok(super::built(Conditional {
            name: spec.name.to_string(),
            conditions: std::sync::Arc::new(conditions),
            otherwise: config.otherwise,
        }))
    }
}

impl Behaviour for Conditional {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        // The conditions are templates (CPU work of the file's choosing): evaluated off the
        // async workers, so the step's timeout and cancellation hold; Post routes on the result.
        let (conditions, name, data) = (self.conditions.clone(), self.name.clone(), input.clone());
        Box::pin(async move {
            let chosen = crate::support::cpu::run(move |stop| {
                for (i, (template, then)) in conditions.iter().enumerate() {
                    match template.render_until(&data, Some(stop)) {
                        Ok(text) if matches!(text.trim(), "true" | "1") => return Some(then.clone()),
                        Ok(_) => {}
                        // As in the original, a condition that cannot be evaluated does not
                        // hold; say so.
                        Err(e) => tracing::info!(node = %name, condition = i, error = %e, "condition skipped"),
                    }
                }
                None
            })
            .await?;
            Ok(json!({"output": input, "action": chosen}))
        })
    }

    fn post(&self, _: &Store, _: Value, mut exec: Value) -> Result<(Value, Next), NodeError> {
        let next = match (exec["action"].as_str(), &self.otherwise) {
            (Some(action), _) => Next::to(action.to_string()),
            (None, Some(action)) if !action.is_empty() => Next::to(action.clone()),
            _ => Next::End,
        };
        Ok((exec["output"].take(), next))
    }

    fn actions(&self) -> Option<Vec<Action>> {
        let mut all: Vec<Action> = self.conditions.iter().map(|(_, then)| Action::from(then.clone())).collect();
        all.extend(self.otherwise.iter().filter(|a| !a.is_empty()).cloned().map(Action::from));
        Some(all)
    }
}

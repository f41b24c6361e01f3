//! Core node types: echo, delay, router, conditional.

use std::collections::BTreeMap;
use std::time::Duration;

use pocket::{Action, Next, NodeError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Behaviour, StepFuture, ready};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::template::{Template, is_templated};

/// A text that is a template when it contains `{{`, and used as it is otherwise.
#[derive(Debug, Clone)]
pub(crate) enum Text {
    Plain(String),
    Templated(Template),
}

impl Text {
    pub(crate) fn new(node: &str, field: &str, source: &str) -> Result<Self, ConfigError> {
        if is_templated(source) {
            Template::parse(&format!("{node}.{field}"), source)
                .map(Text::Templated)
                .map_err(|e| ConfigError::field(field, e))
        } else {
            Ok(Text::Plain(source.to_string()))
        }
    }

    pub(crate) fn render(&self, data: &Value) -> Result<String, NodeError> {
        match self {
            Text::Plain(s) => Ok(s.clone()),
            Text::Templated(t) => t.render(data).map_err(NodeError::fatal),
        }
    }
}

// ---------------------------------------------------------------------------------------------

/// `echo` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EchoConfig {
    /// The message (a Go template when it contains `{{`, rendered with the input).
    #[serde(default = "default_message")]
    message: String,
}

fn default_message() -> String {
    "Hello from echo node".into()
}

pub(crate) struct Echo {
    name: String,
    message: Text,
}

impl NodeKind for Echo {
    const TYPE: &'static str = "echo";
    const CATEGORY: Category = Category::Core;
    const DESCRIPTION: &'static str = "Outputs {message, input, node}: a message next to the input it received.";
    type Config = EchoConfig;

    fn example() -> Value {
        json!({"message": "Hello {{.name}}!"})
    }

    fn build(config: EchoConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let spec = cx.spec();
        let message = Text::new(spec.name, "message", &config.message)?;
        Ok(super::built(Echo { name: spec.name.to_string(), message }))
    }
}

impl Behaviour for Echo {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        ready(self.message.render(input).map(|message| {
            tracing::info!(node = %self.name, %message, "echo");
            json!({"message": message, "input": input, "node": self.name})
        }))
    }
}

// ---------------------------------------------------------------------------------------------

/// `delay` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DelayConfig {
    /// How long to wait: a Go duration (`500ms`, `1.5s`, `1m30s`).
    #[serde(default = "one_second", deserialize_with = "crate::de::duration")]
    #[schemars(with = "String")]
    duration: Duration,
}

fn one_second() -> Duration {
    Duration::from_secs(1)
}

pub(crate) struct Delay {
    duration: Duration,
}

impl NodeKind for Delay {
    const TYPE: &'static str = "delay";
    const CATEGORY: Category = Category::Core;
    const DESCRIPTION: &'static str = "Waits for a duration, then hands its input on unchanged (cancellable).";
    type Config = DelayConfig;

    fn example() -> Value {
        json!({"duration": "1.5s"})
    }

    fn build(config: DelayConfig, _: &BuildCx<'_>) -> Result<Built, ConfigError> {
        Ok(super::built(Delay { duration: config.duration }))
    }
}

impl Behaviour for Delay {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        Box::pin(async move {
            // Cancellation drops this future: the run does not wait for the sleep.
            tokio::time::sleep(self.duration).await;
            Ok(input.clone())
        })
    }
}

// ---------------------------------------------------------------------------------------------

/// `router` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouterConfig {
    /// The action to take: fixed, or a Go template rendered with the input
    /// (`"{{.category}}"`). Without it, the input's `route` field is used when it is a string.
    #[serde(default)]
    route: Option<String>,
    /// Route names and the node each leads to: adds the edges `router --name--> node`.
    #[serde(default)]
    routes: BTreeMap<String, String>,
    /// The action when no route is chosen (empty, or not one of `routes`). Default: `default`.
    #[serde(default)]
    default: Option<String>,
    /// The same as `default`, in the original's documentation's spelling.
    #[serde(default)]
    default_route: Option<String>,
}

pub(crate) struct Router {
    route: Option<Text>,
    routes: BTreeMap<String, String>,
    fallback: String,
}

impl NodeKind for Router {
    const TYPE: &'static str = "router";
    const CATEGORY: Category = Category::Core;
    const DESCRIPTION: &'static str =
        "Routes its input unchanged along an action: fixed, rendered from the input, or the input's `route` field.";
    type Config = RouterConfig;

    fn example() -> Value {
        json!({"route": "{{.kind}}", "routes": {"bug": "triage", "feature": "backlog"}, "default": "other"})
    }

    fn build(config: RouterConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let spec = cx.spec();
        let route = config.route.as_deref().map(|r| Text::new(spec.name, "route", r)).transpose()?;
        let edges = config.routes.iter().map(|(action, to)| (action.clone(), to.clone())).collect();
        let fallback = match (config.default, config.default_route) {
            (Some(a), Some(b)) if a != b => {
                return Err(ConfigError::whole("`default` and `default_route` disagree; give one"));
            }
            (Some(a), _) | (None, Some(a)) => a,
            (None, None) => "default".into(),
        };
        let router = Router { route, routes: config.routes, fallback };
        let mut built = super::built(router);
        built.edges = edges;
        Ok(built)
    }
}

impl Behaviour for Router {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        ready(Ok(input.clone()))
    }

    fn next(&self, output: &Value) -> Result<Next, NodeError> {
        let chosen = match &self.route {
            Some(route) => route.render(output)?,
            None => output.get("route").and_then(Value::as_str).unwrap_or_default().to_string(),
        };
        let chosen = chosen.trim();
        let known = self.routes.is_empty() || self.routes.contains_key(chosen);
        let action =
            if chosen.is_empty() || chosen == "<no value>" || !known { self.fallback.as_str() } else { chosen };
        Ok(Next::to(action.to_string()))
    }

    fn actions(&self) -> Option<Vec<Action>> {
        // A rendered route can be anything; only a fixed set of routes is known.
        if self.route.as_ref().is_some_and(|r| matches!(r, Text::Templated(_))) && self.routes.is_empty() {
            return None;
        }
        let mut all: Vec<Action> = self.routes.keys().cloned().map(Action::from).collect();
        if let Some(Text::Plain(fixed)) = &self.route {
            all.push(Action::from(fixed.clone()));
        }
        all.push(Action::from(self.fallback.clone()));
        Some(all)
    }
}

// ---------------------------------------------------------------------------------------------

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
    conditions: Vec<(Template, String)>,
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
        Ok(super::built(Conditional { name: spec.name.to_string(), conditions, otherwise: config.otherwise }))
    }
}

impl Behaviour for Conditional {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        ready(Ok(input.clone()))
    }

    fn next(&self, output: &Value) -> Result<Next, NodeError> {
        for (i, (template, then)) in self.conditions.iter().enumerate() {
            match template.render(output) {
                Ok(text) if matches!(text.trim(), "true" | "1") => return Ok(Next::to(then.clone())),
                Ok(_) => {}
                // As in the original, a condition that cannot be evaluated does not hold; say so.
                Err(e) => tracing::info!(node = %self.name, condition = i, error = %e, "condition skipped"),
            }
        }
        Ok(match &self.otherwise {
            Some(action) if !action.is_empty() => Next::to(action.clone()),
            _ => Next::End,
        })
    }

    fn actions(&self) -> Option<Vec<Action>> {
        let mut all: Vec<Action> = self.conditions.iter().map(|(_, then)| Action::from(then.clone())).collect();
        all.extend(self.otherwise.iter().filter(|a| !a.is_empty()).cloned().map(Action::from));
        Some(all)
    }
}

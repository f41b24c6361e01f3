//! The `router` node type: routes on a field of the input, by a table of values to actions.

use std::collections::BTreeMap;

use pocket::{Action, Next, NodeError, Store};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Behaviour, StepFuture};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::support::text::Text;

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
        // The route is chosen here, off the async workers when it is a template, and handed to
        // Post with the (unchanged) input.
        Box::pin(async move {
            let chosen = match &self.route {
                Some(route) => route.render_off_thread(input).await?,
                None => input.get("route").and_then(Value::as_str).unwrap_or_default().to_string(),
            };
            let chosen = chosen.trim();
            let known = self.routes.is_empty() || self.routes.contains_key(chosen);
            let action =
                if chosen.is_empty() || chosen == "<no value>" || !known { self.fallback.as_str() } else { chosen };
            Ok(json!({"output": input, "action": action}))
        })
    }

    fn post(&self, _: &Store, _: Value, mut exec: Value) -> Result<(Value, Next), NodeError> {
        let next = Next::to(exec["action"].as_str().unwrap_or(self.fallback.as_str()).to_string());
        Ok((exec["output"].take(), next))
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

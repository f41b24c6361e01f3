//! The `aggregate` node type: collects inputs across runs of the node (array, object, merge, concat).

use std::time::Duration;

use pocket::{Action, Next, NodeError, Store, StoreView};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Behaviour, StepFuture, ready};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::support::text::Text;

/// How `aggregate` combines items.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    /// The items as a list.
    #[default]
    Array,
    /// A map: `item_<i>`, or the rendered `key` template, to each item.
    Object,
    /// Maps deep-merged in order (later wins).
    Merge,
    /// Lists spliced together, other items appended.
    Concat,
}

/// `aggregate` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AggregateConfig {
    /// `array` (default), `object`, `merge` or `concat`.
    #[serde(default)]
    mode: Mode,
    /// Object mode: a Go template rendered with each item that names it (`{{.type}}_{{.id}}`).
    #[serde(default)]
    key: Option<String>,
    /// Collect items over this many visits before emitting the aggregate on `default`; until
    /// then each visit outputs the partial aggregate on the action `pending` (loop back with it).
    #[serde(default, deserialize_with = "crate::support::de::opt_count")]
    #[schemars(with = "Option<u64>")]
    count: Option<u64>,
    /// With `count`: how long to wait, from the first item, for the rest (a Go duration).
    #[serde(default, deserialize_with = "crate::support::de::opt_duration")]
    #[schemars(with = "Option<String>")]
    timeout: Option<Duration>,
    /// With `count` and `timeout`: when the time is up, emit what was collected (marked
    /// `complete: false`) instead of failing.
    #[serde(default)]
    partial: bool,
}

pub(crate) struct Aggregate {
    name: String,
    mode: Mode,
    key: Option<Text>,
    count: Option<u64>,
    timeout: Option<Duration>,
    partial: bool,
}

impl NodeKind for Aggregate {
    const TYPE: &'static str = "aggregate";
    const CATEGORY: Category = Category::Data;
    const DESCRIPTION: &'static str = "Combines items (a list, or a map's `data` list) into {data, count, complete}; can collect over several visits.";
    type Config = AggregateConfig;

    fn example() -> Value {
        json!({"mode": "object", "key": "{{.type}}_{{.id}}"})
    }

    fn build(config: AggregateConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let spec = cx.spec();
        if config.key.is_some() && config.mode != Mode::Object {
            return Err(ConfigError::field("key", "is only used in `object` mode"));
        }
        if config.count.is_none() && (config.timeout.is_some() || config.partial) {
            return Err(ConfigError::whole("`timeout` and `partial` need `count` (the number of items to wait for)"));
        }
        let key = config.key.as_deref().map(|k| Text::new(spec.name, "key", k)).transpose()?;
        Ok(super::built(Aggregate {
            name: spec.name.to_string(),
            mode: config.mode,
            key,
            count: config.count,
            timeout: config.timeout,
            partial: config.partial,
        }))
    }
}

/// The items an input holds: a list's elements, a map's `data` list, or the input itself.
fn items_of(input: &Value) -> Vec<Value> {
    match input {
        Value::Array(items) => items.clone(),
        Value::Object(map) => match map.get("data") {
            Some(Value::Array(items)) => items.clone(),
            _ => vec![input.clone()],
        },
        other => vec![other.clone()],
    }
}

fn deep_merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => deep_merge(a, b),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

impl Aggregate {
    fn combine(&self, items: &[Value]) -> Value {
        match self.mode {
            Mode::Array => Value::Array(items.to_vec()),
            Mode::Object => {
                let mut out = Map::new();
                for (i, item) in items.iter().enumerate() {
                    let key = match &self.key {
                        None => format!("item_{i}"),
                        Some(key) => match key.render(item) {
                            Ok(k) if !k.is_empty() => k,
                            Ok(_) => format!("item_{i}"),
                            Err(e) => {
                                tracing::warn!(node = %self.name, item = i, error = %e, "aggregate key did not render; using item_<i>");
                                format!("item_{i}")
                            }
                        },
                    };
                    out.insert(key, item.clone());
                }
                Value::Object(out)
            }
            Mode::Merge => {
                let mut out = Map::new();
                for item in items {
                    if let Value::Object(map) = item {
                        deep_merge(&mut out, map);
                    }
                }
                Value::Object(out)
            }
            Mode::Concat => {
                let mut out = Vec::new();
                for item in items {
                    match item {
                        Value::Array(list) => out.extend(list.iter().cloned()),
                        other => out.push(other.clone()),
                    }
                }
                Value::Array(out)
            }
        }
    }

    fn state_key(&self) -> String {
        format!("aggregate:{}", self.name)
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl Behaviour for Aggregate {
    fn prep(&self, store: &StoreView, input: &Value) -> Result<Value, NodeError> {
        if self.count.is_none() {
            return Ok(input.clone());
        }
        // Collecting over visits: the items so far live in the run's store.
        let state = store.get_value(&self.state_key()).map_err(NodeError::fatal)?.unwrap_or(Value::Null);
        let mut items = state.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        // In a loop back to itself the input is its own pending output: nothing new to collect
        // (collecting it again would double the items at every visit).
        let own = json!({"data": self.combine(&items), "count": items.len(), "complete": false});
        if items.is_empty() || *input != own {
            items.extend(items_of(input));
        }
        let started = state.get("started").and_then(Value::as_u64).unwrap_or_else(now_ms);
        Ok(json!({"items": items, "started": started}))
    }

    fn exec<'a>(&'a self, prep: &'a Value) -> StepFuture<'a> {
        let items = match self.count {
            None => items_of(prep),
            Some(_) => prep["items"].as_array().cloned().unwrap_or_default(),
        };
        ready(Ok(json!({"data": self.combine(&items), "count": items.len()})))
    }

    fn post(&self, store: &Store, prep: Value, mut exec: Value) -> Result<(Value, Next), NodeError> {
        let Some(count) = self.count else {
            exec["complete"] = Value::Bool(true);
            return Ok((exec, Next::Default));
        };
        let have = exec["count"].as_u64().unwrap_or(0);
        if have >= count {
            store.delete(&self.state_key());
            exec["complete"] = Value::Bool(true);
            return Ok((exec, Next::Default));
        }
        let started = prep["started"].as_u64().unwrap_or_else(now_ms);
        let waited = Duration::from_millis(now_ms().saturating_sub(started));
        if let Some(limit) = self.timeout.filter(|limit| waited >= *limit) {
            store.delete(&self.state_key());
            if self.partial {
                exec["complete"] = Value::Bool(false);
                return Ok((exec, Next::Default));
            }
            return Err(NodeError::fatal_msg(format!(
                "aggregate waited {limit:?} for {count} items and got {have} (set `partial: true` to go on with them)"
            )));
        }
        store.set_value(&self.state_key(), prep);
        exec["complete"] = Value::Bool(false);
        Ok((exec, Next::to("pending")))
    }

    fn actions(&self) -> Option<Vec<Action>> {
        let mut all = vec![Action::default()];
        if self.count.is_some() {
            all.push(Action::from("pending"));
        }
        Some(all)
    }
}

//! Data node types: transform (jq), template, jsonpath, validate, aggregate.

use std::time::Duration;

use pocket::{Action, Next, NodeError, Store, StoreView};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::core::Text;
use super::{Behaviour, StepFuture, ready};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::template::Template;

// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------

/// What the `template` node makes of the rendered text.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OutputFormat {
    /// The text.
    #[default]
    String,
    /// The text parsed as JSON.
    Json,
    /// The text parsed as YAML.
    Yaml,
}

/// `template` config: exactly one of `template` and `file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateConfig {
    /// The Go template, rendered with the input.
    #[serde(default)]
    template: Option<String>,
    /// A file holding the template, relative to the workflow file.
    #[serde(default)]
    file: Option<String>,
    /// The same as `file`, in the original's documentation's spelling.
    #[serde(default)]
    template_file: Option<String>,
    /// `string` (default), `json` or `yaml`.
    #[serde(default)]
    output_format: Option<OutputFormat>,
    /// The same as `output_format`, in the original's documentation's spelling.
    #[serde(default)]
    output: Option<OutputFormat>,
}

pub(crate) struct TemplateNode {
    template: Template,
    format: OutputFormat,
}

impl NodeKind for TemplateNode {
    const TYPE: &'static str = "template";
    const CATEGORY: Category = Category::Data;
    const DESCRIPTION: &'static str =
        "Renders a Go template with its input; the text, or the text parsed as JSON or YAML, is the output.";
    type Config = TemplateConfig;

    fn example() -> Value {
        json!({"template": "{\"greeting\": \"Hello {{.name}}\"}", "output_format": "json"})
    }

    fn build(config: TemplateConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let spec = cx.spec();
        let file = match (config.file, config.template_file) {
            (Some(_), Some(_)) => return Err(ConfigError::whole("give `file` or `template_file`, not both")),
            (file, other) => file.or(other),
        };
        let format = match (config.output_format, config.output) {
            (Some(a), Some(b)) if a != b => {
                return Err(ConfigError::whole("`output_format` and `output` disagree; give one"));
            }
            (a, b) => a.or(b).unwrap_or_default(),
        };
        let (field, source) = spec.inline_or_file(("template", config.template), ("file", file))?;
        let template =
            Template::parse(&format!("{}.{field}", spec.name), &source).map_err(|e| ConfigError::field(field, e))?;
        Ok(super::built(TemplateNode { template, format }))
    }
}

impl Behaviour for TemplateNode {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        ready((|| {
            let text = self.template.render(input).map_err(NodeError::fatal)?;
            match self.format {
                OutputFormat::String => Ok(Value::String(text)),
                OutputFormat::Json => serde_json::from_str(&text).map_err(|e| {
                    NodeError::fatal_msg(format!("the rendered template is not JSON ({e}); it was:\n{text}"))
                }),
                OutputFormat::Yaml => serde_saphyr_value(&text),
            }
        })())
    }
}

fn serde_saphyr_value(text: &str) -> Result<Value, NodeError> {
    pocket_yaml::parse_value(text)
        .map_err(|e| NodeError::fatal_msg(format!("the rendered template is not YAML ({e}); it was:\n{text}")))
}

// ---------------------------------------------------------------------------------------------

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
        let path = serde_json_path::JsonPath::parse(&config.path)
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

// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------

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
    #[serde(default, deserialize_with = "crate::de::opt_count")]
    #[schemars(with = "Option<u64>")]
    count: Option<u64>,
    /// With `count`: how long to wait, from the first item, for the rest (a Go duration).
    #[serde(default, deserialize_with = "crate::de::opt_duration")]
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
        items.extend(items_of(input));
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

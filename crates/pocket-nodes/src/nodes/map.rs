//! The `map` node type: one body node over each item of a list, on the library's fan-out —
//! concurrently under a bound, results in input order, each item on its own scope of the
//! run's store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pocket::node::{Compose, Composite, RunCx};
use pocket::pattern::ItemError;
use pocket::{BoxNode, CancellationToken, Ctx, FanOut, Next, Node, NodeError, Store, StoreView};
use pocket_yaml::RetrySpec;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value, json};

use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind, NodeSpec};
use crate::support::items;
use crate::support::jq::Jq;
use crate::support::sandbox::{Sandbox, check_relative};

/// How many items run at once unless `max_concurrency` says otherwise.
pub(crate) const DEFAULT_CONCURRENCY: u64 = 16;

/// `map` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MapConfig {
    /// A jq expression over the node's input that gives the list of items (default `.`; an
    /// expression with several outputs, such as `.tickets[]`, gives them as the list).
    #[serde(default)]
    items: Option<String>,
    /// Read the items from this file instead, as they are needed (bounded memory): JSON Lines,
    /// CSV (a header row, then an object per row) or one JSON array, by its extension or
    /// `items_format`. Relative to the workflow's directory, never outside it; `-` is standard
    /// input (JSON Lines unless `items_format` says otherwise).
    #[serde(default)]
    items_file: Option<String>,
    /// The format of `items_file`: `jsonl`, `csv` or `json` (default: by its extension).
    #[serde(default)]
    items_format: Option<items::Format>,
    /// Write the results to this JSON Lines file, one line per item (or batch) in input
    /// order, as they come, instead of keeping them in the output (which then says where they
    /// went and how many). Relative to the workflow's directory; the file is replaced whole
    /// when the node succeeds, and left as it was when it fails.
    #[serde(default)]
    output_file: Option<String>,
    /// At most this many items (or batches) run at once (default 16); or `{min, max}`: a
    /// limit that adapts between the two — it starts at `min`, grows while the body's calls
    /// succeed and halves when they are throttled (an HTTP 429, a `Retry-After`) or time out
    /// (each attempt counts, retries included).
    #[serde(default, deserialize_with = "concurrency")]
    #[schemars(with = "Option<Value>")]
    max_concurrency: Option<Concurrency>,
    /// Above 1, the body receives a list of up to this many items, and gives one result per
    /// list (default 1).
    #[serde(default, deserialize_with = "crate::support::de::opt_count")]
    #[schemars(with = "Option<u64>")]
    batch_size: Option<u64>,
    /// At least this long between the starts of two items (or batches): a Go duration
    /// (default none). The items still run up to `max_concurrency` at once.
    #[serde(default, deserialize_with = "crate::support::de::opt_duration")]
    #[schemars(with = "Option<String>")]
    pause: Option<Duration>,
    /// A named limit of the workflow's `limits:` each item's run is held to (every attempt
    /// takes a slot and a request token), shared with the other nodes that name it.
    #[serde(default)]
    limit: Option<String>,
    /// What a failed item does: `fail_fast` (default: the node fails, the other items are
    /// cancelled), `collect` (its error takes its place in `results`) or `skip` (it is left
    /// out of `results`); with either of the last two it is listed in `errors`.
    #[serde(default)]
    on_error: OnError,
    /// With `collect` or `skip`, the failures tolerated before the node fails (the items not
    /// yet finished are cancelled): a count (`5`) or a share of the items (`"5%"`; with
    /// `items_file`, where the total is known only at the end, a share is checked then);
    /// default: all of them.
    #[serde(default, deserialize_with = "tolerance")]
    #[schemars(with = "Option<Value>")]
    max_failures: Option<Tolerance>,
    /// The node run for each item: a node type with its config, and optionally a node-level
    /// `retry` and `timeout` (each item's attempts).
    body: BodyConfig,
}

/// The body of a `map` node: a node type with its config, another workflow file
/// (`workflow: file.yaml`), or a workflow written here (`start`, `nodes`, `connections`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BodyConfig {
    /// The node type.
    #[serde(default, rename = "type")]
    kind: Option<String>,
    /// Its config.
    #[serde(default)]
    config: Map<String, Value>,
    /// Or a workflow file run for each item (relative to this workflow's directory), as a
    /// `workflow` node runs it.
    #[serde(default)]
    workflow: Option<String>,
    /// Or a workflow written here: its start node...
    #[serde(default)]
    start: Option<Value>,
    /// ...its nodes...
    #[serde(default)]
    nodes: Option<Value>,
    /// ...and its connections.
    #[serde(default)]
    connections: Option<Value>,
    /// Retry each item's failed attempts (as a node-level `retry`).
    #[serde(default)]
    retry: Option<RetrySpec>,
    /// The most each attempt may take (a Go duration, as a node-level `timeout`).
    #[serde(default, deserialize_with = "crate::support::de::opt_duration")]
    #[schemars(with = "Option<String>")]
    timeout: Option<Duration>,
}

impl BodyConfig {
    /// The body as a node type and its config: a workflow body is a `workflow` node.
    fn shape(&self) -> Result<(String, Map<String, Value>), ConfigError> {
        let inline = self.start.is_some() || self.nodes.is_some() || self.connections.is_some();
        let given = usize::from(self.kind.is_some()) + usize::from(self.workflow.is_some()) + usize::from(inline);
        if given != 1 {
            return Err(ConfigError::field(
                "body",
                "give one of `type` (a node type), `workflow` (a file) or `start`/`nodes`/`connections` (a workflow)",
            ));
        }
        if !self.config.is_empty() && self.kind.is_none() {
            return Err(ConfigError::field("body.config", "is the config of a node type: give `type` too"));
        }
        if let Some(kind) = &self.kind {
            return Ok((kind.clone(), self.config.clone()));
        }
        let mut config = Map::new();
        match &self.workflow {
            Some(file) => {
                config.insert("file".into(), Value::from(file.clone()));
            }
            None => {
                let mut workflow = Map::new();
                for (key, value) in [("start", &self.start), ("nodes", &self.nodes), ("connections", &self.connections)]
                {
                    if let Some(value) = value {
                        workflow.insert(key.into(), value.clone());
                    }
                }
                config.insert("workflow".into(), Value::Object(workflow));
            }
        }
        Ok(("workflow".to_string(), config))
    }
}

/// What a failed item does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum OnError {
    /// The node fails at the first failed item.
    #[default]
    FailFast,
    /// The error takes the item's place in `results`.
    Collect,
    /// The item is left out of `results`.
    Skip,
}

/// How many items run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Concurrency {
    Fixed(u64),
    Adaptive { min: u64, max: u64 },
}

fn concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Concurrency>, D::Error> {
    use serde::de::Error;
    let value = Value::deserialize(d)?;
    if let Value::Object(fields) = &value {
        let count = |key: &str| {
            let bad = || D::Error::custom(format!("`{key}` must be a whole number of at least 1"));
            match fields.get(key) {
                Some(v) => crate::support::de::opt_count(v.clone()).map_err(|_| bad())?.ok_or_else(bad),
                None => Err(D::Error::custom(format!("an adaptive limit needs `min` and `max`; `{key}` is missing"))),
            }
        };
        if let Some(other) = fields.keys().find(|k| *k != "min" && *k != "max") {
            return Err(D::Error::custom(format!("unknown setting `{other}` (an adaptive limit has `min` and `max`)")));
        }
        let (min, max) = (count("min")?, count("max")?);
        if min > max {
            return Err(D::Error::custom(format!("`min` ({min}) is above `max` ({max})")));
        }
        return Ok(Some(Concurrency::Adaptive { min, max }));
    }
    crate::support::de::opt_count(value).map(|n| n.map(Concurrency::Fixed)).map_err(D::Error::custom)
}

/// How many failures are tolerated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Tolerance {
    Count(u64),
    /// A percentage of the items, 0 to 100.
    Share(f64),
}

impl Tolerance {
    /// The failures tolerated among `total` items.
    fn of(self, total: usize) -> usize {
        match self {
            Tolerance::Count(n) => usize::try_from(n).unwrap_or(usize::MAX),
            // A share rounds down: 5% of 30 items tolerates one failure.
            Tolerance::Share(percent) => (total as f64 * percent / 100.0).floor() as usize,
        }
    }
}

fn tolerance<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Tolerance>, D::Error> {
    use serde::de::Error;
    let value = Value::deserialize(d)?;
    let bad = || D::Error::custom(format!("expected a count or a percentage such as \"5%\", got {value}"));
    match &value {
        Value::Number(n) => n.as_u64().map(|n| Some(Tolerance::Count(n))).ok_or_else(bad),
        Value::String(s) => match s.trim().strip_suffix('%') {
            Some(p) => match p.trim().parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => Ok(Some(Tolerance::Share(p))),
                _ => Err(bad()),
            },
            None => s.trim().parse::<u64>().map(|n| Some(Tolerance::Count(n))).map_err(|_| bad()),
        },
        _ => Err(bad()),
    }
}

pub(crate) struct MapNode {
    name: String,
    items: Option<Jq>,
    items_file: Option<(String, items::Format)>,
    output_file: Option<String>,
    base_dir: std::path::PathBuf,
    body: Arc<BoxNode<Value, Value>>,
    limit: usize,
    pause: Option<Duration>,
    batch: usize,
    on_error: OnError,
    max_failures: Option<Tolerance>,
}

impl NodeKind for MapNode {
    const TYPE: &'static str = "map";
    const CATEGORY: Category = Category::Flow;
    const DESCRIPTION: &'static str =
        "Runs a body node over each item of a list, a bounded number at once; results in input order.";
    type Config = MapConfig;

    fn example() -> Value {
        json!({
            "items": ".tickets",
            "max_concurrency": 8,
            "on_error": "collect",
            "max_failures": "5%",
            "body": {"type": "transform", "config": {"jq": "{id, words: (.text | split(\" \") | length)}"}}
        })
    }

    fn build(config: MapConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let spec = cx.spec();
        let mut problems = Vec::new();
        let items = match config.items.as_deref().map(|code| Jq::compile(code, Some(spec.base_dir))).transpose() {
            Ok(items) => items,
            Err(e) => {
                problems.push(ConfigError::field("items", e));
                None
            }
        };
        if config.items.is_some() && config.items_file.is_some() {
            problems.push(ConfigError::field("items_file", "give `items` or `items_file`, not both"));
        }
        if config.items_format.is_some() && config.items_file.is_none() {
            problems.push(ConfigError::field("items_format", "is the format of `items_file`, which is not given"));
        }
        for (field, path) in [("items_file", &config.items_file), ("output_file", &config.output_file)] {
            if let Some(path) = path.as_deref().filter(|p| field != "items_file" || *p != "-")
                && let Err(e) = check_relative(path, false)
            {
                problems.push(ConfigError::field(field, e));
            }
        }
        let items_file = config.items_file.map(|path| {
            let format = config.items_format.unwrap_or_else(|| items::Format::of(&path));
            (path, format)
        });
        let count = |field: &str, n: Option<u64>, default: u64| match n.unwrap_or(default) {
            0 => Err(ConfigError::field(field, "must be at least 1")),
            n => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        };
        let (fixed, adaptive) = match config.max_concurrency {
            None => (None, None),
            Some(Concurrency::Fixed(n)) => (Some(n), None),
            Some(Concurrency::Adaptive { min, max }) => {
                let whole = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
                (Some(max), Some(pocket::layer::adaptive_limit::AdaptiveLimit::new(whole(min), whole(max))))
            }
        };
        let limit = count("max_concurrency", fixed, DEFAULT_CONCURRENCY).map_err(|e| problems.push(e));
        let batch = count("batch_size", config.batch_size, 1).map_err(|e| problems.push(e));
        if config.max_failures.is_some() && config.on_error == OnError::FailFast {
            problems.push(ConfigError::field(
                "max_failures",
                "needs `on_error: collect` or `on_error: skip` (with `fail_fast` no failure is tolerated)",
            ));
        }
        // Checked whatever the body's own problems, so that all are reported at once.
        let named = match config.limit.as_deref().map(|name| cx.named_limit(name)).transpose() {
            Ok(named) => named,
            Err(e) => {
                problems.push(ConfigError::field("limit", e));
                None
            }
        };
        let body_name = format!("{}.body", spec.name);
        let (kind, body_config) = match config.body.shape() {
            Ok(shape) => shape,
            Err(e) => {
                problems.push(e);
                (String::new(), Map::new())
            }
        };
        let body_spec = NodeSpec { name: &body_name, config: &body_config, ..spec.clone() };
        let body = match cx.build_child(&kind, &body_spec) {
            None if kind.is_empty() => None,
            None => {
                problems.push(ConfigError::field("body.type", cx.unknown_type(&kind)));
                None
            }
            Some(Err(e)) => {
                for e in std::iter::once(&e).chain(&e.also) {
                    // A workflow body's problems are the body's, not a `workflow` node's config.
                    let field = match (&config.body.kind, &e.field) {
                        (None, _) if config.body.workflow.is_some() => "body.workflow".to_string(),
                        (None, _) => "body".to_string(),
                        (Some(_), None) => "body.config".to_string(),
                        (Some(_), Some(f)) => format!("body.config.{f}"),
                    };
                    problems.push(ConfigError::field(field, &e.message));
                }
                None
            }
            Some(Ok(mut built)) => {
                built.limits.extend(named.clone());
                built.adaptive = adaptive;
                Some(crate::layers::own_layers_and(built, config.body.retry.as_ref(), config.body.timeout))
            }
        };
        match (body, limit, batch) {
            (Some(body), Ok(limit), Ok(batch)) if problems.is_empty() => Ok(Built::new(Composite(MapNode {
                name: spec.name.to_string(),
                items,
                items_file,
                output_file: config.output_file,
                base_dir: spec.base_dir.to_path_buf(),
                body: Arc::new(body),
                limit,
                pause: config.pause,
                batch,
                on_error: config.on_error,
                max_failures: config.max_failures,
            }))),
            _ => {
                let mut first = problems.remove(0);
                first.also = problems;
                Err(first)
            }
        }
    }
}

/// The body, counting failed items: past the tolerated number it cancels the rest. In a
/// durable run (`journal`) each unit comes as `[index, unit]`: a unit whose result the journal
/// holds (the run was resumed in the middle of this map) is not run again, and each result is
/// saved as it comes.
struct Counted {
    body: Arc<BoxNode<Value, Value>>,
    journal: Option<pocket::durable::StepJournal>,
    node: String,
    total: usize,
    done: AtomicUsize,
    failed: AtomicUsize,
    tolerated: usize,
    stop: CancellationToken,
}

impl Counted {
    fn step<T>(&self, result: Result<T, NodeError>) -> Result<T, NodeError> {
        if let Err(e) = &result
            && !e.is_cancelled()
        {
            let failed = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
            if failed > self.tolerated {
                self.stop.cancel();
            }
            self.progress(failed);
        }
        result
    }

    /// An item finished (`failed` so far): the progress display's event (`total` 0: unknown).
    fn progress(&self, failed: usize) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::debug!(target: "pocket::progress", node = %self.node, done, total = self.total, failed, "item done");
    }
}

/// A unit's steps: its result from the journal, or the body's.
enum Unit<T> {
    Saved(Value),
    Run(T),
}

/// The index and the unit of a journaled unit (`[index, unit]`).
fn journaled(input: &Value) -> Option<(u64, &Value)> {
    match input.as_array().map(Vec::as_slice) {
        Some([index, unit]) => Some((index.as_u64()?, unit)),
        _ => None,
    }
}

fn unit_key(unit: &Value) -> String {
    blake3::hash(unit.to_string().as_bytes()).to_hex().to_string()
}

/// A unit the body runs: its Prep result and, in a durable run, the index and input hash its
/// result is saved under (hashed once, in Prep).
struct Running {
    prep: pocket::node::BoxPrep,
    save_as: Option<(u64, String)>,
}

impl Node for Counted {
    type Input = Value;
    type Prep = Unit<Running>;
    type Exec = Unit<pocket::node::BoxExec>;
    type Output = Value;

    async fn prep(&self, ctx: &Ctx<'_>, store: &StoreView, input: &Value) -> Result<Self::Prep, NodeError> {
        let (unit, save_as) = match (&self.journal, journaled(input)) {
            (Some(journal), Some((index, unit))) => {
                let key = unit_key(unit);
                if journal.has_items()
                    && let Some(saved) = journal.item(index, &key)
                {
                    return Ok(Unit::Saved(saved.clone()));
                }
                (unit, Some((index, key)))
            }
            _ => (input, None),
        };
        self.step(self.body.prep(ctx, store, unit).await).map(|prep| Unit::Run(Running { prep, save_as }))
    }

    async fn exec(&self, ctx: &Ctx<'_>, prep: &Self::Prep) -> Result<Self::Exec, NodeError> {
        match prep {
            Unit::Saved(value) => Ok(Unit::Saved(value.clone())),
            Unit::Run(running) => self.step(self.body.exec(ctx, &running.prep).await).map(Unit::Run),
        }
    }

    async fn post(
        &self,
        ctx: &Ctx<'_>,
        store: &Store,
        input: Value,
        prep: Self::Prep,
        exec: Self::Exec,
    ) -> Result<(Value, Next), NodeError> {
        let (Running { prep, save_as }, exec) = match (prep, exec) {
            (Unit::Run(running), Unit::Run(exec)) => (running, exec),
            (_, Unit::Saved(value)) | (Unit::Saved(value), _) => {
                self.progress(self.failed.load(Ordering::Relaxed));
                return Ok((value, Next::Default));
            }
        };
        // A journaled unit came as `[index, unit]`: the body gets the unit.
        let unit = match (&save_as, input) {
            (Some(_), Value::Array(mut pair)) => pair.pop().unwrap_or_default(),
            (_, input) => input,
        };
        let out = self.step(self.body.post(ctx, store, unit, prep, exec).await)?;
        if let (Some(journal), Some((index, key))) = (&self.journal, save_as) {
            let ack = journal.save_item(index, key, out.0.clone());
            let saved = match (journal.durability(), ack.error_now()) {
                (_, Some(e)) => Err(e.clone()),
                (pocket::durable::Durability::Machine, None) => ack.wait().await,
                _ => Ok(()),
            };
            saved.map_err(|e| NodeError::fatal_msg(format!("map: cannot save the result of item {index}: {e}")))?;
        }
        self.progress(self.failed.load(Ordering::Relaxed));
        Ok(out)
    }
}

/// The items run on the run's store: item `i` on the scope `<node>:item-<i>:` of it, under
/// the run's cancellation.
impl Compose for MapNode {
    type Input = Value;
    type Output = Value;

    async fn run(&self, cx: &RunCx<'_>, input: &Value) -> Result<Value, NodeError> {
        let result = self.run_items(cx, input).await;
        if result.is_err() && cx.token().is_cancelled() {
            return Err(NodeError::cancelled());
        }
        result
    }
}

impl MapNode {
    async fn items_of(&self, input: &Value) -> Result<Vec<Value>, NodeError> {
        let items = match &self.items {
            None => input.clone(),
            Some(jq) => {
                jq.run(input).await.map_err(|e| NodeError::fatal_msg(format!("map: items: {}", pocket::report(&e))))?
            }
        };
        match items {
            Value::Array(items) => Ok(items),
            other => Err(NodeError::fatal_msg(format!(
                "map: items: the expression gave {}, not a list",
                pocket_yaml::describe(&other)
            ))),
        }
    }

    async fn run_items(&self, cx: &RunCx<'_>, input: &Value) -> Result<Value, NodeError> {
        if self.items_file.is_some() || self.output_file.is_some() {
            return self.run_streamed(cx, input).await;
        }
        let items = self.items_of(input).await?;
        let total = items.len();
        let units: Vec<Value> = if self.batch > 1 {
            items.chunks(self.batch).map(|chunk| Value::Array(chunk.to_vec())).collect()
        } else {
            items
        };
        let unit_count = units.len();
        let token = cx.token().child_token();
        let tolerated = self.tolerated(Some(unit_count));
        let journal = cx.ctx().journal();
        let units = if journal.is_some() { index_units(units) } else { units };
        let fan_out = self.fan_out(unit_count, tolerated, &token, journal);
        let store = cx.store().scope(cx.node());
        let failure = |e: &ItemError| format!("{} {} failed: {}", self.what(), e.index, pocket::report(&e.error));
        if self.on_error == OnError::FailFast {
            let results = fan_out
                .run_with(&store, units, &token)
                .await
                .map_err(|e| NodeError::fatal_msg(format!("map: {}", failure(&e))))?;
            return Ok(json!({
                "results": results,
                "errors": [],
                "stats": {"total": total, "succeeded": unit_count, "failed": 0},
            }));
        }
        let all = fan_out.run_all_with(&store, units, &token).await;
        // (Past the tolerated number the rest were cancelled, and count as failed too.)
        if fan_out.node().failed.load(Ordering::Relaxed) > tolerated {
            // The first failure of its own: the items cancelled because of it are not the cause.
            let errors = || all.iter().filter_map(|r| r.as_ref().err());
            let first = errors().find(|e| !cancelled(&e.error)).or_else(|| errors().next());
            let first = first.map(failure).unwrap_or_default();
            return Err(self.too_many(tolerated, unit_count, &first));
        }
        let mut results = Vec::with_capacity(unit_count);
        let mut errors = Vec::new();
        for result in all {
            match result {
                Ok(out) => results.push(out),
                Err(e) => {
                    let error = json!({"index": e.index, "error": pocket::report(&e.error)});
                    if self.on_error == OnError::Collect {
                        results.push(error.clone());
                    }
                    errors.push(error);
                }
            }
        }
        let failed = errors.len();
        Ok(json!({
            "results": results,
            "errors": errors,
            "stats": {"total": total, "succeeded": unit_count - failed, "failed": failed},
        }))
    }

    /// `item` or `batch`, in messages.
    fn what(&self) -> &'static str {
        if self.batch > 1 { "batch" } else { "item" }
    }

    /// The failures tolerated among `units` (unknown for a file until its end).
    fn tolerated(&self, units: Option<usize>) -> usize {
        match (self.on_error, self.max_failures, units) {
            (OnError::FailFast, _, _) => 0,
            (_, None, _) => usize::MAX,
            (_, Some(tolerance), Some(units)) => tolerance.of(units),
            (_, Some(Tolerance::Count(n)), None) => usize::try_from(n).unwrap_or(usize::MAX),
            (_, Some(Tolerance::Share(_)), None) => usize::MAX,
        }
    }

    fn too_many(&self, tolerated: usize, units: usize, first: &str) -> NodeError {
        let plural = if self.batch > 1 { "batches" } else { "items" };
        NodeError::fatal_msg(format!(
            "map: more than {tolerated} of {units} {plural} failed (`max_failures`); the first: {first}"
        ))
    }

    fn fan_out(
        &self,
        total: usize,
        tolerated: usize,
        token: &CancellationToken,
        journal: Option<pocket::durable::StepJournal>,
    ) -> FanOut<Counted> {
        let counted = Counted {
            body: self.body.clone(),
            journal,
            node: self.name.clone(),
            total,
            done: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            tolerated,
            stop: token.clone(),
        };
        let fan_out = FanOut::new(counted).name(self.name.clone()).limit(self.limit);
        match self.pause {
            Some(pause) => fan_out.pause(pause),
            None => fan_out,
        }
    }

    /// Items from a file, or results to one: the items are read as they start and the results
    /// handed on in order as they come, a window of them at a time.
    async fn run_streamed(&self, cx: &RunCx<'_>, input: &Value) -> Result<Value, NodeError> {
        use futures_util::StreamExt;
        type Units = std::pin::Pin<Box<dyn futures_util::Stream<Item = Value> + Send>>;
        let (items, lines): (Units, Option<Arc<items::Lines>>) = match &self.items_file {
            Some((path, format)) => {
                let (stream, lines) = items::open(&self.base_dir, path, *format)?;
                (Box::pin(stream), Some(lines))
            }
            None => (Box::pin(futures_util::stream::iter(self.items_of(input).await?)), None),
        };
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        let items = items.inspect(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
        let units: Units =
            if self.batch > 1 { Box::pin(items.chunks(self.batch).map(Value::Array)) } else { Box::pin(items) };
        let journal = cx.ctx().journal();
        let units: Units = if journal.is_some() {
            Box::pin(units.enumerate().map(|(i, unit)| Value::Array(vec![json!(i), unit])))
        } else {
            units
        };
        let sandbox = match &self.output_file {
            Some(_) => Some(Sandbox::open(&self.base_dir)?),
            None => None,
        };
        let mut output = match (&self.output_file, &sandbox) {
            (Some(path), Some(sandbox)) => Some(items::Output::create(sandbox, path)?),
            _ => None,
        };
        let token = cx.token().child_token();
        let tolerated = self.tolerated(None);
        let fan_out = self.fan_out(0, tolerated, &token, journal);
        let store = cx.store().scope(cx.node());
        let mut results = Vec::new();
        let mut errors = Vec::new();
        let (mut units_done, mut failed, mut stopped) = (0usize, 0usize, None);
        // The line of a unit's first item (a batch's later items are taken with it).
        let line_of = |lines: &Option<Arc<items::Lines>>| {
            let lines = lines.as_ref()?;
            let first = lines.take();
            for _ in 1..self.batch {
                lines.take();
            }
            first
        };
        let window = self.limit.saturating_mul(4).max(64);
        fan_out
            .run_stream_with(&store, units, &token, window, |index, result| {
                units_done += 1;
                let line = line_of(&lines);
                let at = match line {
                    Some(line) if self.batch == 1 => format!("{} {index} (line {line})", self.what()),
                    Some(line) => format!("{} {index} (from line {line})", self.what()),
                    None => format!("{} {index}", self.what()),
                };
                let written = match result {
                    Ok(out) => match &mut output {
                        Some(file) => file.write(&out),
                        None => {
                            results.push(out);
                            Ok(())
                        }
                    },
                    // Cancelled because another item failed past what is tolerated: that
                    // item's error is the one to report, and it is still to come.
                    Err(e) if token.is_cancelled() && !cx.token().is_cancelled() && cancelled(&e.error) => Ok(()),
                    Err(e) => {
                        failed += 1;
                        let message = format!("{at} failed: {}", pocket::report(&e.error));
                        if self.on_error == OnError::FailFast || failed > tolerated {
                            stopped = Some(message);
                            return false;
                        }
                        let mut error = json!({"index": index, "error": pocket::report(&e.error)});
                        if let Some(line) = line {
                            error["line"] = json!(line);
                        }
                        let written = match (self.on_error, &mut output) {
                            (OnError::Collect, Some(file)) => file.write(&error),
                            (OnError::Collect, None) => {
                                results.push(error.clone());
                                Ok(())
                            }
                            _ => Ok(()),
                        };
                        // With a file, the errors kept in the output are the first ones only.
                        if output.is_none() || errors.len() < MAX_ERRORS_LISTED {
                            errors.push(error);
                        }
                        written
                    }
                };
                match written {
                    Ok(()) => true,
                    Err(e) => {
                        stopped = Some(pocket::report(&e));
                        false
                    }
                }
            })
            .await;
        if let Some(e) = lines.as_ref().and_then(|l| l.error()) {
            return Err(NodeError::fatal_msg(format!("map: {e}")));
        }
        if let Some(message) = stopped {
            if failed > tolerated && self.on_error != OnError::FailFast {
                return Err(self.too_many(tolerated, units_done, &message));
            }
            return Err(NodeError::fatal_msg(format!("map: {message}")));
        }
        // A share of a file's items is known only now.
        if let Some(Tolerance::Share(_)) = self.max_failures
            && self.on_error != OnError::FailFast
        {
            let share = self.tolerated(Some(units_done));
            if failed > share {
                let first = errors.first().map(|e| e["error"].to_string()).unwrap_or_default();
                return Err(self.too_many(share, units_done, &first));
            }
        }
        let stats = json!({
            "total": seen.load(Ordering::Relaxed),
            "succeeded": units_done - failed,
            "failed": failed,
        });
        match (output, &self.output_file) {
            (Some(file), Some(path)) => {
                file.commit()?;
                Ok(
                    json!({"output_file": path, "count": units_done, "failed": failed, "errors": errors, "stats": stats}),
                )
            }
            _ => Ok(json!({"results": results, "errors": errors, "stats": stats})),
        }
    }
}

/// Units as `[index, unit]`, as a journaled fan-out takes them.
fn index_units(units: Vec<Value>) -> Vec<Value> {
    units.into_iter().enumerate().map(|(i, unit)| Value::Array(vec![json!(i), unit])).collect()
}

/// Whether an item's error is its cancellation.
fn cancelled(error: &pocket::RunError) -> bool {
    matches!(error, pocket::RunError::Cancelled { .. }) || error.node_error().is_some_and(NodeError::is_cancelled)
}

/// With `output_file`, at most this many errors are listed in the node's output (all are
/// counted; with `on_error: collect` all are in the file).
const MAX_ERRORS_LISTED: usize = 100;

//! The workflow file format (the Go original's), parsed with locations and validated whole.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use crate::duration::parse_duration;
use crate::located::Located;
use crate::retry::RetrySpec;
use crate::value::{kind_of, number};

/// Where something is in the file (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Position {
    /// Line.
    pub line: u64,
    /// Column.
    pub column: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Scalars read as the original's YAML library reads them: only `true`/`false` are booleans
/// (`yes`, `y`, `on` stay strings, as in YAML 1.2), and `0755` is octal.
///
/// The reader's size budget is raised to what a large real workflow needs (a 100,000-node file
/// is about 2.5 million YAML values); the other limits — nesting, aliases, anchors, input bytes —
/// stay the reader's, which guard against alias bombs and deep nesting.
pub(crate) fn go_yaml() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        legacy_octal_numbers: true,
        budget: serde_saphyr::budget! {
            max_nodes: MAX_YAML_VALUES,
            max_events: MAX_YAML_VALUES * 2,
        },
    }
}

/// The most YAML values (keys, scalars, lists, mappings) a workflow file may hold.
pub const MAX_YAML_VALUES: usize = 4_000_000;

/// A breach of the reader's budget in words (the reader names it like `Depth { depth: 65 }`,
/// however deep inside its error it sits).
fn budget_message(breach: &str) -> String {
    let name = breach.split([' ', '{']).next().unwrap_or_default();
    match name {
        "Nodes" | "Events" => {
            format!(
                "the file is too large: it holds more than {MAX_YAML_VALUES} YAML values (keys, values and list items)"
            )
        }
        "Depth" => "the file nests too deep (more than 64 levels of lists and mappings)".to_string(),
        "Aliases" | "Anchors" | "AliasAnchorRatio" | "RecordedAnchorEvents" | "RecordedAnchorBytes" => {
            "the file uses too many YAML aliases or anchors (an alias bomb?)".to_string()
        }
        "InputBytes" => "the file is too large to read (more than 256 MiB)".to_string(),
        "ScalarBytes" => "the file's text values are too large (more than 64 MiB in all)".to_string(),
        "Documents" => "the file holds too many YAML documents (`---`)".to_string(),
        _ => "the file exceeds a size limit of the YAML reader".to_string(),
    }
}

pub(crate) fn at<T>(spanned: &Spanned<T>) -> Position {
    Position { line: spanned.referenced.line(), column: spanned.referenced.column() }
}

/// How bad a [`Problem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Nothing runs until it is fixed.
    Error,
    /// Legal but suspicious (fatal with `pocket validate --strict`).
    Warning,
}

/// What kind of [`Problem`] it is: for tools that filter or count problems without reading
/// the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// The file cannot be read.
    Io,
    /// The file is not valid YAML.
    Syntax,
    /// A `${VAR}` in a value names a variable that is not set (and has no default), or is
    /// malformed.
    Environment,
    /// A key nobody reads (a warning at the top and node level, as the original ignored them;
    /// an error inside settings such as `retry`).
    UnknownKey,
    /// A required key is missing.
    Missing,
    /// A value of the wrong shape or out of range.
    Invalid,
    /// A reference to a node that is not defined (`start`, `from`, `to`, `fallback`).
    UnknownNode,
    /// A `type:` no node type answers to.
    UnknownType,
    /// Two nodes share a name.
    DuplicateNode,
    /// Two connections leave a node on the same action (the last wins).
    DuplicateConnection,
    /// No connection reaches the node from `start`.
    Unreachable,
    /// A node type's config cannot be used (an unknown or mistyped field, a template that does
    /// not parse, ...).
    Config,
    /// The graph the file describes cannot be built.
    Graph,
}

/// One problem in a workflow file, with where it is and what it is about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// Where in the file, when known.
    pub position: Option<Position>,
    /// The node it is about, if any.
    pub node: Option<String>,
    /// The field (`type`, `retry.delay`, `connections[2].to`, ...), if any.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// An error of `kind`.
    pub fn error(kind: ProblemKind, message: impl Into<String>) -> Self {
        Problem { severity: Severity::Error, kind, position: None, node: None, field: None, message: message.into() }
    }

    /// A warning of `kind`.
    pub fn warning(kind: ProblemKind, message: impl Into<String>) -> Self {
        Problem { severity: Severity::Warning, ..Problem::error(kind, message) }
    }

    /// The same problem at `position`.
    #[must_use]
    pub fn at(mut self, position: Position) -> Self {
        self.position = Some(position);
        self
    }

    /// The same problem about node `node`.
    #[must_use]
    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// The same problem about `field`.
    #[must_use]
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(position) = self.position {
            write!(f, "{position}: ")?;
        }
        if let Some(node) = &self.node {
            write!(f, "node `{node}`: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "`{field}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Why a workflow file could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file is not valid YAML (or not the expected shape).
    #[error("{origin}:{}: {message}", .position.map_or("?".to_string(), |p| p.to_string()))]
    Syntax {
        /// The file name (or `<input>`).
        origin: String,
        /// Where the parser stopped.
        position: Option<Position>,
        /// The parser's message.
        message: String,
    },
    /// The file parses but is not a valid workflow; every problem is listed.
    #[error("{origin}: the workflow is invalid ({} problem{}):\n{}", .problems.len(), if .problems.len() == 1 { "" } else { "s" }, .problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        /// The file name (or `<input>`).
        origin: String,
        /// Every problem found.
        problems: Vec<Problem>,
        /// Warnings found alongside.
        warnings: Vec<Problem>,
        /// The nodes that could be read despite the problems, so that later checks (node
        /// types, configs) can report theirs in the same run.
        nodes: Vec<NodeDef>,
    },
}

/// Node-level `circuit_breaker:` of a workflow file.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSpec {
    /// Consecutive failures that open the breaker (at least 1).
    pub failure_threshold: u32,
    /// How long it stays open before letting trials through.
    pub open_for: Duration,
    /// Trial calls let through at once while half-open (default 1).
    pub half_open_trials: u32,
}

/// Node-level `cache:` of a workflow file.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheSpec {
    /// Entries kept (0: unbounded).
    pub max_entries: usize,
    /// How long a result is kept, if limited.
    pub ttl: Option<Duration>,
}

/// A validated node definition.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeDef {
    /// The node's name.
    pub name: String,
    /// The node type (`echo`, `http`, ...).
    pub kind: String,
    /// The node's config (an absent or empty `config:` is an empty map).
    pub config: Map<String, Value>,
    /// Node-level retry, if any.
    pub retry: Option<RetrySpec>,
    /// Node-level timeout, if any.
    pub timeout: Option<Duration>,
    /// Node-level circuit breaker, if any.
    pub circuit_breaker: Option<BreakerSpec>,
    /// Node-level result cache, if any.
    pub cache: Option<CacheSpec>,
    /// The node to run instead when this one fails, if any (checked to exist).
    pub fallback: Option<String>,
    /// Where the node is defined.
    pub position: Position,
    /// Where each node-level key present (`type`, `config`, `retry`, `timeout`,
    /// `circuit_breaker`, `cache`, `fallback`) has its value: problems point there.
    pub positions: BTreeMap<&'static str, Position>,
    /// Where each part of `config` is, by its path (`url`, `tasks[3].config.type`).
    pub config_positions: BTreeMap<String, Position>,
}

impl NodeDef {
    /// Where the node-level key `key`'s value is (the node's position if it is absent).
    pub fn position_of(&self, key: &str) -> Position {
        self.positions.get(key).copied().unwrap_or(self.position)
    }

    /// Where the config field `path` (`url`, `tasks[3].config.type`) is: its own value, else
    /// the nearest enclosing part present (a missing field points at its mapping), else
    /// `config:` itself.
    pub fn config_position_of(&self, path: &str) -> Position {
        let mut path = path;
        loop {
            if let Some(position) = self.config_positions.get(path) {
                return *position;
            }
            match path.rfind(['.', '[']) {
                Some(end) => path = &path[..end],
                None => return self.position_of("config"),
            }
        }
    }
}

/// A validated connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The source node.
    pub from: String,
    /// The target node.
    pub to: String,
    /// The action (default `default`).
    pub action: String,
    /// Where it is defined.
    pub position: Position,
}

/// A parsed, validated workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `version` (as written).
    pub version: Option<String>,
    /// `metadata` (readable from the store).
    pub metadata: Map<String, Value>,
    /// `start`.
    pub start: String,
    /// The nodes, in file order.
    pub nodes: Vec<NodeDef>,
    /// The connections, in file order; of duplicate `(from, action)` pairs only the last is kept.
    pub connections: Vec<Connection>,
    /// `limits`: the named limits nodes share, by name.
    pub limits: BTreeMap<String, LimitSpec>,
    /// Warnings: unknown keys, duplicate connections, unreachable nodes.
    pub warnings: Vec<Problem>,
}

/// One of a workflow's named `limits:`, shared by every node and `map` item that names it.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitSpec {
    /// Requests started per second (`requests_per_second`, or `requests_per_minute` / 60).
    pub requests_per_second: Option<f64>,
    /// The most requests started at once after a quiet spell (default: one second's worth,
    /// at least 1).
    pub burst: Option<u32>,
    /// LLM tokens per minute (an `llm` call's estimate is taken before it and reconciled with
    /// the usage reported after it).
    pub tokens_per_minute: Option<u64>,
    /// The most calls in flight at once.
    pub max_concurrency: Option<usize>,
    /// Where it is defined.
    pub position: Position,
}

/// The settings of a named limit.
pub const LIMIT_KEYS: [&str; 5] =
    ["requests_per_second", "requests_per_minute", "burst", "tokens_per_minute", "max_concurrency"];

#[derive(Deserialize)]
struct RawWorkflow {
    name: Option<Spanned<Value>>,
    description: Option<Value>,
    version: Option<Value>,
    metadata: Option<Spanned<Value>>,
    start: Option<Spanned<Value>>,
    nodes: Option<Spanned<Vec<Spanned<RawNode>>>>,
    connections: Option<Vec<Spanned<RawConnection>>>,
    limits: Option<Spanned<BTreeMap<String, Spanned<Value>>>>,
}

#[derive(Deserialize)]
struct RawNode {
    name: Option<Value>,
    /// Read by nothing, as in the original (documentation in the file).
    #[allow(dead_code)]
    description: Option<Value>,
    /// The original's typed-node declarations; ignored (types are the node types' own).
    #[allow(dead_code)]
    input_type: Option<Value>,
    #[allow(dead_code)]
    output_type: Option<Value>,
    #[serde(rename = "type")]
    kind: Option<Spanned<Value>>,
    config: Option<Spanned<Located>>,
    retry: Option<Spanned<Value>>,
    timeout: Option<Spanned<Value>>,
    circuit_breaker: Option<Spanned<Value>>,
    cache: Option<Spanned<Value>>,
    fallback: Option<Spanned<Value>>,
}

#[derive(Deserialize)]
struct RawConnection {
    from: Option<Value>,
    to: Option<Value>,
    action: Option<Value>,
}

const BREAKER_KEYS: [&str; 3] = ["failure_threshold", "open_for", "half_open_trials"];
const CACHE_KEYS: [&str; 2] = ["max_entries", "ttl"];

struct Report {
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Report {
    fn problem(
        &mut self,
        kind: ProblemKind,
        position: Option<Position>,
        node: Option<&str>,
        field: Option<&str>,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            severity: Severity::Error,
            kind,
            position,
            node: node.map(str::to_string),
            field: field.map(str::to_string),
            message: message.into(),
        });
    }

    fn warning(
        &mut self,
        kind: ProblemKind,
        position: Option<Position>,
        node: Option<&str>,
        field: Option<&str>,
        message: impl Into<String>,
    ) {
        self.warnings.push(Problem {
            severity: Severity::Warning,
            kind,
            position,
            node: node.map(str::to_string),
            field: field.map(str::to_string),
            message: message.into(),
        });
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The parser's message without its own `error: line L column C:` prefix (the position is
/// reported separately).
fn syntax_message(text: &str) -> String {
    if let Some((_, breach)) = text.split_once("budget breached: ") {
        return budget_message(breach);
    }
    let first = text.lines().next().unwrap_or_default();
    let rest = first.strip_prefix("error: ").unwrap_or(first);
    match rest.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((position, message)) if position.contains("column") => message.to_string(),
        _ => rest.to_string(),
    }
}

/// Parse and validate a workflow file. `origin` names the file in messages.
///
/// Every problem is reported at once: missing or unknown `name`/`start`/`from`/`to`, missing
/// `type`, duplicate node names, a `config` that is not a mapping, bad `retry`, `timeout`,
/// `circuit_breaker`, `cache` and `fallback` values (numbers may be integers, floats or numeric strings; durations use Go's syntax).
/// Warnings, which do not fail loading: unknown keys (the Go original ignored them), duplicate
/// `(from, action)` connections (the last one wins, as in the original; both lines are named)
/// and nodes unreachable from `start`.
///
/// # Errors
///
/// [`LoadError::Syntax`] with the line and column where the YAML is malformed;
/// [`LoadError::Invalid`] with every problem.
///
/// # Examples
///
/// ```
/// let source = "name: demo\nstart: hi\nnodes:\n  - name: hi\n    type: echo\n    config:\n      message: hello\n";
/// let workflow = pocket_yaml::parse_workflow(source, "demo.yaml").unwrap();
/// assert_eq!(workflow.nodes[0].kind, "echo");
///
/// let err = pocket_yaml::parse_workflow("name: demo\nstart: nope\nnodes: []\n", "bad.yaml").unwrap_err();
/// assert!(err.to_string().contains("at least one node"));
/// ```
pub fn parse_workflow(source: &str, origin: &str) -> Result<Workflow, LoadError> {
    parse(source, origin, None)
}

/// [`parse_workflow`], with `${VAR}` and `${VAR:-default}` in the file's string values
/// replaced by `env(VAR)` (see [`expand_env`](crate::expand_env) for the syntax). Only values
/// are expanded, after the YAML is parsed: a variable's value stays one string (it cannot add
/// keys, nodes or list items, and YAML in it is not read), and references in comments and keys
/// are never looked at.
///
/// # Errors
///
/// As [`parse_workflow`]; a reference to a variable that is not set (and has no default) is a
/// [`ProblemKind::Environment`] problem at the value's position.
///
/// # Examples
///
/// ```
/// let source = "name: demo\nstart: hi\nnodes:\n  - name: hi\n    type: echo\n    config:\n      message: ${GREETING}\n";
/// let env = |name: &str| (name == "GREETING").then(|| "hi\n  - name: evil".to_string());
/// let workflow = pocket_yaml::parse_workflow_with_env(source, "demo.yaml", &env).unwrap();
/// assert_eq!(workflow.nodes.len(), 1);
/// assert_eq!(workflow.nodes[0].config["message"], "hi\n  - name: evil");
/// ```
pub fn parse_workflow_with_env(
    source: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Workflow, LoadError> {
    parse(source, origin, Some(env))
}

/// Refuse plain integers beyond 64 bits: the YAML reader would silently make them the nearest
/// float. Only files with such a long run of digits are looked at again (the reader's own
/// event parser, which tells a plain `123…` from a quoted one).
fn large_integers(source: &str, report: &mut Report) {
    let long_digits = source.as_bytes().windows(19).any(|w| w.iter().all(u8::is_ascii_digit));
    if !long_digits {
        return;
    }
    for event in granit_parser::Parser::new_from_str(source) {
        let Ok((granit_parser::Event::Scalar(text, granit_parser::ScalarStyle::Plain, _, None), span)) = event else {
            continue;
        };
        let t = text.trim();
        let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
        if !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && t.parse::<i64>().is_err()
            && t.parse::<u64>().is_err()
        {
            let at = Position { line: span.start.line() as u64, column: span.start.col() as u64 + 1 };
            let shown: String = t.chars().take(40).collect();
            report.problem(
                ProblemKind::Invalid,
                Some(at),
                None,
                None,
                format!("the integer {shown} does not fit in 64 bits and would lose precision; quote it to keep it as a string"),
            );
        }
    }
}

/// Expand `${VAR}`s in every string value of the raw file, each at its position.
fn expand_raw(raw: &mut RawWorkflow, env: crate::env::Lookup<'_>, report: &mut Report) {
    use crate::env::{expand_located, expand_value};
    let mut problems = Vec::new();
    for spanned in [&mut raw.name, &mut raw.metadata, &mut raw.start].into_iter().flatten() {
        let at = at(spanned);
        expand_value(&mut spanned.value, at, env, &mut problems);
    }
    for value in [&mut raw.description, &mut raw.version].into_iter().flatten() {
        expand_value(value, Position::default(), env, &mut problems);
    }
    let nodes = raw.nodes.as_mut().map(|n| n.value.iter_mut()).into_iter().flatten();
    for node in nodes {
        let position = at(node);
        let node = &mut node.value;
        if let Some(name) = &mut node.name {
            expand_value(name, position, env, &mut problems);
        }
        for spanned in [
            &mut node.kind,
            &mut node.retry,
            &mut node.timeout,
            &mut node.circuit_breaker,
            &mut node.cache,
            &mut node.fallback,
        ]
        .into_iter()
        .flatten()
        {
            let at = at(spanned);
            expand_value(&mut spanned.value, at, env, &mut problems);
        }
        if let Some(config) = &mut node.config {
            let at = at(config);
            expand_located(&mut config.value, at, env, &mut problems);
        }
    }
    for connection in raw.connections.iter_mut().flatten() {
        let position = at(connection);
        let c = &mut connection.value;
        for value in [&mut c.from, &mut c.to, &mut c.action].into_iter().flatten() {
            expand_value(value, position, env, &mut problems);
        }
    }
    for spec in raw.limits.iter_mut().flat_map(|all| all.value.values_mut()) {
        let position = at(spec);
        expand_value(&mut spec.value, position, env, &mut problems);
    }
    for (message, position) in problems {
        let position = (position != Position::default()).then_some(position);
        report.problem(ProblemKind::Environment, position, None, None, message);
    }
}

fn parse(source: &str, origin: &str, env: Option<crate::env::Lookup<'_>>) -> Result<Workflow, LoadError> {
    let syntax = |e: serde_saphyr::Error| LoadError::Syntax {
        origin: origin.to_string(),
        position: e.location().map(|l| Position { line: l.line(), column: l.column() }),
        message: syntax_message(&e.to_string()),
    };
    // One pass: the keys no field reads are collected while the file is deserialized.
    let mut ignored: Vec<Vec<Segment>> = Vec::new();
    let raw: RawWorkflow = serde_saphyr::with_deserializer_from_str_with_options(source, go_yaml(), |de| {
        serde_ignored::deserialize(de, |path| ignored.extend(segments(&path)))
    })
    .map_err(syntax)?;
    let mut raw = raw;
    let mut report = Report { problems: Vec::new(), warnings: Vec::new() };
    large_integers(source, &mut report);
    if let Some(env) = env {
        expand_raw(&mut raw, env, &mut report);
    }
    unknown_keys(&ignored, &raw, &mut report);

    let name = match &raw.name {
        Some(n) => match text(&n.value).filter(|s| !s.trim().is_empty()) {
            Some(name) => name,
            None => {
                report.problem(
                    ProblemKind::Invalid,
                    Some(at(n)),
                    None,
                    Some("name"),
                    "the workflow name must be a non-empty string",
                );
                String::new()
            }
        },
        None => {
            report.problem(ProblemKind::Missing, None, None, Some("name"), "the workflow needs a `name`");
            String::new()
        }
    };
    let metadata = match &raw.metadata {
        None => Map::new(),
        Some(m) => match &m.value {
            Value::Object(map) => map.clone(),
            Value::Null => Map::new(),
            other => {
                report.problem(
                    ProblemKind::Invalid,
                    Some(at(m)),
                    None,
                    Some("metadata"),
                    format!("must be a mapping, not {}", kind_of(other)),
                );
                Map::new()
            }
        },
    };

    let mut nodes = Vec::new();
    let mut first_seen: HashMap<String, Position> = HashMap::new();
    match &raw.nodes {
        None => report.problem(ProblemKind::Missing, None, None, Some("nodes"), "the workflow needs at least one node"),
        Some(list) if list.value.is_empty() => report.problem(
            ProblemKind::Missing,
            Some(at(list)),
            None,
            Some("nodes"),
            "the workflow needs at least one node",
        ),
        Some(list) => {
            for (i, spanned) in list.value.iter().enumerate() {
                if let Some(node) = node_def(i, spanned, &mut report)
                    && !duplicate(&node, &mut first_seen, &mut report)
                {
                    nodes.push(node);
                }
            }
        }
    }
    let known: HashSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    for node in &nodes {
        if let Some(target) = &node.fallback {
            if target == &node.name {
                report.problem(
                    ProblemKind::Invalid,
                    Some(node.position_of("fallback")),
                    Some(&node.name),
                    Some("fallback"),
                    "a node cannot be its own fallback",
                );
            } else if !known.contains(target.as_str()) {
                let hint = suggest(target, &known);
                report.problem(
                    ProblemKind::UnknownNode,
                    Some(node.position_of("fallback")),
                    Some(&node.name),
                    Some("fallback"),
                    format!("node `{target}` is not defined{hint}"),
                );
            }
        }
    }

    let start = match &raw.start {
        None => {
            report.problem(ProblemKind::Missing, None, None, Some("start"), "the workflow needs a `start` node");
            String::new()
        }
        Some(s) => match text(&s.value) {
            Some(start) if known.contains(start.as_str()) => start,
            Some(start) if !known.is_empty() => {
                report.problem(
                    ProblemKind::UnknownNode,
                    Some(at(s)),
                    None,
                    Some("start"),
                    format!("start node `{start}` is not defined{}", suggest(&start, &known)),
                );
                start
            }
            Some(start) => start,
            None => {
                report.problem(ProblemKind::Invalid, Some(at(s)), None, Some("start"), "must be a node name");
                String::new()
            }
        },
    };

    let connections = connections(raw.connections.as_deref().unwrap_or_default(), &known, &mut report);
    let limits = raw
        .limits
        .iter()
        .flat_map(|all| all.value.iter())
        .filter_map(|(name, spec)| Some((name.clone(), limit_spec(name, at(spec), &spec.value, &mut report)?)))
        .collect();
    if report.problems.is_empty() {
        unreachable(&start, &nodes, &connections, &mut report);
    }
    if !report.problems.is_empty() {
        return Err(LoadError::Invalid {
            origin: origin.to_string(),
            problems: report.problems,
            warnings: report.warnings,
            nodes,
        });
    }
    Ok(Workflow {
        name,
        description: raw.description.as_ref().and_then(text),
        version: raw.version.as_ref().and_then(text),
        metadata,
        start,
        nodes,
        connections,
        limits,
        warnings: report.warnings,
    })
}

/// One named limit of `limits:`.
fn limit_spec(name: &str, position: Position, value: &Value, report: &mut Report) -> Option<LimitSpec> {
    let field = format!("limits.{name}");
    let fields = settings(value, &LIMIT_KEYS, position, None, &field, report)?;
    let before = report.problems.len();
    let mut rate = |key: &str| {
        let v = fields.get(key)?;
        match number(v) {
            Some(n) if n > 0.0 && n.is_finite() => Some(n),
            _ => {
                let message = format!("must be a number above 0, not {v}");
                report.problem(ProblemKind::Invalid, Some(position), None, Some(&format!("{field}.{key}")), message);
                None
            }
        }
    };
    let per_second = rate("requests_per_second");
    let per_minute = rate("requests_per_minute");
    if fields.contains_key("requests_per_second") && fields.contains_key("requests_per_minute") {
        report.problem(
            ProblemKind::Invalid,
            Some(position),
            None,
            Some(&field),
            "give `requests_per_second` or `requests_per_minute`, not both",
        );
    }
    let whole = |key: &str, report: &mut Report| {
        fields.get(key).and_then(|v| count(v, 1.0, position, None, &format!("{field}.{key}"), report))
    };
    let burst = whole("burst", report);
    let tokens = whole("tokens_per_minute", report);
    let concurrency = whole("max_concurrency", report);
    if fields.contains_key("burst") && per_second.is_none() && per_minute.is_none() {
        report.problem(
            ProblemKind::Invalid,
            Some(position),
            None,
            Some(&format!("{field}.burst")),
            "is the burst of a request rate, and none is given",
        );
    }
    if fields.is_empty() {
        report.problem(
            ProblemKind::Missing,
            Some(position),
            None,
            Some(&field),
            format!("limits nothing (give one of: {})", LIMIT_KEYS.join(", ")),
        );
    }
    if report.problems.len() != before {
        return None;
    }
    Some(LimitSpec {
        requests_per_second: per_second.or(per_minute.map(|n| n / 60.0)),
        burst: burst.map(|b| b as u32),
        tokens_per_minute: tokens,
        max_concurrency: concurrency.map(|c| c as usize),
        position,
    })
}

/// One step of a path into the file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// The span wrapper's own bookkeeping key (its value is read through another protocol).
const SPAN_KEY: &str = "__serde_saphyr_private_spanned";

/// The keys and indices of an ignored value's path, the span wrappers left out; `None` for
/// the wrappers' own bookkeeping, which is not in the file.
fn segments(path: &serde_ignored::Path<'_>) -> Option<Vec<Segment>> {
    let mut out = Vec::new();
    let mut current = path;
    loop {
        current = match current {
            serde_ignored::Path::Root => break,
            serde_ignored::Path::Seq { parent, index } => {
                out.push(Segment::Index(*index));
                parent
            }
            serde_ignored::Path::Map { key, .. } if key == SPAN_KEY => return None,
            // A span wrapper holds the spanned value under `value`: not a key of the file.
            serde_ignored::Path::Map { parent: parent @ serde_ignored::Path::NewtypeStruct { .. }, key }
                if key == "value" =>
            {
                parent
            }
            serde_ignored::Path::Map { parent, key } => {
                out.push(Segment::Key(key.clone()));
                parent
            }
            serde_ignored::Path::Some { parent }
            | serde_ignored::Path::NewtypeStruct { parent }
            | serde_ignored::Path::NewtypeVariant { parent } => parent,
        };
    }
    out.reverse();
    Some(out)
}

/// Warnings for the keys the original ignored (and so does Pocket): at the top, in a node, in
/// a connection. Settings inside `retry`, `circuit_breaker` and `cache` are checked by their
/// own parsers (unknown ones are errors there).
fn unknown_keys(ignored: &[Vec<Segment>], raw: &RawWorkflow, report: &mut Report) {
    let node_name = |index: usize| {
        let nodes = raw.nodes.as_ref()?;
        nodes.value.get(index)?.value.name.as_ref().and_then(text)
    };
    for path in ignored {
        match path.as_slice() {
            [Segment::Key(key)] => {
                report.warning(ProblemKind::UnknownKey, None, None, Some(key), "unknown top-level key, ignored");
            }
            [Segment::Key(list), Segment::Index(i), Segment::Key(key)] if list == "nodes" => {
                let name = node_name(*i);
                report.warning(ProblemKind::UnknownKey, None, name.as_deref(), Some(key), "unknown node key, ignored");
            }
            [Segment::Key(list), Segment::Index(i), Segment::Key(key)] if list == "connections" => {
                let field = format!("connections[{i}].{key}");
                report.warning(ProblemKind::UnknownKey, None, None, Some(&field), "unknown connection key, ignored");
            }
            _ => {}
        }
    }
}

fn node_def(index: usize, spanned: &Spanned<RawNode>, report: &mut Report) -> Option<NodeDef> {
    let position = at(spanned);
    let raw = &spanned.value;
    let Some(name) = raw.name.as_ref().and_then(text).filter(|n| !n.trim().is_empty()) else {
        report.problem(
            ProblemKind::Missing,
            Some(position),
            None,
            Some(&format!("nodes[{index}].name")),
            "every node needs a name",
        );
        return None;
    };
    let node = Some(name.as_str());
    // Each node-level key's problems point at its own value; the node's line when it is absent.
    let mut positions = BTreeMap::new();
    if let Some(config) = &raw.config {
        positions.insert("config", at(config));
    }
    for (key, field) in [
        ("type", &raw.kind),
        ("retry", &raw.retry),
        ("timeout", &raw.timeout),
        ("circuit_breaker", &raw.circuit_breaker),
        ("cache", &raw.cache),
        ("fallback", &raw.fallback),
    ] {
        if let Some(field) = field {
            positions.insert(key, at(field));
        }
    }
    let place = |key: &str| positions.get(key).copied().unwrap_or(position);
    let kind = match raw.kind.as_ref().and_then(|k| text(&k.value)) {
        Some(kind) => kind,
        None => {
            report.problem(ProblemKind::Missing, Some(place("type")), node, Some("type"), "every node needs a `type`");
            String::new()
        }
    };
    let mut config_positions = BTreeMap::new();
    let config = raw.config.as_ref().map(|c| c.value.to_value("", &mut config_positions));
    let config = match config {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(other) => {
            report.problem(
                ProblemKind::Invalid,
                Some(place("config")),
                node,
                Some("config"),
                format!("must be a mapping, not {}", kind_of(&other)),
            );
            Map::new()
        }
    };
    let timeout =
        raw.timeout.as_ref().and_then(|t| duration_field(&t.value, place("timeout"), node, "timeout", report));
    let retry = raw.retry.as_ref().and_then(|r| retry_spec(&r.value, place("retry"), node, report));
    let circuit_breaker =
        raw.circuit_breaker.as_ref().and_then(|b| breaker_spec(&b.value, place("circuit_breaker"), node, report));
    let cache = raw.cache.as_ref().and_then(|c| cache_spec(&c.value, place("cache"), node, report));
    let fallback = match &raw.fallback {
        None => None,
        Some(v) => match text(&v.value) {
            Some(target) => Some(target),
            None => {
                report.problem(
                    ProblemKind::Invalid,
                    Some(place("fallback")),
                    node,
                    Some("fallback"),
                    format!("must be a node name, not {}", kind_of(&v.value)),
                );
                None
            }
        },
    };
    Some(NodeDef {
        name,
        kind,
        config,
        retry,
        timeout,
        circuit_breaker,
        cache,
        fallback,
        position,
        positions,
        config_positions,
    })
}

fn duration_field(
    value: &Value,
    position: Position,
    node: Option<&str>,
    field: &str,
    report: &mut Report,
) -> Option<Duration> {
    match value {
        Value::String(s) => match parse_duration(s) {
            Ok(d) => Some(d),
            Err(e) => {
                report.problem(ProblemKind::Invalid, Some(position), node, Some(field), e.to_string());
                None
            }
        },
        other => {
            report.problem(
                ProblemKind::Invalid,
                Some(position),
                node,
                Some(field),
                format!("must be a duration like `30s`, not {}", kind_of(other)),
            );
            None
        }
    }
}

fn retry_spec(value: &Value, position: Position, node: Option<&str>, report: &mut Report) -> Option<RetrySpec> {
    match RetrySpec::from_value(value) {
        Ok(spec) => Some(spec),
        Err(problems) => {
            for (key, message) in problems {
                let field = if key.is_empty() { "retry".to_string() } else { format!("retry.{key}") };
                let unknown = !key.is_empty() && !crate::retry::RETRY_KEYS.contains(&key.as_str());
                let kind = if unknown { ProblemKind::UnknownKey } else { ProblemKind::Invalid };
                report.problem(kind, Some(position), node, Some(&field), message);
            }
            None
        }
    }
}

/// The settings mapping of `field`, with unknown settings reported.
fn settings<'a>(
    value: &'a Value,
    known: &[&str],
    position: Position,
    node: Option<&str>,
    field: &str,
    report: &mut Report,
) -> Option<&'a Map<String, Value>> {
    let Value::Object(fields) = value else {
        report.problem(
            ProblemKind::Invalid,
            Some(position),
            node,
            Some(field),
            format!("must be a mapping, not {}", kind_of(value)),
        );
        return None;
    };
    for key in fields.keys().filter(|k| !known.contains(&k.as_str())) {
        report.problem(
            ProblemKind::UnknownKey,
            Some(position),
            node,
            Some(&format!("{field}.{key}")),
            format!("unknown setting (known: {})", known.join(", ")),
        );
    }
    Some(fields)
}

/// A whole number of at least `min`, written as an integer, a float or a numeric string.
fn count(
    value: &Value,
    min: f64,
    position: Position,
    node: Option<&str>,
    field: &str,
    report: &mut Report,
) -> Option<u64> {
    match number(value) {
        Some(n) if n >= min && n.fract() == 0.0 && n <= u32::MAX as f64 => Some(n as u64),
        _ => {
            report.problem(
                ProblemKind::Invalid,
                Some(position),
                node,
                Some(field),
                format!("must be a whole number of at least {min}, not {value}"),
            );
            None
        }
    }
}

fn breaker_spec(value: &Value, position: Position, node: Option<&str>, report: &mut Report) -> Option<BreakerSpec> {
    let fields = settings(value, &BREAKER_KEYS, position, node, "circuit_breaker", report)?;
    let before = report.problems.len();
    let threshold = match fields.get("failure_threshold") {
        Some(v) => count(v, 1.0, position, node, "circuit_breaker.failure_threshold", report),
        None => {
            report.problem(
                ProblemKind::Missing,
                Some(position),
                node,
                Some("circuit_breaker.failure_threshold"),
                "is required",
            );
            None
        }
    };
    let open_for = match fields.get("open_for") {
        Some(v) => duration_field(v, position, node, "circuit_breaker.open_for", report),
        None => {
            report.problem(ProblemKind::Missing, Some(position), node, Some("circuit_breaker.open_for"), "is required");
            None
        }
    };
    let trials = fields
        .get("half_open_trials")
        .map_or(Some(1), |v| count(v, 1.0, position, node, "circuit_breaker.half_open_trials", report));
    if report.problems.len() != before {
        return None;
    }
    Some(BreakerSpec { failure_threshold: threshold? as u32, open_for: open_for?, half_open_trials: trials? as u32 })
}

fn cache_spec(value: &Value, position: Position, node: Option<&str>, report: &mut Report) -> Option<CacheSpec> {
    let fields = settings(value, &CACHE_KEYS, position, node, "cache", report)?;
    let before = report.problems.len();
    let max_entries =
        fields.get("max_entries").map_or(Some(0), |v| count(v, 0.0, position, node, "cache.max_entries", report));
    let ttl = fields.get("ttl").and_then(|v| duration_field(v, position, node, "cache.ttl", report));
    if report.problems.len() != before {
        return None;
    }
    Some(CacheSpec { max_entries: max_entries? as usize, ttl })
}

fn duplicate(node: &NodeDef, first_seen: &mut HashMap<String, Position>, report: &mut Report) -> bool {
    match first_seen.get(&node.name) {
        Some(first) => {
            report.problem(
                ProblemKind::DuplicateNode,
                Some(node.position),
                Some(&node.name),
                None,
                format!("is defined twice (first at line {})", first.line),
            );
            true
        }
        None => {
            first_seen.insert(node.name.clone(), node.position);
            false
        }
    }
}

fn connections(raw: &[Spanned<RawConnection>], known: &HashSet<&str>, report: &mut Report) -> Vec<Connection> {
    let mut out: Vec<Connection> = Vec::new();
    let mut index_of: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (i, spanned) in raw.iter().enumerate() {
        let position = at(spanned);
        let mut end = |value: &Option<Value>, field: &str| -> Option<String> {
            let field = format!("connections[{i}].{field}");
            match value.as_ref().and_then(text) {
                None => {
                    report.problem(ProblemKind::Missing, Some(position), None, Some(&field), "is required");
                    None
                }
                Some(name) if !known.contains(name.as_str()) => {
                    report.problem(
                        ProblemKind::UnknownNode,
                        Some(position),
                        None,
                        Some(&field),
                        format!("node `{name}` is not defined{}", suggest(&name, known)),
                    );
                    None
                }
                Some(name) => Some(name),
            }
        };
        let from = end(&spanned.value.from, "from");
        let to = end(&spanned.value.to, "to");
        let action = spanned.value.action.as_ref().and_then(text).unwrap_or_else(|| "default".to_string());
        let (Some(from), Some(to)) = (from, to) else { continue };
        let connection = Connection { from: from.clone(), to, action: action.clone(), position };
        match index_of.get(&(from.clone(), action.clone())) {
            Some(&earlier) => {
                report.warning(ProblemKind::DuplicateConnection,
                    Some(position),
                    Some(&from),
                    None,
                    format!(
                        "two connections for action `{action}`: line {} (to `{}`) and line {} (to `{}`); the last one wins",
                        out[earlier].position.line, out[earlier].to, position.line, connection.to
                    ),
                );
                out[earlier] = connection;
            }
            None => {
                index_of.insert((from, action), out.len());
                out.push(connection);
            }
        }
    }
    out
}

fn unreachable(start: &str, nodes: &[NodeDef], connections: &[Connection], report: &mut Report) {
    let mut reached: HashSet<&str> = HashSet::from([start]);
    let mut queue = VecDeque::from([start]);
    while let Some(name) = queue.pop_front() {
        for c in connections.iter().filter(|c| c.from == name) {
            if reached.insert(c.to.as_str()) {
                queue.push_back(c.to.as_str());
            }
        }
    }
    for node in nodes.iter().filter(|n| !reached.contains(n.name.as_str())) {
        report.warning(
            ProblemKind::Unreachable,
            Some(node.position),
            Some(&node.name),
            None,
            "is unreachable from the start node",
        );
    }
}

/// ` (did you mean `x`?)` for the closest known name, if it is close.
pub(crate) fn suggest(name: &str, known: &HashSet<&str>) -> String {
    did_you_mean(name, known.iter().copied())
}

/// The known name closest to a misspelt one, if any is close (edit distance at most 2, or a
/// third of the name).
///
/// ```
/// assert_eq!(pocket_yaml::closest("tempalte", ["template", "echo"]), Some("template"));
/// assert_eq!(pocket_yaml::closest("zzzz", ["template", "echo"]), None);
/// ```
pub fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known.into_iter().map(|k| (distance(name, k), k)).filter(|(d, k)| *d <= 2.max(k.len() / 3)).min().map(|(_, k)| k)
}

/// ` (did you mean `x`?)` when a known name is close to `name`, else an empty string.
pub fn did_you_mean<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    closest(name, known).map_or(String::new(), |k| format!(" (did you mean `{k}`?)"))
}

/// Levenshtein distance.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb)).min(row[j] + 1).min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

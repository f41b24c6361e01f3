//! From a parsed [`Workflow`] to a runnable [`Graph`]: every node built (so config errors
//! surface before anything runs), node-level layers applied through the library's layers.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use pocket::layer::cache::ResultCache;
use pocket::layer::circuit_breaker::CircuitBreaker;
use pocket::{BoxNode, Graph, Store};
use pocket_yaml::{NodeDef, Problem, ProblemKind, Workflow};
use serde_json::Value;

use crate::kind::{Built, NodeSpec};
use crate::layers::{self, LayerCx};
use crate::limits::SharedLimiters;
use crate::registry::Registry;

/// A workflow that cannot become a graph: every problem found, each naming its node, field
/// and line.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct WorkflowError {
    /// The problems, in file order.
    pub problems: Vec<Problem>,
}

/// How [`build_graph`] resolves what a workflow refers to.
#[derive(Debug, Clone, Copy)]
pub struct BuildOptions<'a> {
    /// The directory relative paths in configs are resolved against (the workflow file's).
    pub base_dir: &'a Path,
    /// Programs `exec` nodes may start (`pocket run --allow-exec`): nothing runs otherwise, and
    /// a node's own `allowed_commands` can only narrow the list.
    pub allow_exec: &'a [String],
    /// The token buckets the run's nodes share (`None`: a new set for this graph, so two
    /// workflows never share a budget unless given the same set).
    pub limiters: Option<&'a SharedLimiters>,
    /// Where node types' warnings about their configs go (`None`: logged).
    pub warnings: Option<&'a std::cell::RefCell<Vec<Problem>>>,
}

impl<'a> BuildOptions<'a> {
    /// Paths relative to `base_dir`, no extra programs allowed, buckets of its own.
    pub fn new(base_dir: &'a Path) -> Self {
        BuildOptions { base_dir, allow_exec: &[], limiters: None, warnings: None }
    }

    /// Programs `exec` nodes may start (nothing runs otherwise; a node's own `allowed_commands`
    /// can only narrow the list).
    #[must_use]
    pub fn allow_exec(mut self, programs: &'a [String]) -> Self {
        self.allow_exec = programs;
        self
    }

    /// Collect the node types' warnings about their configs in `sink` instead of logging them.
    #[must_use]
    pub fn warnings(mut self, sink: &'a std::cell::RefCell<Vec<Problem>>) -> Self {
        self.warnings = Some(sink);
        self
    }

    /// Share `limiters` with other graphs built with the same set.
    #[must_use]
    pub fn limiters(mut self, limiters: &'a SharedLimiters) -> Self {
        self.limiters = Some(limiters);
        self
    }
}

/// Build the runnable graph of `workflow` with the node types of `registry`.
///
/// Every node is built, so an unknown type (with the closest known one), a config field that
/// is unknown, mistyped or invalid (a template or jq expression that does not parse, a schema
/// that cannot be used) is reported here, all at once. Node-level keys become library layers,
/// inside out: the rate limit a node type asks for (`llm`'s shared token budget), `cache`
/// (keyed by the input; a hit spends no tokens), `timeout` (each attempt, the wait for tokens
/// included), `circuit_breaker`, `retry`, then `fallback` (a
/// [`FallbackChain`](pocket::layer::fallback_chain::FallbackChain) to the named node, whose
/// action routes on) — one table of layer kinds.
///
/// ```
/// use pocket_nodes::{BuildOptions, Registry, build_graph};
///
/// let source = r#"
/// name: demo
/// start: score
/// nodes:
///   - name: score
///     type: transform
///     config: { jq: "{score: (.points / 10)}" }
///   - name: check
///     type: conditional
///     config:
///       conditions: [{ if: "{{gt .score 0.5}}", then: high }]
///       else: low
///   - name: high
///     type: echo
///     config: { message: "high: {{.score}}" }
///   - name: low
///     type: echo
///     config: { message: "low" }
/// connections:
///   - { from: score, to: check }
///   - { from: check, to: high, action: high }
///   - { from: check, to: low, action: low }
/// "#;
/// let workflow = pocket_yaml::parse_workflow(source, "demo.yaml").unwrap();
/// let graph = build_graph(&workflow, &Registry::builtin(), BuildOptions::new(".".as_ref())).unwrap();
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let out = graph.run(&pocket::Store::new(), serde_json::json!({"points": 8})).await.unwrap();
/// assert_eq!(out["message"], "high: 0.8");
/// # });
/// ```
///
/// # Errors
///
/// [`WorkflowError`] with every problem found.
pub fn build_graph(
    workflow: &Workflow,
    registry: &Registry,
    options: BuildOptions<'_>,
) -> Result<Graph<Value, Value>, WorkflowError> {
    let own_limiters = SharedLimiters::new();
    let limiters = options.limiters.unwrap_or(&own_limiters);
    let mut problems = Vec::new();
    for (name, message) in limiters.define(&workflow.limits) {
        let mut p = Problem::error(ProblemKind::Invalid, message);
        p.field = Some(format!("limits.{name}"));
        p.position = workflow.limits.get(&name).map(|l| l.position);
        problems.push(p);
    }
    let mut built: HashMap<&str, Built> = HashMap::new();
    let mut config_edges: Vec<(&NodeDef, String, String)> = Vec::new();
    for (def, node) in build_each(&workflow.nodes, registry, options, limiters, &mut problems) {
        config_edges.extend(node.edges.iter().cloned().map(|(action, to)| (def, action, to)));
        built.insert(&def.name, node);
    }
    let by_name: HashMap<&str, &NodeDef> = workflow.nodes.iter().map(|d| (d.name.as_str(), d)).collect();
    // Edges declared in configs (router `routes`) must lead somewhere, and yield to explicit
    // connections of the same action.
    let explicit: BTreeSet<(&str, &str)> =
        workflow.connections.iter().map(|c| (c.from.as_str(), c.action.as_str())).collect();
    let mut extra = Vec::new();
    for (def, action, to) in &config_edges {
        if !by_name.contains_key(to.as_str()) {
            let field = format!("config.routes.{action}");
            problems.push(problem(ProblemKind::UnknownNode, def, Some(&field), format!("no node is named `{to}`")));
        } else if !explicit.contains(&(def.name.as_str(), action.as_str())) {
            extra.push((def.name.clone(), action.clone(), to.clone()));
        }
    }
    for def in &workflow.nodes {
        match fallback_chain(def, &by_name) {
            Chain::Cycle(cycle) => {
                let message = format!("fallbacks form a cycle: {}", cycle.join(" -> "));
                problems.push(problem(ProblemKind::Invalid, def, Some("fallback"), message));
            }
            Chain::TooLong => {
                let message = format!(
                    "the chain of fallbacks from here is longer than {MAX_FALLBACKS} nodes (each runs inside the \
                     one it stands in for)"
                );
                problems.push(problem(ProblemKind::Invalid, def, Some("fallback"), message));
            }
            Chain::Fine => {}
        }
    }
    if !problems.is_empty() {
        return Err(WorkflowError { problems });
    }

    // One breaker and one cache per node, shared by the node and by its uses as a fallback.
    let state: HashMap<&str, NodeState> =
        workflow.nodes.iter().map(|def| (def.name.as_str(), NodeState::new(def))).collect();
    // Each node is layered once; a node used as a fallback is shared, not rebuilt for every
    // node whose chain reaches it.
    let mut layered_nodes: HashMap<&str, Arc<BoxNode<Value, Value>>> = HashMap::new();
    for def in &workflow.nodes {
        layer_once(def, &built, &state, &by_name, &mut layered_nodes);
    }
    let mut builder = Graph::<Value, Value>::builder().start(workflow.start.clone());
    for def in &workflow.nodes {
        builder = builder.serde_node(def.name.clone(), BoxNode::new(layered_nodes[def.name.as_str()].clone()));
    }
    for c in &workflow.connections {
        builder = builder.edge(c.from.clone(), c.action.clone(), c.to.clone());
    }
    for (from, action, to) in extra {
        builder = builder.edge(from, action, to);
    }
    builder.build().map_err(|e| WorkflowError {
        problems: e.problems.iter().map(|p| Problem::error(ProblemKind::Graph, p.to_string())).collect(),
    })
}

/// The problems of `nodes`' types and configs (unknown types, config fields), as
/// [`build_graph`] finds them: for a file whose other parts have problems too, so that every
/// problem is reported in one run.
///
/// ```
/// use pocket_nodes::{BuildOptions, Registry, check_nodes};
///
/// let source = "name: x\nstart: nowhere\nnodes:\n  - name: a\n    type: tempalte\n";
/// let pocket_yaml::LoadError::Invalid { problems, nodes, .. } = pocket_yaml::parse_workflow(source, "x.yaml").unwrap_err() else {
///     panic!()
/// };
/// let more = check_nodes(&nodes, &Registry::builtin(), BuildOptions::new(".".as_ref()));
/// assert!(problems[0].to_string().contains("start node `nowhere`"));
/// assert!(more[0].to_string().contains("unknown node type `tempalte` (did you mean `template`?)"));
/// ```
pub fn check_nodes(nodes: &[NodeDef], registry: &Registry, options: BuildOptions<'_>) -> Vec<Problem> {
    // The nodes' `limit:` names are not checked here: the file's `limits:` is not at hand.
    let own_limiters = SharedLimiters::lenient();
    let limiters = options.limiters.unwrap_or(&own_limiters);
    let mut problems = Vec::new();
    build_each(nodes, registry, options, limiters, &mut problems);
    problems
}

/// Build every node of `nodes`; the problems (unknown types, configs) go to `problems`. A node
/// without a `type` is skipped: the file's own check reported it.
fn build_each<'a>(
    nodes: &'a [NodeDef],
    registry: &Registry,
    options: BuildOptions<'_>,
    limiters: &SharedLimiters,
    problems: &mut Vec<Problem>,
) -> Vec<(&'a NodeDef, Built)> {
    nodes
        .iter()
        .filter(|def| !def.kind.is_empty())
        .filter_map(|def| {
            let spec = NodeSpec {
                name: &def.name,
                config: &def.config,
                base_dir: options.base_dir,
                allow_exec: options.allow_exec,
            };
            match registry.build(&def.kind, &spec, limiters) {
                None => {
                    problems.push(problem(
                        ProblemKind::UnknownType,
                        def,
                        Some("type"),
                        registry.unknown_type(&def.kind),
                    ));
                    None
                }
                Some(Err(e)) => {
                    for e in std::iter::once(&e).chain(&e.also) {
                        let field = e.field.as_ref().map_or_else(|| "config".to_string(), |f| format!("config.{f}"));
                        problems.push(problem(ProblemKind::Config, def, Some(&field), e.message.clone()));
                    }
                    None
                }
                Some(Ok(mut node)) => {
                    for w in std::mem::take(&mut node.warnings) {
                        let field = w.field.as_ref().map_or_else(|| "config".to_string(), |f| format!("config.{f}"));
                        let warning = Problem {
                            severity: pocket_yaml::Severity::Warning,
                            ..problem(ProblemKind::Config, def, Some(&field), w.message.clone())
                        };
                        match options.warnings {
                            Some(sink) => sink.borrow_mut().push(warning),
                            None => tracing::warn!(%warning, "workflow"),
                        }
                    }
                    Some((def, node))
                }
            }
        })
        .collect()
}

/// The longest chain of fallbacks a node may start (they run nested: each inside the one it
/// stands in for).
const MAX_FALLBACKS: usize = 100;

/// What `def`'s chain of fallbacks is like.
enum Chain {
    Fine,
    /// The names along the chain, back to where it loops.
    Cycle(Vec<String>),
    TooLong,
}

fn fallback_chain(def: &NodeDef, by_name: &HashMap<&str, &NodeDef>) -> Chain {
    let mut seen = vec![def.name.clone()];
    let mut current = def;
    while let Some(next) = current.fallback.as_deref().and_then(|n| by_name.get(n)) {
        seen.push(next.name.clone());
        if next.name == def.name {
            return Chain::Cycle(seen);
        }
        if seen[..seen.len() - 1].contains(&next.name) {
            return Chain::Fine; // a loop further down the chain: reported at its own node
        }
        if seen.len() > MAX_FALLBACKS + 1 {
            return Chain::TooLong;
        }
        current = next;
    }
    Chain::Fine
}

fn problem(kind: ProblemKind, def: &NodeDef, field: Option<&str>, message: impl Into<String>) -> Problem {
    // At the config field's own value (`config.url`), else at the node-level key the field is
    // under, else at the node.
    let position = match field.and_then(|f| f.strip_prefix("config.")) {
        Some(path) => def.config_position_of(path),
        None => def.position_of(field.map_or("", |f| f.split(['.', '[']).next().unwrap_or(f))),
    };
    let problem = Problem::error(kind, message).at(position).node(def.name.clone());
    match field {
        Some(field) => problem.field(field),
        None => problem,
    }
}

/// The stateful layers of a node (their state is shared by every copy of the node).
struct NodeState {
    breaker: Option<CircuitBreaker>,
    cache: Option<ResultCache>,
}

impl NodeState {
    fn new(def: &NodeDef) -> Self {
        let breaker = def.circuit_breaker.as_ref().map(|b| {
            let name = def.name.clone();
            CircuitBreaker::new(b.failure_threshold, b.open_for).half_open_trials(b.half_open_trials).on_state_change(
                move |from, to| tracing::warn!(node = %name, ?from, ?to, "circuit breaker changed state"),
            )
        });
        NodeState { breaker, cache: def.cache.as_ref().map(|c| ResultCache::new(c.max_entries, c.ttl)) }
    }
}

/// Layer `def` (and, first, the nodes along its fallback chain) into `done`, each once.
fn layer_once<'a>(
    def: &'a NodeDef,
    built: &HashMap<&str, Built>,
    state: &HashMap<&str, NodeState>,
    by_name: &HashMap<&str, &'a NodeDef>,
    done: &mut HashMap<&'a str, Arc<BoxNode<Value, Value>>>,
) {
    // The chain, from `def` to the first node already layered or without a fallback (chains
    // are checked to be short and free of cycles).
    let mut chain = vec![def];
    while let Some(next) = chain.last().and_then(|d| d.fallback.as_deref()).and_then(|f| by_name.get(f)) {
        if done.contains_key(next.name.as_str()) || chain.iter().any(|d| d.name == next.name) {
            break;
        }
        chain.push(next);
    }
    for def in chain.into_iter().rev() {
        if done.contains_key(def.name.as_str()) {
            continue;
        }
        let node = layered(def, built, state, by_name, done);
        done.insert(def.name.as_str(), Arc::new(node));
    }
}

/// The node of `def` with its node-level layers (the table in [`crate::layers`]); its fallback
/// target is taken from `done`, layered already.
fn layered(
    def: &NodeDef,
    built: &HashMap<&str, Built>,
    state: &HashMap<&str, NodeState>,
    by_name: &HashMap<&str, &NodeDef>,
    done: &HashMap<&str, Arc<BoxNode<Value, Value>>>,
) -> BoxNode<Value, Value> {
    let Built { node, retry, limiter, limits, adaptive, memo, .. } = &built[def.name.as_str()];
    let NodeState { breaker, cache } = &state[def.name.as_str()];
    let target =
        def.fallback.as_deref().and_then(|f| by_name.get(f)).and_then(|t| Some((t, done.get(t.name.as_str())?)));
    let fallback = target.map(|(t, node)| move || (t.name.clone(), node.clone()));
    let cx = LayerCx {
        retry: def.retry.as_ref(),
        timeout: def.timeout,
        limiter: limiter.as_ref(),
        limits,
        adaptive: adaptive.as_ref(),
        own_retry: retry.as_ref(),
        breaker: breaker.as_ref(),
        cache: cache.as_ref(),
        fallback: fallback.as_ref().map(|f| f as &dyn Fn() -> (String, Arc<BoxNode<Value, Value>>)),
        memo: *memo,
    };
    layers::apply(node.clone(), &def.name, &cx)
}

/// Write the workflow's `metadata:` into `store` under `graph:metadata:<key>`, as the original
/// does, so nodes and hooks can read it.
pub fn seed_store(workflow: &Workflow, store: &Store) {
    for (key, value) in &workflow.metadata {
        store.set_value(&format!("graph:metadata:{key}"), value.clone());
    }
}

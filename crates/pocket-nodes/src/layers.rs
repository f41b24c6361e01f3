//! The node-level layer kinds of a workflow file — `retry`, `timeout`, `circuit_breaker`,
//! `cache`, `fallback`, and the rate limit a node type asks for — as one table, applied in its
//! documented order through the library's layers.
//!
//! Adding a node-level key is one row here (and its field in `pocket-yaml`).

use pocket::layer::adaptive_limit::AdaptiveLimit;
use pocket::layer::cache::ResultCache;
use pocket::layer::circuit_breaker::CircuitBreaker;
use pocket::layer::fallback_chain::FallbackChain;
use pocket::layer::memo::ExecMemo;
use pocket::layer::rate_limit::RateLimit;
use pocket::layer::retry::{RetryLayer, RetryPolicy};
use pocket::layer::timeout::{TimeoutLayer, Timeouts};
use std::sync::Arc;

use pocket::layer::{AroundLayer, BoxLayer};
use pocket::{BoxNode, NodeExt};
use pocket_yaml::RetrySpec;
use serde_json::Value;

use crate::kind::{Built as BuiltNode, Limiter, StepNode};
use crate::limits::NamedLimit;

/// A YAML node with its step types: the layers that read the Prep result (the rate limit's
/// cost, the cache key) wrap this.
type ValueSteps = StepNode;

/// A built layer kind: one that keeps the step types (it may read the Prep result), or one
/// that wraps the node opaquely.
enum Built {
    Typed(BoxLayer<Value, Value, Value, Value>),
    Erased(BoxLayer<Value, Value>),
}

/// A layered node shared by every node whose fallback it is.
pub(crate) type SharedNode = Arc<BoxNode<Value, Value>>;

/// What the layer kinds of one node are built from.
pub(crate) struct LayerCx<'a> {
    /// The node-level `retry` and `timeout` (a workflow node's, or a `map` body's; none for a
    /// `parallel` task, which has only its type's layers).
    pub(crate) retry: Option<&'a RetrySpec>,
    pub(crate) timeout: Option<std::time::Duration>,
    /// The token bucket the node type shares per endpoint (`llm`), and the cost of a call.
    pub(crate) limiter: Option<&'a Limiter>,
    /// The workflow's named limits the node runs under (`limit:`).
    pub(crate) limits: &'a [NamedLimit],
    /// The adaptive concurrency limit each attempt is held to.
    pub(crate) adaptive: Option<&'a AdaptiveLimit>,
    /// The retry policy the node type's config sets (`http`'s `config.retry`).
    pub(crate) own_retry: Option<&'a RetryPolicy>,
    /// The node's breaker and cache: shared by the node and its uses as a fallback.
    pub(crate) breaker: Option<&'a CircuitBreaker>,
    pub(crate) cache: Option<&'a ResultCache>,
    /// The node's `fallback:` target, fully layered, when it has one.
    pub(crate) fallback: Option<&'a dyn Fn() -> (String, SharedNode)>,
    /// Whether the node type's Exec result is saved before Post in durable runs.
    pub(crate) memo: bool,
}

/// One node-level layer kind: its key and how it is built (`None`: not configured).
struct LayerKind {
    key: &'static str,
    build: fn(&LayerCx<'_>, &str) -> Option<Built>,
}

/// The kinds, innermost first — the documented order: the node type's rate limit, `cache`
/// (keyed by the input: a hit spends no tokens), the exec memo of durable runs (`llm`,
/// `http`, `exec`: a result saved before a crash is not asked for again), the named `limit` (each attempt takes a slot
/// and a request token), `timeout` (each attempt, the waits for tokens and slots included), the
/// adaptive concurrency limit (outside the timeout, which it counts as push-back), `circuit_breaker` (sees timeouts), `retry` (repeats all of the above), then
/// `fallback` (a [`FallbackChain`] to the named node when every attempt failed).
const KINDS: &[LayerKind] = &[
    LayerKind { key: "rate_limit", build: rate_limit },
    LayerKind { key: "cache", build: cache },
    LayerKind { key: "memo", build: memo },
    LayerKind { key: "limit", build: named_limits },
    LayerKind { key: "timeout", build: timeout },
    LayerKind { key: "adaptive", build: adaptive },
    LayerKind { key: "circuit_breaker", build: circuit_breaker },
    LayerKind { key: "retry", build: retry },
    LayerKind { key: "fallback", build: fallback },
];

/// `node` (named `name`) with every configured layer kind of `cx`, in the table's order.
pub(crate) fn apply(node: Arc<StepNode>, name: &str, cx: &LayerCx<'_>) -> BoxNode<Value, Value> {
    enum Stage {
        Typed(ValueSteps),
        Erased(BoxNode<Value, Value>),
    }
    let mut stage = Stage::Typed(BoxNode::typed(node));
    for kind in KINDS {
        let Some(built) = (kind.build)(cx, name) else { continue };
        stage = match (stage, built) {
            (Stage::Typed(node), Built::Typed(layer)) => Stage::Typed(layer.apply(node)),
            (Stage::Typed(node), Built::Erased(layer)) => Stage::Erased(layer.apply(BoxNode::new(node))),
            (Stage::Erased(node), Built::Erased(layer)) => Stage::Erased(layer.apply(node)),
            (Stage::Erased(_), Built::Typed(_)) => {
                unreachable!("`{}` reads the Prep result: the table lists such kinds first (tested)", kind.key)
            }
        };
    }
    match stage {
        Stage::Typed(node) => BoxNode::new(node),
        Stage::Erased(node) => node,
    }
}

fn rate_limit(cx: &LayerCx<'_>, _: &str) -> Option<Built> {
    let (limiter, cost) = cx.limiter?.clone();
    Some(Built::Typed(BoxLayer::typed(AroundLayer(RateLimit::by(limiter, cost)))))
}

fn cache(cx: &LayerCx<'_>, _: &str) -> Option<Built> {
    cx.cache.cloned().map(|cache| Built::Typed(BoxLayer::typed(cache)))
}

fn memo(cx: &LayerCx<'_>, _: &str) -> Option<Built> {
    cx.memo.then(|| Built::Typed(BoxLayer::typed(AroundLayer(ExecMemo))))
}

/// Each named limit: a slot of its `max_concurrency` held from Prep to Post, and one token of
/// its request rate for Exec (its token rate is the node type's own limiter: an `llm` call is
/// priced by its tokens).
fn named_limits(cx: &LayerCx<'_>, _: &str) -> Option<Built> {
    if cx.limits.is_empty() {
        return None;
    }
    let limits = cx.limits.to_vec();
    Some(Built::Erased(BoxLayer::from_fn(move |node| {
        let mut node = node;
        for limit in &limits {
            if let Some(requests) = &limit.requests {
                node = pocket::layer::Layer::layer(requests, node).boxed();
            }
            if let Some(slots) = &limit.concurrency {
                node = pocket::layer::Layer::layer(slots, node).boxed();
            }
        }
        node
    })))
}

fn timeout(cx: &LayerCx<'_>, _: &str) -> Option<Built> {
    let limit = cx.timeout?;
    Some(Built::Erased(BoxLayer::new(TimeoutLayer(Timeouts::step(limit)))))
}

fn adaptive(cx: &LayerCx<'_>, _: &str) -> Option<Built> {
    cx.adaptive.cloned().map(|limit| Built::Erased(BoxLayer::new(AroundLayer(limit))))
}

fn circuit_breaker(cx: &LayerCx<'_>, _: &str) -> Option<Built> {
    cx.breaker.cloned().map(|breaker| Built::Erased(BoxLayer::new(breaker)))
}

/// A node-level `retry` replaces the one a node type's config sets.
fn retry(cx: &LayerCx<'_>, _: &str) -> Option<Built> {
    let policy = cx.retry.map(retry_policy).or_else(|| cx.own_retry.cloned())?;
    Some(Built::Erased(BoxLayer::new(RetryLayer(policy))))
}

fn fallback(cx: &LayerCx<'_>, name: &str) -> Option<Built> {
    let (target, node) = (cx.fallback?)();
    let name = name.to_string();
    Some(Built::Erased(BoxLayer::from_fn(move |primary| {
        FallbackChain::new(name.clone(), primary).or(target.clone(), node.clone()).boxed()
    })))
}

/// A node with only the layers its own config asks for (a `parallel` task: its type's rate
/// limit and retry), through the same table.
pub(crate) fn own_layers(built: BuiltNode) -> BoxNode<Value, Value> {
    own_layers_and(built, None, None)
}

/// A node with the layers its own config asks for and a node-level `retry` and `timeout` (a
/// `map` body), through the same table.
pub(crate) fn own_layers_and(
    built: BuiltNode,
    retry: Option<&RetrySpec>,
    timeout: Option<std::time::Duration>,
) -> BoxNode<Value, Value> {
    let cx = LayerCx {
        retry,
        timeout,
        limiter: built.limiter.as_ref(),
        limits: &built.limits,
        adaptive: built.adaptive.as_ref(),
        own_retry: built.retry.as_ref(),
        breaker: None,
        cache: None,
        fallback: None,
        memo: built.memo,
    };
    apply(built.node, "", &cx)
}

/// A workflow file's `retry:` (node-level or a node type's `config.retry`, one meaning):
/// `delay` growing by `multiplier`, capped at `max_delay`.
pub(crate) fn retry_policy(spec: &RetrySpec) -> RetryPolicy {
    RetryPolicy::exponential(spec.max_attempts, spec.delay).multiplier(spec.multiplier).max_delay(spec.max_delay)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_layer_order_is_the_documented_one() {
        let order: Vec<_> = super::KINDS.iter().map(|k| k.key).collect();
        assert_eq!(
            order,
            ["rate_limit", "cache", "memo", "limit", "timeout", "adaptive", "circuit_breaker", "retry", "fallback"]
        );
    }

    #[test]
    fn retry_means_the_same_at_node_level_and_in_a_node_config() {
        use std::time::Duration;
        let source =
            "name: r\nstart: a\nnodes:\n  - name: a\n    type: echo\n    retry: {max_attempts: 3, delay: 1s}\n";
        let node_level = pocket_yaml::parse_workflow(source, "r.yaml").unwrap().nodes[0].retry.clone().unwrap();
        let in_config: pocket_yaml::RetrySpec =
            serde_json::from_value(serde_json::json!({"max_attempts": 3, "delay": "1s"})).unwrap();
        assert_eq!(node_level, in_config);
        let policy = super::retry_policy(&node_level);
        assert_eq!(
            (policy.max_attempts(), policy.delay(1), policy.delay(2)),
            (3, Duration::from_secs(1), Duration::from_secs(2))
        );
        assert_eq!(policy.delay(10), Duration::from_secs(30), "capped at the default max_delay");
    }

    #[tokio::test]
    async fn every_kind_at_once_applies_in_order() {
        use std::time::Duration;

        use pocket::NodeExt;
        use pocket::layer::cache::ResultCache;
        use pocket::layer::circuit_breaker::CircuitBreaker;
        use pocket::layer::rate_limit::RateLimiter;
        use pocket::layer::retry::RetryPolicy;
        use serde_json::{Value, json};

        let source = "name: all\nstart: a\nnodes:\n  - name: a\n    type: echo\n    retry: {max_attempts: 2, delay: 1ms}\n    timeout: 5s\n";
        let workflow = pocket_yaml::parse_workflow(source, "all.yaml").unwrap();
        let limiter: crate::kind::Limiter = (RateLimiter::new(1000.0, 10).unwrap(), |_| 1);
        let cache = ResultCache::new(10, None);
        let breaker = CircuitBreaker::new(3, Duration::from_secs(1));
        let retry = RetryPolicy::constant(2, Duration::ZERO);
        let fallback =
            || ("b".to_string(), std::sync::Arc::new(pocket::exec_fn(|v: Value| async move { Ok(v) }).boxed()));
        let cx = super::LayerCx {
            retry: workflow.nodes[0].retry.as_ref(),
            timeout: workflow.nodes[0].timeout,
            limiter: Some(&limiter),
            limits: &[],
            adaptive: None,
            own_retry: Some(&retry),
            breaker: Some(&breaker),
            cache: Some(&cache),
            fallback: Some(&fallback),
            memo: true,
        };
        let spec = crate::NodeSpec { name: "a", config: &Default::default(), base_dir: ".".as_ref(), allow_exec: &[] };
        let limits = crate::SharedLimiters::new();
        let node = crate::Registry::builtin().build("echo", &spec, &limits).unwrap().unwrap().node;
        let layered = super::apply(node, "a", &cx);
        let store = pocket::Store::new();
        let out = pocket::run_node(&layered, &store, json!({"x": 1})).await.unwrap();
        let again = pocket::run_node(&layered, &store, json!({"x": 1})).await.unwrap();
        assert_eq!(out, again);
        assert_eq!((cache.hits(), cache.misses()), (1, 1), "the cache sees the Prep result");
    }
}

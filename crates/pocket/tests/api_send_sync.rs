//! Public types that cross tasks and threads stay `Send + Sync` (and futures stay `Send`):
//! losing that is a compile error here, not a surprise for users.

use pocket::error::BuildError;
use pocket::graph::GraphBuilder;
use pocket::layer::cache::ResultCache;
use pocket::layer::circuit_breaker::CircuitBreaker;
use pocket::layer::concurrency_limit::ConcurrencyLimit;
use pocket::layer::fallback_chain::FallbackChain;
use pocket::layer::metrics::Metrics;
use pocket::layer::rate_limit::RateLimiter;
use pocket::layer::retry::RetryPolicy;
use pocket::layer::timeout::Timeouts;
use pocket::pattern::{ItemError, Pipeline, TaskGauge, WorkerPool};
use pocket::*;

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>(_: &T) {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<Store>();
    send_sync::<StoreView>();
    send_sync::<Graph<i64, String>>();
    send_sync::<GraphBuilder<i64, String>>();
    send_sync::<RunError>();
    send_sync::<NodeError>();
    send_sync::<BuildError>();
    send_sync::<Action>();
    send_sync::<Next>();
    send_sync::<RetryPolicy>();
    send_sync::<Timeouts>();
    send_sync::<RateLimiter>();
    send_sync::<CircuitBreaker>();
    send_sync::<ConcurrencyLimit>();
    send_sync::<ResultCache>();
    send_sync::<Metrics>();
    send_sync::<TaskGauge>();
    send_sync::<CancellationToken>();
    send_sync::<ItemError>();
    send_sync::<BoxNode<String, String>>();
    send_sync::<FallbackChain<String, String>>();
    send_sync::<Pipeline<serde_json::Value>>();
    send_sync::<WorkerPool<u32, u32>>();
    send_sync::<pocket::pattern::Submitter<u32>>();
    send_sync::<pocket::store::StoreValue>();
    send_sync::<pocket::layer::BoxLayer<String, String>>();
    send_sync::<BoxNode<String, String, String, String>>();
    send_sync::<RunOptions>();
    send_sync::<pocket::node::OwnedCtx>();
}

#[test]
fn runs_and_patterns_are_send_futures() {
    let store = Store::new();
    let graph = Graph::<u32, u32>::builder().node("n", exec_fn(|x: u32| async move { Ok(x) })).build().unwrap();
    send(&graph.run(&store, 1));
    send(&graph.run_with(&store, 1, RunOptions::new()));
    let fan = FanOut::new(exec_fn(|x: u32| async move { Ok(x) }));
    send(&fan.run(&store, vec![1, 2]));
    send(&fan.run_all(&store, vec![1, 2]));
    let node = exec_fn(|x: u32| async move { Ok(x) }).retry(RetryPolicy::constant(2, std::time::Duration::ZERO));
    send(&run_node(&node, &store, 1));
    let serde_graph =
        Graph::<u32, u32>::builder().serde_node("n", exec_fn(|x: u32| async move { Ok(x) })).build().unwrap();
    send(&serde_graph.run_from(&store, "n", serde_json::json!(1), RunOptions::new().on_boundary(|_| {})));
    let fan_in = pocket::pattern::FanIn::named(
        [("a", exec_fn(|x: u32| async move { Ok(x) }))],
        exec_fn(|v: Vec<u32>| async move { Ok(v.len()) }),
    );
    send(&fan_in.run(&store, 1));
}

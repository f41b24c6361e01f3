//! Fallback chains: sequential, parallel (losers cancelled), weighted by past success.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pocket::layer::fallback_chain::{AllFailed, FallbackChain, Strategy};
use pocket::pattern::TaskGauge;
use pocket::{NodeError, Store, exec_fn, run_node};
use tokio::time::{Instant, sleep};

fn model(
    name: &'static str,
    ms: u64,
    ok: bool,
    calls: Arc<AtomicUsize>,
) -> impl pocket::Node<Input = String, Output = String> {
    exec_fn(move |q: String| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move {
            sleep(Duration::from_millis(ms)).await;
            if ok { Ok(format!("{name}: {q}")) } else { Err(NodeError::msg(format!("{name} is down"))) }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn sequential_tries_in_order_and_keeps_every_error() {
    let calls = Arc::new(AtomicUsize::new(0));
    let chain = FallbackChain::new("gpt", model("gpt", 10, false, calls.clone()))
        .or("mini", model("mini", 10, true, calls.clone()))
        .or("canned", model("canned", 0, true, calls.clone()));
    let store = Store::new();
    assert_eq!(run_node(&chain, &store, "q".into()).await.unwrap(), "mini: q");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "canned never ran");

    let all_down =
        FallbackChain::new("a", model("a", 0, false, calls.clone())).or("b", model("b", 0, false, calls.clone()));
    let err = run_node(&all_down, &store, "q".into()).await.unwrap_err();
    let Some(all) = err.node_error().and_then(|e| e.downcast_ref::<AllFailed>()) else { panic!("{err:?}") };
    assert_eq!(all.attempts().iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(
        pocket::report(&err),
        "node `node` failed in exec: all 2 alternatives failed: `a`: node `a` failed in exec: a is down; \
         `b`: node `b` failed in exec: b is down"
    );
}

#[tokio::test(start_paused = true)]
async fn parallel_takes_the_first_success_and_leaves_no_loser_running() {
    let calls = Arc::new(AtomicUsize::new(0));
    let gauge = TaskGauge::new();
    let chain = FallbackChain::new("slow", model("slow", 5_000, true, calls.clone()))
        .or("broken", model("broken", 10, false, calls.clone()))
        .or("fast", model("fast", 100, true, calls.clone()))
        .strategy(Strategy::Parallel)
        .gauge(gauge.clone());
    let start = Instant::now();
    assert_eq!(run_node(&chain, &Store::new(), "q".into()).await.unwrap(), "fast: q");
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(gauge.active(), 0, "the slow loser was cancelled");
    assert_eq!(gauge.peak(), 3);
    assert_eq!(chain.stats(), [(0, 0), (0, 1), (1, 1)]);
}

#[tokio::test(start_paused = true)]
async fn weighted_prefers_what_worked_before() {
    let calls = Arc::new(AtomicUsize::new(0));
    let flaky_calls = Arc::new(AtomicUsize::new(0));
    let chain = FallbackChain::new("flaky", model("flaky", 0, false, flaky_calls.clone()))
        .or("steady", model("steady", 0, true, calls.clone()))
        .strategy(Strategy::Weighted);
    let store = Store::new();
    for _ in 0..5 {
        assert_eq!(run_node(&chain, &store, "q".into()).await.unwrap(), "steady: q");
    }
    // flaky was tried first once (both untried: declared order), then ranked below steady.
    assert_eq!(flaky_calls.load(Ordering::SeqCst), 1);
    assert_eq!(chain.stats(), [(0, 1), (5, 5)]);
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_run_does_not_wait_for_parallel_attempts() {
    let calls = Arc::new(AtomicUsize::new(0));
    let gauge = TaskGauge::new();
    let chain = FallbackChain::new("slow", model("slow", 3_600_000, true, calls.clone()))
        .or("slower", model("slower", 7_200_000, true, calls.clone()))
        .strategy(Strategy::Parallel)
        .gauge(gauge.clone());
    let token = pocket::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        sleep(Duration::from_secs(1)).await;
        t.cancel();
    });
    let start = Instant::now();
    let err = pocket::node::run_node_with(&chain, "ask", &Store::new(), "q".into(), &token).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert!(
        err.node_error().and_then(|e| e.downcast_ref::<AllFailed>()).is_some_and(|all| all.attempts().len() == 2),
        "{err:?}"
    );
    assert_eq!(gauge.active(), 0);
}

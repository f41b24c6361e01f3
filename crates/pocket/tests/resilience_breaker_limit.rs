//! Circuit breaker and concurrency limit, on tokio's paused clock.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pocket::layer::circuit_breaker::{BreakerState, CircuitBreaker, CircuitOpen};
use pocket::layer::concurrency_limit::ConcurrencyLimit;
use pocket::layer::retry::RetryPolicy;
use pocket::{FanOut, NodeError, NodeExt, Store, exec_fn, run_node};
use tokio::time::{Instant, sleep};

/// A service whose health the test switches; counts the calls that reach it.
fn service(
    healthy: Arc<AtomicBool>,
    calls: Arc<AtomicUsize>,
    delay: Duration,
) -> impl pocket::Node<Input = u32, Output = u32> {
    exec_fn(move |x: u32| {
        calls.fetch_add(1, Ordering::SeqCst);
        let ok = healthy.load(Ordering::SeqCst);
        async move {
            sleep(delay).await;
            if ok { Ok(x) } else { Err(NodeError::msg("503")) }
        }
    })
}

#[tokio::test(start_paused = true)]
async fn the_breaker_opens_rejects_probes_and_closes() {
    let changes = Arc::new(Mutex::new(Vec::new()));
    let c = changes.clone();
    let breaker = CircuitBreaker::new(3, Duration::from_secs(10))
        .half_open_trials(2)
        .on_state_change(move |from, to| c.lock().unwrap().push((from, to)));
    let (healthy, calls) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let node =
        Arc::new(service(healthy.clone(), calls.clone(), Duration::from_millis(100)).circuit_breaker(breaker.clone()));
    let store = Store::new();

    // A success in between resets the count: fail, fail, ok, fail, fail -> still closed.
    for ok in [false, false, true, false, false] {
        healthy.store(ok, Ordering::SeqCst);
        let _ = run_node(&node, &store, 1).await;
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
    // The third consecutive failure opens it.
    let _ = run_node(&node, &store, 1).await;
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(calls.load(Ordering::SeqCst), 6);

    // Open: fail fast without calling, saying when the next trial comes.
    let err = run_node(&node, &store, 1).await.unwrap_err();
    assert!(
        err.node_error().and_then(|e| e.downcast_ref::<CircuitOpen>()).map(CircuitOpen::retry_in)
            == Some(Duration::from_secs(10))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    sleep(Duration::from_secs(4)).await;
    let err = run_node(&node, &store, 1).await.unwrap_err();
    assert_eq!(pocket::report(&err), "node `node` failed in exec: circuit open: failing fast, next trial in 6s");

    // Half-open: exactly 2 trials go through at once, the rest fail fast.
    sleep(Duration::from_secs(6)).await;
    healthy.store(true, Ordering::SeqCst);
    let fan = FanOut::new(node.clone()).unlimited();
    let results = fan.run_all(&store, 0..5u32).await;
    let passed = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(passed, 2, "{results:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 8);
    for r in results.iter().filter(|r| r.is_err()) {
        let e = r.as_ref().unwrap_err();
        assert!(e.error.node_error().is_some_and(|e| e.is::<CircuitOpen>() && !e.is_retryable()));
    }
    // Two successful trials closed it.
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert!(run_node(&node, &store, 1).await.is_ok());

    // Re-open, then a failed trial re-opens.
    healthy.store(false, Ordering::SeqCst);
    for _ in 0..3 {
        let _ = run_node(&node, &store, 1).await;
    }
    assert_eq!(breaker.state(), BreakerState::Open);
    sleep(Duration::from_secs(10)).await;
    let _ = run_node(&node, &store, 1).await; // trial fails
    assert_eq!(breaker.state(), BreakerState::Open);

    use BreakerState::*;
    assert_eq!(
        *changes.lock().unwrap(),
        [(Closed, Open), (Open, HalfOpen), (HalfOpen, Closed), (Closed, Open), (Open, HalfOpen), (HalfOpen, Open)]
    );
}

#[tokio::test(start_paused = true)]
async fn one_breaker_shared_by_two_nodes_and_retry_stops_when_it_opens() {
    let breaker = CircuitBreaker::new(2, Duration::from_secs(60));
    let calls = Arc::new(AtomicUsize::new(0));
    let down = Arc::new(AtomicBool::new(false));
    let a = service(down.clone(), calls.clone(), Duration::ZERO).circuit_breaker(breaker.clone());
    let b = service(down.clone(), calls.clone(), Duration::ZERO)
        .circuit_breaker(breaker.clone())
        .retry(RetryPolicy::constant(10, Duration::from_millis(10)));
    let store = Store::new();
    assert!(run_node(&a, &store, 1).await.is_err()); // failure 1 (via a)
    let err = run_node(&b, &store, 1).await.unwrap_err(); // failure 2 opens; the retry then fails fast
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(pocket::report(&err).contains("circuit open"), "{}", pocket::report(&err));
}

#[tokio::test(start_paused = true)]
async fn timeouts_count_as_failures_only_inside_the_breaker() {
    let slow = || {
        exec_fn(|x: u32| async move {
            sleep(Duration::from_secs(100)).await;
            Ok(x)
        })
    };
    let store = Store::new();
    // Timeout outside: the abandoned call counts neither way.
    let outside = CircuitBreaker::new(1, Duration::from_secs(1));
    let node =
        slow().circuit_breaker(outside.clone()).timeout(pocket::layer::timeout::Timeouts::step(Duration::from_secs(1)));
    assert!(run_node(&node, &store, 1).await.is_err());
    assert_eq!(outside.state(), BreakerState::Closed);
    // Timeout inside: the breaker sees the timeout error and opens.
    let inside = CircuitBreaker::new(1, Duration::from_secs(1));
    let node =
        slow().timeout(pocket::layer::timeout::Timeouts::step(Duration::from_secs(1))).circuit_breaker(inside.clone());
    assert!(run_node(&node, &store, 1).await.is_err());
    assert_eq!(inside.state(), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn the_concurrency_limit_holds_across_a_fan_out_of_1000_items() {
    let limit = ConcurrencyLimit::new(7);
    let now = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let (n, m) = (now.clone(), max.clone());
    let node = exec_fn(move |x: u64| {
        let (n, m) = (n.clone(), m.clone());
        async move {
            let inside = n.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(inside, Ordering::SeqCst);
            sleep(Duration::from_millis(1 + x % 7)).await;
            n.fetch_sub(1, Ordering::SeqCst);
            Ok(x)
        }
    })
    .concurrency_limit(limit.clone());
    let node = Arc::new(node);
    // Two fan-outs share the node (and so the limit).
    let (f1, f2) = (FanOut::new(node.clone()).unlimited(), FanOut::new(node.clone()).unlimited());
    let store = Store::new();
    let start = Instant::now();
    let (a, b) = tokio::join!(f1.run(&store, 0..500u64), f2.run(&store, 500..1000u64));
    assert_eq!(a.unwrap().len() + b.unwrap().len(), 1000);
    assert_eq!(max.load(Ordering::SeqCst), 7);
    assert_eq!(limit.available(), 7, "every slot released");
    assert!(start.elapsed() >= Duration::from_millis(1000 * 4 / 7));
}

#[tokio::test(start_paused = true)]
async fn a_failing_execution_releases_its_slot() {
    let limit = ConcurrencyLimit::new(1);
    let node = exec_fn(|x: u32| async move { if x == 0 { Err(NodeError::msg("bad")) } else { Ok(x) } })
        .concurrency_limit(limit.clone());
    let store = Store::new();
    assert!(run_node(&node, &store, 0).await.is_err());
    assert_eq!(run_node(&node, &store, 5).await.unwrap(), 5);
    assert_eq!(limit.available(), 1);
}

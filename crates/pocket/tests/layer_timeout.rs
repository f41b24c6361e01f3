//! The timeout layer, on tokio's paused clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use pocket::error::Step;
use pocket::layer::retry::RetryPolicy;
use pocket::layer::timeout::{Elapsed, TimeoutScope, Timeouts};
use pocket::{Graph, Next, NodeError, NodeExt, Store, StoreView, exec_fn, node_fn, run_node};
use tokio::time::{Instant, sleep};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// prep, exec and post each sleep for the given number of seconds.
fn sleepy(prep: u64, exec: u64, post: u64) -> impl pocket::Node<Input = u32, Output = u32> {
    node_fn(
        move |_: StoreView, x: u32| async move {
            sleep(secs(prep)).await;
            Ok(x)
        },
        move |x: u32| async move {
            sleep(secs(exec)).await;
            Ok(x)
        },
        move |_: Store, _: u32, _: u32, x: u32| async move {
            sleep(secs(post)).await;
            Ok((x, Next::Default))
        },
    )
}

#[tokio::test(start_paused = true)]
async fn a_step_that_ignores_cancellation_is_abandoned_not_awaited() {
    let stuck = exec_fn(|x: u32| async move {
        // Not cancellation-aware: only dropping the future stops it.
        std::future::pending::<()>().await;
        Ok(x)
    })
    .timeout(Timeouts::step(secs(3)));
    let g = Graph::<u32, u32>::builder().node("call_api", stuck).build().unwrap();
    let started = Instant::now();
    let err = g.run(&Store::new(), 1).await.unwrap_err();
    assert_eq!(started.elapsed(), secs(3));
    assert_eq!(err.step(), Some(Step::Exec));
    assert_eq!(pocket::report(&err), "node `call_api` failed in exec: timed out after 3s (step timeout)");
    assert_eq!(
        err.node_error().and_then(|e| e.downcast_ref::<Elapsed>()).map(Elapsed::scope),
        Some(TimeoutScope::Step)
    );
}

#[tokio::test(start_paused = true)]
async fn the_step_limit_applies_to_each_step_separately() {
    let ok = sleepy(2, 2, 2).timeout(Timeouts::step(secs(3)));
    assert_eq!(run_node(&ok, &Store::new(), 5).await.unwrap(), 5);
    let slow_post = sleepy(1, 1, 4).timeout(Timeouts::step(secs(3)));
    let err = run_node(&slow_post, &Store::new(), 5).await.unwrap_err();
    assert_eq!(err.step(), Some(Step::Post));
}

#[tokio::test(start_paused = true)]
async fn the_node_limit_covers_the_whole_lifecycle() {
    // Each step is under 3s, but together they exceed 5s: fails in post, at t = 5s.
    let node = sleepy(2, 2, 2).timeout(Timeouts::node(secs(5)).and_step(secs(3)));
    let started = Instant::now();
    let err = run_node(&node, &Store::new(), 5).await.unwrap_err();
    assert_eq!(started.elapsed(), secs(5));
    assert_eq!(err.step(), Some(Step::Post));
    assert_eq!(pocket::report(&err), "node `node` failed in post: timed out after 5s (node timeout)");
}

#[tokio::test(start_paused = true)]
async fn timeout_inside_retry_limits_each_attempt() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let node = exec_fn(move |x: u32| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        async move {
            // The first two attempts hang; the third is quick.
            if n < 2 {
                sleep(secs(100)).await;
            }
            Ok(x)
        }
    })
    .timeout(Timeouts::step(secs(1)))
    .retry(RetryPolicy::constant(3, secs(1)));
    let started = Instant::now();
    assert_eq!(run_node(&node, &Store::new(), 9).await.unwrap(), 9);
    assert_eq!(started.elapsed(), secs(4)); // 1 + 1 (wait) + 1 + 1 (wait) + 0
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn timeout_outside_retry_bounds_all_attempts() {
    let node = exec_fn(|_: u32| async move { Err::<u32, _>(NodeError::msg("flaky")) })
        .retry(RetryPolicy::constant(100, secs(1)))
        .timeout(Timeouts::node(secs(10)));
    let started = Instant::now();
    let err = run_node(&node, &Store::new(), 9).await.unwrap_err();
    assert_eq!(started.elapsed(), secs(10));
    assert_eq!(
        err.node_error().and_then(|e| e.downcast_ref::<Elapsed>()).map(Elapsed::scope),
        Some(TimeoutScope::Node)
    );
}

#[tokio::test(start_paused = true)]
async fn a_timeout_on_a_sub_graph_abandons_the_inner_run() {
    let inner = Graph::<u32, u32>::builder()
        .node("a", sleepy(0, 1, 0))
        .node("b", sleepy(0, 60, 0))
        .edge("a", "default", "b")
        .build()
        .unwrap();
    let outer = Graph::<u32, u32>::builder().node("sub", inner.timeout(Timeouts::node(secs(5)))).build().unwrap();
    let started = Instant::now();
    let err = outer.run(&Store::new(), 1).await.unwrap_err();
    assert_eq!(started.elapsed(), secs(5));
    assert_eq!(pocket::report(&err), "node `sub` failed in exec: timed out after 5s (node timeout)");
}

#[tokio::test(start_paused = true)]
async fn extreme_configuration_values_never_panic() {
    use pocket::layer::circuit_breaker::CircuitBreaker;
    use pocket::layer::rate_limit::RateLimiter;
    // Limits too large to add to the clock are no limits.
    let node = sleepy(0, 1, 0).timeout(Timeouts::step(Duration::MAX).and_node(Duration::MAX));
    assert_eq!(run_node(&node, &Store::new(), 1).await.unwrap(), 1);
    // A store TTL of "forever".
    let store = Store::builder().ttl(Duration::MAX).max_entries(2).build();
    store.set_value("k", serde_json::json!(1));
    assert!(store.contains("k"));
    // NaN jitter, an absurd multiplier.
    let flaky = exec_fn(|x: u32| async move { if x == 0 { Err(NodeError::msg("no")) } else { Ok(x) } })
        .retry(RetryPolicy::exponential(2, Duration::from_millis(1)).multiplier(f64::NAN).jitter(f64::NAN));
    assert!(run_node(&flaky, &Store::new(), 0).await.is_err());
    // A breaker open "forever", a limiter cost that would wait longer than a Duration holds.
    let breaker = CircuitBreaker::new(1, Duration::MAX);
    let down = exec_fn(|_: u32| async move { Err::<u32, _>(NodeError::msg("down")) }).circuit_breaker(breaker.clone());
    assert!(run_node(&down, &Store::new(), 0).await.is_err());
    assert_eq!(breaker.state(), pocket::layer::circuit_breaker::BreakerState::Open);
    let limiter = RateLimiter::new(f64::MIN_POSITIVE, 1).unwrap();
    assert!(limiter.try_acquire(1));
    assert!(tokio::time::timeout(Duration::from_secs(1), limiter.acquire(u32::MAX)).await.is_err());
}

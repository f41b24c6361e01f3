//! The retry layer, on tokio's paused clock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pocket::error::Step;
use pocket::layer::retry::RetryPolicy;
use pocket::node::run_node_with;
use pocket::{CancellationToken, Graph, Next, NodeError, NodeExt, Store, StoreView, exec_fn, node_fn, run_node};
use tokio::time::Instant;

/// Fails with `errors[i]` on call i, then succeeds; records when each call happened.
fn scripted(
    errors: Vec<Option<NodeError>>,
    calls: Arc<Mutex<Vec<Duration>>>,
) -> impl pocket::Node<Input = u32, Output = u32> {
    let start = Instant::now();
    let errors = Arc::new(Mutex::new(errors.into_iter()));
    exec_fn(move |x: u32| {
        calls.lock().unwrap().push(start.elapsed());
        let next = errors.lock().unwrap().next().flatten();
        async move {
            match next {
                Some(e) => Err(e),
                None => Ok(x),
            }
        }
    })
}

fn busy() -> Option<NodeError> {
    Some(NodeError::msg("busy"))
}

#[tokio::test(start_paused = true)]
async fn constant_backoff_retries_until_success() {
    let calls = Arc::default();
    let node =
        scripted(vec![busy(), busy()], Arc::clone(&calls)).retry(RetryPolicy::constant(5, Duration::from_millis(100)));
    assert_eq!(run_node(&node, &Store::new(), 7).await.unwrap(), 7);
    let ms: Vec<u128> = calls.lock().unwrap().iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [0, 100, 200]);
}

#[tokio::test(start_paused = true)]
async fn exponential_backoff_grows_and_is_capped() {
    let calls = Arc::default();
    let policy =
        RetryPolicy::exponential(5, Duration::from_millis(100)).multiplier(3.0).max_delay(Duration::from_millis(500));
    let node = scripted(vec![busy(), busy(), busy(), busy()], Arc::clone(&calls)).retry(policy);
    assert_eq!(run_node(&node, &Store::new(), 1).await.unwrap(), 1);
    let ms: Vec<u128> = calls.lock().unwrap().iter().map(Duration::as_millis).collect();
    // delays 100, 300, 500 (capped from 900), 500
    assert_eq!(ms, [0, 100, 400, 900, 1400]);
}

#[tokio::test(start_paused = true)]
async fn jitter_only_shortens_delays_within_the_fraction() {
    let calls = Arc::default();
    let policy = RetryPolicy::constant(20, Duration::from_millis(1000)).jitter(0.5);
    let node = scripted((0..19).map(|_| busy()).collect(), Arc::clone(&calls)).retry(policy);
    run_node(&node, &Store::new(), 1).await.unwrap();
    let at = calls.lock().unwrap().clone();
    let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps.len(), 19);
    assert!(gaps.iter().all(|g| *g >= Duration::from_millis(500) && *g <= Duration::from_millis(1000)), "{gaps:?}");
    assert!(gaps.iter().any(|g| *g != gaps[0]), "jitter varies the delays: {gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_keep_the_last_error_and_the_count() {
    let calls = Arc::default();
    let node = scripted(vec![busy(), busy(), Some(NodeError::msg("still busy"))], Arc::clone(&calls))
        .retry(RetryPolicy::constant(3, Duration::from_millis(1)));
    let err = run_node(&node, &Store::new(), 1).await.unwrap_err();
    assert_eq!(pocket::report(&err), "node `node` failed in exec: gave up after 3 attempts: still busy");
    assert_eq!(calls.lock().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_fatal_error_stops_retrying_at_once() {
    let calls = Arc::default();
    let node = scripted(vec![busy(), Some(NodeError::fatal_msg("bad request")), busy()], Arc::clone(&calls))
        .retry(RetryPolicy::constant(10, Duration::from_millis(1)));
    let err = run_node(&node, &Store::new(), 1).await.unwrap_err();
    assert_eq!(calls.lock().unwrap().len(), 2);
    assert!(pocket::report(&err).ends_with("gave up after 2 attempts: bad request"));
    assert!(!err.node_error().unwrap().is_retryable());
}

#[tokio::test(start_paused = true)]
async fn prep_is_retried_and_post_never_is() {
    let counts = Arc::new(Mutex::new((0, 0, 0)));
    let (c1, c2, c3) = (counts.clone(), counts.clone(), counts.clone());
    let node = node_fn(
        move |_: StoreView, x: u32| {
            let n = {
                let mut c = c1.lock().unwrap();
                c.0 += 1;
                c.0
            };
            async move { if n < 2 { Err(NodeError::msg("prep flake")) } else { Ok(x) } }
        },
        move |x: u32| {
            c2.lock().unwrap().1 += 1;
            async move { Ok(x) }
        },
        move |_: Store, _: u32, _: u32, _: u32| {
            c3.lock().unwrap().2 += 1;
            async move { Err::<(u32, Next), _>(NodeError::msg("post flake")) }
        },
    )
    .retry(RetryPolicy::constant(5, Duration::from_millis(1)));
    let err = run_node(&node, &Store::new(), 1).await.unwrap_err();
    assert_eq!(err.step(), Some(Step::Post));
    assert_eq!(*counts.lock().unwrap(), (2, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn cancellation_interrupts_the_wait_between_attempts() {
    let calls = Arc::default();
    let node =
        scripted(vec![busy(), busy()], Arc::clone(&calls)).retry(RetryPolicy::constant(3, Duration::from_secs(3600)));
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        t.cancel();
    });
    let started = Instant::now();
    let err = run_node_with(&node, "n", &Store::new(), 1, &token).await.unwrap_err();
    assert!(err.node_error().unwrap().is_cancelled(), "{err:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!(calls.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_wraps_a_whole_sub_graph() {
    let calls = Arc::default();
    let inner =
        Graph::<u32, u32>::builder().node("flaky", scripted(vec![busy(), busy()], Arc::clone(&calls))).build().unwrap();
    let outer = Graph::<u32, u32>::builder()
        .node("sub", inner.retry(RetryPolicy::constant(3, Duration::from_millis(5))))
        .build()
        .unwrap();
    assert_eq!(outer.run(&Store::new(), 4).await.unwrap(), 4);
    assert_eq!(calls.lock().unwrap().len(), 3);
}

#[test]
fn policy_arithmetic() {
    let p = RetryPolicy::exponential(0, Duration::from_millis(10));
    assert_eq!(p.max_attempts(), 1, "at least one attempt");
    assert_eq!(p.delay(1), Duration::from_millis(10));
    assert_eq!(p.delay(4), Duration::from_millis(80));
    assert_eq!(p.delay(u32::MAX), Duration::from_secs(60), "default cap, no overflow");
    let c = RetryPolicy::constant(3, Duration::from_millis(7)).multiplier(2.0);
    assert_eq!(c.delay(3), Duration::from_millis(28));
}

#[test]
fn backoff_delays_grow_monotonically_and_respect_the_cap() {
    let mut state = 0x1234_5678_9abc_def1u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..500 {
        let initial = Duration::from_millis(next() % 5_000);
        let multiplier = 1.0 + (next() % 400) as f64 / 100.0;
        let cap = Duration::from_millis(next() % 60_000);
        let policy = RetryPolicy::exponential(20, initial).multiplier(multiplier).max_delay(cap);
        let mut previous = Duration::ZERO;
        for attempt in 1..40 {
            let delay = policy.delay(attempt);
            assert!(delay <= cap, "{delay:?} above the cap {cap:?}");
            assert!(delay >= previous, "delays never shrink: {previous:?} then {delay:?}");
            assert!(delay >= initial.min(cap), "never below the first delay");
            previous = delay;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn layers_apply_through_the_layer_trait_too() {
    use pocket::layer::Layer;
    use pocket::layer::retry::RetryLayer;
    use pocket::layer::timeout::{TimeoutLayer, Timeouts};
    let calls = Arc::default();
    let layer = RetryLayer(RetryPolicy::constant(3, Duration::from_millis(1)));
    let node = layer.layer(scripted(vec![busy(), busy()], Arc::clone(&calls)));
    let node = node.layer(TimeoutLayer(Timeouts::node(Duration::from_secs(1))));
    assert_eq!(run_node(&node, &Store::new(), 5).await.unwrap(), 5);
    assert_eq!(calls.lock().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_throttled_error_sets_a_floor_on_the_wait() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let busy = exec_fn(move |x: u32| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        async move {
            match n {
                0 => Err(NodeError::throttled("429 Too Many Requests", Duration::from_secs(5))),
                1 => Err(NodeError::msg("503")),
                _ => Ok(x),
            }
        }
    })
    .retry(RetryPolicy::constant(3, Duration::from_millis(100)));
    let started = tokio::time::Instant::now();
    assert_eq!(pocket::run_node(&busy, &Store::new(), 1).await.unwrap(), 1);
    // 5s asked by the first failure, then the policy's own 100ms.
    assert_eq!(started.elapsed(), Duration::from_millis(5_100));
}

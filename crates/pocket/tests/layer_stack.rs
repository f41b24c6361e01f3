//! Layers as values: stacks (tuples, `Stack`, `Identity`, `Option`), erased layers, the
//! one-method `AroundExec` helper, and the recommended LLM stack with a cost function.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pocket::error::ErrorKind;
use pocket::layer::circuit_breaker::CircuitBreaker;
use pocket::layer::metrics::Metrics;
use pocket::layer::rate_limit::RateLimiter;
use pocket::layer::retry::{Exhausted, RetryLayer, RetryPolicy};
use pocket::layer::timeout::{Elapsed, TimeoutLayer, Timeouts};
use pocket::layer::{AroundExec, AroundLayer, BoxLayer, Identity, Layer, Stack};
use pocket::node::{OwnedCtx, exec_fn_ctx};
use pocket::{Ctx, Node, NodeError, NodeExt, Store, exec_fn, run_node};

/// Records the order in which wrappers see Exec.
#[derive(Clone)]
struct Tag(&'static str, Arc<Mutex<Vec<&'static str>>>);

impl<N: Node> AroundExec<N> for Tag {
    async fn exec(&self, inner: &N, ctx: &Ctx<'_>, prep: &N::Prep) -> Result<N::Exec, NodeError> {
        self.1.lock().unwrap().push(self.0);
        inner.exec(ctx, prep).await
    }
}

#[tokio::test]
async fn a_tuple_stack_applies_its_first_layer_innermost() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stack = (AroundLayer(Tag("inner", seen.clone())), AroundLayer(Tag("outer", seen.clone())));
    let node = exec_fn(|x: u32| async move { Ok(x) }).layer(&stack);
    run_node(&node, &Store::new(), 1).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), ["outer", "inner"]);

    // The same stack value wraps a second node, and `Stack` reads the same way.
    seen.lock().unwrap().clear();
    let same = Stack::new(AroundLayer(Tag("inner", seen.clone())), AroundLayer(Tag("outer", seen.clone())))
        .layer(stack.layer(exec_fn(|x: u32| async move { Ok(x) })));
    run_node(&same, &Store::new(), 1).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), ["outer", "inner", "outer", "inner"]);
}

#[tokio::test]
async fn optional_and_empty_layers() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let none: Option<AroundLayer<Tag>> = None;
    let some = Some(AroundLayer(Tag("tag", seen.clone())));
    let a = exec_fn(|x: u32| async move { Ok(x + 1) }).layer(none).layer(Identity).layer(());
    let b = exec_fn(|x: u32| async move { Ok(x + 2) }).layer(some);
    assert_eq!(run_node(&a, &Store::new(), 1).await.unwrap(), 2);
    assert_eq!(run_node(&b, &Store::new(), 1).await.unwrap(), 3);
    assert_eq!(*seen.lock().unwrap(), ["tag"]);
}

#[tokio::test(start_paused = true)]
async fn erased_layers_fold_in_order() {
    let calls = Arc::new(AtomicU32::new(0));
    let layers: Vec<BoxLayer<u32, u32>> = vec![
        BoxLayer::new(TimeoutLayer(Timeouts::step(Duration::from_millis(10)))),
        BoxLayer::new(RetryLayer(RetryPolicy::constant(3, Duration::from_millis(1)))),
    ];
    let c = calls.clone();
    let slow = exec_fn(move |x: u32| {
        c.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(x)
        }
    })
    .boxed();
    let node = layers.iter().fold(slow, |n, l| l.layer(n));
    let err = run_node(&node, &Store::new(), 1).await.unwrap_err();
    // The timeout is inside the retry: three attempts, each timed out.
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let source = err.node_error().unwrap();
    assert_eq!(source.downcast_ref::<Exhausted>().map(Exhausted::attempts), Some(3));
    assert!(source.find::<Elapsed>().is_some(), "the timeout is found through the retry's error");
    assert_eq!(source.kind(), ErrorKind::Retryable);
    assert_eq!(
        pocket::report(&err),
        "node `node` failed in exec: gave up after 3 attempts: timed out after 10ms (step timeout)"
    );
}

#[tokio::test(start_paused = true)]
async fn the_recommended_llm_stack_prices_calls_through_the_timeout_layer() {
    let limiter = RateLimiter::new(100.0, 1).unwrap();
    let metrics = Metrics::new();
    let llm = exec_fn(|prompt: String| async move { Ok(format!("answer to {prompt}")) })
        .timeout(Timeouts::step(Duration::from_secs(30)))
        .rate_limit_by(limiter.clone(), |prompt| prompt.len() as u32) // `&Timed<String>` reads as the prompt
        .circuit_breaker(CircuitBreaker::new(5, Duration::from_secs(30)))
        .retry(RetryPolicy::exponential(4, Duration::from_millis(200)).jitter(0.5))
        .fallback(|_, _: &NodeError| async move { Ok("canned".to_string()) })
        .metrics(metrics.clone());
    let start = tokio::time::Instant::now();
    let store = Store::new();
    assert_eq!(run_node(&llm, &store, "abcd".into()).await.unwrap(), "answer to abcd");
    assert_eq!(run_node(&llm, &store, "ef".into()).await.unwrap(), "answer to ef");
    // 1 token saved up; 3 more for "abcd", then 2 for "ef", at 100 per second.
    assert_eq!(start.elapsed(), Duration::from_millis(50));
    assert_eq!(metrics.snapshot()["node"].successes, 2);
}

#[tokio::test(start_paused = true)]
async fn closure_nodes_see_the_context() {
    let token = pocket::CancellationToken::new();
    let node = exec_fn_ctx(|cx: OwnedCtx, ms: u64| async move {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(ms)) => Ok(cx.node().to_string()),
            () = cx.cancelled() => Err(NodeError::cancelled()),
        }
    });
    let store = Store::new();
    let (name, _) = pocket::node::run_node_with(&node, "wait", &store, 5, &token).await.unwrap();
    assert_eq!(name, "wait");
    let t = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        t.cancel();
    });
    let err = pocket::node::run_node_with(&node, "wait", &store, 60_000, &token).await.unwrap_err();
    assert!(err.node_error().is_some_and(NodeError::is_cancelled), "{err:?}");
}

#[test]
fn unclassified_errors_are_retryable_and_the_classification_is_data() {
    assert!(NodeError::msg("busy").is_retryable());
    assert!(NodeError::from("busy").is_retryable());
    assert!(!NodeError::fatal_msg("bad input").is_retryable());
    let throttled = NodeError::throttled("429", Duration::from_secs(2));
    assert_eq!(throttled.kind(), ErrorKind::Throttled);
    assert_eq!(throttled.retry_after(), Some(Duration::from_secs(2)));
    assert_eq!(throttled.to_string(), "429 (retry after 2s)");
    assert!(NodeError::cancelled().is_cancelled());
    // Display and source are the wrapped error's: a cause is printed once.
    let io = NodeError::from(std::io::Error::other("disk gone"));
    assert_eq!(pocket::report(&io), "disk gone");
    assert!(std::mem::size_of::<NodeError>() <= 24);
}

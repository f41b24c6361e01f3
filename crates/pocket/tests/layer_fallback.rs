//! The fallback layer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pocket::layer::retry::RetryPolicy;
use pocket::{Graph, NodeError, NodeExt, Store, StoreView, exec_fn, node_fn, run_node};

#[tokio::test]
async fn the_fallback_gets_the_prep_result_and_the_exec_error() {
    let seen = Arc::new(Mutex::new(None));
    let s = seen.clone();
    let node = node_fn(
        |_: StoreView, q: String| async move { Ok(format!("prepared {q}")) },
        |_: String| async move { Err::<String, _>(NodeError::msg("model unavailable")) },
        |_: Store, _: String, _: String, answer: String| async move { Ok((answer, pocket::Next::Default)) },
    )
    .fallback(move |prep: String, err: &NodeError| {
        *s.lock().unwrap() = Some((prep.clone(), err.to_string(), err.is_retryable()));
        async move { Ok(format!("canned for {prep}")) }
    });
    let out = run_node(&node, &Store::new(), "q".into()).await.unwrap();
    assert_eq!(out, "canned for prepared q");
    assert_eq!(*seen.lock().unwrap(), Some(("prepared q".into(), "model unavailable".into(), true)));
}

#[tokio::test]
async fn when_the_fallback_fails_both_errors_are_kept() {
    let node = exec_fn(|_: u8| async move { Err::<u8, _>(NodeError::msg("primary down")) })
        .fallback(|_: u8, _: &NodeError| async move { Err(NodeError::fatal_msg("backup down")) });
    let err = run_node(&node, &Store::new(), 0).await.unwrap_err();
    let Some(both) = err.node_error().and_then(|e| e.downcast_ref::<pocket::layer::fallback::BothFailed>()) else {
        panic!("{err:?}")
    };
    assert_eq!(both.primary().to_string(), "primary down");
    assert_eq!(both.fallback().to_string(), "backup down");
    assert!(!err.node_error().unwrap().is_retryable(), "the fallback's classification decides");
    assert_eq!(
        pocket::report(&err),
        "node `node` failed in exec: exec failed (primary down) and the fallback failed too: backup down"
    );
}

#[tokio::test(start_paused = true)]
async fn the_fallback_runs_once_after_retries_are_exhausted() {
    let attempts = Arc::new(Mutex::new(0));
    let a = attempts.clone();
    let fallbacks = Arc::new(Mutex::new(0));
    let f = fallbacks.clone();
    let node = exec_fn(move |_: u8| {
        *a.lock().unwrap() += 1;
        async move { Err::<u8, _>(NodeError::msg("flaky")) }
    })
    .retry(RetryPolicy::constant(3, Duration::from_millis(10)))
    .fallback(move |_: u8, err: &NodeError| {
        *f.lock().unwrap() += 1;
        let why = err.to_string();
        async move {
            assert_eq!(why, "gave up after 3 attempts");
            Ok(42)
        }
    });
    assert_eq!(run_node(&node, &Store::new(), 0).await.unwrap(), 42);
    assert_eq!((*attempts.lock().unwrap(), *fallbacks.lock().unwrap()), (3, 1));
}

#[tokio::test]
async fn a_sub_graph_takes_a_fallback() {
    let failing = Graph::<u8, u8>::builder()
        .node("boom", exec_fn(|_: u8| async move { Err::<u8, _>(NodeError::msg("inner failure")) }))
        .build()
        .unwrap();
    let node = failing.fallback(|input: u8, err: &NodeError| {
        let text = pocket::report(err);
        async move {
            assert_eq!(text, "sub-graph failed: node `boom` failed in exec: inner failure");
            Ok((input + 1, pocket::Next::Default))
        }
    });
    assert_eq!(run_node(&node, &Store::new(), 1).await.unwrap(), 2);
}

//! `layer_if`: a layer applied only when configured, without boxing.

use std::time::Duration;

use pocket::layer::retry::RetryPolicy;
use pocket::layer::timeout::Timeouts;
use pocket::{NodeExt, Store, exec_fn, run_node};

#[tokio::test(start_paused = true)]
async fn the_layer_applies_only_when_configured() {
    let slow = || {
        exec_fn(|x: u32| async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(x)
        })
    };
    let bare = slow().layer_if(None::<Duration>, |n, limit| n.timeout(Timeouts::step(limit)));
    assert_eq!(run_node(&bare, &Store::new(), 7).await.unwrap(), 7);

    let limited = slow().layer_if(Some(Duration::from_secs(1)), |n, limit| n.timeout(Timeouts::step(limit)));
    let started = tokio::time::Instant::now();
    let err = run_node(&limited, &Store::new(), 7).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert!(pocket::report(&err).contains("timed out"), "{}", pocket::report(&err));
}

#[tokio::test(start_paused = true)]
async fn optional_layers_stack_in_order() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = calls.clone();
    let flaky = exec_fn(move |x: u32| {
        let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move { if n < 2 { Err(pocket::NodeError::msg("flaky")) } else { Ok(x * 2) } }
    });
    let node = flaky
        .layer_if(Some(Duration::from_secs(5)), |n, t| n.timeout(Timeouts::step(t)))
        .layer_if(None::<u32>, |n, _| n.timeout(Timeouts::step(Duration::ZERO)))
        .layer_if(Some(3), |n, attempts| n.retry(RetryPolicy::constant(attempts, Duration::from_millis(10))));
    assert_eq!(run_node(&node, &Store::new(), 21).await.unwrap(), 42);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 3);
}

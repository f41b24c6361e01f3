//! The adaptive concurrency limit: grows while calls succeed, halves once per window on
//! push-back (throttled or timed out), ignores other failures, never lets more in than it
//! allows (paused clock).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pocket::layer::AroundLayer;
use pocket::layer::adaptive_limit::AdaptiveLimit;
use pocket::{FanOut, NodeError, NodeExt, Store, exec_fn};

#[tokio::test(start_paused = true)]
async fn it_grows_to_its_ceiling_while_calls_succeed() {
    let limit = AdaptiveLimit::new(2, 10);
    assert_eq!(limit.current(), 2);
    let node = exec_fn(|x: u32| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(x)
    })
    .layer(&AroundLayer(limit.clone()));
    FanOut::new(node).limit(64).run(&Store::new(), 0..50u32).await.unwrap();
    assert_eq!(limit.current(), 10);
}

#[tokio::test(start_paused = true)]
async fn push_back_halves_it_once_per_window_and_other_failures_do_not() {
    let limit = AdaptiveLimit::new(1, 64);
    let ok = exec_fn(|x: u32| async move { Ok(x) }).layer(&AroundLayer(limit.clone()));
    for i in 0..15 {
        pocket::run_node(&ok, &Store::new(), i).await.unwrap();
    }
    assert_eq!(limit.current(), 16, "slow start: one more per success");
    // Eight calls let in together, all throttled: one halving, not eight.
    let throttled = exec_fn(|_: u32| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Err::<u32, _>(NodeError::throttled("slow down", Duration::ZERO))
    })
    .layer(&AroundLayer(limit.clone()));
    let results = FanOut::new(throttled).limit(8).run_all(&Store::new(), 0..8u32).await;
    assert!(results.iter().all(Result::is_err));
    assert_eq!(limit.current(), 8);
    // A bad request says nothing about load.
    let fatal = exec_fn(|_: u32| async move { Err::<u32, _>(NodeError::fatal_msg("bad input")) })
        .layer(&AroundLayer(limit.clone()));
    let _ = pocket::run_node(&fatal, &Store::new(), 0).await;
    assert_eq!(limit.current(), 8);
    // A timeout is push-back: the layer sits outside the timeout.
    let slow = exec_fn(|x: u32| async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok(x)
    })
    .timeout(pocket::layer::timeout::Timeouts::step(Duration::from_secs(1)))
    .layer(&AroundLayer(limit.clone()));
    assert!(pocket::run_node(&slow, &Store::new(), 0).await.is_err());
    assert_eq!(limit.current(), 4);
    // After slow start, growth is 1/limit per success: about one per window of successes.
    for i in 0..4 {
        pocket::run_node(&ok, &Store::new(), i).await.unwrap();
    }
    assert_eq!(limit.current(), 4, "4 + 1/4 + 1/4.25 + ... stays below 5 after four");
    for i in 0..1 {
        pocket::run_node(&ok, &Store::new(), i).await.unwrap();
    }
    assert_eq!(limit.current(), 5);
}

#[tokio::test(start_paused = true)]
async fn no_more_calls_run_at_once_than_it_allows_and_it_settles_near_capacity() {
    let limit = AdaptiveLimit::new(1, 100);
    let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (n, m) = (now.clone(), most.clone());
    // A service that takes 12 at once and pushes back beyond that.
    let service = exec_fn(move |x: u32| {
        let (now, most) = (n.clone(), m.clone());
        async move {
            let running = now.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(running, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            if running > 12 { Err(NodeError::throttled("busy", Duration::ZERO)) } else { Ok(x) }
        }
    });
    let node = service
        .layer(&AroundLayer(limit.clone()))
        .retry(pocket::layer::retry::RetryPolicy::constant(50, Duration::from_millis(5)));
    let out = FanOut::new(node).limit(100).run(&Store::new(), 0..1000u32).await.unwrap();
    assert_eq!(out.len(), 1000);
    assert!(most.load(Ordering::SeqCst) <= 100);
    let settled = limit.current();
    assert!((6..=16).contains(&settled), "settled at {settled}");
}

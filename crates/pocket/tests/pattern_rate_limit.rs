//! The token bucket, on tokio's paused clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pocket::layer::rate_limit::{RateLimitError, RateLimiter};
use pocket::{FanOut, NodeExt, Store, exec_fn};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_fan_out_of_10000_items_at_1000_per_second_takes_10_seconds() {
    let limiter = RateLimiter::new(1000.0, 1).unwrap();
    let stamps = Arc::new(Mutex::new(Vec::new()));
    let s = stamps.clone();
    let start = Instant::now();
    let node = exec_fn(move |i: u32| {
        s.lock().unwrap().push(start.elapsed());
        async move { Ok(i) }
    })
    .rate_limit(limiter);
    let out = FanOut::new(node).unlimited().run(&Store::new(), 0..10_000u32).await.unwrap();
    assert_eq!(out.len(), 10_000);
    let elapsed = start.elapsed();
    // 1 token saved up + 9,999 paid at 1 per ms.
    assert_eq!(elapsed, Duration::from_millis(9_999));
    // Never faster than the rate over any window: call k happens no earlier than k-1 ms.
    let mut stamps = stamps.lock().unwrap().clone();
    stamps.sort();
    for (k, t) in stamps.iter().enumerate().skip(1) {
        assert!(*t >= Duration::from_millis(k as u64 - 1), "call {k} at {t:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn bursts_are_served_at_once_then_paced() {
    let limiter = RateLimiter::new(10.0, 5).unwrap();
    let start = Instant::now();
    for _ in 0..5 {
        limiter.acquire(1).await;
    }
    assert_eq!(start.elapsed(), Duration::ZERO);
    limiter.acquire(1).await;
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    // Idle time refills the bucket, but never above the burst.
    tokio::time::advance(Duration::from_secs(10)).await;
    let t = Instant::now();
    for _ in 0..6 {
        limiter.acquire(1).await;
    }
    assert_eq!(t.elapsed(), Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn weighted_calls_cost_their_tokens_even_beyond_the_burst() {
    let limiter = RateLimiter::new(100.0, 10).unwrap();
    let start = Instant::now();
    limiter.acquire(10).await; // the whole burst
    limiter.acquire(50).await; // 50 more at 100/s
    assert_eq!(start.elapsed(), Duration::from_millis(500));
    assert!(!limiter.try_acquire(1));
}

#[tokio::test(start_paused = true)]
async fn one_limiter_paces_several_nodes_together() {
    let limiter = RateLimiter::new(100.0, 1).unwrap();
    let a = exec_fn(|i: u32| async move { Ok(i) }).rate_limit(limiter.clone());
    let b = exec_fn(|i: u32| async move { Ok(i) }).rate_limit(limiter.clone());
    let store = Store::new();
    let start = Instant::now();
    let (fa, fb) = (FanOut::new(a).unlimited(), FanOut::new(b).unlimited());
    let (ra, rb) = tokio::join!(fa.run(&store, 0..100u32), fb.run(&store, 0..100u32));
    assert_eq!((ra.unwrap().len(), rb.unwrap().len()), (100, 100));
    assert_eq!(start.elapsed(), Duration::from_millis(1_990));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_wait_gives_its_reservation_back() {
    let limiter = RateLimiter::new(1.0, 1).unwrap();
    limiter.acquire(1).await;
    // This one would wait 100 s; give up after 1 s.
    assert!(tokio::time::timeout(Duration::from_secs(1), limiter.acquire(100)).await.is_err());
    let start = Instant::now();
    limiter.acquire(1).await;
    assert_eq!(start.elapsed(), Duration::ZERO, "1 s of refill pays for the next token");
}

#[test]
fn bad_configuration_is_an_error_not_a_panic() {
    assert_eq!(RateLimiter::new(0.0, 1).unwrap_err(), RateLimitError::Rate(0.0));
    assert!(matches!(RateLimiter::new(f64::NAN, 1), Err(RateLimitError::Rate(_))));
    assert_eq!(RateLimiter::new(5.0, 0).unwrap_err(), RateLimitError::Burst);
}

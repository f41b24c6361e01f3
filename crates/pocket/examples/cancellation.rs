//! Cancellation: a token cancels a running graph and a running fan-out; steps see it, nothing
//! keeps running afterwards.
//! Run: `cargo run -p pocket --example cancellation`

use std::time::{Duration, Instant};

use pocket::pattern::TaskGauge;
use pocket::{CancellationToken, FanOut, Graph, NodeError, RunOptions, Store, exec_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let started = Instant::now();
    let think = exec_fn(|n: u32| async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok(n + 1)
    });
    let agent = Graph::<u32, u32>::builder().node("think", think).edge("think", "default", "think").build().unwrap();
    let token = CancellationToken::new();
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        println!("cancelling at {} ms", started.elapsed().as_millis());
        canceller.cancel();
    });
    let err = agent.run_with(&Store::new(), 0, RunOptions::new().token(token)).await.unwrap_err();
    println!("agent loop stopped at {} ms: {err}", started.elapsed().as_millis());

    let gauge = TaskGauge::new();
    let patient = exec_fn(|i: u32| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<u32, NodeError>(i)
    });
    let fan = FanOut::new(patient).limit(8).gauge(gauge.clone());
    let token = CancellationToken::new();
    let canceller = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        canceller.cancel();
    });
    let started = Instant::now();
    let err = fan.run_with(&Store::new(), 0..1000, &token).await.unwrap_err();
    println!("fan-out cancelled after {} ms: {}", started.elapsed().as_millis(), pocket::report(&err));
    println!("items still running: {} (peak was {})", gauge.active(), gauge.peak());
}

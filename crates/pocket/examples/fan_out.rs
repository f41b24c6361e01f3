//! Fan-out: one node over many items, at most 3 at a time, results in input order.
//! Run: `cargo run -p pocket --example fan_out`

use std::time::{Duration, Instant};

use pocket::pattern::TaskGauge;
use pocket::{FanOut, Store, exec_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let started = Instant::now();
    // A "slow call": longer words take longer.
    let summarize = exec_fn(move |word: String| async move {
        tokio::time::sleep(Duration::from_millis(20 * word.len() as u64)).await;
        println!("  finished {word:<10} after {:>4} ms", started.elapsed().as_millis());
        Ok(word.to_uppercase())
    });
    let gauge = TaskGauge::new();
    let fan = FanOut::new(summarize).limit(3).gauge(gauge.clone());
    let words = ["pocket", "is", "a", "workflow", "engine", "for", "agents"].map(String::from);

    println!("fan-out of {} items, at most 3 at a time:", words.len());
    let out = fan.run(&Store::new(), words).await.expect("all items succeed");
    println!("results, in input order: {out:?}");
    println!("peak items in flight: {}, still running: {}", gauge.peak(), gauge.active());
}

//! Scatter-gather: one request to three services, each with its own timeout; partial results
//! plus a per-service error list.
//! Run: `cargo run -p pocket --example scatter_gather`

use std::time::{Duration, Instant};

use pocket::pattern::ScatterGather;
use pocket::{NodeError, Store, exec_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let quote = |ms: u64, price: f64| {
        exec_fn(move |item: String| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(format!("{item}: {price:.2}"))
        })
    };
    let down = exec_fn(|_: String| async move { Err::<String, _>(NodeError::msg("503 service unavailable")) });
    let started = Instant::now();
    let gathered = ScatterGather::new()
        .service("shop-a", quote(30, 19.99), Duration::from_millis(100))
        .service("shop-b", quote(400, 17.49), Duration::from_millis(100)) // too slow
        .service("shop-c", quote(60, 18.75), Duration::from_millis(100))
        .service("shop-d", down, Duration::from_millis(100))
        .run(&Store::new(), "headphones".to_string())
        .await;
    println!("gathered in {} ms:", started.elapsed().as_millis());
    for (service, answer) in &gathered.responses {
        println!("  {service}: {answer}");
    }
    for error in &gathered.errors {
        println!("  error: {}", pocket::report(error));
    }
}

//! Adaptive fan-out: the number of items in flight follows a load signal (here a fake one that
//! drops from busy to idle halfway), re-evaluated while running.
//! Run: `cargo run -p pocket --example adaptive_fan_out`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pocket::pattern::AdaptiveFanOut;
use pocket::{Store, exec_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let load = Arc::new(AtomicU64::new(0.95f64.to_bits()));
    let signal = {
        let load = load.clone();
        move || f64::from_bits(load.load(Ordering::Relaxed))
    };
    let started = Instant::now();
    let work = exec_fn(|i: u32| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(i)
    });
    let fan = AdaptiveFanOut::new(work, 2, 16).signal(signal).interval(Duration::from_millis(20)).on_change(
        move |workers, load| {
            println!("  at {:>3} ms: load {load:.2} -> {workers} workers", started.elapsed().as_millis());
        },
    );
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        load.store(0.1f64.to_bits(), Ordering::Relaxed);
    });
    let out = fan.run(&Store::new(), 0..300).await.expect("all items succeed");
    println!("{} items done in {} ms", out.len(), started.elapsed().as_millis());
    println!(
        "(the system load average is the default signal: {:.2} now)",
        pocket::pattern::LoadSignal::load(&pocket::pattern::SystemLoad)
    );
}

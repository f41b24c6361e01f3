//! Run-concurrent: independent checks at once, each with its own result type (no downcasts).
//! Run: `cargo run -p pocket --example run_concurrent`

use std::time::{Duration, Instant};

use pocket::pattern::ConcurrentNodes;
use pocket::{Store, exec_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let started = Instant::now();
    let inventory = exec_fn(|order: u32| async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(!order.is_multiple_of(7)) // in stock?
    });
    let payment = exec_fn(|order: u32| async move {
        tokio::time::sleep(Duration::from_millis(80)).await;
        Ok(f64::from(order) * 9.99) // amount authorised
    });
    let shipping = exec_fn(|order: u32| async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        Ok(format!("parcel-{order}")) // label
    });
    let (in_stock, amount, label) =
        (inventory, payment, shipping).run_concurrent(&Store::new(), (12, 12, 12)).await.expect("all checks pass");
    println!("in stock: {in_stock}, authorised: {amount:.2}, label: {label}");
    println!("three checks took {} ms together (80 ms for the slowest)", started.elapsed().as_millis());
}

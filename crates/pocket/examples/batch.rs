//! Batches: 10 items in batches of 4, 2 at a time inside a batch, a pause between batches; an
//! error names the batch and the item.
//! Run: `cargo run -p pocket --example batch`

use std::time::{Duration, Instant};

use pocket::pattern::Batches;
use pocket::{NodeError, Store, exec_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let started = Instant::now();
    let embed = exec_fn(move |doc: u32| async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        println!("  embedded doc {doc:>2} at {:>3} ms", started.elapsed().as_millis());
        if doc == 42 {
            return Err(NodeError::fatal_msg("document 42 is empty"));
        }
        Ok(doc * 100)
    });
    let batches = Batches::new(embed, 4).limit(2).pause(Duration::from_millis(50));
    let out = batches.run(&Store::new(), 0..10).await.expect("all documents embed");
    println!("results: {out:?}");

    let err = batches.run(&Store::new(), [1, 2, 3, 4, 5, 42, 7]).await.unwrap_err();
    println!("with a bad document: {}", pocket::report(&err));
}

//! Worker pool: 3 workers drain a bounded queue; results stream back as they finish; close()
//! lets the queue drain.
//! Run: `cargo run -p pocket --example worker_pool`

use std::time::Duration;

use pocket::pattern::{TaskGauge, WorkerPool};
use pocket::{Store, exec_fn};

#[tokio::main]
async fn main() {
    let resize = exec_fn(|size_kb: u64| async move {
        tokio::time::sleep(Duration::from_millis(size_kb)).await;
        Ok(size_kb / 4)
    });
    let gauge = TaskGauge::new();
    let mut pool = WorkerPool::builder(resize).limit(3).capacity(4).gauge(gauge.clone()).start(&Store::new());
    let sizes = [40u64, 10, 30, 20, 50, 10, 20, 30];
    for size in sizes {
        let id = pool.submit(size).await.expect("pool is open");
        println!("submitted job {id} ({size} KB)");
    }
    pool.close();
    while let Some(job) = pool.next().await {
        println!("job {} done: {} KB", job.id, job.result.expect("resize works"));
    }
    println!("all workers stopped: {} tasks running", gauge.active());
}

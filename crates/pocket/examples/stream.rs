//! Stream processing: a bounded producer, 4 items in flight, a small output buffer; the
//! producer waits when the consumer is slow (back-pressure).
//! Run: `cargo run -p pocket --example stream`

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use pocket::pattern::StreamProcessor;
use pocket::{Store, exec_fn};
use tokio::sync::mpsc;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let started = Instant::now();
    let (tx, mut rx) = mpsc::channel::<u32>(2);
    let producer = tokio::spawn(async move {
        for event in 0..12 {
            tx.send(event).await.expect("consumer alive");
            println!("  produced {event:>2} at {:>4} ms", started.elapsed().as_millis());
        }
    });
    let enrich = exec_fn(|event: u32| async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(format!("event-{event}"))
    });
    let input = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut out = StreamProcessor::new(enrich).limit(4).buffer(2).run(&Store::new(), input);
    while let Some(result) = out.next().await {
        let event = result.expect("enrich works");
        println!("consumed {event} at {:>4} ms (slow consumer)", started.elapsed().as_millis());
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    producer.await.expect("producer finished");
}

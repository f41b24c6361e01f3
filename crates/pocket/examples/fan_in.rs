//! Fan-in: three sources run at once; an aggregator gets their results in source order.
//! Run: `cargo run -p pocket --example fan_in`

use std::time::{Duration, Instant};

use pocket::pattern::FanIn;
use pocket::{NodeExt, Store, exec_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let started = Instant::now();
    let source = |name: &'static str, ms: u64, docs: &'static [&'static str]| {
        exec_fn(move |query: String| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            println!("  {name} answered `{query}` after {} ms", started.elapsed().as_millis());
            Ok(docs.iter().map(|d| format!("{name}:{d}")).collect::<Vec<_>>())
        })
        .boxed()
    };
    let sources = vec![
        source("wiki", 60, &["rust", "tokio"]),
        source("docs", 20, &["pocket"]),
        source("web", 40, &["blog", "forum", "video"]),
    ];
    let merge = exec_fn(|parts: Vec<Vec<String>>| async move { Ok(parts.concat()) });
    let fan_in = FanIn::new(sources, merge);
    let merged = fan_in.run(&Store::new(), "workflow engines".into()).await.expect("sources succeed");
    println!("merged in source order ({} ms): {merged:?}", started.elapsed().as_millis());
}

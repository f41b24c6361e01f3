//! The README's quick start: an agent-style loop.

use pocket::layer::retry::RetryPolicy;
use pocket::{Graph, Next, NodeExt, Store, exec_fn, exec_post_fn};
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // think → act → think … until the counter reaches 3, then `done` (no edge: the run ends).
    let think = exec_post_fn(
        |n: u32| async move { Ok(n) },
        |_store, _n, n: u32| async move { Ok((n, if n < 3 { Next::to("act") } else { Next::to("done") })) },
    );
    let act = exec_fn(|n: u32| async move { Ok(n + 1) }).retry(RetryPolicy::exponential(3, Duration::from_millis(100)));

    let graph = Graph::<u32, u32>::builder()
        .node("think", think)
        .node("act", act)
        .edge("think", "act", "act")
        .edge("act", "default", "think")
        .build()
        .expect("every problem is reported at once");

    let out = graph.run(&Store::new(), 0).await.expect("run");
    println!("finished with {out}");
}

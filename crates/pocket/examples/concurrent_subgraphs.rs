//! Concurrent sub-graphs: named graphs with named inputs run at once; a map of results; errors
//! name the sub-graph.
//! Run: `cargo run -p pocket --example concurrent_subgraphs`

use pocket::pattern::run_subgraphs;
use pocket::{Graph, NodeError, Store, exec_fn};

fn graph(step: i64) -> Graph<i64, i64> {
    Graph::builder()
        .node("scale", exec_fn(move |x: i64| async move { Ok(x * step) }))
        .node(
            "check",
            exec_fn(|x: i64| async move { if x < 0 { Err(NodeError::fatal_msg("negative total")) } else { Ok(x) } }),
        )
        .edge("scale", "default", "check")
        .build()
        .expect("valid graph")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let store = Store::new();
    let out = run_subgraphs(&store, [("double", graph(2), 21), ("triple", graph(3), 5)]).await.expect("all succeed");
    let mut names: Vec<_> = out.keys().collect();
    names.sort();
    for name in names {
        println!("{name}: {}", out[name]);
    }
    let err = run_subgraphs(&store, [("fine", graph(2), 1), ("broken", graph(-1), 7)]).await.unwrap_err();
    println!("error: {err}");
    for (name, error) in &err.failures {
        println!("  {name}: {}", pocket::report(error));
    }
    println!("completed anyway: {:?}", err.completed);
}

//! Pipelines: a typed chain the compiler checks, and a named pipeline over JSON values whose
//! errors name the failing stage.
//! Run: `cargo run -p pocket --example pipeline`

use pocket::pattern::Pipeline;
use pocket::{NodeError, NodeExt, Store, exec_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let store = Store::new();

    // Typed: String -> usize -> f64 -> String; a stage of the wrong type would not compile.
    let words = exec_fn(|text: String| async move { Ok(text.split_whitespace().count()) });
    let minutes = exec_fn(|count: usize| async move { Ok(count as f64 / 200.0) });
    let label = exec_fn(|m: f64| async move { Ok(format!("{:.1} min read", m.max(0.1))) });
    let flow = words.then(minutes).then(label);
    let text = "pocket runs graphs of nodes ".repeat(100);
    println!("typed chain: {}", pocket::run_node(&flow, &store, text).await.expect("chain runs"));

    // Named stages over JSON.
    let pipeline = Pipeline::new()
        .stage("parse", exec_fn(|v: Value| async move { Ok(json!({ "items": v })) }))
        .stage(
            "validate",
            exec_fn(|v: Value| async move {
                match v["items"].as_array() {
                    Some(items) if !items.is_empty() => Ok(v),
                    _ => Err(NodeError::fatal_msg("no items to process")),
                }
            }),
        )
        .stage("total", exec_fn(|v: Value| async move { Ok(json!(v["items"].as_array().map_or(0, Vec::len))) }));
    println!("pipeline on [1,2,3]: {}", pipeline.run(&store, json!([1, 2, 3])).await.expect("runs"));
    let err = pipeline.run(&store, json!([])).await.unwrap_err();
    println!("pipeline on []: error: {}", pocket::report(&err));
}

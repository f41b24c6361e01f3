//! Middleware from plain async functions, and metrics that count what ran.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pocket::layer::from_fn::middleware;
use pocket::layer::metrics::Metrics;
use pocket::{Graph, Next, NodeError, NodeExt, Store, exec_fn, run_node};
use serde_json::{Value, json};
use tokio::time::sleep;

#[tokio::test]
async fn middleware_can_rewrite_short_circuit_and_retry() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let flaky = exec_fn(move |x: u32| {
        let n = c.fetch_add(1, Ordering::SeqCst);
        async move { if n == 0 { Err(NodeError::msg("first call fails")) } else { Ok(x * 2) } }
    });
    let wrapped = middleware(flaky, |x: u32, next| async move {
        if x == 0 {
            return Ok((0, Next::to("zero"))); // short-circuit: the node never runs
        }
        match next.run(x + 1).await {
            Ok((out, action)) => Ok((out + 1000, action)),
            Err(_) => next.run(x + 1).await, // one manual retry
        }
    });
    let store = Store::new();
    assert_eq!(run_node(&wrapped, &store, 0).await.unwrap(), 0);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(run_node(&wrapped, &store, 4).await.unwrap(), 10); // failed, then retried
    assert_eq!(run_node(&wrapped, &store, 4).await.unwrap(), 1010);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn middleware_on_a_sub_graph_keeps_its_routing() {
    let inner = Graph::<i64, i64>::builder()
        .node(
            "judge",
            pocket::exec_post_fn(
                |x: i64| async move { Ok(x) },
                |_, _, x: i64| async move { Ok((x, Next::to(if x > 0 { "pos" } else { "neg" }))) },
            ),
        )
        .build()
        .unwrap();
    let logged = middleware(inner, |x: i64, next| async move { next.run(x * 10).await });
    let outer = Graph::<i64, String>::builder()
        .node("sub", logged)
        .node("pos", exec_fn(|x: i64| async move { Ok(format!("+{x}")) }))
        .node("neg", exec_fn(|x: i64| async move { Ok(format!("{x}")) }))
        .edge("sub", "pos", "pos")
        .edge("sub", "neg", "neg")
        .build()
        .unwrap();
    assert_eq!(outer.run(&Store::new(), 3).await.unwrap(), "+30");
    assert_eq!(outer.run(&Store::new(), -3).await.unwrap(), "-30");
}

#[tokio::test(start_paused = true)]
async fn metrics_count_what_ran_without_touching_the_payload() {
    let metrics = Metrics::new();
    // A payload that looks like the Go original's timing wrapper must pass through unchanged.
    let echo = exec_fn(|v: Value| async move {
        sleep(Duration::from_millis(v["wait"].as_u64().unwrap_or(0))).await;
        if v["fail"] == json!(true) { Err(NodeError::msg("asked to fail")) } else { Ok(v) }
    })
    .metrics(metrics.clone());
    let g = Graph::<Value, Value>::builder().node("echo", echo).build().unwrap();
    let store = Store::new();
    let payload = json!({"prepResult": 1, "timingData": {"start": 0}, "wait": 30});
    assert_eq!(g.run(&store, payload.clone()).await.unwrap(), payload);
    g.run(&store, json!({"wait": 700})).await.unwrap();
    assert!(g.run(&store, json!({"fail": true})).await.is_err());
    let m = &metrics.snapshot()["echo"];
    assert_eq!((m.calls, m.successes, m.failures), (3, 2, 1));
    // 0 ms (the failure), 30 ms (<= 50), 700 ms (<= 1000).
    assert_eq!(m.latency, [1, 0, 0, 1, 0, 0, 1, 0, 0, 0]);
    assert_eq!(m.total, Duration::from_millis(730));
}

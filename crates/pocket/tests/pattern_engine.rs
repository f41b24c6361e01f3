//! Every fan-out-like pattern runs on one engine: they agree on the task gauge, on
//! cancellation and on the failure policy.

use std::time::Duration;

use pocket::layer::fallback_chain::{FallbackChain, Strategy};
use pocket::pattern::{FanIn, ScatterGather, active_tasks, run_concurrent, run_subgraphs};
use pocket::{Graph, NodeExt, Store, exec_fn, run_node};

/// Serialises the tests of this file: they read the process-wide gauge.
static GAUGE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A node that reports how many pattern tasks are alive when it starts, then waits a moment.
fn probe() -> pocket::BoxNode<u32, usize> {
    exec_fn(|_: u32| async move {
        let alive = active_tasks();
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok(alive)
    })
    .boxed()
}

#[tokio::test(start_paused = true)]
async fn every_pattern_counts_its_tasks_on_the_gauge() {
    let _serial = GAUGE.lock().await;
    let store = Store::new();
    let before = active_tasks();

    let seen = run_concurrent(&[probe(), probe(), probe()], &store, vec![0, 0, 0]).await.unwrap();
    assert!(seen.iter().all(|n| *n >= before + 3), "run-concurrent: {seen:?}");

    let fan_in = FanIn::new([probe(), probe()], exec_fn(|seen: Vec<usize>| async move { Ok(seen) }));
    let seen = fan_in.run(&store, 0).await.unwrap();
    assert!(seen.iter().all(|n| *n >= before + 2), "fan-in: {seen:?}");

    let gathered = ScatterGather::new()
        .service("a", probe(), Duration::from_secs(1))
        .service("b", probe(), Duration::from_secs(1))
        .run(&store, 0)
        .await;
    assert!(gathered.responses.iter().all(|(_, n)| *n >= before + 2), "scatter-gather: {gathered:?}");

    let graph = || Graph::<u32, usize>::builder().node("probe", probe()).build().unwrap();
    let out = run_subgraphs(&store, [("a", graph(), 0), ("b", graph(), 0)]).await.unwrap();
    assert!(out.values().all(|n| *n >= before + 2), "sub-graphs: {out:?}");

    let chain = FallbackChain::new("a", probe()).or("b", probe()).strategy(Strategy::Parallel);
    assert!(run_node(&chain, &store, 0).await.unwrap() >= before + 2, "parallel fallback chain");

    assert_eq!(active_tasks(), before, "nothing is left running");
}

#[tokio::test(start_paused = true)]
async fn cancelling_reports_every_unfinished_item_by_its_own_name() {
    let _serial = GAUGE.lock().await;
    let token = pocket::CancellationToken::new();
    let stuck = exec_fn(|_: u32| async move {
        std::future::pending::<()>().await; // ignores the cancellation
        Ok(0usize)
    })
    .boxed();
    let t = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        t.cancel();
    });
    let gathered = ScatterGather::new()
        .service("fast", probe(), Duration::from_secs(60))
        .service("stuck", stuck, Duration::from_secs(60))
        .run_with(&Store::new(), 0, &token)
        .await;
    assert_eq!(gathered.responses.len(), 1);
    assert_eq!(gathered.errors.len(), 1);
    assert_eq!(pocket::report(&gathered.errors[0]), "service `stuck` failed: run cancelled at node `stuck`");
}

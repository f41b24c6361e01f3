//! Sync nodes: inline execution, errors, panics, cancellation, layers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pocket::error::Step;
use pocket::layer::retry::RetryPolicy;
use pocket::{
    CancellationToken, Ctx, Graph, Next, NodeError, NodeExt, RunError, RunOptions, Store, StoreView, SyncNode, exec_fn,
    run_node, sync_fn,
};
use serde_json::json;

struct Counter;

impl SyncNode for Counter {
    type Input = i64;
    type Prep = i64;
    type Exec = i64;
    type Output = i64;
    fn prep(&self, _: &Ctx<'_>, store: &StoreView, input: &i64) -> Result<i64, NodeError> {
        Ok(input + store.get_value("base")?.and_then(|v| v.as_i64()).unwrap_or(0))
    }
    fn exec(&self, _: &Ctx<'_>, prep: &i64) -> Result<i64, NodeError> {
        if *prep < 0 {
            return Err(NodeError::fatal_msg("negative"));
        }
        if *prep == 13 {
            panic!("unlucky");
        }
        Ok(prep + 1)
    }
    fn post(&self, _: &Ctx<'_>, store: &Store, _: i64, _: i64, exec: i64) -> Result<(i64, Next), NodeError> {
        store.set_value("last", json!(exec));
        Ok((exec, if exec >= 5 { Next::to("done") } else { Next::to("again") }))
    }
    fn actions(&self) -> Option<Vec<pocket::Action>> {
        Some(vec!["again".into(), "done".into()])
    }
}

#[tokio::test]
async fn sync_nodes_loop_route_and_use_the_store() {
    let g = Graph::<i64, i64>::builder().sync_node("count", Counter).edge("count", "again", "count").build().unwrap();
    assert_eq!(
        g.warnings(),
        [pocket::error::BuildWarning::UnconnectedAction { node: "count".into(), action: "done".into() }]
    );
    let store = Store::new();
    assert_eq!(g.run(&store, 0).await.unwrap(), 5);
    assert_eq!(store.get_value("last").unwrap(), Some(json!(5)));
    store.set_value("base", json!(2));
    assert_eq!(g.run(&store, 0).await.unwrap(), 6); // 0+2+1=3, 3+2+1=6
    assert_eq!(store.get_value("last").unwrap(), Some(json!(6)));
}

#[tokio::test]
async fn sync_errors_and_panics_name_node_and_step() {
    let g = Graph::<i64, i64>::builder().sync_node("count", Counter).build().unwrap();
    let err = g.run(&Store::new(), -5).await.unwrap_err();
    assert_eq!(pocket::report(&err), "node `count` failed in exec: negative");
    let err = g.run(&Store::new(), 13).await.unwrap_err();
    assert_eq!(err.step(), Some(Step::Exec));
    assert_eq!(pocket::report(&err), "node `count` failed in exec: panicked: unlucky");
}

#[tokio::test]
async fn sync_and_async_nodes_mix_and_types_are_checked() {
    let g = Graph::<i64, String>::builder()
        .sync_node("double", sync_fn(|x: i64| Ok(x * 2)))
        .node("show", exec_fn(|x: i64| async move { Ok(format!("<{x}>")) }))
        .edge("double", "default", "show")
        .build()
        .unwrap();
    assert_eq!(g.run(&Store::new(), 21).await.unwrap(), "<42>");

    let err = Graph::<i64, i64>::builder()
        .sync_node("text", sync_fn(|x: i64| Ok(x.to_string())))
        .sync_node("num", sync_fn(|x: i64| Ok(x)))
        .edge("text", "default", "num")
        .build()
        .unwrap_err();
    assert!(err.problems.iter().any(|p| matches!(p, pocket::error::BuildProblem::TypeMismatch { .. })), "{err}");
}

#[tokio::test]
async fn a_node_cancelling_the_token_stops_a_sync_loop_at_the_next_node() {
    let token = CancellationToken::new();
    let t = token.clone();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let g = Graph::<i64, i64>::builder()
        .sync_node(
            "tick",
            sync_fn(move |x: i64| {
                if c.fetch_add(1, Ordering::SeqCst) == 9 {
                    t.cancel();
                }
                Ok(x + 1)
            }),
        )
        .edge("tick", "default", "tick")
        .build()
        .unwrap();
    let err = g.run_with(&Store::new(), 0, RunOptions::new().token(token)).await.unwrap_err();
    assert!(matches!(&err, RunError::Cancelled { node } if node == "tick"));
    assert_eq!(calls.load(Ordering::SeqCst), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_thread_cancelling_stops_a_busy_sync_loop() {
    let token = CancellationToken::new();
    let g = Graph::<u64, u64>::builder()
        .sync_node("spin", sync_fn(|x: u64| Ok(x.wrapping_add(1))))
        .edge("spin", "default", "spin")
        .max_steps(u64::MAX)
        .build()
        .unwrap();
    let t = token.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        t.cancel();
    });
    let err = g.run_with(&Store::new(), 0, RunOptions::new().token(token)).await.unwrap_err();
    canceller.join().unwrap();
    assert!(matches!(err, RunError::Cancelled { .. }));
}

#[tokio::test]
async fn an_already_cancelled_token_runs_nothing() {
    let token = CancellationToken::new();
    token.cancel();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let g = Graph::<i64, i64>::builder()
        .sync_node(
            "n",
            sync_fn(move |x: i64| {
                c.fetch_add(1, Ordering::SeqCst);
                Ok(x)
            }),
        )
        .build()
        .unwrap();
    assert!(matches!(
        g.run_with(&Store::new(), 1, RunOptions::new().token(token)).await,
        Err(RunError::Cancelled { .. })
    ));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_sync_node_takes_layers_through_into_node() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let flaky =
        sync_fn(move |x: u32| if c.fetch_add(1, Ordering::SeqCst) < 2 { Err(NodeError::msg("busy")) } else { Ok(x) })
            .into_node()
            .retry(RetryPolicy::constant(3, Duration::from_millis(5)));
    assert_eq!(run_node(&flaky, &Store::new(), 8).await.unwrap(), 8);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

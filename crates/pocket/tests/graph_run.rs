//! Running graphs: routing, ending, strict mode, step limit, cancellation, deadline, concurrency.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pocket::{
    CancellationToken, Ctx, Graph, Next, Node, NodeError, RunError, RunOptions, Store, StoreView, exec_fn, exec_post_fn,
};

fn route_by_parity() -> impl Node<Input = i64, Output = i64> {
    exec_post_fn(
        |x: i64| async move { Ok(x) },
        |_, _, x: i64| async move { Ok((x, Next::to(if x % 2 == 0 { "even" } else { "odd" }))) },
    )
}

fn add(n: i64) -> impl Node<Input = i64, Output = i64> {
    exec_fn(move |x: i64| async move { Ok(x + n) })
}

#[tokio::test]
async fn the_returned_action_selects_the_edge() {
    let g = Graph::<i64, i64>::builder()
        .node("route", route_by_parity())
        .node("even", add(100))
        .node("odd", add(1000))
        .edge("route", "even", "even")
        .edge("route", "odd", "odd")
        .build()
        .unwrap();
    let store = Store::new();
    assert_eq!(g.run(&store, 2).await.unwrap(), 102);
    assert_eq!(g.run(&store, 3).await.unwrap(), 1003);
}

#[tokio::test]
async fn an_action_without_an_edge_ends_the_run_with_that_output() {
    let g = Graph::<i64, i64>::builder()
        .node("route", route_by_parity())
        .node("even", add(100))
        .edge("route", "even", "even")
        .build()
        .unwrap();
    assert_eq!(g.run(&Store::new(), 5).await.unwrap(), 5);
}

#[tokio::test]
async fn strict_mode_names_node_action_and_connected_actions() {
    let g = Graph::<i64, i64>::builder()
        .node("route", route_by_parity())
        .node("even", add(100))
        .edge("route", "even", "even")
        .strict(true)
        .build()
        .unwrap();
    let err = g.run(&Store::new(), 5).await.unwrap_err();
    assert!(
        matches!(&err, RunError::NoEdge { node, action, connected } if node == "route" && action == "odd" && connected.len() == 1)
    );
    assert_eq!(err.to_string(), "node `route` returned action `odd`, which has no edge (connected actions: `even`)");
    // A terminal node (no outgoing edges) ends a strict run cleanly, and so does Next::End.
    assert_eq!(g.run(&Store::new(), 4).await.unwrap(), 104);
    let ender = exec_post_fn(|x: i64| async move { Ok(x) }, |_, _, x: i64| async move { Ok((x, Next::End)) });
    let g = Graph::<i64, i64>::builder().node("end", ender).strict(true).build().unwrap();
    assert_eq!(g.run(&Store::new(), 9).await.unwrap(), 9);
}

fn looping() -> Graph<i64, i64> {
    Graph::<i64, i64>::builder()
        .node(
            "think",
            exec_post_fn(|x: i64| async move { Ok(x) }, |_, _, x: i64| async move { Ok((x, Next::to("act"))) }),
        )
        .node("act", add(1))
        .edge("think", "act", "act")
        .edge("act", "default", "think")
        .max_steps(10)
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_step_limit_stops_a_runaway_loop() {
    let err = looping().run(&Store::new(), 0).await.unwrap_err();
    assert!(matches!(&err, RunError::StepLimit { node, limit: 10 } if node == "think"), "{err:?}");
    assert_eq!(err.to_string(), "step limit of 10 reached before running node `think` again");
    // A per-run override.
    let err = looping().run_with(&Store::new(), 0, RunOptions::new().max_steps(3)).await.unwrap_err();
    assert!(matches!(err, RunError::StepLimit { limit: 3, .. }));
    assert_eq!(pocket::graph::DEFAULT_MAX_STEPS, 100_000);
}

#[tokio::test]
async fn a_cancelled_token_stops_the_run_between_nodes() {
    let token = CancellationToken::new();
    let t = token.clone();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let cancel_at_third = exec_fn(move |x: i64| {
        if c.fetch_add(1, Ordering::SeqCst) == 2 {
            t.cancel();
        }
        async move { Ok(x + 1) }
    });
    let g = Graph::<i64, i64>::builder().node("step", cancel_at_third).edge("step", "default", "step").build().unwrap();
    let err = g.run_with(&Store::new(), 0, RunOptions::new().token(token)).await.unwrap_err();
    assert!(matches!(&err, RunError::Cancelled { node } if node == "step"), "{err:?}");
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

/// A step that never finishes and never looks at its context.
struct Stuck;

impl Node for Stuck {
    type Input = i64;
    type Prep = i64;
    type Exec = i64;
    type Output = i64;
    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, i: &i64) -> Result<i64, NodeError> {
        Ok(*i)
    }
    async fn exec(&self, _: &Ctx<'_>, _: &i64) -> Result<i64, NodeError> {
        std::future::pending().await
    }
    async fn post(&self, _: &Ctx<'_>, _: &Store, _: i64, _: i64, e: i64) -> Result<(i64, Next), NodeError> {
        Ok((e, Next::Default))
    }
}

#[tokio::test(start_paused = true)]
async fn cancelling_mid_step_abandons_a_non_cooperative_step() {
    let g = Graph::<i64, i64>::builder().node("first", add(1)).node("stuck", Stuck).edge("first", "default", "stuck");
    let g = g.build().unwrap();
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        t.cancel();
    });
    let started = tokio::time::Instant::now();
    let err = g.run_with(&Store::new(), 0, RunOptions::new().token(token)).await.unwrap_err();
    assert!(matches!(&err, RunError::Cancelled { node } if node == "stuck"), "{err:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn a_cooperative_step_sees_the_cancellation() {
    let seen = Arc::new(AtomicUsize::new(0));
    struct Watcher(Arc<AtomicUsize>);
    impl Node for Watcher {
        type Input = i64;
        type Prep = i64;
        type Exec = i64;
        type Output = i64;
        async fn prep(&self, _: &Ctx<'_>, _: &StoreView, i: &i64) -> Result<i64, NodeError> {
            Ok(*i)
        }
        async fn exec(&self, ctx: &Ctx<'_>, _: &i64) -> Result<i64, NodeError> {
            let token = ctx.token().clone();
            let seen = self.0.clone();
            // Work handed to another task keeps the token and observes the cancellation.
            tokio::spawn(async move {
                token.cancelled().await;
                seen.fetch_add(1, Ordering::SeqCst);
            });
            ctx.cancelled().await;
            Err(NodeError::cancelled())
        }
        async fn post(&self, _: &Ctx<'_>, _: &Store, _: i64, _: i64, e: i64) -> Result<(i64, Next), NodeError> {
            Ok((e, Next::Default))
        }
    }
    let g = Graph::<i64, i64>::builder().node("watch", Watcher(seen.clone())).build().unwrap();
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        t.cancel();
    });
    let err = g.run_with(&Store::new(), 0, RunOptions::new().token(token)).await.unwrap_err();
    assert!(matches!(err, RunError::Cancelled { .. }));
    tokio::task::yield_now().await;
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn the_run_deadline_names_the_running_node() {
    let g = Graph::<i64, i64>::builder()
        .node("fast", add(1))
        .node("stuck", Stuck)
        .edge("fast", "default", "stuck")
        .build()
        .unwrap();
    let token = CancellationToken::new();
    let started = tokio::time::Instant::now();
    let err = g
        .run_with(&Store::new(), 0, RunOptions::new().token(token.clone()).deadline(Duration::from_secs(30)))
        .await
        .unwrap_err();
    assert!(matches!(&err, RunError::Deadline { node, after } if node == "stuck" && *after == Duration::from_secs(30)));
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    // The caller's token is not cancelled by the deadline (a child token is).
    assert!(!token.is_cancelled());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_graph_runs_many_times_concurrently() {
    let g = Graph::<i64, i64>::builder()
        .node("route", route_by_parity())
        .node("even", add(100))
        .node("odd", add(1000))
        .edge("route", "even", "even")
        .edge("route", "odd", "odd")
        .build()
        .unwrap();
    let store = Store::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200i64 {
        let (g, store) = (g.clone(), store.clone());
        tasks.spawn(async move { (i, g.run(&store, i).await.unwrap()) });
    }
    let mut seen = 0;
    while let Some(r) = tasks.join_next().await {
        let (i, out) = r.unwrap();
        assert_eq!(out, if i % 2 == 0 { i + 100 } else { i + 1000 });
        seen += 1;
    }
    assert_eq!(seen, 200);
}

#[tokio::test]
async fn ending_with_a_value_of_another_type_is_a_clear_error() {
    let to_text = exec_post_fn(
        |x: i64| async move { Ok(x.to_string()) },
        |_, _, s: String| async move { Ok((s, Next::to("stop"))) },
    );
    let len = exec_fn(|s: String| async move { Ok(s.len() as i64) });
    let g = Graph::<i64, i64>::builder().node("fmt", to_text).node("len", len).edge("fmt", "default", "len");
    let err = g.build().unwrap().run(&Store::new(), 12).await.unwrap_err();
    assert_eq!(err.to_string(), "node `fmt` ended the run with a `alloc::string::String`, but the graph outputs `i64`");
}

//! Fan-out: order, limits, failure policies, cancellation, scoped stores, the task gauge.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pocket::pattern::{DEFAULT_FAN_OUT_LIMIT, TaskGauge};
use pocket::{
    CancellationToken, Ctx, FanOut, Next, Node, NodeError, RunError, Store, StoreView, exec_fn, exec_post_fn,
};
use serde_json::json;
use tokio::time::sleep;

/// Deterministic pseudo-random delays.
fn delay_ms(i: u64) -> u64 {
    (i.wrapping_mul(2_654_435_761) >> 7) % 97
}

#[tokio::test(start_paused = true)]
async fn results_keep_input_order_under_random_delays() {
    let node = exec_fn(|i: u64| async move {
        sleep(Duration::from_millis(delay_ms(i))).await;
        Ok(i * 10)
    });
    let out = FanOut::new(node).limit(7).run(&Store::new(), 0..200u64).await.unwrap();
    assert_eq!(out, (0..200u64).map(|i| i * 10).collect::<Vec<_>>());
}

/// Tracks how many items are in exec at once.
struct InFlight {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
}

impl Node for InFlight {
    type Input = u64;
    type Prep = u64;
    type Exec = u64;
    type Output = u64;
    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, i: &u64) -> Result<u64, NodeError> {
        Ok(*i)
    }
    async fn exec(&self, _: &Ctx<'_>, i: &u64) -> Result<u64, NodeError> {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        sleep(Duration::from_millis(1 + delay_ms(*i) % 5)).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        Ok(*i)
    }
    async fn post(&self, _: &Ctx<'_>, _: &Store, _: u64, _: u64, e: u64) -> Result<(u64, Next), NodeError> {
        Ok((e, Next::Default))
    }
}

#[tokio::test(start_paused = true)]
async fn the_concurrency_limit_is_never_exceeded() {
    for limit in [1, 3, 10] {
        let max = Arc::new(AtomicUsize::new(0));
        let node = InFlight { now: Arc::default(), max: max.clone() };
        let gauge = TaskGauge::new();
        let out = FanOut::new(node).limit(limit).gauge(gauge.clone()).run(&Store::new(), 0..100u64).await.unwrap();
        assert_eq!(out.len(), 100);
        assert_eq!(max.load(Ordering::SeqCst), limit, "limit {limit} reached but never exceeded");
        assert_eq!(gauge.peak(), limit);
        assert_eq!(gauge.active(), 0);
    }
    // The default limit.
    let max = Arc::new(AtomicUsize::new(0));
    FanOut::new(InFlight { now: Arc::default(), max: max.clone() }).run(&Store::new(), 0..500u64).await.unwrap();
    assert_eq!(max.load(Ordering::SeqCst), DEFAULT_FAN_OUT_LIMIT);
    // Unlimited: everything at once.
    let max = Arc::new(AtomicUsize::new(0));
    FanOut::new(InFlight { now: Arc::default(), max: max.clone() })
        .unlimited()
        .run(&Store::new(), 0..500u64)
        .await
        .unwrap();
    assert_eq!(max.load(Ordering::SeqCst), 500);
}

#[tokio::test(start_paused = true)]
async fn fail_fast_cancels_the_siblings_and_they_observe_it() {
    let observed = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    struct Item {
        observed: Arc<AtomicUsize>,
        finished: Arc<AtomicUsize>,
    }
    impl Node for Item {
        type Input = u64;
        type Prep = u64;
        type Exec = u64;
        type Output = u64;
        async fn prep(&self, _: &Ctx<'_>, _: &StoreView, i: &u64) -> Result<u64, NodeError> {
            Ok(*i)
        }
        async fn exec(&self, ctx: &Ctx<'_>, i: &u64) -> Result<u64, NodeError> {
            if *i == 3 {
                sleep(Duration::from_millis(10)).await;
                return Err(NodeError::fatal_msg("item 3 is bad"));
            }
            tokio::select! {
                _ = sleep(Duration::from_secs(3600)) => {
                    self.finished.fetch_add(1, Ordering::SeqCst);
                    Ok(*i)
                }
                _ = ctx.cancelled() => {
                    self.observed.fetch_add(1, Ordering::SeqCst);
                    Err(NodeError::cancelled())
                }
            }
        }
        async fn post(&self, _: &Ctx<'_>, _: &Store, _: u64, _: u64, e: u64) -> Result<(u64, Next), NodeError> {
            Ok((e, Next::Default))
        }
    }
    let gauge = TaskGauge::new();
    let fan =
        FanOut::new(Item { observed: observed.clone(), finished: finished.clone() }).limit(8).gauge(gauge.clone());
    let started = tokio::time::Instant::now();
    let err = fan.run(&Store::new(), 0..20u64).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_millis(10), "no waiting for the siblings");
    assert_eq!(err.index, 3);
    assert_eq!(pocket::report(&err), "item 3 failed: node `fan-out` failed in exec: item 3 is bad");
    assert_eq!(observed.load(Ordering::SeqCst), 7, "the 7 other items in flight saw the cancellation");
    assert_eq!(finished.load(Ordering::SeqCst), 0);
    assert_eq!(gauge.active(), 0);
}

#[tokio::test(start_paused = true)]
async fn collect_all_returns_every_outcome_with_its_index() {
    let node = exec_fn(|i: u64| async move {
        sleep(Duration::from_millis(delay_ms(i))).await;
        if i.is_multiple_of(3) { Err(NodeError::msg(format!("bad {i}"))) } else { Ok(i) }
    });
    let out = FanOut::new(node).name("check").limit(4).run_all(&Store::new(), 0..10u64).await;
    assert_eq!(out.len(), 10);
    for (i, r) in out.iter().enumerate() {
        match r {
            Ok(v) => assert_eq!(*v, i as u64),
            Err(e) => {
                assert_eq!(i % 3, 0);
                assert_eq!(e.index, i);
                assert_eq!(pocket::report(e), format!("item {i} failed: node `check` failed in exec: bad {i}"));
            }
        }
    }
}

#[tokio::test]
async fn a_panicking_item_becomes_that_items_error() {
    let node = exec_fn(|i: u64| async move {
        if i == 2 {
            panic!("item two exploded");
        }
        Ok(i)
    });
    let out = FanOut::new(node).run_all(&Store::new(), 0..4u64).await;
    assert!(out[0].is_ok() && out[1].is_ok() && out[3].is_ok());
    let err = out[2].as_ref().unwrap_err();
    assert_eq!(pocket::report(err), "item 2 failed: node `fan-out` failed in exec: panicked: item two exploded");
}

#[tokio::test(start_paused = true)]
async fn dropping_or_cancelling_a_running_fan_out_leaves_nothing_running() {
    let gauge = TaskGauge::new();
    let node = exec_fn(|i: u64| async move {
        sleep(Duration::from_secs(60)).await;
        Ok(i)
    });
    let fan = FanOut::new(node).limit(5).gauge(gauge.clone());
    let store = Store::new();
    {
        let run = fan.run(&store, 0..100u64);
        let timed = tokio::time::timeout(Duration::from_secs(1), run).await;
        assert!(timed.is_err());
    } // dropped mid-flight
    assert_eq!(gauge.active(), 0);
    assert_eq!(gauge.peak(), 5);

    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        sleep(Duration::from_secs(2)).await;
        t.cancel();
    });
    let started = tokio::time::Instant::now();
    let err = fan.run_with(&store, 0..100u64, &token).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(2), "stops at once, without waiting for the items");
    assert!(matches!(err.error, RunError::Cancelled { ref node } if node == "fan-out"), "{err:?}");
    assert_eq!(err.index, 0);
    assert_eq!(gauge.active(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn items_write_their_own_scopes_concurrently() {
    let node = Arc::new(exec_post_fn(
        |i: u64| async move { Ok(i * i) },
        |store: Store, i: u64, sq: u64| async move {
            store.set_value("square", json!(sq));
            store.set_value("input", json!(i));
            Ok((sq, Next::Default))
        },
    ));
    let store = Store::new();
    let mut tasks = tokio::task::JoinSet::new();
    for part in 0..4u64 {
        let store = store.scope(&format!("part{part}"));
        let fan = FanOut::new(node.clone()).unlimited();
        tasks.spawn(async move { fan.run(&store, 0..2_000u64).await.unwrap().len() });
    }
    while let Some(n) = tasks.join_next().await {
        assert_eq!(n.unwrap(), 2_000);
    }
    assert_eq!(store.len(), 4 * 2_000 * 2);
    assert_eq!(store.get_value("part2:item-7:square").unwrap(), Some(json!(49)));
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_fan_out_reports_the_first_unfinished_item() {
    let node = exec_fn(|i: u64| async move {
        if i >= 3 {
            sleep(Duration::from_secs(60)).await;
        }
        Ok(i)
    });
    let fan = FanOut::new(node).limit(5);
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        sleep(Duration::from_secs(1)).await;
        t.cancel();
    });
    let started = tokio::time::Instant::now();
    let err = fan.run_with(&Store::new(), 0..20u64, &token).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    assert_eq!(err.index, 3, "items 0..3 finished before the cancellation");
    assert!(matches!(err.error, RunError::Cancelled { .. }));
}

#[tokio::test]
async fn a_fan_out_is_a_graph_node_over_a_list() {
    let split = exec_fn(|csv: String| async move { Ok(csv.split(',').map(String::from).collect::<Vec<_>>()) });
    let parse = FanOut::new(exec_fn(|s: String| async move { s.trim().parse::<i64>().map_err(NodeError::fatal) }));
    let sum = exec_fn(|v: Vec<i64>| async move { Ok(v.iter().sum::<i64>()) });
    let g = pocket::Graph::<String, i64>::builder()
        .node("split", split)
        .node("parse", parse)
        .node("sum", sum)
        .edge("split", "default", "parse")
        .edge("parse", "default", "sum")
        .build()
        .unwrap();
    let store = Store::new();
    assert_eq!(g.run(&store, "1, 2,3".into()).await.unwrap(), 6);
    let err = g.run(&store, "1,x,3".into()).await.unwrap_err();
    assert_eq!(
        pocket::report(&err),
        "node `parse` failed in exec: item 1 failed: node `parse` failed in exec: invalid digit found in string"
    );
    assert!(!err.node_error().unwrap().is_retryable());
}

#[tokio::test]
async fn two_fan_out_nodes_of_one_graph_keep_their_items_data_apart() {
    use pocket::{Graph, Next, StoreView, node_fn};
    // Each item records in its scope that it ran; an item of the second fan-out must find its
    // scope fresh (-1 would mean it saw the first one's data).
    let write = |tag: &'static str| {
        FanOut::new(node_fn(
            |store: StoreView, x: i64| async move { Ok(if store.get_value("seen")?.is_some() { -1 } else { x }) },
            |x: i64| async move { Ok(x) },
            move |store: Store, _: i64, _: i64, out: i64| async move {
                store.set_value("seen", serde_json::json!(tag));
                Ok((out, Next::Default))
            },
        ))
    };
    let graph = Graph::<Vec<i64>, Vec<i64>>::builder()
        .start("first")
        .node("first", write("first"))
        .node("second", write("second"))
        .edge("first", "default", "second")
        .build()
        .unwrap();
    let store = Store::new();
    assert_eq!(graph.run(&store, vec![1, 2]).await.unwrap(), [1, 2], "the second fan-out saw fresh scopes");
    assert_eq!(store.get_value("first:item-0:seen").unwrap(), Some(serde_json::json!("first")));
    assert_eq!(store.get_value("second:item-1:seen").unwrap(), Some(serde_json::json!("second")));
}

#[tokio::test(start_paused = true)]
async fn a_pause_spaces_the_starts_whatever_the_limit() {
    let started = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = started.clone();
    let t0 = tokio::time::Instant::now();
    let node = exec_fn(move |i: u64| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(t0.elapsed());
            sleep(Duration::from_millis(500)).await;
            Ok(i)
        }
    });
    let out = FanOut::new(node).limit(10).pause(Duration::from_millis(100)).run(&Store::new(), 0..5u64).await.unwrap();
    assert_eq!(out, [0, 1, 2, 3, 4]);
    let starts: Vec<u128> = started.lock().unwrap().iter().map(Duration::as_millis).collect();
    assert_eq!(starts, [0, 100, 200, 300, 400], "one start every 100 ms, though 10 may run at once");
    // No pause: all at once.
    let node = exec_fn(|i: u64| async move { Ok(i) });
    let begun = tokio::time::Instant::now();
    FanOut::new(node).pause(Duration::ZERO).run(&Store::new(), 0..5u64).await.unwrap();
    assert_eq!(begun.elapsed(), Duration::ZERO);
}

//! Fan-in, run-concurrent, pipelines, scatter-gather and concurrent sub-graphs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pocket::pattern::{
    ConcurrentNodes, FanIn, FanInError, Pipeline, ScatterGather, ServiceError, TaskGauge, run_concurrent, run_subgraphs,
};
use pocket::{BoxNode, Graph, NodeError, NodeExt, Store, exec_fn};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep};

fn delayed(ms: u64, tag: &'static str) -> BoxNode<u32, String> {
    exec_fn(move |x: u32| async move {
        sleep(Duration::from_millis(ms)).await;
        Ok(format!("{tag}{x}"))
    })
    .boxed()
}

#[tokio::test(start_paused = true)]
async fn fan_in_hands_results_to_the_aggregator_in_source_order() {
    let sources = vec![delayed(30, "a"), delayed(10, "b"), delayed(20, "c")];
    let join = exec_fn(|parts: Vec<String>| async move { Ok(parts.join(",")) });
    let gauge = TaskGauge::new();
    let fan_in = FanIn::new(sources, join).gauge(gauge.clone());
    let start = Instant::now();
    assert_eq!(fan_in.run(&Store::new(), 1).await.unwrap(), "a1,b1,c1");
    assert_eq!(start.elapsed(), Duration::from_millis(30), "sources ran concurrently");
    assert_eq!((gauge.peak(), gauge.active()), (3, 0));
}

#[tokio::test(start_paused = true)]
async fn a_failing_source_cancels_the_others() {
    let cancelled = Arc::new(AtomicUsize::new(0));
    let c = cancelled.clone();
    let waits = exec_fn(move |_: u32| {
        let c = c.clone();
        async move {
            // Cooperative only through being dropped: count drops that happen before finishing.
            struct OnDrop(Arc<AtomicUsize>);
            impl Drop for OnDrop {
                fn drop(&mut self) {
                    self.0.fetch_add(1, Ordering::SeqCst);
                }
            }
            let _guard = OnDrop(c);
            sleep(Duration::from_secs(3600)).await;
            Ok("never".to_string())
        }
    })
    .boxed();
    let fails = exec_fn(|_: u32| async move {
        sleep(Duration::from_millis(5)).await;
        Err::<String, _>(NodeError::msg("source down"))
    })
    .boxed();
    let fan_in = FanIn::new(vec![waits, fails], exec_fn(|v: Vec<String>| async move { Ok(v.len()) }));
    let start = Instant::now();
    let err = fan_in.run(&Store::new(), 0).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(5));
    assert!(matches!(err, FanInError::Source { index: 1, .. }));
    assert_eq!(pocket::report(&err), "fan-in source 1 failed: node `source-1` failed in exec: source down");
    assert_eq!(cancelled.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn run_concurrent_typed_tuples_and_homogeneous_lists() {
    let count = exec_fn(|s: String| async move { Ok(s.len()) });
    let shout = exec_fn(|s: String| async move { Ok(s.to_uppercase()) });
    let (n, up) = (count, shout).run_concurrent(&Store::new(), ("abc".into(), "abc".into())).await.unwrap();
    assert_eq!((n, up.as_str()), (3, "ABC"));

    let nodes = vec![delayed(0, "x"), delayed(0, "y")];
    assert_eq!(run_concurrent(&nodes, &Store::new(), vec![1, 2]).await.unwrap(), ["x1", "y2"]);
    let err = run_concurrent(&nodes, &Store::new(), vec![1]).await.unwrap_err();
    assert_eq!(
        pocket::report(&err),
        "item 1 failed: node `run-concurrent` failed in prep: 2 nodes but 1 inputs: give one input per node"
    );

    let bad = exec_fn(|_: u8| async move { Err::<u8, _>(NodeError::fatal_msg("nope")) });
    let ok = exec_fn(|x: u8| async move { Ok(x) });
    let err = (ok, bad).run_concurrent(&Store::new(), (1, 2)).await.unwrap_err();
    assert_eq!(err.index, 1);
}

#[tokio::test]
async fn pipeline_stages_feed_each_other_and_errors_name_the_stage() {
    let pipeline = Pipeline::new()
        .stage("parse", exec_fn(|v: Value| async move { Ok(json!(v.as_str().unwrap_or("").len())) }))
        .stage(
            "check",
            exec_fn(|v: Value| async move {
                if v.as_u64() == Some(0) { Err(NodeError::fatal_msg("empty input")) } else { Ok(v) }
            }),
        )
        .stage("double", exec_fn(|v: Value| async move { Ok(json!(v.as_u64().unwrap_or(0) * 2)) }));
    assert_eq!(pipeline.len(), 3);
    assert_eq!(pipeline.run(&Store::new(), json!("abcd")).await.unwrap(), json!(8));
    let err = pipeline.run(&Store::new(), json!("")).await.unwrap_err();
    assert_eq!((err.index, err.stage.as_str()), (1, "check"));
    assert_eq!(pocket::report(&err), "pipeline stage 1 (`check`) failed: node `check` failed in exec: empty input");
}

#[tokio::test(start_paused = true)]
async fn scatter_gather_returns_partial_results_when_a_service_times_out() {
    let gauge = TaskGauge::new();
    let broken = exec_fn(|_: u32| async move { Err::<String, _>(NodeError::msg("503")) });
    let sg = ScatterGather::new()
        .service("eu", delayed(100, "eu:"), Duration::from_secs(1))
        .service("us", delayed(5_000, "us:"), Duration::from_secs(2))
        .service("asia", delayed(300, "asia:"), Duration::from_secs(1))
        .service("broken", broken, Duration::from_secs(1))
        .gauge(gauge.clone());
    let start = Instant::now();
    let got = sg.run(&Store::new(), 7).await;
    assert_eq!(start.elapsed(), Duration::from_secs(2), "waits only for the slowest timeout");
    assert_eq!(got.responses, [("eu".to_string(), "eu:7".to_string()), ("asia".to_string(), "asia:7".to_string())]);
    assert_eq!(got.errors.len(), 2);
    assert!(
        matches!(&got.errors[0], ServiceError::TimedOut { service, after } if service == "us" && *after == Duration::from_secs(2))
    );
    assert_eq!(got.errors[1].service(), "broken");
    assert_eq!(pocket::report(&got.errors[1]), "service `broken` failed: node `broken` failed in exec: 503");
    assert_eq!(gauge.active(), 0);
}

#[tokio::test]
async fn concurrent_sub_graphs_return_a_map_and_errors_name_the_sub_graph() {
    let ok = Graph::<i64, i64>::builder().node("inc", exec_fn(|x: i64| async move { Ok(x + 1) })).build().unwrap();
    let bad = Graph::<i64, i64>::builder()
        .node("boom", exec_fn(|_: i64| async move { Err::<i64, _>(NodeError::msg("bad input")) }))
        .build()
        .unwrap();
    let store = Store::new();
    let out = run_subgraphs(&store, [("a", ok.clone(), 1), ("b", ok.clone(), 10)]).await.unwrap();
    assert_eq!((out["a"], out["b"]), (2, 11));
    let err = run_subgraphs(&store, [("fine", ok, 1), ("broken", bad, 2)]).await.unwrap_err();
    assert_eq!(err.to_string(), "1 sub-graph(s) failed: `broken`");
    assert_eq!(err.failures[0].0, "broken");
    assert_eq!(pocket::report(&err.failures[0].1), "node `boom` failed in exec: bad input");
    assert_eq!(err.completed["fine"], 2);
}

#[tokio::test]
async fn fan_in_sources_write_their_own_scopes_on_root_and_scoped_stores() {
    let writer = |tag: &'static str| {
        pocket::exec_post_fn(
            |x: u32| async move { Ok(x) },
            move |store: Store, _: u32, x: u32| async move {
                store.set_value("seen", json!(tag));
                Ok((x, pocket::Next::Default))
            },
        )
        .boxed()
    };
    let fan_in = FanIn::new(vec![writer("a"), writer("b")], exec_fn(|v: Vec<u32>| async move { Ok(v.len()) }));
    let store = Store::new();
    assert_eq!(fan_in.run(&store, 1).await.unwrap(), 2);
    assert_eq!(store.get_value("source-1:seen").unwrap(), Some(json!("b")));
    let scoped = store.scope("run-2");
    assert_eq!(fan_in.run(&scoped, 1).await.unwrap(), 2);
    assert_eq!(store.get_value("run-2:source-0:seen").unwrap(), Some(json!("a")));
}

#[tokio::test(start_paused = true)]
async fn scatter_gather_and_sub_graphs_stop_when_cancelled() {
    let token = pocket::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        sleep(Duration::from_secs(1)).await;
        t.cancel();
    });
    let sg = ScatterGather::new().service("quick", delayed(10, "q:"), Duration::from_secs(60)).service(
        "stuck",
        delayed(3_600_000, "s:"),
        Duration::from_secs(7_200),
    );
    let start = Instant::now();
    let got = sg.run_with(&Store::new(), 1, &token).await;
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(got.responses.len(), 1);
    assert!(
        matches!(&got.errors[0], ServiceError::Failed { service, error } if service == "stuck" && matches!(error, pocket::RunError::Cancelled { .. }))
    );

    let token = pocket::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        sleep(Duration::from_secs(1)).await;
        t.cancel();
    });
    let slow = Graph::<u32, String>::builder().node("wait", delayed(3_600_000, "w:")).build().unwrap();
    let start = Instant::now();
    let err = pocket::pattern::run_subgraphs_with(&Store::new(), [("slow", slow, 1)], &token).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert!(matches!(err.failures[0].1, pocket::RunError::Cancelled { .. }));
}

#[tokio::test(start_paused = true)]
async fn run_concurrent_stops_when_cancelled() {
    let token = pocket::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        sleep(Duration::from_secs(1)).await;
        t.cancel();
    });
    let nodes = vec![delayed(10, "a"), delayed(3_600_000, "b")];
    let start = Instant::now();
    let err = pocket::pattern::run_concurrent_with(&nodes, &Store::new(), vec![1, 2], &token).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(err.index, 1);

    let token = pocket::CancellationToken::new();
    token.cancel();
    let (a, b) = (exec_fn(|x: u8| async move { Ok(x) }), exec_fn(|x: u8| async move { Ok(x) }));
    assert!((a, b).run_concurrent_with(&Store::new(), (1, 2), &token).await.is_err());
}

#[tokio::test]
async fn a_pipeline_is_a_graph_node() {
    let clean = Pipeline::new()
        .stage("trim", exec_fn(|v: Value| async move { Ok(json!(v.as_str().unwrap_or("").trim())) }))
        .stage(
            "check",
            exec_fn(|v: Value| async move { if v == json!("") { Err(NodeError::fatal_msg("empty")) } else { Ok(v) } }),
        );
    let g = Graph::<Value, Value>::builder()
        .node("clean", clean)
        .node("empty-is-fine", Pipeline::<Value>::new())
        .edge("clean", "default", "empty-is-fine")
        .build()
        .unwrap();
    assert_eq!(g.run(&Store::new(), json!("  hi ")).await.unwrap(), json!("hi"));
    let err = g.run(&Store::new(), json!("   ")).await.unwrap_err();
    assert_eq!(
        pocket::report(&err),
        "node `clean` failed in exec: sub-graph failed: node `check` failed in exec: empty"
    );
}

#[tokio::test(start_paused = true)]
async fn fan_in_stops_when_cancelled_even_if_a_source_ignores_it() {
    let token = pocket::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        sleep(Duration::from_secs(1)).await;
        t.cancel();
    });
    let gauge = TaskGauge::new();
    let fan_in =
        FanIn::new(vec![delayed(10, "a"), delayed(3_600_000, "b")], exec_fn(|v: Vec<String>| async move { Ok(v) }))
            .gauge(gauge.clone());
    let start = Instant::now();
    let err = fan_in.run_with(&Store::new(), 1, &token).await.unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert!(matches!(err, FanInError::Source { index: 1, error: pocket::RunError::Cancelled { .. } }), "{err:?}");
    assert_eq!(gauge.active(), 0);
}

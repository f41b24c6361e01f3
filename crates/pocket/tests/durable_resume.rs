//! Durable runs in the engine: the in-memory checkpointer's conformance, what a boundary
//! records, and what a resume does with it.

use std::sync::Arc;

use pocket::durable::conformance::{self, Faulty};
use pocket::durable::{Checkpointer, Durability, Durable, MemoryCheckpointer, Record, RunRecord, RunStatus};
use pocket::{CancellationToken, Graph, Next, RunError, RunOptions, Store, exec_fn, exec_post_fn};
use serde_json::{Value, json};

#[tokio::test]
async fn the_memory_checkpointer_passes_the_conformance_suite() {
    conformance::check(|| Arc::new(MemoryCheckpointer::new())).await;
}

fn two_steps() -> Graph<u32, u32> {
    Graph::<u32, u32>::builder()
        .serde_node("double", exec_fn(|x: u32| async move { Ok(x * 2) }))
        .serde_node("inc", exec_fn(|x: u32| async move { Ok(x + 1) }))
        .edge("double", "default", "inc")
        .build()
        .unwrap()
}

fn durable(c: &Arc<MemoryCheckpointer>, id: &str) -> RunOptions {
    RunOptions::new().durable(Durable::new(c.clone(), RunRecord::new(id, "test", Value::Null)))
}

#[tokio::test]
async fn each_boundary_records_the_next_node_the_value_and_the_store_delta() {
    let c = Arc::new(MemoryCheckpointer::new());
    let graph = Graph::<u32, u32>::builder()
        .serde_node(
            "write",
            exec_post_fn(
                |x: u32| async move { Ok(x) },
                |store: Store, _, x: u32| async move {
                    store.set_value("a", json!(x));
                    store.scope("s").set_value("b", json!("scoped"));
                    store.set_value("a", json!(x + 1));
                    Ok((x, Next::to("go")))
                },
            ),
        )
        .serde_node(
            "erase",
            exec_post_fn(
                |x: u32| async move { Ok(x) },
                |store: Store, _, x: u32| async move {
                    store.delete("a");
                    Ok((x * 3, Next::End))
                },
            ),
        )
        .edge("write", "go", "erase")
        .build()
        .unwrap();
    let store = Store::new();
    store.set_value("seed", json!(true));
    assert_eq!(graph.run_with(&store, 5, durable(&c, "r")).await.unwrap(), 15);
    let saved = c.load("r").unwrap();
    let steps: Vec<_> = saved.steps().collect();
    assert_eq!(steps.len(), 2);
    assert_eq!((steps[0].node.as_str(), steps[0].next.as_deref()), ("write", Some("erase")));
    assert_eq!((steps[0].action.as_deref(), &steps[0].value, steps[0].step), (Some("go"), &json!(5), 1));
    let delta: Vec<_> = steps[0].delta.iter().map(|d| (d.key.as_str(), d.value.clone())).collect();
    assert_eq!(delta, [("seed", Some(json!(true))), ("a", Some(json!(6))), ("s:b", Some(json!("scoped")))]);
    assert_eq!((steps[1].next.as_deref(), steps[1].action.as_deref(), &steps[1].value), (None, None, &json!(15)));
    let delta: Vec<_> = steps[1].delta.iter().map(|d| (d.key.as_str(), d.value.clone())).collect();
    assert_eq!(delta, [("a", None)]);
    assert_eq!(saved.run.input, json!(5));
}

#[tokio::test]
async fn an_lru_eviction_is_recorded_as_a_removal() {
    let c = Arc::new(MemoryCheckpointer::new());
    let graph = Graph::<u32, u32>::builder()
        .serde_node(
            "fill",
            exec_post_fn(
                |x: u32| async move { Ok(x) },
                |store: Store, _, x: u32| async move {
                    for k in ["a", "b", "c"] {
                        store.set_value(k, json!(k));
                    }
                    Ok((x, Next::End))
                },
            ),
        )
        .build()
        .unwrap();
    let store = Store::builder().max_entries(2).build();
    graph.run_with(&store, 1, durable(&c, "r")).await.unwrap();
    let saved = c.load("r").unwrap();
    let mut delta: Vec<_> = saved.last_step().unwrap().delta.iter().map(|d| (d.key.clone(), d.value.clone())).collect();
    delta.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(delta, [("a".into(), None), ("b".into(), Some(json!("b"))), ("c".into(), Some(json!("c")))]);
}

#[tokio::test]
async fn a_node_without_codecs_is_refused_before_anything_runs() {
    let c = Arc::new(MemoryCheckpointer::new());
    let graph = Graph::<u32, u32>::builder()
        .serde_node("a", exec_fn(|x: u32| async move { Ok(x) }))
        .node("opaque", exec_fn(|x: u32| async move { Ok(x) }))
        .edge("a", "default", "opaque")
        .build()
        .unwrap();
    let err = graph.run_with(&Store::new(), 1, durable(&c, "r")).await.unwrap_err();
    assert!(matches!(&err, RunError::Checkpoint { node, .. } if node == "opaque"), "{err:?}");
    assert!(pocket::report(&err).contains("serde_node"), "{}", pocket::report(&err));
    assert!(c.runs().unwrap().is_empty(), "no run was recorded");
}

/// A backend whose step records after the first fail, as a full disk does.
fn full_disk() -> Arc<Faulty> {
    Arc::new(Faulty::new(|r| matches!(r, Record::Step(s) if s.step >= 2)))
}

#[tokio::test]
async fn a_failed_checkpoint_fails_the_run_and_the_last_good_one_resumes() {
    for mode in [Durability::Process, Durability::Machine] {
        let c = full_disk();
        let run = Durable::new(c.clone(), RunRecord::new("r", "test", Value::Null)).durability(mode);
        let err = two_steps().run_with(&Store::new(), 4, RunOptions::new().durable(run)).await.unwrap_err();
        assert!(matches!(&err, RunError::Checkpoint { node, .. } if node == "inc"), "{mode:?}: {err:?}");
        assert!(pocket::report(&err).contains("No space left"), "{}", pocket::report(&err));
        let saved = c.load("r").unwrap();
        assert_eq!(saved.run.status, RunStatus::Failed);
        assert_eq!(saved.last_step().unwrap().node, "double");
        // The disk has room again: the run goes on from the boundary after `double`.
        c.set(false);
        assert_eq!(two_steps().resume(&Store::new(), &saved, c.clone(), RunOptions::new()).await.unwrap(), 9);
    }
}

#[tokio::test]
async fn a_cancelled_run_is_recorded_as_cancelled_and_resumes() {
    let c = Arc::new(MemoryCheckpointer::new());
    let token = CancellationToken::new();
    let stop = token.clone();
    let graph = |cancel: bool| {
        let stop = stop.clone();
        Graph::<u32, u32>::builder()
            .serde_node("a", exec_fn(|x: u32| async move { Ok(x + 1) }))
            .serde_node(
                "b",
                exec_fn(move |x: u32| {
                    let stop = stop.clone();
                    async move {
                        if cancel {
                            stop.cancel();
                            std::future::pending::<()>().await;
                        }
                        Ok(x * 100)
                    }
                }),
            )
            .edge("a", "default", "b")
            .build()
            .unwrap()
    };
    let err = graph(true).run_with(&Store::new(), 1, durable(&c, "r").token(token)).await.unwrap_err();
    assert!(matches!(err, RunError::Cancelled { .. }), "{err:?}");
    let saved = c.load("r").unwrap();
    assert_eq!(saved.run.status, RunStatus::Cancelled);
    assert_eq!(graph(false).resume(&Store::new(), &saved, c.clone(), RunOptions::new()).await.unwrap(), 200);
}

#[tokio::test]
async fn a_run_that_reached_its_end_resumes_to_its_output_without_running_anything() {
    let c = Arc::new(MemoryCheckpointer::new());
    two_steps().run_with(&Store::new(), 4, durable(&c, "r")).await.unwrap();
    // As if the process died before writing the status.
    c.set_status("r", RunStatus::Running, None).wait().await.unwrap();
    let saved = c.load("r").unwrap();
    let never = Graph::<u32, u32>::builder()
        .serde_node("double", exec_fn(|_: u32| async move { Err::<u32, _>(pocket::NodeError::fatal("ran again")) }))
        .serde_node("inc", exec_fn(|_: u32| async move { Err::<u32, _>(pocket::NodeError::fatal("ran again")) }))
        .edge("double", "default", "inc")
        .build()
        .unwrap();
    assert_eq!(never.resume(&Store::new(), &saved, c.clone(), RunOptions::new()).await.unwrap(), 9);
    assert_eq!(c.load("r").unwrap().run.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn a_resume_into_a_graph_without_the_next_node_is_a_restore_error() {
    let c = full_disk();
    let run = Durable::new(c.clone(), RunRecord::new("r", "test", Value::Null));
    two_steps().run_with(&Store::new(), 4, RunOptions::new().durable(run)).await.unwrap_err();
    let saved = c.load("r").unwrap();
    c.set(false);
    let other =
        Graph::<u32, u32>::builder().serde_node("double", exec_fn(|x: u32| async move { Ok(x) })).build().unwrap();
    let err = other.resume(&Store::new(), &saved, c.clone(), RunOptions::new()).await.unwrap_err();
    assert!(matches!(&err, RunError::Restore { node, .. } if node == "inc"), "{err:?}");
}

#[tokio::test]
async fn an_interrupt_waits_for_its_answer_and_the_answer_routes_the_run() {
    let c = Arc::new(MemoryCheckpointer::new());
    let graph = Graph::<Value, Value>::builder()
        .serde_node(
            "ask",
            exec_post_fn(
                |x: Value| async move { Ok(x) },
                |store: Store, _, x: Value| async move {
                    store.set_value("asked", json!(true));
                    Ok((x, Next::Interrupt(json!({"prompt": "approve?"}))))
                },
            ),
        )
        .serde_node("approved", exec_fn(|x: Value| async move { Ok(json!({"approved": x})) }))
        .serde_node("rejected", exec_fn(|x: Value| async move { Ok(json!({"rejected": x})) }))
        .edge("ask", "yes", "approved")
        .edge("ask", "no", "rejected")
        .build()
        .unwrap();
    let err = graph.run_with(&Store::new(), json!("order-1"), durable(&c, "r")).await.unwrap_err();
    match &err {
        RunError::Interrupted { node, request } => {
            assert_eq!((node.as_str(), request), ("ask", &json!({"prompt": "approve?"})))
        }
        other => panic!("{other:?}"),
    }
    let saved = c.load("r").unwrap();
    assert_eq!(saved.run.status, RunStatus::Waiting);
    assert_eq!(saved.waiting_on().map(|(n, s, _)| (n, s)), Some(("ask", 1)));
    // Without an answer it still waits.
    let again = graph.resume(&Store::new(), &saved, c.clone(), RunOptions::new()).await.unwrap_err();
    assert!(matches!(again, RunError::Interrupted { .. }), "{again:?}");
    let store = Store::new();
    let options = RunOptions::new().answer(json!({"by": "ada"}), Some("yes"));
    let out = graph.resume(&store, &saved, c.clone(), options).await.unwrap();
    assert_eq!(out, json!({"approved": {"by": "ada"}}));
    assert_eq!(store.get_value("asked").unwrap(), Some(json!(true)), "the asking node's store changes count");
    let saved = c.load("r").unwrap();
    assert_eq!(saved.run.status, RunStatus::Succeeded);
    let nodes: Vec<_> = saved.steps().map(|s| (s.node.as_str(), s.action.clone())).collect();
    assert_eq!(nodes, [("ask", Some("yes".to_string())), ("approved", Some("default".to_string()))]);
}

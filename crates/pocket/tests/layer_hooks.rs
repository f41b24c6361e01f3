//! Hooks and the error handler: order, store access, wrapped nodes and sub-graphs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pocket::error::Step;
use pocket::layer::hooks::Hooks;
use pocket::layer::retry::RetryPolicy;
use pocket::{Graph, NodeError, NodeExt, Store, exec_fn, run_node};
use serde_json::json;

type Log = Arc<Mutex<Vec<String>>>;

fn recording(log: &Log, tag: &'static str) -> Hooks<u32> {
    let (a, b, c) = (log.clone(), log.clone(), log.clone());
    Hooks::new()
        .on_success(move |ctx, store: &Store, out: &u32| {
            a.lock().unwrap().push(format!("{tag} success {} {out}", ctx.node()));
            store.set_value(&format!("{tag}-out"), json!(out));
        })
        .on_failure(move |_, store: &Store, step, err| {
            b.lock().unwrap().push(format!("{tag} failure {step} {err}"));
            store.set_value(&format!("{tag}-err"), json!(err.to_string()));
        })
        .on_complete(move |_, _| c.lock().unwrap().push(format!("{tag} complete")))
}

#[tokio::test]
async fn success_then_complete_with_store_writes() {
    let log = Log::default();
    let node = exec_fn(|x: u32| async move { Ok(x * 2) }).hooks(recording(&log, "h"));
    let g = Graph::<u32, u32>::builder().node("double", node).build().unwrap();
    let store = Store::new();
    assert_eq!(g.run(&store, 4).await.unwrap(), 8);
    assert_eq!(*log.lock().unwrap(), ["h success double 8", "h complete"]);
    assert_eq!(store.get_value("h-out").unwrap(), Some(json!(8)));
}

#[tokio::test]
async fn failure_then_complete_then_error_handler() {
    let log = Log::default();
    let l = log.clone();
    let node = exec_fn(|_: u32| async move { Err::<u32, _>(NodeError::fatal_msg("nope")) })
        .hooks(recording(&log, "h"))
        .on_error(move |node, step, err| l.lock().unwrap().push(format!("handler {node} {step} {err}")));
    let store = Store::new();
    let g = Graph::<u32, u32>::builder().node("n", node).build().unwrap();
    assert!(g.run(&store, 1).await.is_err());
    assert_eq!(*log.lock().unwrap(), ["h failure exec nope", "h complete", "handler n exec nope"]);
    assert_eq!(store.get_value("h-err").unwrap(), Some(json!("nope")));
}

#[tokio::test(start_paused = true)]
async fn hooks_survive_outer_layers_and_fire_once_per_lifecycle() {
    let log = Log::default();
    let attempts = Arc::new(Mutex::new(0));
    let a = attempts.clone();
    // Hooks inside, retry outside: the retry still works and the hooks see only the final outcome.
    let node = exec_fn(move |x: u32| {
        let n = {
            let mut a = a.lock().unwrap();
            *a += 1;
            *a
        };
        async move { if n < 3 { Err(NodeError::msg("flaky")) } else { Ok(x) } }
    })
    .hooks(recording(&log, "inner"))
    .retry(RetryPolicy::constant(5, Duration::from_millis(1)))
    .hooks(recording(&log, "outer"));
    assert_eq!(run_node(&node, &Store::new(), 3).await.unwrap(), 3);
    assert_eq!(*attempts.lock().unwrap(), 3);
    // Inner layers' hooks run before outer ones.
    assert_eq!(
        *log.lock().unwrap(),
        ["inner success node 3", "inner complete", "outer success node 3", "outer complete"]
    );
}

#[tokio::test]
async fn hooks_on_a_sub_graph() {
    let log = Log::default();
    let inner = Graph::<u32, u32>::builder().node("inc", exec_fn(|x: u32| async move { Ok(x + 1) })).build().unwrap();
    let outer = Graph::<u32, u32>::builder().node("sub", inner.hooks(recording(&log, "sub"))).build().unwrap();
    assert_eq!(outer.run(&Store::new(), 1).await.unwrap(), 2);
    assert_eq!(*log.lock().unwrap(), ["sub success sub 2", "sub complete"]);
}

#[tokio::test]
async fn a_panicking_hook_fails_the_node_in_the_hooks_step() {
    let node = exec_fn(|x: u32| async move { Ok(x) }).hooks(Hooks::new().on_success(|_, _, _| panic!("hook bug")));
    let err = run_node(&node, &Store::new(), 1).await.unwrap_err();
    assert_eq!(err.step(), Some(Step::Hooks));
    assert_eq!(pocket::report(&err), "node `node` failed in hooks: panicked: hook bug");
}

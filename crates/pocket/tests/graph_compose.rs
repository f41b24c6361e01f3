//! Composition: graphs inside graphs, typed chains.

use pocket::error::Step;
use pocket::{Graph, Next, NodeError, NodeExt, Store, exec_fn, exec_post_fn, run_node};
use serde_json::json;

#[tokio::test]
async fn a_sub_graph_receives_the_outer_input_and_hands_its_output_on() {
    let inner = Graph::<i64, i64>::builder()
        .node("double", exec_fn(|x: i64| async move { Ok(x * 2) }))
        .node(
            "record",
            exec_post_fn(
                |x: i64| async move { Ok(x) },
                |store: Store, _, x: i64| async move {
                    store.set_value("inner-saw", json!(x));
                    Ok((x, Next::Default))
                },
            ),
        )
        .edge("double", "default", "record")
        .build()
        .unwrap();
    let outer = Graph::<i64, String>::builder()
        .node("inc", exec_fn(|x: i64| async move { Ok(x + 1) }))
        .node("sub", inner)
        .node("show", exec_fn(|x: i64| async move { Ok(format!("result {x}")) }))
        .edge("inc", "default", "sub")
        .edge("sub", "default", "show")
        .build()
        .unwrap();
    let store = Store::new();
    assert_eq!(outer.run(&store, 4).await.unwrap(), "result 10");
    // The sub-graph ran on the outer run's store.
    assert_eq!(store.get_value("inner-saw").unwrap(), Some(json!(10)));
}

#[tokio::test]
async fn the_action_that_ended_the_inner_run_routes_the_outer_graph() {
    let judge = exec_post_fn(
        |x: i64| async move { Ok(x) },
        |_, _, x: i64| async move { Ok((x, Next::to(if x > 10 { "big" } else { "small" }))) },
    );
    let inner = Graph::<i64, i64>::builder().node("judge", judge).build().unwrap();
    let outer = Graph::<i64, String>::builder()
        .node("classify", inner)
        .node("big", exec_fn(|x: i64| async move { Ok(format!("{x} is big")) }))
        .node("small", exec_fn(|x: i64| async move { Ok(format!("{x} is small")) }))
        .edge("classify", "big", "big")
        .edge("classify", "small", "small")
        .build()
        .unwrap();
    assert_eq!(outer.run(&Store::new(), 50).await.unwrap(), "50 is big");
    assert_eq!(outer.run(&Store::new(), 5).await.unwrap(), "5 is small");
}

#[tokio::test]
async fn errors_of_nested_graphs_keep_the_whole_path() {
    let inner = Graph::<i64, i64>::builder()
        .node("parse", exec_fn(|_: i64| async move { Err::<i64, _>(NodeError::fatal_msg("not a number")) }))
        .build()
        .unwrap();
    let middle = Graph::<i64, i64>::builder().node("inner", inner).build().unwrap();
    let outer = Graph::<i64, i64>::builder().node("middle", middle).build().unwrap();
    let err = outer.run(&Store::new(), 1).await.unwrap_err();
    assert_eq!(
        pocket::report(&err),
        "node `middle` failed in exec: sub-graph failed: node `inner` failed in exec: sub-graph failed: \
         node `parse` failed in exec: not a number"
    );
    assert!(!err.node_error().unwrap().is_retryable(), "classification comes from the root cause");
}

#[tokio::test]
async fn chains_run_stages_in_order_and_name_the_failing_stage() {
    let parse = exec_fn(|s: String| async move { s.trim().parse::<i64>().map_err(NodeError::fatal) });
    let check = exec_fn(|n: i64| async move { if n >= 0 { Ok(n) } else { Err(NodeError::fatal_msg("negative")) } });
    let show = exec_fn(|n: i64| async move { Ok(format!("#{n}")) });
    let flow = parse.then(check).then(show);
    assert_eq!(flow.len(), 3);
    let store = Store::new();
    assert_eq!(run_node(&flow, &store, " 42 ".into()).await.unwrap(), "#42");

    let err = run_node(&flow, &store, "-1".into()).await.unwrap_err();
    let Some(stage) = err.node_error().and_then(|e| e.downcast_ref::<pocket::node::StageFailed>()) else {
        panic!("{err:?}")
    };
    assert_eq!((stage.index(), stage.step()), (1, Step::Exec));
    assert_eq!(pocket::report(&err), "node `node` failed in exec: stage 1 failed in exec: negative");

    let err = run_node(&flow, &store, "x".into()).await.unwrap_err();
    assert!(pocket::report(&err).contains("stage 0 failed in exec: invalid digit"), "{}", pocket::report(&err));
}

#[tokio::test]
async fn a_chain_is_a_node_in_a_graph() {
    let flow = exec_fn(|x: u8| async move { Ok(u32::from(x)) }).then(exec_fn(|x: u32| async move { Ok(x * 1000) }));
    let g = Graph::<u8, u32>::builder().node("flow", flow).build().unwrap();
    assert_eq!(g.run(&Store::new(), 7).await.unwrap(), 7000);
}

#[tokio::test]
async fn named_chain_stages_are_named_in_errors() {
    let flow = exec_fn(|s: String| async move { Ok(s.len()) })
        .then(exec_fn(|n: usize| async move { Ok(n * 2) }))
        .then(exec_fn(|n: usize| async move {
            if n > 4 { Err(NodeError::fatal_msg("too long")) } else { Ok(format!("#{n}")) }
        }))
        .named(["measure", "double", "label"]);
    assert_eq!(run_node(&flow, &Store::new(), "ab".into()).await.unwrap(), "#4");
    let err = run_node(&flow, &Store::new(), "abc".into()).await.unwrap_err();
    let stage = err.node_error().and_then(|e| e.downcast_ref::<pocket::node::StageFailed>()).unwrap();
    assert_eq!((stage.index(), stage.name()), (2, Some("label")));
    assert_eq!(pocket::report(&err), "node `node` failed in exec: stage 2 (`label`) failed in exec: too long");
}

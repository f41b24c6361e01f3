//! The node lifecycle: step order, what each step sees, defaults, panics and errors.

use std::sync::{Arc, Mutex};

use pocket::error::Step;
use pocket::{
    Ctx, Graph, Key, Next, Node, NodeError, RunError, Store, StoreView, exec_fn, exec_post_fn, node_fn, run_node,
};
use serde_json::json;

type Log = Arc<Mutex<Vec<String>>>;

struct Recorder {
    log: Log,
}

const SEEN: Key<String> = Key::new("seen");

impl Node for Recorder {
    type Input = String;
    type Prep = String;
    type Exec = usize;
    type Output = String;

    async fn prep(&self, ctx: &Ctx<'_>, store: &StoreView, input: &String) -> Result<String, NodeError> {
        self.log.lock().unwrap().push(format!("prep {} {input}", ctx.node()));
        Ok(format!("{input}+{}", store.get(&SEEN)?.unwrap_or_default()))
    }
    async fn exec(&self, _: &Ctx<'_>, prep: &String) -> Result<usize, NodeError> {
        self.log.lock().unwrap().push(format!("exec {prep}"));
        Ok(prep.len())
    }
    async fn post(
        &self,
        _: &Ctx<'_>,
        store: &Store,
        input: String,
        prep: String,
        exec: usize,
    ) -> Result<(String, Next), NodeError> {
        self.log.lock().unwrap().push(format!("post {input} {prep} {exec}"));
        store.set(&SEEN, input.clone());
        Ok((format!("{input}:{exec}"), Next::Default))
    }
}

#[tokio::test]
async fn steps_run_in_order_with_what_each_may_see() {
    let log = Log::default();
    let store = Store::new();
    store.set(&SEEN, "before".to_string());
    let out = run_node(&Recorder { log: log.clone() }, &store, "in".into()).await.unwrap();
    assert_eq!(out, "in:9");
    assert_eq!(*log.lock().unwrap(), ["prep node in", "exec in+before", "post in in+before 9"]);
    assert_eq!(store.get(&SEEN).unwrap().as_deref(), Some("in"));
}

#[tokio::test]
async fn closure_nodes_default_to_pass_through_and_default_action() {
    let store = Store::new();
    let id = exec_fn(|x: Vec<u8>| async move { Ok(x) });
    assert_eq!(run_node(&id, &store, vec![1, 2]).await.unwrap(), vec![1, 2]);

    // exec + post: the post sees the original input and the exec result.
    let node = exec_post_fn(
        |x: i32| async move { Ok(x * 10) },
        |store: Store, input: i32, exec: i32| async move {
            store.set_value("pair", json!([input, exec]));
            Ok((exec + 1, Next::End))
        },
    );
    assert_eq!(run_node(&node, &store, 4).await.unwrap(), 41);
    assert_eq!(store.get_value("pair").unwrap(), Some(json!([4, 40])));

    // all three steps.
    let node = node_fn(
        |view: StoreView, input: String| async move {
            Ok(format!("{input}{}", view.get_value("pair")?.map(|v| v.to_string()).unwrap_or_default()))
        },
        |prep: String| async move { Ok(prep.len()) },
        |store: Store, _input: String, prep: String, len: usize| async move {
            store.set_value("len", json!(len));
            Ok((prep, Next::Default))
        },
    );
    assert_eq!(run_node(&node, &store, "p".into()).await.unwrap(), "p[4,40]");
    assert_eq!(store.get_value("len").unwrap(), Some(json!(7)));
}

#[tokio::test]
async fn a_failing_step_names_the_node_and_the_step() {
    let failing_prep = node_fn(
        |_: StoreView, _: u8| async move { Err::<u8, _>(NodeError::msg("no config")) },
        |p: u8| async move { Ok(p) },
        |_: Store, _: u8, _: u8, e: u8| async move { Ok((e, Next::Default)) },
    );
    let failing_post = node_fn(
        |_: StoreView, i: u8| async move { Ok(i) },
        |p: u8| async move { Ok(p) },
        |_: Store, _: u8, _: u8, _: u8| async move { Err::<(u8, Next), _>(NodeError::fatal_msg("disk full")) },
    );
    let graph = Graph::<u8, u8>::builder().node("load", failing_prep).build().unwrap();
    let err = graph.run(&Store::new(), 1).await.unwrap_err();
    assert!(matches!(&err, RunError::Node { node, step: Step::Prep, .. } if node == "load"), "{err:?}");
    assert_eq!(pocket::report(&err), "node `load` failed in prep: no config");

    let graph = Graph::<u8, u8>::builder().node("save", failing_post).build().unwrap();
    let err = graph.run(&Store::new(), 1).await.unwrap_err();
    assert_eq!(err.step(), Some(Step::Post));
    assert_eq!(err.node(), "save");
    assert!(!err.node_error().unwrap().is_retryable());
    // The source chain is kept.
    let source = std::error::Error::source(&err).unwrap();
    assert_eq!(source.to_string(), "disk full");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_step_becomes_an_error_and_other_runs_carry_on() {
    let boom = exec_fn(|x: u32| async move {
        if x == 3 {
            panic!("bad item {x}");
        }
        Ok(x)
    });
    let graph = Graph::<u32, u32>::builder().node("risky", boom).build().unwrap();
    let store = Store::new();
    let mut handles = Vec::new();
    for i in 0..8 {
        let (graph, store) = (graph.clone(), store.clone());
        handles.push(tokio::spawn(async move { graph.run(&store, i).await }));
    }
    for (i, h) in handles.into_iter().enumerate() {
        let result = h.await.expect("the task itself does not panic");
        if i == 3 {
            let err = result.unwrap_err();
            assert_eq!(err.step(), Some(Step::Exec));
            assert_eq!(pocket::report(&err), "node `risky` failed in exec: panicked: bad item 3");
        } else {
            assert_eq!(result.unwrap(), i as u32);
        }
    }
}

#[tokio::test]
async fn prep_and_post_panics_are_caught_too() {
    let node = node_fn(
        |_: StoreView, x: u8| async move {
            if x == 0 {
                panic!("prep boom");
            }
            Ok(x)
        },
        |p: u8| async move { Ok(p) },
        |_: Store, _: u8, _: u8, e: u8| async move {
            if e == 1 {
                panic!("post boom");
            }
            Ok((e, Next::Default))
        },
    );
    let store = Store::new();
    let err = run_node(&node, &store, 0).await.unwrap_err();
    assert_eq!(
        (err.step(), pocket::report(&err).as_str()),
        (Some(Step::Prep), "node `node` failed in prep: panicked: prep boom")
    );
    let err = run_node(&node, &store, 1).await.unwrap_err();
    assert_eq!(err.step(), Some(Step::Post));
    assert_eq!(run_node(&node, &store, 2).await.unwrap(), 2);
}

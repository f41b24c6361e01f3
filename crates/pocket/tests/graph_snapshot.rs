//! The value between two nodes of a running graph can be written down and a run restarted from
//! it: what durable runs and record/replay build on.

use std::sync::{Arc, Mutex};

use pocket::error::RunError;
use pocket::{Graph, Next, RunOptions, Store, exec_fn, exec_post_fn};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Draft {
    topic: String,
    words: Vec<String>,
    revisions: u32,
}

fn graph() -> Graph<String, Draft> {
    let outline = exec_fn(|topic: String| async move {
        Ok(Draft { words: topic.split(' ').map(String::from).collect(), topic, revisions: 0 })
    });
    let revise = exec_post_fn(
        |mut d: Draft| async move {
            d.revisions += 1;
            d.words.push(format!("rev{}", d.revisions));
            Ok(d)
        },
        |_store, _d, d: Draft| async move {
            let next = if d.revisions < 3 { Next::to("again") } else { Next::to("done") };
            Ok((d, next))
        },
    );
    Graph::builder()
        .serde_node("outline", outline)
        .serde_node("revise", revise)
        .edge("outline", "default", "revise")
        .edge("revise", "again", "revise")
        .build()
        .unwrap()
}

type Seen = Arc<Mutex<Vec<(String, Option<String>, u64, serde_json::Value)>>>;

fn recording() -> (RunOptions, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let options = RunOptions::new().on_boundary(move |b| {
        let value = b.value_json().expect("a codec").expect("serializable");
        log.lock().unwrap().push((b.node().to_string(), b.next().map(String::from), b.steps(), value));
    });
    (options, seen)
}

#[tokio::test]
async fn every_boundary_is_seen_and_a_run_restarts_from_any_of_them() {
    let graph = graph();
    let (options, seen) = recording();
    let full = graph.run_with(&Store::new(), "a b".into(), options).await.unwrap();
    assert_eq!(full.revisions, 3);
    let seen = seen.lock().unwrap().clone();
    let route: Vec<(&str, Option<&str>)> = seen.iter().map(|(n, next, _, _)| (n.as_str(), next.as_deref())).collect();
    assert_eq!(
        route,
        [("outline", Some("revise")), ("revise", Some("revise")), ("revise", Some("revise")), ("revise", None)]
    );
    assert_eq!(seen[1].3, json!({"topic": "a b", "words": ["a", "b", "rev1"], "revisions": 1}));
    assert_eq!(seen[3].2, 4, "steps so far");

    // Restart after the second step: the same end, only the remaining steps run.
    let (again, rest) = recording();
    let restored = graph.run_from(&Store::new(), "revise", seen[1].3.clone(), again).await.unwrap();
    assert_eq!(restored, full);
    assert_eq!(rest.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_snapshot_that_cannot_be_used_is_a_clear_error() {
    let graph = graph();
    let store = Store::new();
    let err = graph.run_from(&store, "nowhere", json!(null), RunOptions::new()).await.unwrap_err();
    assert_eq!(err.to_string(), "cannot start the run at node `nowhere`: no such node");
    let err = graph.run_from(&store, "revise", json!({"topic": 1}), RunOptions::new()).await.unwrap_err();
    assert!(matches!(err, RunError::Restore { .. }) && err.to_string().contains("not a valid input"), "{err}");

    let plain = Graph::<u32, u32>::builder().node("a", exec_fn(|x: u32| async move { Ok(x) })).build().unwrap();
    let err = plain.run_from(&store, "a", json!(1), RunOptions::new()).await.unwrap_err();
    assert!(err.to_string().contains("has no codec: add it with `serde_node`"), "{err}");
}

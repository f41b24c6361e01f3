//! The conformance suite every [`Checkpointer`] backend must pass (feature `conformance`).
//!
//! Call [`check`] from a test of the backend with a function that makes an empty backend;
//! it panics with the failed property's name.
//!
//! ```
//! use std::sync::Arc;
//! use pocket::durable::{conformance, MemoryCheckpointer};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! conformance::check(|| Arc::new(MemoryCheckpointer::new())).await;
//! # });
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use serde_json::{Value, json};

use super::{
    Ack, CheckpointError, Checkpointer, Delta, Durable, MemoryCheckpointer, Record, RunRecord, RunStatus, SavedRun,
    StepRecord,
};
use crate::{Graph, NodeError, RunOptions, Store, exec_fn};

/// Run every property against fresh backends made by `make`.
///
/// # Panics
///
/// When the backend breaks a property (the message names it).
pub async fn check<C: Checkpointer>(make: impl Fn() -> Arc<C>) {
    records_round_trip(&*make()).await;
    appends_keep_their_order(&*make()).await;
    large_and_odd_values_round_trip(&*make()).await;
    status_and_owner(&*make()).await;
    claims_are_compare_and_set(&*make()).await;
    runs_are_listed_newest_first(&*make()).await;
    removed_runs_are_gone(&*make()).await;
    unknown_runs_are_errors(&*make()).await;
    a_graph_resumes_where_it_failed(make()).await;
}

fn run(id: &str, created_ms: u64) -> RunRecord {
    let mut run = RunRecord::new(id, "conformance", json!({"n": 1, "text": "héllo"}));
    run.origin = "flows/conformance.yaml".into();
    run.hash = "abc123".into();
    run.fingerprint = vec![("a".into(), "h1".into()), ("b".into(), "h2".into())];
    run.meta = json!({"allow_exec": ["ls"]});
    run.created_ms = created_ms;
    run.updated_ms = created_ms;
    run
}

fn step(n: u64, value: Value) -> Record {
    Record::Step(StepRecord {
        node: format!("node-{n}"),
        step: n,
        action: Some("default".into()),
        next: Some(format!("node-{}", n + 1)),
        value,
        delta: vec![Delta { key: format!("k{n}"), value: Some(json!(n)) }, Delta { key: "gone".into(), value: None }],
        started_ms: 1_700_000_000_000 + n,
        elapsed_us: n * 10,
    })
}

async fn records_round_trip(c: &dyn Checkpointer) {
    let r = run("run-a", 1);
    c.create(&r).expect("create a run");
    let saved = c.load("run-a").expect("load a created run");
    assert_eq!(saved.run, r, "records_round_trip: the run record reads back as written");
    assert!(saved.log.is_empty(), "records_round_trip: a new run has an empty log");
    assert!(c.create(&r).is_err(), "records_round_trip: a second run with the same id is refused");
}

async fn appends_keep_their_order(c: &dyn Checkpointer) {
    c.create(&run("run-b", 1)).expect("create");
    let mut written = Vec::new();
    let mut acks = Vec::new();
    for n in 0..300u64 {
        let record = match n % 4 {
            0 => step(n, json!({"n": n})),
            1 => Record::Memo { node: format!("node-{n}"), step: n, value: json!([n, "memo"]) },
            2 => Record::Rewind { to: n, hash: format!("h{n}"), fingerprint: vec![("a".into(), "h".into())] },
            _ => Record::Item { node: "map".into(), step: n, index: n, key: format!("h{n}"), value: json!({"ok": n}) },
        };
        written.push(record.clone());
        acks.push(c.append("run-b", record));
    }
    for ack in acks {
        ack.wait().await.expect("appends_keep_their_order: every append commits");
    }
    assert_eq!(c.load("run-b").expect("load").log, written, "appends_keep_their_order: the log reads back in order");
}

async fn large_and_odd_values_round_trip(c: &dyn Checkpointer) {
    c.create(&run("run-c", 1)).expect("create");
    let big = "x".repeat(200_000);
    let values = [
        json!(big),
        json!({"nested": {"list": [1, 2.5, -3, null, true], "emoji": "🦀", "quote": "'\"\\"}}),
        json!(u64::MAX),
        json!(""),
    ];
    for (n, value) in values.iter().enumerate() {
        c.append("run-c", step(n as u64, value.clone())).wait().await.expect("append");
    }
    // The same large value twice (stored once by a backend that deduplicates).
    c.append("run-c", step(9, json!(big))).wait().await.expect("append");
    let log = c.load("run-c").expect("load").log;
    let read: Vec<Value> = log
        .iter()
        .map(|r| match r {
            Record::Step(s) => s.value.clone(),
            other => panic!("large_and_odd_values_round_trip: unexpected record {other:?}"),
        })
        .collect();
    let mut expected = values.to_vec();
    expected.push(json!(big));
    assert_eq!(read, expected, "large_and_odd_values_round_trip: values read back exactly");
}

async fn status_and_owner(c: &dyn Checkpointer) {
    c.create(&run("run-d", 1)).expect("create");
    assert!(c.claim("run-d", None, "me").expect("claim"), "status_and_owner: an unowned run can be claimed");
    c.set_status("run-d", RunStatus::Failed, Some("node `b` failed")).wait().await.expect("set_status");
    let saved = c.load("run-d").expect("load").run;
    assert_eq!(saved.status, RunStatus::Failed, "status_and_owner: the status reads back");
    assert_eq!(saved.error.as_deref(), Some("node `b` failed"), "status_and_owner: the error reads back");
    assert_eq!(saved.owner, None, "status_and_owner: a run that stopped has no owner");
    assert!(saved.updated_ms >= saved.created_ms, "status_and_owner: the update time moves forward");
    c.set_status("run-d", RunStatus::Succeeded, None).wait().await.expect("set_status");
    let saved = c.load("run-d").expect("load").run;
    assert_eq!((saved.status, saved.error), (RunStatus::Succeeded, None), "status_and_owner: the error is cleared");
}

async fn claims_are_compare_and_set(c: &dyn Checkpointer) {
    c.create(&run("run-e", 1)).expect("create");
    assert!(c.claim("run-e", None, "one").expect("claim"), "claims: the first claim wins");
    assert!(!c.claim("run-e", None, "two").expect("claim"), "claims: a claim that saw no owner loses to one");
    assert!(!c.claim("run-e", Some("three"), "two").expect("claim"), "claims: a claim that saw another owner loses");
    assert_eq!(c.load("run-e").expect("load").run.owner.as_deref(), Some("one"), "claims: the winner owns the run");
    assert!(c.claim("run-e", Some("one"), "two").expect("claim"), "claims: taking over from the seen owner works");
    let saved = c.load("run-e").expect("load").run;
    assert_eq!((saved.owner.as_deref(), saved.status), (Some("two"), RunStatus::Running), "claims: owner and status");
}

async fn runs_are_listed_newest_first(c: &dyn Checkpointer) {
    for (id, at) in [("old", 10), ("newest", 30), ("middle", 20)] {
        c.create(&run(id, at)).expect("create");
    }
    let ids: Vec<String> = c.runs().expect("runs").into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["newest", "middle", "old"], "runs_are_listed_newest_first");
}

async fn removed_runs_are_gone(c: &dyn Checkpointer) {
    c.create(&run("run-f", 1)).expect("create");
    c.append("run-f", step(1, json!("x".repeat(10_000)))).wait().await.expect("append");
    assert!(c.remove("run-f").expect("remove"), "removed_runs_are_gone: removing a run says it was there");
    assert!(!c.remove("run-f").expect("remove"), "removed_runs_are_gone: removing it again says it was not");
    assert!(matches!(c.load("run-f"), Err(CheckpointError::NoRun(_))), "removed_runs_are_gone: it cannot be loaded");
    assert!(c.runs().expect("runs").is_empty(), "removed_runs_are_gone: it is not listed");
    c.create(&run("run-f", 2)).expect("removed_runs_are_gone: its id can be used again");
    assert!(c.load("run-f").expect("load").log.is_empty(), "removed_runs_are_gone: none of its records are left");
}

async fn unknown_runs_are_errors(c: &dyn Checkpointer) {
    assert!(matches!(c.load("nope"), Err(CheckpointError::NoRun(_))), "unknown_runs: load");
    assert!(matches!(c.claim("nope", None, "me"), Err(CheckpointError::NoRun(_))), "unknown_runs: claim");
    assert!(c.append("nope", step(1, json!(1))).wait().await.is_err(), "unknown_runs: append");
    assert!(c.set_status("nope", RunStatus::Failed, None).wait().await.is_err(), "unknown_runs: set_status");
}

/// A graph that fails at its third node, resumed: the first two do not run again, the store
/// is as they left it, and the output equals an uninterrupted run's.
async fn a_graph_resumes_where_it_failed<C: Checkpointer>(c: Arc<C>) {
    let runs = Arc::new([AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)]);
    let graph = |fail: bool| {
        let counted = |i: usize| {
            let runs = runs.clone();
            crate::exec_post_fn(
                move |x: u64| {
                    let runs = runs.clone();
                    async move {
                        runs[i].fetch_add(1, Ordering::SeqCst);
                        if i == 2 && fail { Err(NodeError::fatal("down")) } else { Ok(x * 10 + i as u64) }
                    }
                },
                move |store: Store, _prep: u64, out: u64| {
                    store.set_value(&format!("seen-{i}"), json!(out));
                    if i == 1 {
                        store.delete("scratch");
                    }
                    async move { Ok((out, crate::Next::Default)) }
                },
            )
        };
        Graph::<u64, u64>::builder()
            .serde_node("a", counted(0))
            .serde_node("b", counted(1))
            .serde_node("c", counted(2))
            .serde_node("d", exec_fn(|x: u64| async move { Ok(x + 1) }))
            .edge("a", "default", "b")
            .edge("b", "default", "c")
            .edge("c", "default", "d")
            .build()
            .expect("graph")
    };
    let store = Store::new();
    store.set_value("scratch", json!("temporary"));
    store.set_value("seed", json!("kept"));
    let record = RunRecord::new("run-g", "resume", Value::Null);
    let options = RunOptions::new().durable(Durable::new(c.clone(), record));
    let failed = graph(true).run_with(&store, 1, options).await;
    assert!(failed.is_err(), "resume: the first run fails at `c`");
    let saved = c.load("run-g").expect("load");
    assert_eq!(saved.run.status, RunStatus::Failed, "resume: a failed run is recorded as failed");
    assert_eq!(saved.run.input, json!(1), "resume: the input is recorded");
    assert_eq!(saved.last_step().map(|s| s.node.as_str()), Some("b"), "resume: the last boundary is after `b`");

    let fresh = Store::new();
    let out = graph(false).resume(&fresh, &saved, c.clone(), RunOptions::new()).await.expect("resume: succeeds");
    let uninterrupted = graph(false).run(&Store::new(), 1).await.expect("plain run");
    assert_eq!(out, uninterrupted, "resume: the output equals an uninterrupted run's");
    let counts: Vec<u32> = runs.iter().map(|n| n.load(Ordering::SeqCst)).collect();
    // a, b: once in the failed run, once in the plain run; c: failed, resumed, plain.
    assert_eq!(counts, [2, 2, 3], "resume: finished nodes do not run again");
    assert_eq!(fresh.get_value("seed").expect("read"), Some(json!("kept")), "resume: the store's seeds come back");
    assert_eq!(fresh.get_value("seen-1").expect("read"), Some(json!(101)), "resume: writes before the crash come back");
    assert_eq!(fresh.get_value("scratch").expect("read"), None, "resume: deletes before the crash come back");
    let saved = c.load("run-g").expect("load");
    assert_eq!(saved.run.status, RunStatus::Succeeded, "resume: the resumed run is recorded as succeeded");
    let nodes: Vec<&str> = saved.steps().map(|s| s.node.as_str()).collect();
    assert_eq!(nodes, ["a", "b", "c", "d"], "resume: the log has each node once");
    let steps: Vec<u64> = saved.steps().map(|s| s.step).collect();
    assert_eq!(steps, [1, 2, 3, 4], "resume: the step count goes on");
}

/// A [`MemoryCheckpointer`] whose appends fail, while switched on, for the records `fails`
/// picks — a full or unplugged disk, for tests of what a run does then (and of its resume
/// once the disk is back: [`Faulty::set`]).
pub struct Faulty {
    inner: MemoryCheckpointer,
    fails: Box<dyn Fn(&Record) -> bool + Send + Sync>,
    on: AtomicBool,
}

impl std::fmt::Debug for Faulty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faulty").field("on", &self.on.load(Ordering::SeqCst)).finish_non_exhaustive()
    }
}

impl Faulty {
    /// Failing the appends `fails` picks, from the start.
    pub fn new(fails: impl Fn(&Record) -> bool + Send + Sync + 'static) -> Self {
        Faulty { inner: MemoryCheckpointer::new(), fails: Box::new(fails), on: AtomicBool::new(true) }
    }

    /// Switch the failures on or off.
    pub fn set(&self, on: bool) {
        self.on.store(on, Ordering::SeqCst);
    }
}

impl Checkpointer for Faulty {
    fn create(&self, run: &RunRecord) -> Result<(), CheckpointError> {
        self.inner.create(run)
    }
    fn append(&self, id: &str, record: Record) -> Ack {
        if self.on.load(Ordering::SeqCst) && (self.fails)(&record) {
            return Ack::done(Err(CheckpointError::Write("No space left on device".into())));
        }
        self.inner.append(id, record)
    }
    fn set_status(&self, id: &str, status: RunStatus, error: Option<&str>) -> Ack {
        self.inner.set_status(id, status, error)
    }
    fn load(&self, id: &str) -> Result<SavedRun, CheckpointError> {
        self.inner.load(id)
    }
    fn runs(&self) -> Result<Vec<RunRecord>, CheckpointError> {
        self.inner.runs()
    }
    fn remove(&self, id: &str) -> Result<bool, CheckpointError> {
        self.inner.remove(id)
    }
    fn claim(&self, id: &str, seen: Option<&str>, owner: &str) -> Result<bool, CheckpointError> {
        self.inner.claim(id, seen, owner)
    }
}

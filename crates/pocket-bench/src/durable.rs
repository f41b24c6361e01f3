//! Durable runs' workloads (issue 14): what recording every boundary costs, per mode, next to
//! the same run not recorded.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use pocket::durable::{Checkpointer, Durability, Durable, RunRecord, RunStatus, new_run_id};
use pocket::{Graph, RunOptions, Store, exec_fn};
use pocket_sqlite::SqliteCheckpointer;
use serde_json::Value;

use crate::{arg, line};

/// A scratch directory for the state databases, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("pocket-bench-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        Ok(Scratch(dir))
    }

    /// The bytes of the database `name` (its WAL included).
    fn bytes(&self, name: &str) -> u64 {
        ["", "-wal"]
            .iter()
            .filter_map(|suffix| std::fs::metadata(self.0.join(format!("{name}{suffix}"))).ok())
            .map(|m| m.len())
            .sum()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const MODES: [(&str, Option<Durability>); 3] =
    [("off", None), ("process", Some(Durability::Process)), ("machine", Some(Durability::Machine))];

/// `durable-chain N REPS`: REPS runs of a chain of N async pass-through nodes, not recorded,
/// then recorded in `process` and `machine` mode; per step, and the cost of recording over
/// `off`.
pub(crate) fn durable_chain(args: &[String]) -> Result<(), String> {
    let n = arg(args, 0, 1000)?.max(1);
    let reps = arg(args, 1, 5)?.max(1);
    let mut builder = Graph::<i64, i64>::builder().max_steps(n);
    for i in 0..n {
        builder = builder.serde_node(format!("n{i}"), exec_fn(|x: i64| async move { Ok(x) }));
        if i > 0 {
            builder = builder.edge(format!("n{}", i - 1), "default", format!("n{i}"));
        }
    }
    let graph = builder.build().map_err(|e| e.to_string())?;
    let scratch = Scratch::new("chain")?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().map_err(|e| e.to_string())?;
    let mut off_ns = 0.0;
    for (name, mode) in MODES {
        let db = format!("{name}.db");
        let checkpointer = match mode {
            None => None,
            Some(mode) => {
                Some(Arc::new(SqliteCheckpointer::open(scratch.0.join(&db), mode).map_err(|e| e.to_string())?))
            }
        };
        let mut ids = Vec::new();
        let start = Instant::now();
        rt.block_on(async {
            for rep in 0..reps as i64 {
                let mut options = RunOptions::new();
                if let (Some(c), Some(mode)) = (&checkpointer, mode) {
                    let id = new_run_id();
                    ids.push(id.clone());
                    let run = RunRecord::new(id, "durable-chain", Value::Null);
                    options = options.durable(Durable::new(c.clone(), run).durability(mode));
                }
                let out = graph.run_with(&Store::new(), rep, options).await.map_err(|e| pocket::report(&e))?;
                if out != rep {
                    return Err(format!("durable-chain returned {out}, expected {rep}"));
                }
            }
            Ok::<(), String>(())
        })?;
        let wall = start.elapsed();
        let ns = wall.as_nanos() as f64 / (n * reps) as f64;
        let mut extra = format!(" mode={name} reps={reps}");
        match checkpointer {
            None => off_ns = ns,
            Some(c) => {
                verify(&*c, &ids, n)?;
                let commits = c.commits();
                // Closed, the file holds what a later reader finds (the WAL folded in).
                drop(c);
                extra.push_str(&format!(
                    " over_off_us={:.2} commits={commits} bytes_per_step={:.0}",
                    (ns - off_ns) / 1000.0,
                    scratch.bytes(&db) as f64 / (n * reps) as f64
                ));
            }
        }
        line("durable-chain", n, wall, ns, "ns/step", &extra);
    }
    Ok(())
}

/// Every run succeeded with one step per node.
fn verify(c: &dyn Checkpointer, ids: &[String], steps: u64) -> Result<(), String> {
    for id in ids {
        let saved = c.load(id).map_err(|e| e.to_string())?;
        if saved.run.status != RunStatus::Succeeded || saved.steps().count() as u64 != steps {
            return Err(format!("run {id}: {} with {} steps recorded", saved.run.status, saved.steps().count()));
        }
    }
    Ok(())
}

/// `durable-map N [CONCURRENCY]`: a `map` of N items (a `transform` body) not recorded, then
/// recorded in `process` and `machine` mode; per item, the cost of recording over `off`, and
/// in `machine` mode the syncs per millisecond.
pub(crate) fn durable_map(args: &[String]) -> Result<(), String> {
    let n = arg(args, 0, 10_000)?;
    let concurrency = arg(args, 1, 64)?.max(1);
    let source = format!(
        "name: bench\nstart: m\nnodes:\n  - name: m\n    type: map\n    config: {{max_concurrency: {concurrency}, \
         body: {{type: transform, config: {{jq: '. + 1'}}}}}}\n"
    );
    let workflow = pocket_yaml::parse_workflow(&source, "bench.yaml").map_err(|e| e.to_string())?;
    let graph = pocket_nodes::build_graph(
        &workflow,
        &pocket_nodes::Registry::builtin(),
        pocket_nodes::BuildOptions::new(".".as_ref()),
    )
    .map_err(|e| e.to_string())?;
    let scratch = Scratch::new("map")?;
    let items = Value::Array((0..n).map(Value::from).collect());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let mut off_ns = 0.0;
    for (name, mode) in MODES {
        let db = format!("{name}.db");
        let mut options = RunOptions::new();
        let mut recorded = None;
        if let Some(mode) = mode {
            let c = Arc::new(SqliteCheckpointer::open(scratch.0.join(&db), mode).map_err(|e| e.to_string())?);
            let id = new_run_id();
            options = options.durable(
                Durable::new(c.clone(), RunRecord::new(id.clone(), "durable-map", Value::Null)).durability(mode),
            );
            recorded = Some((c, id));
        }
        let start = Instant::now();
        let out = rt.block_on(graph.run_with(&Store::new(), items.clone(), options)).map_err(|e| pocket::report(&e))?;
        let wall = start.elapsed();
        let results = out["results"].as_array().ok_or("no results")?;
        if results.len() as u64 != n || results.iter().enumerate().any(|(i, v)| v.as_u64() != Some(i as u64 + 1)) {
            return Err("durable-map results are wrong or out of order".into());
        }
        let ns = wall.as_nanos() as f64 / n.max(1) as f64;
        let mut extra = format!(" mode={name} concurrency={concurrency}");
        match recorded {
            None => off_ns = ns,
            Some((c, id)) => {
                let saved = c.load(&id).map_err(|e| e.to_string())?;
                let items = saved.log.iter().filter(|r| matches!(r, pocket::durable::Record::Item { .. })).count();
                if items as u64 != n || saved.run.status != RunStatus::Succeeded {
                    return Err(format!("durable-map: {items} item records of {n}, run {}", saved.run.status));
                }
                let ms = wall.as_secs_f64() * 1000.0;
                let commits = c.commits();
                drop(c);
                extra.push_str(&format!(
                    " over_off_us={:.2} commits={commits} commits_per_ms={:.2} bytes_per_item={:.0}",
                    (ns - off_ns) / 1000.0,
                    commits as f64 / ms.max(f64::MIN_POSITIVE),
                    scratch.bytes(&db) as f64 / n.max(1) as f64
                ));
            }
        }
        line("durable-map", n, wall, ns, "ns/item", &extra);
    }
    Ok(())
}

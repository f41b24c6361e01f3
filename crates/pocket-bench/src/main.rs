//! The standard Pocket workloads (see `BENCHMARKS.md`). Each run verifies its result, exits
//! non-zero on a wrong one, and prints exactly one line on stdout:
//!
//! `rs <workload> <size> <wall_s> <figure> <unit> [key=value ...]`
//!
//! Usage: `cargo run --release -p pocket-bench -- WORKLOAD [SIZE] [ARGS...]`

use std::process::ExitCode;
use std::time::{Duration, Instant};

use pocket::{Ctx, Graph, GraphBuilder, Next, Node, NodeError, RunOptions, Store, StoreView, SyncNode};
use serde_json::Value;

/// A pass-through node: what a chain stage costs when it does nothing. Used as a `SyncNode`
/// (the natural form of a node that never waits) by `chain`, and as an async `Node` by
/// `chain-async`.
struct Pass;

impl SyncNode for Pass {
    type Input = i64;
    type Prep = i64;
    type Exec = i64;
    type Output = i64;

    fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &i64) -> Result<i64, NodeError> {
        Ok(*input)
    }
    fn exec(&self, _: &Ctx<'_>, prep: &i64) -> Result<i64, NodeError> {
        Ok(*prep)
    }
    fn post(&self, _: &Ctx<'_>, _: &Store, _: i64, _: i64, exec: i64) -> Result<(i64, Next), NodeError> {
        Ok((exec, Next::Default))
    }
}

/// Sync `think`.
struct SyncThink(i64);

impl SyncNode for SyncThink {
    type Input = i64;
    type Prep = i64;
    type Exec = bool;
    type Output = i64;

    fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &i64) -> Result<i64, NodeError> {
        Ok(*input)
    }
    fn exec(&self, _: &Ctx<'_>, n: &i64) -> Result<bool, NodeError> {
        Ok(*n < self.0)
    }
    fn post(&self, _: &Ctx<'_>, _: &Store, n: i64, _: i64, more: bool) -> Result<(i64, Next), NodeError> {
        Ok((n, if more { Next::to("act") } else { Next::to("done") }))
    }
}

/// Sync `act`.
struct SyncAct;

impl SyncNode for SyncAct {
    type Input = i64;
    type Prep = i64;
    type Exec = i64;
    type Output = i64;

    fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &i64) -> Result<i64, NodeError> {
        Ok(*input)
    }
    fn exec(&self, _: &Ctx<'_>, n: &i64) -> Result<i64, NodeError> {
        Ok(n + 1)
    }
    fn post(&self, _: &Ctx<'_>, _: &Store, _: i64, _: i64, n: i64) -> Result<(i64, Next), NodeError> {
        Ok((n, Next::to("think")))
    }
}

impl Node for Pass {
    type Input = i64;
    type Prep = i64;
    type Exec = i64;
    type Output = i64;

    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &i64) -> Result<i64, NodeError> {
        Ok(*input)
    }
    async fn exec(&self, _: &Ctx<'_>, prep: &i64) -> Result<i64, NodeError> {
        Ok(*prep)
    }
    async fn post(&self, _: &Ctx<'_>, _: &Store, _: i64, _: i64, exec: i64) -> Result<(i64, Next), NodeError> {
        Ok((exec, Next::Default))
    }
}

/// `think` of the agent loop: `act` until the counter reaches the limit, then `done`.
struct Think(i64);

impl Node for Think {
    type Input = i64;
    type Prep = i64;
    type Exec = bool;
    type Output = i64;

    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &i64) -> Result<i64, NodeError> {
        Ok(*input)
    }
    async fn exec(&self, _: &Ctx<'_>, n: &i64) -> Result<bool, NodeError> {
        Ok(*n < self.0)
    }
    async fn post(&self, _: &Ctx<'_>, _: &Store, n: i64, _: i64, more: bool) -> Result<(i64, Next), NodeError> {
        Ok((n, if more { Next::to("act") } else { Next::to("done") }))
    }
}

/// `act` of the agent loop: adds one.
struct Act;

impl Node for Act {
    type Input = i64;
    type Prep = i64;
    type Exec = i64;
    type Output = i64;

    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &i64) -> Result<i64, NodeError> {
        Ok(*input)
    }
    async fn exec(&self, _: &Ctx<'_>, n: &i64) -> Result<i64, NodeError> {
        Ok(n + 1)
    }
    async fn post(&self, _: &Ctx<'_>, _: &Store, _: i64, _: i64, n: i64) -> Result<(i64, Next), NodeError> {
        Ok((n, Next::to("think")))
    }
}

fn arg(args: &[String], i: usize, default: u64) -> Result<u64, String> {
    match args.get(i) {
        None => Ok(default),
        Some(s) => s.parse().map_err(|_| format!("argument {} must be a non-negative integer, got `{s}`", i + 1)),
    }
}

/// Peak resident set size of this process (`VmHWM`, what `getrusage` reports as `ru_maxrss`).
fn maxrss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn line(workload: &str, size: u64, wall: Duration, figure: f64, unit: &str, extra: &str) {
    let extra = if extra.is_empty() { String::new() } else { format!(" {extra}") };
    println!("rs {workload} {size} {:.6} {figure:.3} {unit}{extra} maxrss_mb={:.1}", wall.as_secs_f64(), maxrss_mb());
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime")
}

fn chain(args: &[String], sync: bool) -> Result<(), String> {
    let n = arg(args, 0, 1000)?.max(1);
    let reps = arg(args, 1, 100)?.max(1);
    let mut builder = Graph::<i64, i64>::builder().max_steps(n);
    for i in 0..n {
        builder = if sync {
            builder.sync_node(format!("n{i}"), Pass)
        } else {
            builder.node(format!("n{i}"), Pass.into_node())
        };
        if i > 0 {
            builder = builder.edge(format!("n{}", i - 1), "default", format!("n{i}"));
        }
    }
    let graph = builder.build().map_err(|e| e.to_string())?;
    let store = Store::new();
    let rt = current_thread();
    let start = Instant::now();
    rt.block_on(async {
        for rep in 0..reps as i64 {
            let out = graph.run(&store, rep).await.map_err(|e| pocket::report(&e))?;
            if out != rep {
                return Err(format!("chain returned {out}, expected {rep}"));
            }
        }
        Ok(())
    })?;
    let wall = start.elapsed();
    let ns = wall.as_nanos() as f64 / (n * reps) as f64;
    line(if sync { "chain" } else { "chain-async" }, n, wall, ns, "ns/step", &format!("reps={reps}"));
    Ok(())
}

fn agent_loop(args: &[String], sync: bool) -> Result<(), String> {
    let iters = arg(args, 0, 100_000)?;
    let steps = 2 * iters + 1;
    let builder: GraphBuilder<i64, i64> = if sync {
        Graph::builder().sync_node("think", SyncThink(iters as i64)).sync_node("act", SyncAct)
    } else {
        Graph::builder().node("think", Think(iters as i64)).node("act", Act)
    };
    let graph = builder.edge("think", "act", "act").edge("act", "think", "think").build().map_err(|e| e.to_string())?;
    let store = Store::new();
    let rt = current_thread();
    let start = Instant::now();
    let out =
        rt.block_on(graph.run_with(&store, 0, RunOptions::new().max_steps(steps))).map_err(|e| pocket::report(&e))?;
    let wall = start.elapsed();
    if out != iters as i64 {
        return Err(format!("agent-loop returned {out}, expected {iters}"));
    }
    let ns = wall.as_nanos() as f64 / steps as f64;
    line(if sync { "agent-loop" } else { "agent-loop-async" }, iters, wall, ns, "ns/step", &format!("steps={steps}"));
    Ok(())
}

fn store_bench(args: &[String], bounded: bool) -> Result<(), String> {
    let per = arg(args, 0, 500_000)?;
    let workers = arg(args, 1, 2)?.max(1);
    let store = if bounded { Store::builder().max_entries(10_000).build() } else { Store::new() };
    let keys: Vec<Vec<String>> = (0..workers).map(|w| (0..per).map(|i| format!("g{w}:k{i}")).collect()).collect();
    let start = Instant::now();
    let results: Vec<(u64, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = keys
            .iter()
            .map(|keys| {
                let store = store.clone();
                s.spawn(move || {
                    for (i, key) in keys.iter().enumerate() {
                        store.set_value(key, Value::from(i as u64));
                    }
                    let (mut hits, mut misses) = (0, 0);
                    for (i, key) in keys.iter().enumerate() {
                        match store.get_value(key) {
                            Ok(Some(v)) if v.as_u64() == Some(i as u64) => hits += 1,
                            Ok(Some(v)) => panic!("key {key} holds {v}, expected {i}"),
                            _ => misses += 1,
                        }
                    }
                    (hits, misses)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("worker")).collect()
    });
    let wall = start.elapsed();
    let (hits, misses) = results.iter().fold((0, 0), |(h, m), (a, b)| (h + a, m + b));
    let ops = 2 * per * workers;
    let rate = ops as f64 / wall.as_secs_f64();
    if bounded {
        let len = store.len();
        if len > 10_000 {
            return Err(format!("bounded store holds {len} entries, bound is 10000"));
        }
        line("store-lru", per, wall, rate, "ops/s", &format!("workers={workers} get_misses={misses} get_hits={hits}"));
    } else {
        if misses != 0 {
            return Err(format!("{misses} gets missed in an unbounded store"));
        }
        line("store", per, wall, rate, "ops/s", &format!("workers={workers}"));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(workload) = args.first() else {
        eprintln!(
            "usage: pocket-bench WORKLOAD [SIZE] [ARGS...]; workloads: chain, chain-async, agent-loop, agent-loop-async, store, store-lru"
        );
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    let result = match workload.as_str() {
        "chain" => chain(rest, true),
        "chain-async" => chain(rest, false),
        "agent-loop" => agent_loop(rest, true),
        "agent-loop-async" => agent_loop(rest, false),
        "store" => store_bench(rest, false),
        "store-lru" => store_bench(rest, true),
        other => {
            eprintln!(
                "unknown workload `{other}`; known: chain, chain-async, agent-loop, agent-loop-async, store, store-lru"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pocket-bench {workload}: {e}");
            ExitCode::FAILURE
        }
    }
}

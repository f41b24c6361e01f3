//! The standard Pocket workloads (see `BENCHMARKS.md`). Each run verifies its result, exits
//! non-zero on a wrong one, and prints exactly one line on stdout:
//!
//! `rs <workload> <size> <wall_s> <figure> <unit> [key=value ...]`
//!
//! Usage: `cargo run --release -p pocket-bench -- WORKLOAD [SIZE] [ARGS...]`

mod durable;
mod map;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use pocket::graph::GraphBuilder;
use pocket::layer::rate_limit::RateLimiter;
use pocket::pattern::{FanIn, Pipeline};
use pocket::{Ctx, FanOut, Graph, Next, NodeError, RunOptions, Store, StoreView, SyncNode, exec_fn, exec_post_fn};
use serde_json::Value;

/// A pass-through node: what a chain stage costs when it does nothing. The nodes here are
/// `SyncNode`s (the natural form of nodes that never wait); the `-async` workloads run the same
/// nodes as async `Node`s (`into_node()`), to show what a step that may wait costs.
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

/// `think` of the agent loop: `act` until the counter reaches the limit, then `done`.
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

/// `act` of the agent loop: adds one.
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
        Graph::builder().node("think", SyncThink(iters as i64).into_node()).node("act", SyncAct.into_node())
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
                    // Set then get each key in turn (BENCHMARKS.md's W6): the get finds the entry
                    // just written, bounded or not.
                    let (mut hits, mut misses) = (0, 0);
                    for (i, key) in keys.iter().enumerate() {
                        store.set_value(key, Value::from(i as u64));
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
    // Unbounded, every get finds the entry just set. Bounded, a worker descheduled between its
    // set and its get can find it evicted by the other workers' writes meanwhile: reported.
    if !bounded && misses != 0 {
        return Err(format!("{misses} gets missed the entry just set"));
    }
    if bounded {
        let len = store.len();
        if len > 10_000 {
            return Err(format!("bounded store holds {len} entries, bound is 10000"));
        }
        line("store-lru", per, wall, rate, "ops/s", &format!("workers={workers} get_misses={misses} get_hits={hits}"));
    } else {
        line("store", per, wall, rate, "ops/s", &format!("workers={workers}"));
    }
    Ok(())
}

fn fanout_cpu(args: &[String], workload: &str, default_n: u64) -> Result<(), String> {
    let n = arg(args, 0, default_n)?;
    let double = exec_fn(|x: u64| async move { Ok(x * 2) });
    let fan = FanOut::new(double);
    let store = Store::new();
    let rt = current_thread();
    let start = Instant::now();
    let out = rt.block_on(fan.run(&store, 0..n)).map_err(|e| pocket::report(&e))?;
    let wall = start.elapsed();
    if out.len() as u64 != n || out.iter().enumerate().any(|(i, v)| *v != 2 * i as u64) {
        return Err("fan-out results are wrong or out of order".into());
    }
    drop(out);
    line(
        workload,
        n,
        wall,
        n as f64 / wall.as_secs_f64(),
        "items/s",
        &format!("limit={}", pocket::pattern::DEFAULT_FAN_OUT_LIMIT),
    );
    Ok(())
}

fn fanout_io(args: &[String], limited: bool) -> Result<(), String> {
    let n = arg(args, 0, 10_000)?;
    let sleep_ms = arg(args, 1, 10)?;
    let limit = arg(args, 2, 100)?.max(1);
    let node = exec_fn(move |x: u64| async move {
        tokio::time::sleep(Duration::from_millis(sleep_ms)).await;
        Ok(x + 1)
    });
    let fan = if limited { FanOut::new(node).limit(limit as usize) } else { FanOut::new(node).unlimited() };
    let store = Store::new();
    let rt = current_thread();
    let start = Instant::now();
    let out = rt.block_on(fan.run(&store, 0..n)).map_err(|e| pocket::report(&e))?;
    let wall = start.elapsed();
    if out.iter().enumerate().any(|(i, v)| *v != i as u64 + 1) || out.len() as u64 != n {
        return Err("fan-out results are wrong or out of order".into());
    }
    let ideal = if limited { n.div_ceil(limit) * sleep_ms } else { sleep_ms } as f64 / 1000.0;
    let rate = n as f64 / wall.as_secs_f64();
    if limited {
        line(
            "fanout-io-limited",
            n,
            wall,
            rate,
            "items/s",
            &format!("limit={limit} ideal_s={ideal:.3} ratio_vs_ideal={:.4}", wall.as_secs_f64() / ideal),
        );
    } else {
        line(
            "fanout-io",
            n,
            wall,
            rate,
            "items/s",
            &format!("ideal_s={ideal:.3} overhead_vs_ideal_s={:.4}", wall.as_secs_f64() - ideal),
        );
    }
    Ok(())
}

fn pipeline(args: &[String], sync: bool) -> Result<(), String> {
    let stages = arg(args, 0, 10)?.max(1);
    let reps = arg(args, 1, 10_000)?.max(1);
    let mut pipeline = Pipeline::new();
    for i in 0..stages {
        pipeline = if sync {
            pipeline.sync_stage(format!("s{i}"), Pass)
        } else {
            pipeline.stage(format!("s{i}"), Pass.into_node())
        };
    }
    let store = Store::new();
    let rt = current_thread();
    let start = Instant::now();
    rt.block_on(async {
        for rep in 0..reps as i64 {
            let out = pipeline.run(&store, rep).await.map_err(|e| pocket::report(&e))?;
            if out != rep {
                return Err(format!("pipeline returned {out}, expected {rep}"));
            }
        }
        Ok::<(), String>(())
    })?;
    let wall = start.elapsed();
    line(
        if sync { "pipeline" } else { "pipeline-async" },
        stages,
        wall,
        wall.as_nanos() as f64 / (stages * reps) as f64,
        "ns/stage",
        &format!("reps={reps}"),
    );
    Ok(())
}

fn fanin(args: &[String]) -> Result<(), String> {
    let sources = arg(args, 0, 100)?.max(1);
    let reps = arg(args, 1, 1000)?.max(1);
    let nodes: Vec<_> = (0..sources).map(|i| exec_fn(move |_: ()| async move { Ok(i) })).collect();
    let sum = exec_fn(|parts: Vec<u64>| async move { Ok(parts.iter().sum::<u64>()) });
    let fan_in = FanIn::new(nodes, sum);
    let store = Store::new();
    let expected = sources * (sources - 1) / 2;
    let rt = current_thread();
    let start = Instant::now();
    rt.block_on(async {
        for _ in 0..reps {
            let out = fan_in.run(&store, ()).await.map_err(|e| pocket::report(&e))?;
            if out != expected {
                return Err(format!("fan-in returned {out}, expected {expected}"));
            }
        }
        Ok::<(), String>(())
    })?;
    let wall = start.elapsed();
    line("fanin", sources, wall, wall.as_secs_f64() * 1e6 / reps as f64, "us/run", &format!("reps={reps}"));
    Ok(())
}

fn fanout_store_write(args: &[String]) -> Result<(), String> {
    let n = arg(args, 0, 10_000)?;
    let node = exec_post_fn(
        |x: u64| async move { Ok(x * 3) },
        |store: Store, x: u64, y: u64| async move {
            store.set_value("result", Value::from(y));
            store.set_value("input", Value::from(x));
            Ok((y, Next::Default))
        },
    );
    let store = Store::new();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().expect("runtime");
    let start = Instant::now();
    // Two fan-outs on two worker threads write the same store at once.
    let outs = rt.block_on(async {
        let node = std::sync::Arc::new(node);
        let halves = [(store.scope("a"), 0..n / 2), (store.scope("b"), n / 2..n)];
        let tasks: Vec<_> = halves
            .into_iter()
            .map(|(scope, range)| {
                let fan = FanOut::new(node.clone()).unlimited();
                tokio::spawn(async move { fan.run(&scope, range).await.map(|v| v.len()) })
            })
            .collect();
        let mut total = 0;
        for t in tasks {
            total += t.await.map_err(|e| e.to_string())?.map_err(|e| pocket::report(&e))?;
        }
        Ok::<usize, String>(total)
    })?;
    let wall = start.elapsed();
    let entries = store.len() as u64;
    if outs as u64 != n || entries != 2 * n {
        return Err(format!("{outs} results and {entries} store entries for {n} items"));
    }
    if store.get_value("b:item-0:result").ok().flatten() != Some(Value::from(3 * (n / 2))) {
        return Err("a scoped write is missing".into());
    }
    line("fanout-store-write", n, wall, n as f64 / wall.as_secs_f64(), "items/s", &format!("entries={entries}"));
    Ok(())
}

fn fanout_rate_limited(args: &[String]) -> Result<(), String> {
    let n = arg(args, 0, 10_000)?;
    let rate = arg(args, 1, 1000)?.max(1);
    let limiter = RateLimiter::new(rate as f64, 1).map_err(|e| e.to_string())?;
    let node = pocket::NodeExt::rate_limit(exec_fn(|x: u64| async move { Ok(x) }), limiter);
    let fan = FanOut::new(node).unlimited();
    let store = Store::new();
    let rt = current_thread();
    let start = Instant::now();
    let out = rt.block_on(fan.run(&store, 0..n)).map_err(|e| pocket::report(&e))?;
    let wall = start.elapsed();
    if out.len() as u64 != n {
        return Err("missing results".into());
    }
    let ideal = (n - 1) as f64 / rate as f64;
    line("fanout-rate-limited", n, wall, wall.as_secs_f64(), "s", &format!("rate={rate} ideal_s={ideal:.3}"));
    Ok(())
}

const WORKLOADS: &str = "chain, chain-async, agent-loop, agent-loop-async, fanout-cpu, fanout-io, fanout-io-limited, \
     pipeline, pipeline-async, fanin, fanout-mem, fanout-store-write, fanout-rate-limited, store, store-lru, map-cpu, map-io, map-file, map-limited, durable-chain, durable-map";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(workload) = args.first() else {
        eprintln!("usage: pocket-bench WORKLOAD [SIZE] [ARGS...]; workloads: {WORKLOADS}");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    let result = match workload.as_str() {
        "chain" => chain(rest, true),
        "chain-async" => chain(rest, false),
        "agent-loop" => agent_loop(rest, true),
        "agent-loop-async" => agent_loop(rest, false),
        "fanout-cpu" => fanout_cpu(rest, "fanout-cpu", 100_000),
        "fanout-mem" => fanout_cpu(rest, "fanout-mem", 1_000_000),
        "fanout-io" => fanout_io(rest, false),
        "fanout-io-limited" => fanout_io(rest, true),
        "fanout-store-write" => fanout_store_write(rest),
        "fanout-rate-limited" => fanout_rate_limited(rest),
        "pipeline" => pipeline(rest, true),
        "pipeline-async" => pipeline(rest, false),
        "fanin" => fanin(rest),
        "store" => store_bench(rest, false),
        "store-lru" => store_bench(rest, true),
        "map-cpu" => map::map_cpu(rest),
        "map-io" => map::map_io(rest),
        "map-file" => map::map_file(rest),
        "map-limited" => map::map_limited(rest),
        "durable-chain" => durable::durable_chain(rest),
        "durable-map" => durable::durable_map(rest),
        other => {
            eprintln!("unknown workload `{other}`; known: {WORKLOADS}");
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

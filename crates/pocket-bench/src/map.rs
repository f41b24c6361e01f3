//! The `map` node type's workloads (issue 13): a workflow file's fan-out, next to the
//! library's own.

use std::time::{Duration, Instant};

use pocket::{FanOut, Graph, Store, exec_fn};
use serde_json::{Value, json};

use crate::{arg, line};

/// A one-node workflow: a `map` with `config` (YAML flow mapping).
fn map_graph(config: &str) -> Result<Graph<Value, Value>, String> {
    map_graph_in(config, ".".as_ref())
}

/// The same, its files relative to `dir`.
fn map_graph_in(config: &str, dir: &std::path::Path) -> Result<Graph<Value, Value>, String> {
    workflow_graph(&format!("name: bench\nstart: m\nnodes:\n  - name: m\n    type: map\n    config: {config}\n"), dir)
}

/// The graph of a whole workflow file's text, its files relative to `dir`.
fn workflow_graph(source: &str, dir: &std::path::Path) -> Result<Graph<Value, Value>, String> {
    let workflow = pocket_yaml::parse_workflow(source, "bench.yaml").map_err(|e| e.to_string())?;
    pocket_nodes::build_graph(&workflow, &pocket_nodes::Registry::builtin(), pocket_nodes::BuildOptions::new(dir))
        .map_err(|e| e.to_string())
}

/// Run `graph` over the numbers `0..n` on a fresh runtime, check that its results are the
/// numbers in order, and give the time the run took.
fn run_numbers(graph: &Graph<Value, Value>, n: u64) -> Result<Duration, String> {
    let items = Value::Array((0..n).map(Value::from).collect());
    let rt = runtime();
    let start = Instant::now();
    let out = rt.block_on(graph.run(&Store::new(), items)).map_err(|e| pocket::report(&e))?;
    let wall = start.elapsed();
    check(&out, n, |i| json!(i))?;
    Ok(wall)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime")
}

/// The results of a map run, checked to be `expected(i)` in order.
fn check(out: &Value, n: u64, expected: impl Fn(u64) -> Value) -> Result<(), String> {
    let results = out["results"].as_array().ok_or("no results")?;
    if results.len() as u64 != n || results.iter().enumerate().any(|(i, v)| *v != expected(i as u64)) {
        return Err("map results are wrong or out of order".into());
    }
    Ok(())
}

/// `map-cpu N`: N items through a `transform` body (`. * 2`, 16 at once); the per-item cost
/// next to the same map with a body that evaluates nothing (the map's own cost) and the
/// library's fan-out of a JSON node doing the same.
pub(crate) fn map_cpu(args: &[String]) -> Result<(), String> {
    let n = arg(args, 0, 100_000)?;
    let graph = map_graph("{body: {type: transform, config: {jq: '. * 2'}}}")?;
    let items = Value::Array((0..n).map(Value::from).collect());
    let rt = runtime();
    let start = Instant::now();
    let out = rt.block_on(graph.run(&Store::new(), items.clone())).map_err(|e| pocket::report(&e))?;
    let wall = start.elapsed();
    check(&out, n, |i| json!(i * 2))?;
    // The same map with a body that needs no evaluation thread: the map's own cost per item.
    let pass = map_graph("{body: {type: transform}}")?;
    let start = Instant::now();
    let out = rt.block_on(pass.run(&Store::new(), items.clone())).map_err(|e| pocket::report(&e))?;
    let pass_wall = start.elapsed();
    check(&out, n, |i| json!(i))?;
    // The library's fan-out of a node over JSON values, same limit, same runtime.
    let double = exec_fn(|x: Value| async move { Ok(json!(x.as_u64().unwrap_or(0) * 2)) });
    let fan = FanOut::new(double).limit(16);
    let Value::Array(items) = items else { unreachable!() };
    let start = Instant::now();
    let library = rt.block_on(fan.run(&Store::new(), items)).map_err(|e| pocket::report(&e))?;
    let library_wall = start.elapsed();
    if library.len() as u64 != n {
        return Err("library fan-out results are missing".into());
    }
    let per_item = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    line(
        "map-cpu",
        n,
        wall,
        n as f64 / wall.as_secs_f64(),
        "items/s",
        &format!(
            "us_per_item={:.2} passthrough_us_per_item={:.2} library_us_per_item={:.3} ratio_vs_library={:.1}",
            per_item(wall),
            per_item(pass_wall),
            per_item(library_wall),
            wall.as_secs_f64() / library_wall.as_secs_f64()
        ),
    );
    Ok(())
}

/// `map-io N SLEEP_MS LIMIT`: N items through a `delay` body at `max_concurrency: LIMIT`
/// (default 10,000 × 10 ms at 1,000: ideally 100 ms).
pub(crate) fn map_io(args: &[String]) -> Result<(), String> {
    let n = arg(args, 0, 10_000)?;
    let sleep_ms = arg(args, 1, 10)?;
    let limit = arg(args, 2, 1000)?.max(1);
    let graph =
        map_graph(&format!("{{max_concurrency: {limit}, body: {{type: delay, config: {{duration: {sleep_ms}ms}}}}}}"))?;
    let wall = run_numbers(&graph, n)?;
    let ideal = (n.div_ceil(limit) * sleep_ms) as f64 / 1000.0;
    line(
        "map-io",
        n,
        wall,
        n as f64 / wall.as_secs_f64(),
        "items/s",
        &format!("limit={limit} ideal_s={ideal:.3} ratio_vs_ideal={:.3}", wall.as_secs_f64() / ideal),
    );
    Ok(())
}

/// `map-file N`: N JSON lines from `items_file` through a `transform` body to `output_file`
/// (16 at once); items/s, and the peak RSS, which must not grow with N.
pub(crate) fn map_file(args: &[String]) -> Result<(), String> {
    use std::io::{BufRead, Write};
    let n = arg(args, 0, 1_000_000)?;
    let dir = std::env::temp_dir().join(format!("pocket-bench-map-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = (|| {
        let mut items =
            std::io::BufWriter::new(std::fs::File::create(dir.join("items.jsonl")).map_err(|e| e.to_string())?);
        for i in 0..n {
            writeln!(items, "{{\"id\": {i}, \"text\": \"ticket number {i}\"}}").map_err(|e| e.to_string())?;
        }
        items.flush().map_err(|e| e.to_string())?;
        drop(items);
        let graph = map_graph_in(
            "{items_file: items.jsonl, output_file: out.jsonl, body: {type: transform, config: {jq: '{id, n: (.text | length)}'}}}",
            &dir,
        )?;
        let rt = runtime();
        let start = Instant::now();
        let out = rt.block_on(graph.run(&Store::new(), Value::Null)).map_err(|e| pocket::report(&e))?;
        let wall = start.elapsed();
        if out["count"] != json!(n) || out["failed"] != json!(0) {
            return Err(format!("map-file: unexpected output {out}"));
        }
        let written = std::io::BufReader::new(std::fs::File::open(dir.join("out.jsonl")).map_err(|e| e.to_string())?);
        let mut count = 0u64;
        for (i, line) in written.lines().enumerate() {
            let line = line.map_err(|e| e.to_string())?;
            let value: Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
            let expected = json!({"id": i, "n": format!("ticket number {i}").len()});
            if value != expected {
                return Err(format!("map-file: line {} is {value}, not {expected}", i + 1));
            }
            count += 1;
        }
        if count != n {
            return Err(format!("map-file: {count} results written, not {n}"));
        }
        line("map-file", n, wall, n as f64 / wall.as_secs_f64(), "items/s", "");
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// `map-limited N RATE`: N items through a `map` under a named limit of RATE requests a
/// second (burst 1, so the first goes at once and the rest one every 1/RATE s): the wall time
/// next to the ideal (N − 1) / RATE.
pub(crate) fn map_limited(args: &[String]) -> Result<(), String> {
    let n = arg(args, 0, 600)?.max(1);
    let rate = arg(args, 1, 20)?.max(1);
    let source = format!(
        "name: bench\nstart: m\nlimits:\n  api: {{ requests_per_second: {rate}, burst: 1 }}\nnodes:\n  - name: m\n    type: map\n    config: {{limit: api, max_concurrency: 64, body: {{type: transform}}}}\n"
    );
    let graph = workflow_graph(&source, ".".as_ref())?;
    let wall = run_numbers(&graph, n)?;
    let ideal = (n - 1) as f64 / rate as f64;
    line(
        "map-limited",
        n,
        wall,
        n as f64 / wall.as_secs_f64(),
        "items/s",
        &format!("rate={rate} ideal_s={ideal:.3} ratio_vs_ideal={:.4}", wall.as_secs_f64() / ideal.max(1e-9)),
    );
    Ok(())
}

//! `pocket run --stats`: per node visits, time, failures, retries; waits per named limit; a
//! table on stderr, or one JSON document with `--output json`.

mod common;

use common::{pocket, text, write};
use serde_json::Value;

/// The last line of stderr, as JSON.
fn stats_of(stderr: &[u8]) -> Value {
    let stderr = text(stderr);
    serde_json::from_str(stderr.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {stderr}"))
}

#[test]
fn stats_count_visits_waits_failures_and_retries() {
    let flow = write(
        "stats-limits.yaml",
        "name: s\nstart: m\nlimits:\n  api: { requests_per_second: 20, burst: 1 }\n  spare: { max_concurrency: 2 }\nnodes:\n  - name: m\n    type: map\n    config: { limit: api, body: { type: transform, config: { jq: '. * 2' } } }\n  - name: done\n    type: echo\nconnections:\n  - { from: m, to: done }\n",
    );
    let out = pocket(&["run", flow.to_str().unwrap(), "--input", "[1, 2, 3, 4, 5]", "-o", "json", "--stats"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // stdout is still exactly one JSON document, the output.
    let _: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stats = stats_of(&out.stderr);
    let nodes = stats["nodes"].as_array().unwrap();
    assert_eq!(nodes[0]["node"], "m");
    assert_eq!((nodes[0]["visits"].as_u64(), nodes[0]["failures"].as_u64()), (Some(1), Some(0)));
    assert_eq!(nodes[1]["node"], "done");
    let limits = stats["limits"].as_array().unwrap();
    let api = limits.iter().find(|l| l["limit"] == "api").unwrap();
    // Four of the five items waited 50, 100, 150 and 200 ms.
    assert!(api["waited_ms"].as_f64().unwrap() >= 400.0, "{stats}");
    let spare = limits.iter().find(|l| l["limit"] == "spare").unwrap();
    assert_eq!(spare["waited_ms"], 0.0);

    let flow = write(
        "stats-retries.yaml",
        // Nothing listens on port 1: a transport error, retried.
        "name: r\nstart: x\nnodes:\n  - name: x\n    type: http\n    config: { url: 'http://127.0.0.1:1/' }\n    retry: { max_attempts: 3, delay: 1ms }\n",
    );
    let out = pocket(&["run", flow.to_str().unwrap(), "--stats"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let table = &stderr[stderr.find("stats:").unwrap_or_else(|| panic!("{stderr}"))..];
    let row = table.lines().find(|l| l.trim_start().starts_with("x ")).unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!((cells[1], cells[3], cells[4]), ("1", "1", "2"), "visits, failures, retries: {table}");
    // Without the flag there is no table.
    let out = pocket(&["run", flow.to_str().unwrap()], &[]);
    assert!(!text(&out.stderr).contains("stats:"));
}

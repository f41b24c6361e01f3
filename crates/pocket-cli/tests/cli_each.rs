//! `pocket run FILE --each LINES`: one run per line, results in input order (or as they
//! finish), failed lines as JSON errors, `--fail-fast`, back-pressure from stdout to stdin.

mod common;

use std::io::{Read, Write};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{command, pocket, pocket_stdin, text, write};
use serde_json::Value;

/// Items with `slow: true` wait 300 ms; every item comes out as `{n: n * 2}`; `n == 3` fails.
const WORKFLOW: &str = "name: each\nstart: route\nnodes:\n  - name: route\n    type: conditional\n    config:\n      conditions: [{ if: '{{.slow}}', then: slow }]\n      else: go\n  - name: wait\n    type: delay\n    config: { duration: 300ms }\n  - name: work\n    type: transform\n    config: { jq: 'if .n == 3 then error(\"three\") else {n: (.n * 2)} end' }\nconnections:\n  - { from: route, to: wait, action: slow }\n  - { from: route, to: work, action: go }\n  - { from: wait, to: work }\n";

fn lines(out: &[u8]) -> Vec<Value> {
    text(out).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn results_come_in_input_order_and_failed_lines_are_named() {
    let flow = write("each-order.yaml", WORKFLOW);
    let input = "{\"n\": 1, \"slow\": true}\n{\"n\": 2}\n\n{\"n\": 3}\nnot json\n{\"n\": 5}\n";
    let out = pocket_stdin(&["run", flow.to_str().unwrap(), "--each", "-", "--concurrency", "4"], input);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let got = lines(&out.stdout);
    assert_eq!(got.len(), 5, "{got:?}");
    assert_eq!((got[0]["n"].clone(), got[1]["n"].clone(), got[4]["n"].clone()), (2.into(), 4.into(), 10.into()));
    assert_eq!(got[2]["line"], 4);
    assert!(got[2]["error"].as_str().unwrap().contains("three"), "{:?}", got[2]);
    assert_eq!(got[3]["line"], 5);
    assert!(got[3]["error"].as_str().unwrap().contains("not JSON"), "{:?}", got[3]);
    assert!(text(&out.stderr).contains("2 of 5 lines failed"), "{}", text(&out.stderr));
    // From a file, every line succeeding: exit 0.
    let items = write("each-order.jsonl", "{\"n\": 1}\n{\"n\": 2, \"slow\": true}\n{\"n\": 4}\n");
    let out = pocket(&["run", flow.to_str().unwrap(), "--each", items.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        lines(&out.stdout),
        [serde_json::json!({"n": 2}), serde_json::json!({"n": 4}), serde_json::json!({"n": 8})]
    );
}

#[test]
fn unordered_prints_as_lines_finish_and_fail_fast_stops() {
    // The slow line waits long enough that the others finish first however loaded the machine.
    let flow = write("each-unordered.yaml", &WORKFLOW.replace("duration: 300ms", "duration: 3s"));
    let input = "{\"n\": 1, \"slow\": true}\n{\"n\": 2}\n{\"n\": 4}\n";
    let out = pocket_stdin(&["run", flow.to_str().unwrap(), "--each", "-", "--unordered"], input);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got: Vec<Value> = lines(&out.stdout).into_iter().map(|v| v["n"].clone()).collect();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2], 2, "the slow line last: {got:?}");
    assert!(got[..2].contains(&4.into()) && got[..2].contains(&8.into()), "{got:?}");
    let input = "{\"n\": 3}\n{\"n\": 1, \"slow\": true}\n{\"n\": 2, \"slow\": true}\n";
    let out = pocket_stdin(&["run", flow.to_str().unwrap(), "--each", "-", "--fail-fast"], input);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&out.stdout).len(), 1, "{}", text(&out.stdout));
}

#[test]
fn each_refuses_an_input_beside_it_and_a_missing_file() {
    let flow = write("each-args.yaml", WORKFLOW);
    let out = pocket(&["run", flow.to_str().unwrap(), "--each", "-", "--input", "{}"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = pocket(&["run", flow.to_str().unwrap(), "--each", "/nonexistent/lines.jsonl"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--each: cannot read"), "{}", text(&out.stderr));
    let out = pocket(&["run", flow.to_str().unwrap(), "--unordered"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_consumer_that_does_not_read_holds_the_reader_back() {
    let flow = write("each-pressure.yaml", "name: p\nstart: t\nnodes:\n  - name: t\n    type: transform\n");
    let mut child = command(&["run", flow.to_str().unwrap(), "--each", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    const LINES: usize = 100_000;
    let writer = std::thread::spawn(move || {
        for i in 0..LINES {
            if writeln!(stdin, "{{\"i\": {i}}}").is_err() {
                return;
            }
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    // Nobody reads stdout: once the pipes and the few lines in flight are full, the writer
    // stops. Wait until its count has not moved for a while.
    let (mut last, mut still) = (usize::MAX, 0);
    for _ in 0..600 {
        std::thread::sleep(Duration::from_millis(50));
        let now = written.load(Ordering::Relaxed);
        still = if now == last { still + 1 } else { 0 };
        last = now;
        if still >= 10 {
            break;
        }
    }
    assert!(still >= 10 && last < 50_000, "the reader was not held back: {last} lines written");
    eprintln!("held back after {last} lines");
    // Reading now lets everything through, in order.
    let mut out = String::new();
    child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    writer.join().unwrap();
    assert!(child.wait().unwrap().success());
    let count = out.lines().count();
    assert_eq!(count, LINES);
    assert!(out.lines().enumerate().all(|(i, l)| l == format!("{{\"i\":{i}}}")), "out of order");
}

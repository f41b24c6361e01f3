//! Go's own `text/template` test table (`execTests` of Go's `exec_test.go`) over JSON data,
//! through Pocket's templates. `tests/fixtures/suites/go_exec_tests.json` holds each case with
//! the output (or the failure) Go's own engine gives over the same JSON data; it is made by
//! `suites/gen/zz_dump_test.go` (see there). A case matches when both succeed with the same
//! output or both fail.

use pocket_nodes::Template;
use serde_json::Value;

/// The share of the cases that must match (98.1% do; docs/templates.md lists what differs).
const TARGET: f64 = 0.98;

#[test]
fn go_text_template_exec_tests_over_json() {
    let suite: Value = serde_json::from_str(include_str!("fixtures/suites/go_exec_tests.json")).unwrap();
    let data = suite["data"].as_array().unwrap();
    let cases = suite["cases"].as_array().unwrap();
    let mut differ = Vec::new();
    for case in cases {
        let input = case["input"].as_str().unwrap();
        let dot = &data[case["data"].as_u64().unwrap() as usize];
        let got = Template::parse(case["name"].as_str().unwrap(), input)
            .and_then(|t| t.render(dot))
            .map_err(|e| e.to_string());
        let matches = match (&got, case["ok"].as_bool().unwrap()) {
            (Ok(out), true) => out == case["output"].as_str().unwrap(),
            (Err(_), false) => true,
            _ => false,
        };
        if !matches {
            let go = if case["ok"].as_bool().unwrap() { case["output"].clone() } else { case["error"].clone() };
            differ.push(format!("{}\t{input}\tpocket: {got:?}\tgo: {go}", case["name"].as_str().unwrap()));
        }
    }
    for line in &differ {
        println!("{line}");
    }
    let rate = (cases.len() - differ.len()) as f64 / cases.len() as f64;
    println!("Go exec tests over JSON: {} of {} match ({:.1}%)", cases.len() - differ.len(), cases.len(), rate * 100.0);
    assert!(cases.len() > 250, "the suite was read wrongly");
    assert!(rate >= TARGET, "{:.1}% of Go's cases match, below {:.0}%", rate * 100.0, TARGET * 100.0);
}

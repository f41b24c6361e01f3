//! Parsing and validating workflow files: the Go original's examples load unchanged, and every
//! problem of a broken file is reported with its line.

use std::time::Duration;

use pocket_yaml::{LoadError, parse_workflow};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn every_go_example_loads_unchanged() {
    let dir = format!("{}/tests/fixtures", env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let source = std::fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let workflow = parse_workflow(&source, &name).unwrap_or_else(|e| panic!("{e}"));
            assert!(!workflow.nodes.is_empty(), "{name}");
            count += 1;
        }
    }
    assert_eq!(count, 14);
}

#[test]
fn hello_is_read_faithfully() {
    let w = parse_workflow(&fixture("hello.yaml"), "hello.yaml").unwrap();
    assert_eq!((w.name.as_str(), w.version.as_deref(), w.start.as_str()), ("hello-world", Some("1.0.0"), "greet"));
    assert_eq!(w.nodes.iter().map(|n| n.kind.as_str()).collect::<Vec<_>>(), ["echo", "transform", "echo"]);
    assert!(w.nodes[1].config.is_empty(), "a missing config is an empty config");
    assert_eq!(w.nodes[0].config["message"], "Hello, World! Welcome to Pocket workflows!");
    assert_eq!(w.connections[1].from, "transform-greeting");
    assert_eq!(w.nodes[2].position.line, 15);
    assert!(w.warnings.is_empty(), "{:?}", w.warnings);
}

#[test]
fn duplicate_connections_keep_the_last_and_warn_naming_both_lines() {
    let source = "\
name: dup
start: a
nodes:
  - name: a
    type: echo
  - name: b
    type: echo
  - name: c
    type: echo
connections:
  - from: a
    to: b
  - from: a
    to: c
    action: default
";
    let w = parse_workflow(source, "dup.yaml").unwrap();
    assert_eq!(w.connections.len(), 1);
    assert_eq!(w.connections[0].to, "c");
    let warning = w.warnings.iter().find(|p| p.message.contains("two connections")).expect("a warning");
    assert_eq!(
        warning.to_string(),
        "13:5: node `a`: two connections for action `default`: line 11 (to `b`) and line 13 (to `c`); the last one wins"
    );
    assert!(w.warnings.iter().any(|p| p.node.as_deref() == Some("b") && p.message.contains("unreachable")));
}

#[test]
fn every_problem_is_reported_at_once_with_lines() {
    let source = "\
name: broken
start: fech
nodes:
  - name: fetch
    type: http
    timeout: 5 seconds
    retry:
      max_attempts: 0
      delay: 1x
      backoff: always
  - name: fetch
    type: echo
  - type: echo
  - name: shout
    config: [1, 2]
connections:
  - from: fetch
    to: shuot
  - to: fetch
";
    let err = parse_workflow(source, "broken.yaml").unwrap_err();
    let LoadError::Invalid { problems, .. } = &err else { panic!("{err}") };
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let expect = [
        "6:14: node `fetch`: `timeout`: invalid duration `5 seconds`: the unit is unknown (write it like `500ms`, `1.5s` or `1m30s`)",
        "8:7: node `fetch`: `retry.backoff`: unknown retry setting (known: max_attempts, delay, multiplier, max_delay)",
        "8:7: node `fetch`: `retry.max_attempts`: must be a whole number of at least 1, not 0",
        "8:7: node `fetch`: `retry.delay`: invalid duration `1x`: the unit is unknown (write it like `500ms`, `1.5s` or `1m30s`)",
        "11:5: node `fetch`: is defined twice (first at line 4)",
        "13:5: `nodes[2].name`: every node needs a name",
        "14:5: node `shout`: `type`: every node needs a `type`",
        "15:13: node `shout`: `config`: must be a mapping, not a list",
        "2:8: `start`: start node `fech` is not defined (did you mean `fetch`?)",
        "17:5: `connections[0].to`: node `shuot` is not defined (did you mean `shout`?)",
        "19:5: `connections[1].from`: is required",
    ];
    for line in expect {
        assert!(shown.contains(&line.to_string()), "missing {line:?} in\n{}", shown.join("\n"));
    }
    assert_eq!(problems.len(), expect.len(), "{}", shown.join("\n"));
    assert!(err.to_string().starts_with("broken.yaml: the workflow is invalid (11 problems):\n  6:14: node `fetch`"));
}

#[test]
fn yaml_syntax_errors_name_line_and_column() {
    let err = parse_workflow("name: x\nnodes:\n  - name: a\n    type: [echo\n", "bad.yaml").unwrap_err();
    let LoadError::Syntax { origin, position, .. } = &err else { panic!("{err}") };
    assert_eq!(origin, "bad.yaml");
    assert!(position.is_some_and(|p| p.line >= 4), "{err}");
    assert!(err.to_string().starts_with("bad.yaml:"), "{err}");
}

#[test]
fn retry_and_timeout_accept_go_durations_and_numbers_in_any_form() {
    let source = "\
name: r
start: a
nodes:
  - name: a
    type: http
    timeout: 1m30s
    retry:
      max_attempts: \"3\"
      delay: 1.5s
      multiplier: 2
      max_delay: 10s
";
    let w = parse_workflow(source, "r.yaml").unwrap();
    let node = &w.nodes[0];
    assert_eq!(node.timeout, Some(Duration::from_secs(90)));
    let retry = node.retry.as_ref().unwrap();
    assert_eq!((retry.max_attempts, retry.delay, retry.multiplier), (3, Duration::from_millis(1500), 2.0));
    assert_eq!(retry.max_delay, Duration::from_secs(10));
}

#[test]
fn unknown_keys_are_warnings_not_silence() {
    let source = "name: k\nstart: a\nstore: bounded\nnodes:\n  - name: a\n    type: echo\n    successors: [b]\n";
    let w = parse_workflow(source, "k.yaml").unwrap();
    let shown: Vec<String> = w.warnings.iter().map(ToString::to_string).collect();
    assert!(shown.contains(&"`store`: unknown top-level key, ignored".to_string()), "{shown:?}");
    assert!(shown.contains(&"node `a`: `successors`: unknown node key, ignored".to_string()), "{shown:?}");
}

#[test]
fn resilience_keys_are_parsed_and_validated() {
    let source = "\
name: llm
start: ask
nodes:
  - name: ask
    type: llm
    circuit_breaker:
      failure_threshold: 3
      open_for: 30s
      half_open_trials: 2
    cache:
      max_entries: 1000
      ttl: 10m
    fallback: canned
  - name: canned
    type: echo
";
    let w = parse_workflow(source, "llm.yaml").unwrap();
    let ask = &w.nodes[0];
    let breaker = ask.circuit_breaker.as_ref().unwrap();
    assert_eq!(
        (breaker.failure_threshold, breaker.open_for, breaker.half_open_trials),
        (3, Duration::from_secs(30), 2)
    );
    let cache = ask.cache.as_ref().unwrap();
    assert_eq!((cache.max_entries, cache.ttl), (1000, Some(Duration::from_secs(600))));
    assert_eq!(ask.fallback.as_deref(), Some("canned"));

    let bad = "\
name: llm
start: ask
nodes:
  - name: ask
    type: llm
    circuit_breaker:
      failure_threshold: 0
      cooldown: 5s
    cache:
      ttl: forever
    fallback: caned
  - name: canned
    type: echo
    fallback: canned
";
    let err = parse_workflow(bad, "bad.yaml").unwrap_err();
    let LoadError::Invalid { problems, .. } = &err else { panic!("{err}") };
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    for line in [
        "7:7: node `ask`: `circuit_breaker.cooldown`: unknown setting (known: failure_threshold, open_for, half_open_trials)",
        "7:7: node `ask`: `circuit_breaker.failure_threshold`: must be a whole number of at least 1, not 0",
        "7:7: node `ask`: `circuit_breaker.open_for`: is required",
        "10:7: node `ask`: `cache.ttl`: invalid duration `forever`: a number is missing (write it like `500ms`, `1.5s` or `1m30s`)",
        "11:15: node `ask`: `fallback`: node `caned` is not defined (did you mean `canned`?)",
        "14:15: node `canned`: `fallback`: a node cannot be its own fallback",
    ] {
        assert!(shown.contains(&line.to_string()), "missing {line:?} in\n{}", shown.join("\n"));
    }
    assert_eq!(problems.len(), 6, "{}", shown.join("\n"));
}

#[test]
fn unknown_keys_are_found_in_the_same_pass_everywhere_they_can_be() {
    let source = "name: k\nstart: a\nstore: x\nnodes:\n  - name: a\n    type: echo\n    description: says hi\n    input_type: string\n    value: 3\nconnections:\n  - { from: a, to: a, extra: 1 }\n";
    let w = parse_workflow(source, "k.yaml").unwrap();
    let shown: Vec<String> = w.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "`store`: unknown top-level key, ignored",
            "node `a`: `value`: unknown node key, ignored",
            "`connections[0].extra`: unknown connection key, ignored",
        ],
        "the original's documented node keys (`description`, `input_type`) are not warned about"
    );
    assert!(w.warnings.iter().all(|p| p.kind == pocket_yaml::ProblemKind::UnknownKey));
}

#[test]
fn a_large_real_workflow_is_read_and_limits_are_worded_for_people() {
    // 20,000 nodes with a config and a retry each: about 320,000 YAML values, past the
    // reader's default budget of 250,000.
    let mut source = String::from("name: big\nstart: n0\nnodes:\n");
    for i in 0..20_000 {
        source.push_str(&format!(
            "  - name: n{i}\n    type: echo\n    retry: {{ max_attempts: 2, delay: 1ms }}\n    config:\n      message: 'step {i}'\n"
        ));
    }
    source.push_str("connections:\n");
    for i in 0..19_999 {
        source.push_str(&format!("  - {{ from: n{i}, to: n{} }}\n", i + 1));
    }
    let workflow = pocket_yaml::parse_workflow(&source, "big.yaml").expect("a 20,000-node file is read");
    assert_eq!(workflow.nodes.len(), 20_000);
    let deep = format!(
        "name: d\nstart: a\nmetadata: {}1{}\nnodes:\n  - name: a\n    type: echo\n",
        "[".repeat(100),
        "]".repeat(100)
    );
    let err = pocket_yaml::parse_workflow(&deep, "deep.yaml").unwrap_err().to_string();
    assert!(err.contains("the file nests too deep (more than 64 levels"), "{err}");
    assert!(!err.contains("Depth {"), "no debug formatting: {err}");
}

#[test]
fn named_limits_are_read_and_every_problem_is_named() {
    let source = "name: l\nstart: a\nlimits:\n  openai: { requests_per_minute: 500, tokens_per_minute: 200000, max_concurrency: 50 }\n  api: { requests_per_second: 10, burst: 5 }\nnodes:\n  - name: a\n    type: echo\n";
    let workflow = pocket_yaml::parse_workflow(source, "l.yaml").unwrap();
    let openai = &workflow.limits["openai"];
    assert!((openai.requests_per_second.unwrap() - 500.0 / 60.0).abs() < 1e-9);
    assert_eq!((openai.tokens_per_minute, openai.max_concurrency, openai.burst), (Some(200_000), Some(50), None));
    assert_eq!(openai.position.line, 4);
    let api = &workflow.limits["api"];
    assert_eq!((api.requests_per_second, api.burst), (Some(10.0), Some(5)));

    let bad = "name: l\nstart: a\nlimits:\n  a: { requests_per_second: 0 }\n  b: { requests_per_second: 1, requests_per_minute: 60 }\n  c: { burst: 3 }\n  d: {}\n  e: { max_concurrency: 2.5, rps: 3 }\n  f: 12\nnodes:\n  - name: a\n    type: echo\n";
    let err = pocket_yaml::parse_workflow(bad, "l.yaml").unwrap_err().to_string();
    for expected in [
        "limits.a.requests_per_second",
        "must be a number above 0",
        "give `requests_per_second` or `requests_per_minute`, not both",
        "limits.c.burst",
        "limits.d",
        "limits nothing",
        "limits.e.max_concurrency",
        "limits.e.rps",
        "9:6: `limits.f`: must be a mapping",
    ] {
        assert!(err.contains(expected), "`{expected}` missing from: {err}");
    }
}

//! `pocket run`: input, output formats, stores, and each kind of bad input with its exit code.

mod common;

use std::time::{Duration, Instant};

use common::{command, pocket, pocket_stdin, repo, text, write};
use serde_json::{Value, json};

const GREET: &str = r#"
name: greet
start: hello
nodes:
  - name: hello
    type: template
    config:
      template: "Hello {{.name}}"
  - name: wrap
    type: transform
    config: { jq: '{greeting: ., length: length}' }
connections:
  - { from: hello, to: wrap }
"#;

fn json_out(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is one JSON document ({e}): {}", text(&out.stdout)))
}

#[test]
fn runs_with_input_and_prints_json_yaml_or_text() {
    let file = write("greet.yaml", GREET);
    let file = file.to_str().unwrap();
    let out = pocket(&["run", file, "--input", r#"{"name": "Ada"}"#, "--output", "json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json_out(&out), json!({"greeting": "Hello Ada", "length": 9}));
    assert!(out.stderr.is_empty(), "nothing on stderr: {}", text(&out.stderr));

    let out = pocket(&["run", file, "--input", r#"{"name": "Ada"}"#, "-o", "yaml"], &[]);
    assert_eq!(text(&out.stdout), "greeting: Hello Ada\nlength: 9\n");
    // Text: a string output is printed as it is.
    let file2 = write(
        "plain.yaml",
        "name: p\nstart: t\nnodes:\n  - name: t\n    type: template\n    config: { template: 'hi {{.}}' }\n",
    );
    let out = pocket(&["run", file2.to_str().unwrap(), "--input", "\"there\""], &[]);
    assert_eq!(text(&out.stdout), "hi there\n");
}

#[test]
fn input_comes_from_a_file_or_stdin() {
    let file = write("greet-in.yaml", GREET);
    let input = write("in.json", r#"{"name": "Bo"}"#);
    let out = pocket(&["run", file.to_str().unwrap(), "--input-file", input.to_str().unwrap(), "-o", "json"], &[]);
    assert_eq!(json_out(&out)["greeting"], "Hello Bo");
    let out = pocket_stdin(&["run", file.to_str().unwrap(), "--input-file", "-", "-o", "json"], r#"{"name": "Cy"}"#);
    assert_eq!(json_out(&out)["greeting"], "Hello Cy");
}

#[test]
fn environment_variables_are_expanded_in_the_file() {
    let file =
        write("env-run.yaml", &GREET.replace("Hello {{.name}}", "${GREETING:-Hi} {{.name}} from ${POCKET_TEST_MODEL}"));
    let out = pocket(
        &["run", file.to_str().unwrap(), "--input", r#"{"name": "A"}"#, "-o", "json"],
        &[("POCKET_TEST_MODEL", "env")],
    );
    assert_eq!(json_out(&out)["greeting"], "Hi A from env");
}

#[test]
fn bad_input_exits_2_and_names_the_place() {
    let good = write("good.yaml", GREET);
    let good = good.to_str().unwrap();
    let cases: Vec<(String, Vec<String>, &str)> = vec![
        (
            "broken YAML".into(),
            vec!["run".into(), write("broken.yaml", "name: b\nstart: [a\nnodes: x\n").display().to_string()],
            "broken.yaml:",
        ),
        (
            "unknown node type".into(),
            vec![
                "run".into(),
                write("unknown.yaml", &GREET.replace("type: transform", "type: transfrom")).display().to_string(),
            ],
            "unknown node type `transfrom` (did you mean `transform`?)",
        ),
        (
            "unknown config field".into(),
            vec![
                "run".into(),
                write("field.yaml", &GREET.replace("config: { jq:", "config: { jqq:")).display().to_string(),
            ],
            "11:20: node `wrap`: `config.jqq`: unknown field `jqq`, expected `jq` or `expression`",
        ),
        (
            "template that does not parse".into(),
            vec![
                "run".into(),
                write("tmpl.yaml", &GREET.replace("Hello {{.name}}", "Hello {{.name")).display().to_string(),
            ],
            "node `hello`: `config.template`: template: hello.template:1:",
        ),
        (
            "missing file".into(),
            vec!["run".into(), "/no/such/workflow.yaml".into()],
            "cannot read /no/such/workflow.yaml",
        ),
        (
            "malformed input".into(),
            vec!["run".into(), good.into(), "--input".into(), "{name: 1}".into()],
            "--input: not valid JSON: key must be a string at line 1 column 2",
        ),
        (
            "missing input file".into(),
            vec!["run".into(), good.into(), "--input-file".into(), "/no/input.json".into()],
            "--input-file: cannot read /no/input.json",
        ),
        (
            "bad ttl".into(),
            vec!["run".into(), good.into(), "--store".into(), "bounded".into(), "--ttl".into(), "5 minutes".into()],
            "--ttl: invalid duration",
        ),
        (
            "ttl without a bounded store".into(),
            vec!["run".into(), good.into(), "--ttl".into(), "5m".into()],
            "--max-entries and --ttl need --store bounded",
        ),
        (
            "unknown store".into(),
            vec!["run".into(), good.into(), "--store".into(), "redis".into()],
            "invalid value 'redis'",
        ),
    ];
    for (what, args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = pocket(&args, &[]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {err}");
        assert!(err.contains(expected), "{what}: expected `{expected}` in:\n{err}");
        assert!(out.stdout.is_empty(), "{what}: nothing on stdout");
        assert_eq!(err.matches("error:").count(), 1, "{what}: the error is printed once:\n{err}");
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let file = write(
        "many.yaml",
        "name: m\nstart: a\nnodes:\n  - name: a\n    type: echo\n    config: { mesage: x }\n  - name: b\n    type: delay\n    config: { duration: soon }\n  - name: c\n    type: nope\nconnections:\n  - { from: a, to: b }\n  - { from: b, to: c }\n",
    );
    let out = pocket(&["validate", file.to_str().unwrap()], &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("(3 problems)"), "{err}");
    // Each problem points at the value of the key it is about (the config field's own value,
    // the `type:` value), not at the node or the `config:` mapping.
    assert!(err.contains("6:23: node `a`: `config.mesage`"), "{err}");
    assert!(err.contains("9:25: node `b`: `config.duration`: invalid duration `soon`"), "{err}");
    assert!(err.contains("11:11: node `c`: `type`: unknown node type `nope`"), "{err}");
}

#[test]
fn a_failing_run_exits_1_and_names_the_node() {
    let file = write("fail.yaml", &GREET.replace("'{greeting: ., length: length}'", "'error(\"no luck\")'"));
    let out = pocket(&["run", file.to_str().unwrap(), "--input", "{}", "-o", "json"], &[]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: workflow `greet` failed: node `wrap` failed in exec: jq:") && err.contains("no luck"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn dry_run_builds_every_node_and_runs_nothing() {
    let slow =
        write("slow.yaml", "name: s\nstart: d\nnodes:\n  - name: d\n    type: delay\n    config: { duration: 1h }\n");
    let started = Instant::now();
    let out = pocket(&["run", slow.to_str().unwrap(), "--dry-run"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("dry run: nothing ran"));
    assert!(started.elapsed() < Duration::from_secs(60));
    // A config error is found without running (the original's dry run skipped building nodes).
    let bad = write(
        "dry-bad.yaml",
        "name: s\nstart: d\nnodes:\n  - name: d\n    type: delay\n    config: { duration: 1x }\n",
    );
    let out = pocket(&["run", bad.to_str().unwrap(), "--dry-run"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn limits_stop_runaway_runs() {
    let looping = write(
        "loop.yaml",
        "name: l\nstart: a\nnodes:\n  - name: a\n    type: echo\n  - name: b\n    type: echo\nconnections:\n  - { from: a, to: b }\n  - { from: b, to: a }\n",
    );
    let out = pocket(&["run", looping.to_str().unwrap(), "--max-steps", "50"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("step limit of 50"), "{}", text(&out.stderr));
    let slow = write(
        "slow-deadline.yaml",
        "name: s\nstart: d\nnodes:\n  - name: d\n    type: delay\n    config: { duration: 1h }\n",
    );
    let out = pocket(&["run", slow.to_str().unwrap(), "--timeout", "200ms"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("deadline"), "{}", text(&out.stderr));
}

#[test]
fn a_bounded_store_with_metadata_runs() {
    let file = write(
        "meta.yaml",
        "name: m\nmetadata: { team: ops }\nstart: a\nnodes:\n  - name: a\n    type: echo\n    config: { message: ok }\n",
    );
    let out = pocket(
        &["run", file.to_str().unwrap(), "--store-type", "bounded", "--max-entries", "5", "--ttl", "1m", "-o", "json"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json_out(&out)["message"], "ok");
}

#[test]
fn verbose_logs_go_to_stderr_only() {
    let file = write("verbose.yaml", GREET);
    let out = pocket(&["run", file.to_str().unwrap(), "--input", r#"{"name": "V"}"#, "-v", "-o", "json"], &[]);
    assert_eq!(json_out(&out)["greeting"], "Hello V");
    let err = text(&out.stderr);
    assert!(err.contains("node") && err.contains("hello") && err.contains("wrap"), "{err}");
    // Each line starts with the time of day, to the millisecond (`17:05:04.123`), not RFC 3339.
    for line in err.lines().filter(|l| !l.trim().is_empty()) {
        let stamp = line.split(' ').next().unwrap_or_default().as_bytes();
        let shape = stamp.len() == 12
            && stamp.iter().enumerate().all(|(i, b)| match i {
                2 | 5 => *b == b':',
                8 => *b == b'.',
                _ => b.is_ascii_digit(),
            });
        assert!(shape, "a log line without its time of day: {line}");
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_cancels_the_run_with_exit_130() {
    let file = write(
        "long.yaml",
        "name: long\nstart: d\nnodes:\n  - name: d\n    type: delay\n    config: { duration: 1h }\n",
    );
    let child = command(&["run", file.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10), "the run stops promptly");
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("interrupted: workflow `long`: run cancelled at node `d`"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn the_readme_first_command_prints_what_the_readme_shows() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let shown = readme.split("```text\n").nth(1).and_then(|rest| rest.split("```").next()).expect("an output block");
    let out = pocket(
        &["run", &repo("examples/workflows/score-leads.yaml"), "--input-file", &repo("examples/workflows/leads.json")],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim_end(), shown.trim_end());
}

#[cfg(unix)]
#[test]
fn ctrl_c_also_stops_the_programs_an_exec_node_started() {
    let marker = std::env::temp_dir().join(format!("pocket-ctrl-c-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let file = write(
        "exec-long.yaml",
        &format!(
            "name: x\nstart: e\nnodes:\n  - name: e\n    type: exec\n    config:\n      command: sh\n      args: ['-c', 'sleep 1 && touch {} & wait']\n      allowed_commands: [sh]\n",
            marker.display()
        ),
    );
    let child = command(&["run", file.to_str().unwrap(), "--allow-exec", "sh"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!marker.exists(), "the shell's background job was killed with it");
}

#[test]
fn printed_objects_keep_the_key_order_of_the_input_and_the_workflow() {
    let file = write(
        "order.yaml",
        "name: order\nstart: t\nnodes:\n  - name: t\n    type: transform\n    config: { jq: '. + {zeta: 1, alpha: 2}' }\n",
    );
    for format in ["json", "yaml"] {
        let out = pocket(&["run", file.to_str().unwrap(), "--input", r#"{"m": 1, "b": 2}"#, "-o", format], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let printed = text(&out.stdout);
        let at = |k: &str| {
            let (quoted, plain) = (printed.find(&format!("\"{k}\"")), printed.find(&format!("{k}:")));
            quoted.or(plain).unwrap_or_else(|| panic!("{k} in {printed}"))
        };
        let positions: Vec<usize> = ["m", "b", "zeta", "alpha"].iter().map(|k| at(k)).collect();
        assert!(positions.is_sorted(), "input keys first, as given, then the program's: {printed}");
    }
}

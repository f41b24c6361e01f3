//! Hostile workflow files against the real binary: jq that tries to end the process or
//! exhaust its stack, and CPU-bound steps that try to outlast their timeouts, the run's
//! deadline and Ctrl-C. Every case ends with the documented exit code and a message naming
//! the place; none with a crash.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{command, pocket, text, write};

fn transform(name: &str, jq: &str) -> std::path::PathBuf {
    let jq = jq.replace('\'', "''");
    write(
        &format!("{name}.yaml"),
        &format!("name: {name}\nstart: t\nnodes:\n  - name: t\n    type: transform\n    config:\n      jq: '{jq}'\n"),
    )
}

fn run(file: &std::path::Path, extra: &[&str]) -> (Option<i32>, String, Duration) {
    let mut args = vec!["run", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let started = Instant::now();
    let out = pocket(&args, &[]);
    (out.status.code(), text(&out.stderr), started.elapsed())
}

#[test]
fn jq_halt_and_halt_error_fail_the_node_instead_of_ending_the_process() {
    for (name, jq) in [("halt", "halt"), ("halt-error", "\"bye\" | halt_error(7)"), ("halt-zero", "1, halt")] {
        let (code, err, _) = run(&transform(name, jq), &[]);
        assert_eq!(code, Some(1), "{name}: {err}");
        assert!(err.contains("node `t` failed in exec: jq: the expression called `halt`"), "{name}: {err}");
    }
}

#[test]
fn jq_that_would_exhaust_the_stack_is_refused_or_stopped() {
    // A definition that calls itself without end stops with a jq error before the stack ends.
    for (name, jq) in [("recursive", "def f: [f]; f"), ("recursive-sum", "def f: 1 + f; f")] {
        let (code, err, _) = run(&transform(name, jq), &[]);
        assert_eq!(code, Some(1), "{name}: {err}");
        assert!(err.contains("node `t` failed in exec: jq: \"recursion too deep"), "{name}: {err}");
    }
    let deep = format!("{}1{}", "(".repeat(20_000), ")".repeat(20_000));
    let (code, err, _) = run(&transform("parens", &deep), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("nests deeper than 256 levels"), "{err}");
    // A value built millions of levels deep is refused, and dropped without recursing (jaq's
    // own drop would overflow even the evaluation thread's 256 MiB stack).
    let (code, err, _) = run(&transform("reduce", "reduce range(3000000) as $i (null; [.])"), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("nested deeper than 10000 levels"), "{err}");
    // And a JSONPath expression nested 20,000 deep.
    let path = format!("$[?{}@.a{}]", "(".repeat(20_000), ")".repeat(20_000));
    let file = write(
        "jsonpath-deep.yaml",
        &format!("name: j\nstart: j\nnodes:\n  - name: j\n    type: jsonpath\n    config:\n      path: '{path}'\n"),
    );
    let (code, err, _) = run(&file, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("`config.path`: the JSONPath nests deeper than 256 levels"), "{err}");
}

const SPIN: &str = "last(range(100000000000))";

#[test]
fn a_spinning_jq_step_stops_at_its_node_timeout_and_at_the_run_deadline() {
    let file = write(
        "spin-node.yaml",
        &format!(
            "name: s\nstart: t\nnodes:\n  - name: t\n    type: transform\n    timeout: 300ms\n    config:\n      jq: '{SPIN}'\n"
        ),
    );
    let (code, err, took) = run(&file, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("node `t`") && err.contains("300ms"), "{err}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let (code, err, took) = run(&transform("spin-run", SPIN), &["--timeout", "300ms"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(took < Duration::from_secs(10), "{took:?}: {err}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_a_spinning_jq_step_at_once() {
    let file = transform("spin-int", SPIN);
    let child =
        command(&["run", file.to_str().unwrap()]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_slow_template_stops_at_its_node_timeout_and_its_output_is_capped() {
    let items = format!("[{}]", vec!["1"; 200_000].join(","));
    let input = write("many-items.json", &items);
    let file = write(
        "slow-template.yaml",
        "name: s\nstart: t\nnodes:\n  - name: t\n    type: template\n    timeout: 300ms\n    config:\n      \
         template: '{{range .}}{{$x := printf \"%0999999d\" 1}}{{end}}done'\n",
    );
    let (code, err, took) = run(&file, &["--input-file", input.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("300ms"), "{err}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let file = write(
        "big-template.yaml",
        "name: b\nstart: t\nnodes:\n  - name: t\n    type: template\n    config:\n      \
         template: '{{range .}}{{printf \"%0999999d\" 1}}{{end}}'\n",
    );
    let (code, err, _) = run(&file, &["--input-file", input.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("the output exceeds 16 MiB"), "{err}");
}

#[test]
fn a_spinning_parallel_task_neither_stalls_the_others_nor_outlasts_the_timeout() {
    let file = write(
        "spin-parallel.yaml",
        &format!(
            "name: p\nstart: p\nnodes:\n  - name: p\n    type: parallel\n    config:\n      timeout: 500ms\n      tasks:\n        \
             - name: spin\n          type: transform\n          config: {{ jq: '{SPIN}' }}\n        \
             - name: quick\n          type: echo\n"
        ),
    );
    let (code, err, took) = run(&file, &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("did not finish within 500ms"), "{err}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn control_characters_in_an_error_never_reach_the_terminal_raw() {
    // A program's stderr ends up in the error: it may hold escape codes.
    let file = write(
        "escapes.yaml",
        "name: e\nstart: x\nnodes:\n  - name: x\n    type: exec\n    config:\n      command: sh\n      \
         args: ['-c', 'printf \"\\033]0;pwned\\007\\033[2Jboom\" >&2; exit 1']\n      allowed_commands: [sh]\n",
    );
    let (code, err, _) = run(&file, &["--allow-exec", "sh"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    assert!(err.contains("\\u{1b}[2Jboom"), "{err}");
}

#[test]
fn integers_beyond_64_bits_are_refused_never_rounded() {
    let file = transform("numbers", ".x");
    // The largest 64-bit integers pass exactly.
    let out = pocket(&["run", file.to_str().unwrap(), "-o", "json", "--input", r#"{"x": 18446744073709551615}"#], &[]);
    assert_eq!(text(&out.stdout).trim(), "18446744073709551615");
    let out = pocket(&["run", file.to_str().unwrap(), "--input", r#"{"x": 123456789012345678901234567890}"#], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("--input: line 1, column 7: the integer 123456789012345678901234567890 does not fit in 64 bits"),
        "{}",
        text(&out.stderr)
    );
    let (code, err, _) = run(&transform("jq-big", "12345678901234567890123 + 0"), &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("does not fit in 64 bits"), "{err}");
    let file = write(
        "yaml-big.yaml",
        "name: y\nstart: p\nnodes:\n  - name: p\n    type: parallel\n    config:\n      tasks:\n        - name: t\n          type: echo\n          input: 123456789012345678901234567890\n          config: { message: '123456789012345678901234567890' }\n",
    );
    let (code, err, _) = run(&file, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("10:18: the integer 123456789012345678901234567890 does not fit in 64 bits"), "{err}");
    assert!(!err.contains("11:"), "a quoted one is a string: {err}");
}

#[test]
fn slow_templates_in_echo_conditional_and_router_stop_at_their_node_timeout() {
    let items = format!("[{}]", vec!["1"; 200_000].join(","));
    let input = write("many-items-2.json", &items);
    let slow = r#"{{range .}}{{$x := printf \"%0999999d\" 1}}{{end}}"#;
    for (kind, config) in [
        ("echo", format!("message: \"{slow}\"")),
        ("conditional", format!("conditions: [{{ if: \"{slow}true\", then: yes }}]")),
        ("router", format!("route: \"{slow}\"")),
    ] {
        let file = write(
            &format!("slow-{kind}.yaml"),
            &format!(
                "name: s\nstart: t\nnodes:\n  - name: t\n    type: {kind}\n    timeout: 300ms\n    config:\n      {config}\n"
            ),
        );
        let (code, err, took) = run(&file, &["--input-file", input.to_str().unwrap()]);
        assert_eq!(code, Some(1), "{kind}: {err}");
        assert!(err.contains("300ms"), "{kind}: {err}");
        assert!(took < Duration::from_secs(10), "{kind}: {took:?}");
    }
}

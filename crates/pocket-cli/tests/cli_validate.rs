//! `pocket validate` and `pocket version`, run as a user runs them.

mod common;

use common::{pocket, text, write};

#[test]
fn a_go_example_validates() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../pocket-yaml/tests/fixtures/hello.yaml");
    let out = pocket(&["validate", file], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("workflow `hello-world` is valid (3 nodes, 2 connections, start `greet`)"));
    assert!(out.stderr.is_empty());
}

#[test]
fn an_invalid_workflow_lists_every_problem_and_exits_2() {
    let file = write("broken.yaml", "name: b\nstart: nope\nnodes:\n  - name: a\n    timeout: soon\n");
    let out = pocket(&["validate", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("the workflow is invalid (3 problems)"), "{err}");
    assert!(err.contains("4:5: node `a`: `type`: every node needs a `type`"), "{err}");
    assert!(err.contains("4:5: node `a`: `timeout`: invalid duration `soon`"), "{err}");
    assert!(err.contains("2:8: `start`: start node `nope` is not defined"), "{err}");
    assert_eq!(err.matches("error:").count(), 1, "printed once: {err}");
    assert!(!err.contains("Usage"), "no usage dump: {err}");
}

#[test]
fn warnings_pass_unless_strict() {
    let file = write(
        "warn.yaml",
        "name: w\nstart: a\nnodes:\n  - name: a\n    type: echo\n  - name: lonely\n    type: echo\n",
    );
    let out = pocket(&["validate", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("warning:") && text(&out.stderr).contains("`lonely`: is unreachable"));
    let out = pocket(&["validate", "--strict", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn environment_variables_are_expanded_or_named_when_missing() {
    let file = write("env.yaml", "name: e\nstart: a\nnodes:\n  - name: a\n    type: ${POCKET_TEST_MODEL}\n");
    let out = pocket(&["validate", file.to_str().unwrap()], &[("POCKET_TEST_MODEL", "echo")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = pocket(&["validate", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("line 5: environment variable `POCKET_TEST_MODEL` is not set"));
}

#[test]
fn missing_files_and_bad_usage_exit_2_and_version_prints() {
    let out = pocket(&["validate", "/definitely/not/here.yaml"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("error: cannot read /definitely/not/here.yaml"));
    let out = pocket(&["frobnicate"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let out = pocket(&["version"], &[]);
    assert_eq!((out.status.code(), text(&out.stdout)), (Some(0), format!("pocket {}\n", env!("CARGO_PKG_VERSION"))));
}

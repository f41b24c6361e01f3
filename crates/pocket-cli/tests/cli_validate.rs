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
    assert!(err.contains("5:14: node `a`: `timeout`: invalid duration `soon`"), "{err}");
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
    assert!(
        text(&out.stderr).contains("5:11: environment variable `POCKET_TEST_MODEL` is not set"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_variable_stays_one_value_and_comments_are_not_expanded() {
    // The variable's value is YAML that would add an `exec` node allowing itself `sh`: it
    // stays the text of one message.
    let file = write(
        "inject.yaml",
        "name: i\nstart: a\nnodes:\n  # ${POCKET_TEST_UNSET_IN_COMMENT}\n  - name: a\n    type: echo\n    config:\n      message: ${POCKET_TEST_MODEL}\n",
    );
    let evil = "hi\n  - name: evil\n    type: exec\n    config: { command: sh, allowed_commands: [sh] }";
    let out = pocket(&["run", file.to_str().unwrap(), "-o", "json"], &[("POCKET_TEST_MODEL", evil)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let output: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(output["message"], evil, "one node ran, its message the variable's text");
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

#[test]
fn every_problem_of_a_file_is_reported_in_one_run_also_as_json() {
    // A file-level problem (unknown start), an unknown node type, and two bad fields of one
    // node's config: all in one run.
    let file = write(
        "all.yaml",
        "name: a\nstart: nope\nnodes:\n  - name: t\n    type: tempalte\n  - name: h\n    type: http\n    config: { ulr: x, method: FETCH }\n",
    );
    let out = pocket(&["validate", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("start node `nope` is not defined"), "{err}");
    assert!(err.contains("unknown node type `tempalte` (did you mean `template`?)"), "{err}");
    assert!(err.contains("node `h`: `config"), "{err}");

    let out = pocket(&["validate", "-o", "json", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.is_empty(), "JSON mode writes only stdout: {}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(report["valid"], false);
    let kinds: Vec<&str> = report["problems"].as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert!(
        kinds.contains(&"unknown_node") && kinds.contains(&"unknown_type") && kinds.contains(&"config"),
        "{kinds:?}"
    );
    let typo = report["problems"].as_array().unwrap().iter().find(|p| p["kind"] == "unknown_type").unwrap();
    assert_eq!(
        (typo["line"].as_u64(), typo["node"].as_str(), typo["field"].as_str()),
        (Some(5), Some("t"), Some("type"))
    );

    let ok =
        write("ok.yaml", "name: o\nstart: a\nnodes:\n  - name: a\n    type: echo\n  - name: lonely\n    type: echo\n");
    let out = pocket(&["validate", "-o", "json", ok.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((report["valid"].as_bool(), report["warnings"][0]["kind"].as_str()), (Some(true), Some("unreachable")));
}

#[test]
fn the_workflow_schema_accepts_every_example_and_refuses_a_bad_config() {
    let out = pocket(&["schema"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let validator = jsonschema::validator_for(&schema).expect("a usable JSON Schema");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/workflows");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let source = std::fs::read_to_string(&path).unwrap();
            let value = pocket_yaml::parse_value(&source).unwrap();
            let errors: Vec<String> = validator.iter_errors(&value).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 8, "checked {checked} examples");
    let bad = pocket_yaml::parse_value(
        "name: b\nstart: d\nnodes:\n  - name: d\n    type: delay\n    config: { duration: 5, extra: 1 }\n",
    )
    .unwrap();
    assert!(!validator.is_valid(&bad), "a bad config is refused");
}

#[test]
fn a_config_problem_points_at_the_sub_field_line() {
    // The bad method is on line 9, a parallel task's unknown key on line 15; a missing field
    // points at the mapping it is missing from.
    let file = write(
        "lines.yaml",
        "name: l\nstart: h\nnodes:\n  - name: h\n    type: http\n    config:\n      url: http://127.0.0.1:1/\n      \
         headers: {}\n      method: FETCH\n  - name: p\n    type: parallel\n    config:\n      tasks:\n        \
         - name: a\n          nmae: x\n          type: echo\n",
    );
    let out = pocket(&["validate", "-o", "json", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let lines: Vec<(Option<&str>, Option<u64>)> =
        report["problems"].as_array().unwrap().iter().map(|p| (p["field"].as_str(), p["line"].as_u64())).collect();
    assert!(lines.contains(&(Some("config.method"), Some(9))), "{lines:?}");
    assert!(
        lines.iter().any(|(f, l)| f.is_some_and(|f| f.starts_with("config.tasks[0]")) && *l == Some(15)),
        "{lines:?}"
    );
}

#[test]
fn help_completions_and_the_manual_are_generated_from_the_commands() {
    let out = pocket(&["help", "run"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("Usage: pocket run"), "{}", text(&out.stdout));
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = pocket(&["completions", shell], &[]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(text(&out.stdout).contains("validate"), "{shell}: the subcommands are in the script");
    }
    let out = pocket(&["man"], &[]);
    assert!(text(&out.stdout).starts_with(".ie") && text(&out.stdout).contains("pocket"), "roff");
    // `--version` names the commit and the build date.
    let out = pocket(&["--version"], &[]);
    let version = text(&out.stdout);
    assert!(version.starts_with(&format!("pocket {} (", env!("CARGO_PKG_VERSION"))), "{version}");
    assert!(version.contains(", built 20"), "{version}");
    // `--no-color` is accepted everywhere, as the original's scripts pass it.
    let out = pocket(&["--no-color", "version"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

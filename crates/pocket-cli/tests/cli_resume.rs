//! Recorded runs over the real binary: `pocket run` records, a killed run shows as
//! interrupted and `pocket resume` finishes it without running finished nodes again; the
//! refusals (changed workflow, wider permissions, a succeeded or running run, a damaged
//! database) each with exit code 3.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{command, text, write};
use serde_json::Value;

/// A state database of the test's own.
fn state(name: &str) -> PathBuf {
    let dir = write(&format!("{name}.marker"), "").with_extension("state");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("state.db")
}

fn pocket(state: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--state", state.to_str().unwrap()];
    all.extend_from_slice(args);
    command(&all).output().expect("the binary runs")
}

fn runs(state: &Path) -> Vec<Value> {
    let out = pocket(state, &["runs", "list", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
}

fn show(state: &Path, id: &str) -> Value {
    let out = pocket(state, &["runs", "show", id, "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A workflow: `count` appends a line to `log` (an `exec` node), `wait` sleeps, `last` adds.
fn counting(name: &str, log: &Path, wait: &str) -> PathBuf {
    write(
        &format!("{name}.yaml"),
        &format!(
            "name: {name}\nstart: count\nnodes:\n  - name: count\n    type: exec\n    config:\n      command: sh\n      \
             args: ['-c', 'echo ran >> {}']\n  - name: wait\n    type: delay\n    config: {{ duration: {wait} }}\n  \
             - name: last\n    type: transform\n    config: {{ jq: '{{done: true}}' }}\nconnections:\n  \
             - {{ from: count, to: wait }}\n  - {{ from: wait, to: last }}\n",
            log.display()
        ),
    )
}

fn lines(log: &Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |t| t.lines().count())
}

/// Start `pocket run FILE` (allowed `sh`) in the background and wait until `ready` says so
/// (at most 20 s; then the child is stopped and the test fails, naming `what`).
// The child is handed to the caller, who waits for it (clippy sees a path without a wait).
#[allow(clippy::zombie_processes)]
fn start_until(state: &Path, file: &Path, what: &str, ready: impl Fn() -> bool) -> Child {
    let mut child = command(&["--state", state.to_str().unwrap(), "--allow-exec", "sh", "run", file.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} never happened");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// Start a run in the background and wait until its first boundary is recorded.
fn start_and_wait_for_first_step(state: &Path, file: &Path) -> (Child, String) {
    let first_step = || {
        runs(state)
            .first()
            .and_then(|r| r["id"].as_str().map(str::to_string))
            .filter(|id| !show(state, id)["steps"].as_array().unwrap().is_empty())
    };
    let child = start_until(state, file, "the run's first step", || first_step().is_some());
    (child, first_step().expect("seen above"))
}

#[test]
fn a_run_is_recorded_with_its_steps_and_output() {
    let state = state("recorded");
    let out = pocket(&state, &["run", &common::repo("examples/workflows/hello.yaml"), "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed = runs(&state);
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0]["status"].as_str(), listed[0]["workflow"].as_str()), (Some("succeeded"), Some("hello")));
    let shown = show(&state, listed[0]["id"].as_str().unwrap());
    let nodes: Vec<&str> = shown["steps"].as_array().unwrap().iter().map(|s| s["node"].as_str().unwrap()).collect();
    assert_eq!(nodes, ["greet", "shout"]);
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["output"], printed, "the recorded output is the printed one");
    // A unique prefix of the id names the run too.
    let id = listed[0]["id"].as_str().unwrap();
    assert_eq!(show(&state, &id[..12])["id"].as_str(), Some(id));
}

#[test]
fn an_ephemeral_run_writes_nothing() {
    let state = state("ephemeral");
    for flags in [&["--ephemeral"][..], &["--durability", "off"][..]] {
        let mut args = vec!["run", "examples/workflows/hello.yaml"];
        args.extend_from_slice(flags);
        let args: Vec<String> = args.iter().map(|a| a.replace("examples/", &common::repo("examples/"))).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = pocket(&state, &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    assert!(!state.exists(), "no state database was created");
}

#[test]
fn a_killed_run_is_interrupted_and_resumes_without_running_finished_nodes_again() {
    let state = state("killed");
    let log = write("killed.log", "");
    std::fs::remove_file(&log).unwrap();
    let file = counting("killed", &log, "30s");
    let (mut child, id) = start_and_wait_for_first_step(&state, &file);
    // While it runs, it cannot be resumed.
    let out = pocket(&state, &["--allow-exec", "sh", "resume", &id]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("running now"), "{}", text(&out.stderr));

    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(runs(&state)[0]["status"].as_str(), Some("interrupted"), "a dead owner's run is interrupted");
    assert_eq!(lines(&log), 1);

    // The workflow is edited to wait less; a resume refuses the change...
    let short = counting("killed", &log, "10ms");
    let out = pocket(&state, &["resume", &id]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("node `wait` changed"), "{}", text(&out.stderr));
    // ...unless allowed: `count` did not change, so it does not run again.
    let out = pocket(&state, &["resume", &id, "--allow-changed", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), serde_json::json!({"done": true}));
    assert_eq!(lines(&log), 1, "the finished `count` node did not run again");
    assert_eq!(short, file);
    let shown = show(&state, &id);
    assert_eq!(shown["status"].as_str(), Some("succeeded"));
    let nodes: Vec<&str> = shown["steps"].as_array().unwrap().iter().map(|s| s["node"].as_str().unwrap()).collect();
    assert_eq!(nodes, ["count", "wait", "last"]);

    // A succeeded run has nothing to resume.
    let out = pocket(&state, &["resume", &id]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("succeeded already"), "{}", text(&out.stderr));
}

/// A recorded run of [`counting`] that failed at `last` (a jq error), after `count` and `wait`
/// ran: its state database, log, workflow file and id.
fn failed_at_last(name: &str) -> (PathBuf, PathBuf, PathBuf, String) {
    let state = state(name);
    let log = write(&format!("{name}.log"), "");
    let file = counting(name, &log, "10ms");
    let broken = std::fs::read_to_string(&file).unwrap().replace("'{done: true}'", "'error(\"broken\")'");
    std::fs::write(&file, broken).unwrap();
    let out = pocket(&state, &["--allow-exec", "sh", "run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("pocket resume"), "the error says how to resume: {}", text(&out.stderr));
    assert_eq!(runs(&state)[0]["status"].as_str(), Some("failed"));
    let id = runs(&state)[0]["id"].as_str().unwrap().to_string();
    (state, log, file, id)
}

#[test]
fn a_changed_node_that_already_ran_runs_again_from_there() {
    let (state, log, file, id) = failed_at_last("changed");
    // `count` itself changes: it runs again (and everything after it).
    let edited = std::fs::read_to_string(&file)
        .unwrap()
        .replace("'error(\"broken\")'", "'{done: true}'")
        .replace("echo ran", "echo ran again");
    std::fs::write(&file, edited).unwrap();
    let out = pocket(&state, &["resume", &id, "--allow-changed", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "ran\nran again\n");
    let shown = show(&state, &id);
    let nodes: Vec<&str> = shown["steps"].as_array().unwrap().iter().map(|s| s["node"].as_str().unwrap()).collect();
    assert_eq!(nodes, ["count", "wait", "last"], "the voided steps are not in the timeline");
}

#[test]
fn a_resume_never_gets_wider_permissions_than_the_run_had() {
    let (state, _, _, id) = failed_at_last("permissions");
    let out = pocket(&state, &["--allow-exec", "sh,rm", "resume", &id]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("cannot widen its permissions"), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("rm"), "{}", text(&out.stderr));
}

#[test]
fn unknown_runs_and_a_damaged_database_are_clear_errors() {
    let state = state("damaged");
    let out = pocket(&state, &["resume", "01NOSUCHRUN"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("no run `01NOSUCHRUN`"), "{}", text(&out.stderr));
    std::fs::write(&state, "not a database at all; ".repeat(100)).unwrap();
    let out = pocket(&state, &["run", &common::repo("examples/workflows/hello.yaml")]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("state.db") && stderr.contains("damaged"), "{stderr}");
    assert!(stderr.contains("--ephemeral"), "the error says how to run anyway: {stderr}");
    let out = pocket(&state, &["run", &common::repo("examples/workflows/hello.yaml"), "--ephemeral"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = pocket(&state, &["runs", "list"]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn runs_can_be_removed_and_collected() {
    let state = state("gc");
    for _ in 0..3 {
        let out = pocket(&state, &["run", &common::repo("examples/workflows/hello.yaml")]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let ids: Vec<String> = runs(&state).iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    let out = pocket(&state, &["runs", "rm", &ids[2]]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(runs(&state).len(), 2);
    let out = pocket(&state, &["runs", "gc", "--keep", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let left: Vec<String> = runs(&state).iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(left, [ids[0].clone()], "the newest run is kept");
    let out = pocket(&state, &["runs", "list", "--status", "failed", "-o", "json"]);
    assert_eq!(text(&out.stdout).trim(), "[]");
    let out = pocket(&state, &["runs", "list", "--status", "bogus"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn ctrl_c_leaves_a_cancelled_run_that_resume_last_finishes() {
    let state = state("cancelled");
    let log = write("cancelled.log", "");
    let file = counting("cancelled", &log, "30s");
    let (mut child, id) = start_and_wait_for_first_step(&state, &file);
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_eq!(show(&state, &id)["status"].as_str(), Some("cancelled"));
    // Edit nothing; resume the newest unfinished run of the file (30 s left to wait: shorten
    // it with a deadline and check the deadline is what stops it).
    let out = pocket(&state, &["run", file.to_str().unwrap(), "--resume-last", "--timeout", "100ms"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("resuming run {id}")), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("deadline"), "{}", text(&out.stderr));
    assert_eq!(lines(&log), 1, "`count` did not run again");
    assert_eq!(show(&state, &id)["status"].as_str(), Some("failed"));
}

#[test]
fn a_map_resumed_midway_runs_only_the_items_that_had_not_finished() {
    let state = state("map");
    let log = write("map-items.log", "");
    let hold = write("map-hold", "");
    let file = write(
        "map-resume.yaml",
        &format!(
            "name: items\nstart: each\nnodes:\n  - name: each\n    type: map\n    config:\n      items: '[range(10)]'\n      \
             max_concurrency: 1\n      body:\n        type: exec\n        config:\n          command: sh\n          \
             args: ['-c', 'echo {{{{.}}}} | tee -a {log}; [ {{{{.}}}} -lt 5 ] || while [ -e {hold} ]; do sleep 0.05; done']\n  \
             - name: sum\n    type: transform\n    config: {{ jq: '[.results[].stdout | rtrimstr(\"\\n\") | tonumber] | add' }}\nconnections:\n  \
             - {{ from: each, to: sum }}\n",
            log = log.display(),
            hold = hold.display()
        ),
    );
    let mut child = start_until(&state, &file, "item 5's start", || {
        std::fs::read_to_string(&log).unwrap().lines().any(|l| l == "5")
    });
    // Item 4's result is committed within a millisecond of its end (item results wait for
    // their group); give it that.
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_file(&hold).unwrap();
    let id = runs(&state)[0]["id"].as_str().unwrap().to_string();
    let out = pocket(&state, &["resume", &id, "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "45", "every item's result is in the output");
    let ran: Vec<String> = std::fs::read_to_string(&log).unwrap().lines().map(str::to_string).collect();
    assert_eq!(ran, ["0", "1", "2", "3", "4", "5", "5", "6", "7", "8", "9"], "finished items ran once");
}

#[test]
fn a_fork_runs_again_from_a_node_with_the_store_and_input_as_they_were() {
    let state = state("fork");
    let log = write("fork.log", "");
    let file = counting("fork", &log, "10ms");
    let out = pocket(&state, &["--allow-exec", "sh", "run", file.to_str().unwrap(), "--input", "{\"n\": 7}"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let original = runs(&state)[0]["id"].as_str().unwrap().to_string();
    assert_eq!(lines(&log), 1);

    let out = pocket(&state, &["runs", "fork", &original, "--from", "wait", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("from run {original} at node `wait`")), "{}", text(&out.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), serde_json::json!({"done": true}));
    assert_eq!(lines(&log), 1, "`count`, before the fork point, did not run again");
    let listed = runs(&state);
    assert_eq!(listed.len(), 2);
    let forked = listed[0]["id"].as_str().unwrap();
    assert_ne!(forked, original);
    let shown = show(&state, forked);
    assert_eq!(shown["input"], serde_json::json!({"n": 7}));
    let nodes: Vec<&str> = shown["steps"].as_array().unwrap().iter().map(|s| s["node"].as_str().unwrap()).collect();
    assert_eq!(nodes, ["count", "wait", "last"]);

    // From the start node: everything runs again.
    let out = pocket(&state, &["runs", "fork", &original, "--from", "count"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(lines(&log), 2);
    let out = pocket(&state, &["runs", "fork", &original, "--from", "nowhere"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("never reached it"), "{}", text(&out.stderr));
}

fn asking(name: &str, timeout: &str) -> PathBuf {
    write(
        &format!("{name}.yaml"),
        &format!(
            "name: {name}\nstart: ask\nnodes:\n  - name: ask\n    type: input\n    config:\n      \
             prompt: 'Refund {{{{.amount}}}}?'\n      schema: {{type: object, required: [approve], \
             properties: {{approve: {{type: boolean}}}}}}\n      timeout: {timeout}\n      on_timeout: reject\n  \
             - name: decided\n    type: transform\n    config: {{ jq: '{{approved: .approve}}' }}\n  \
             - name: rejected\n    type: transform\n    config: {{ jq: '{{approved: false, why: \"no answer\"}}' }}\n\
             connections:\n  - {{ from: ask, to: decided }}\n  - {{ from: ask, action: reject, to: rejected }}\n"
        ),
    )
}

#[test]
fn an_input_node_waits_for_an_answer_that_matches_its_schema() {
    let state = state("input");
    let file = asking("input", "1h");
    let out = pocket(&state, &["run", file.to_str().unwrap(), "--input", "{\"amount\": 42}"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("node `ask` asks: Refund 42?"), "{stderr}");
    let id = runs(&state)[0]["id"].as_str().unwrap().to_string();
    assert!(stderr.contains(&format!("pocket resume {id} --input")), "{stderr}");
    assert_eq!(runs(&state)[0]["status"].as_str(), Some("waiting"));

    let out = pocket(&state, &["resume", &id]);
    assert_eq!(out.status.code(), Some(4), "without an answer it still waits: {}", text(&out.stderr));
    let out = pocket(&state, &["resume", &id, "--input", "{\"approve\": \"yes\"}"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("does not match"), "{}", text(&out.stderr));
    assert_eq!(runs(&state)[0]["status"].as_str(), Some("waiting"), "a refused answer changes nothing");

    let out = pocket(&state, &["resume", &id, "--input", "{\"approve\": true}", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&out.stdout).unwrap(), serde_json::json!({"approved": true}));
    assert_eq!(runs(&state)[0]["status"].as_str(), Some("succeeded"));
}

#[test]
fn an_unanswered_question_past_its_timeout_goes_on_along_on_timeout() {
    let state = state("input-timeout");
    let file = asking("input-timeout", "1ms");
    let out = pocket(&state, &["run", file.to_str().unwrap(), "--input", "{\"amount\": 1}"]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let id = runs(&state)[0]["id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(20));
    let out = pocket(&state, &["resume", &id, "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        serde_json::json!({"approved": false, "why": "no answer"})
    );
}

#[test]
fn many_processes_record_their_runs_in_one_database_at_once() {
    let state = state("concurrent");
    let file = common::repo("examples/workflows/hello.yaml");
    let children: Vec<Child> = (0..12)
        .map(|_| {
            command(&["--state", state.to_str().unwrap(), "run", &file])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let listed = runs(&state);
    assert_eq!(listed.len(), 12);
    assert!(listed.iter().all(|r| r["status"] == "succeeded"), "{listed:?}");
}

#[test]
fn a_changed_file_that_a_node_names_is_a_change_of_that_node() {
    let state = state("files");
    let dir = write("files.marker", "").with_extension("dir");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("greeting.tmpl"), "Hello {{.name}}").unwrap();
    let file = dir.join("files.yaml");
    std::fs::write(
        &file,
        "name: files\nstart: render\nnodes:\n  - name: render\n    type: template\n    config: { file: greeting.tmpl }\n  \
         - name: fail\n    type: transform\n    config: { jq: 'error(\"stop\")' }\nconnections:\n  - { from: render, to: fail }\n",
    )
    .unwrap();
    let out = pocket(&state, &["run", file.to_str().unwrap(), "--input", "{\"name\": \"ada\"}"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let id = runs(&state)[0]["id"].as_str().unwrap().to_string();
    std::fs::write(dir.join("greeting.tmpl"), "Goodbye {{.name}}").unwrap();
    let out = pocket(&state, &["resume", &id]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("node `render` changed"), "{}", text(&out.stderr));
}

#[test]
fn an_each_run_is_recorded_and_its_resume_runs_only_the_lines_that_did_not_succeed() {
    let state = state("each");
    let log = write("each-items.log", "");
    let hold = write("each-hold", "");
    let lines: String = (0..20).map(|n| format!("{{\"n\": {n}}}\n")).collect();
    let input = write("each-lines.jsonl", &lines);
    let file = write(
        "each-resume.yaml",
        &format!(
            "name: lines\nstart: work\nnodes:\n  - name: work\n    type: exec\n    config:\n      command: sh\n      \
             args: ['-c', 'echo {{{{.n}}}} >> {log}; [ {{{{.n}}}} -lt 10 ] || [ ! -e {hold} ] || exit 1; echo {{{{.n}}}}']\n  \
             - name: read\n    type: transform\n    config: {{ jq: '.stdout' }}\nconnections:\n  - {{ from: work, to: read }}\n",
            log = log.display(),
            hold = hold.display()
        ),
    );
    let out = pocket(&state, &["--allow-exec", "sh", "run", file.to_str().unwrap(), "--each", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("10 of 20 lines failed"), "{}", text(&out.stderr));
    let listed = runs(&state);
    assert_eq!(listed.len(), 1, "one run for the whole --each");
    assert_eq!(listed[0]["status"].as_str(), Some("failed"));
    let id = listed[0]["id"].as_str().unwrap().to_string();

    std::fs::remove_file(&hold).unwrap();
    let out = pocket(&state, &["resume", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("10 lines done before"), "{}", text(&out.stderr));
    let printed: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    let expected: Vec<String> = (0..20).map(|n| format!("\"{n}\\n\"")).collect();
    assert_eq!(printed, expected, "every line's result, in order");
    let mut counts = std::collections::HashMap::new();
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        *counts.entry(line.parse::<u32>().unwrap()).or_insert(0) += 1;
    }
    for n in 0..20 {
        assert_eq!(counts[&n], if n < 10 { 1 } else { 2 }, "line {n}");
    }
    assert_eq!(runs(&state)[0]["status"].as_str(), Some("succeeded"));
}

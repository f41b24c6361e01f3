//! However a run ends — success, failure, `--timeout`, SIGINT once or twice, SIGTERM, SIGHUP —
//! nothing it started is left running, and the exit code says how it ended. And a closed
//! stderr is not a crash.

#![cfg(unix)]

mod common;

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{command, text, write};

/// Whether process `pid` still runs (a zombie waiting for its reaper does not).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()) != Some("Z"),
    }
}

/// A workflow whose `exec` node starts a background `sleep 300`, writes its pid to a file, then
/// runs `rest` (a shell snippet).
fn workflow(name: &str, rest: &str) -> (PathBuf, PathBuf) {
    let pid_file = std::env::temp_dir().join(format!("pocket-signals-{}-{name}.pid", std::process::id()));
    let _ = std::fs::remove_file(&pid_file);
    let file = write(
        &format!("{name}.yaml"),
        &format!(
            "name: {name}\nstart: e\nnodes:\n  - name: e\n    type: exec\n    config:\n      command: sh\n      \
             args: ['-c', 'sleep 300 & echo $! > {}.tmp && mv {0}.tmp {0}; {rest}']\n      allowed_commands: [sh]\n",
            pid_file.display()
        ),
    );
    (file, pid_file)
}

fn start(file: &std::path::Path, extra: &[&str]) -> Child {
    let mut args = vec!["run", file.to_str().unwrap(), "--allow-exec", "sh"];
    args.extend_from_slice(extra);
    command(&args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("pocket starts")
}

/// The background job's pid, once the node has written it.
fn background_pid(pid_file: &std::path::Path) -> u32 {
    let started = Instant::now();
    loop {
        if let Ok(pid) = std::fs::read_to_string(pid_file) {
            return pid.trim().parse().unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the node never started its job");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status();
    assert!(status.unwrap().success());
}

/// Wait for pocket; then no process of the run may be left.
fn finish(child: Child, pid: u32) -> (Option<i32>, String) {
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20), "pocket stops promptly");
    // The kill is sent before pocket exits; give the kernel a moment to deliver it.
    let gone = Instant::now();
    while alive(pid) && gone.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(pid), "the background job {pid} outlived the run: {}", text(&out.stderr));
    (out.status.code(), text(&out.stderr))
}

#[test]
fn a_successful_run_leaves_nothing_running() {
    let (file, pid_file) = workflow("ok", "exit 0");
    let child = start(&file, &[]);
    let (code, err) = finish(child, background_pid(&pid_file));
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_failed_run_leaves_nothing_running() {
    let (file, pid_file) = workflow("fails", "exit 3");
    let child = start(&file, &[]);
    let (code, err) = finish(child, background_pid(&pid_file));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("exited with status 3"), "{err}");
}

#[test]
fn a_run_timeout_leaves_nothing_running() {
    let (file, pid_file) = workflow("deadline", "wait");
    let child = start(&file, &["--timeout", "500ms"]);
    let (code, err) = finish(child, background_pid(&pid_file));
    assert_eq!(code, Some(1), "{err}");
}

fn interrupted_by(signals: &[&str], expected: i32) {
    let name = signals.join("-").to_lowercase();
    let (file, pid_file) = workflow(&name, "wait");
    let child = start(&file, &[]);
    let pid = background_pid(&pid_file);
    for name in signals {
        signal(&child, name);
    }
    let (code, err) = finish(child, pid);
    assert_eq!(code, Some(expected), "{err}");
    assert!(err.contains(&format!("SIG{}: stopping", signals[0])), "{err}");
}

#[test]
fn sigint_leaves_nothing_running_and_exits_130() {
    interrupted_by(&["INT"], 130);
}

#[test]
fn a_second_sigint_stops_at_once_and_leaves_nothing_running() {
    interrupted_by(&["INT", "INT"], 130);
}

#[test]
fn sigterm_leaves_nothing_running_and_exits_143() {
    interrupted_by(&["TERM"], 143);
}

#[test]
fn sighup_leaves_nothing_running_and_exits_129() {
    interrupted_by(&["HUP"], 129);
}

#[test]
fn a_closed_stderr_is_not_a_crash() {
    // An invalid workflow (exit 2) and a failing one (exit 1) both write to stderr.
    let bad = write("closed-stderr-bad.yaml", "name: b\nstart: nope\nnodes: []\n");
    let failing = write(
        "closed-stderr-fails.yaml",
        "name: f\nstart: v\nnodes:\n  - name: v\n    type: validate\n    config: { schema: { type: string } }\n",
    );
    for (file, expected) in [(bad, 2), (failing, 1)] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = command(&["run", file.to_str().unwrap()]).stdout(Stdio::piped()).stderr(writer).output().unwrap();
        assert_eq!(out.status.code(), Some(expected), "{}", file.display());
    }
}

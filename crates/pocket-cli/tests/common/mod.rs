//! Run the real `pocket` binary as a user does.

#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The binary, with the test's environment variable cleared.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pocket"));
    command.args(args).env_remove("POCKET_TEST_MODEL").env_remove("NO_COLOR").env_remove("XDG_STATE_HOME");
    // Runs are recorded in this test process's own state directory, not the user's.
    command.env("POCKET_HOME", std::env::temp_dir().join(format!("pocket-cli-tests-{}/home", std::process::id())));
    command
}

pub fn pocket(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = command(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the binary runs")
}

/// Run with `input` on stdin.
pub fn pocket_stdin(args: &[&str], input: &str) -> Output {
    let mut child = command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// Write a file in this test process's scratch directory.
pub fn write(name: &str, body: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pocket-cli-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A path under the repository root, as a string.
pub fn repo(path: &str) -> String {
    root().join(path).display().to_string()
}

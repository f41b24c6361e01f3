//! `file` (confined to its base directory) and `exec` (allowed programs only): happy paths
//! and every refusal.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{error_text, problems, run};
use pocket::Store;
use pocket_nodes::{BuildOptions, Registry, build_graph};
use serde_json::{Value, json};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pocket-io-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn file_node(base: &Path, config: &str) -> String {
    format!(
        "name: f\nstart: n\nnodes:\n  - name: n\n    type: file\n    config:\n      base_dir: {}\n{config}\n",
        base.display()
    )
}

async fn file_op(base: &Path, config: &str, input: Value) -> Result<Value, String> {
    run(&file_node(base, config), input).await.map_err(|e| error_text(&e))
}

#[tokio::test]
async fn write_append_read_exists_list_delete() {
    let base = scratch("ops");
    let out = file_op(&base, "      operation: write\n      path: 'logs/{{.id}}.txt'\n      content: \"hello {{.who}}\\n\"\n      create_dirs: true", json!({"id": 7, "who": "ada"}))
        .await
        .unwrap();
    assert_eq!(out["size"], 10);
    let written = base.join("logs/7.txt").canonicalize().unwrap();
    assert_eq!(out["path"], written.display().to_string());
    file_op(&base, "      operation: append\n      path: logs/7.txt\n      content: more\n", json!(null))
        .await
        .unwrap();
    let out = file_op(&base, "      operation: read\n      path: logs/7.txt", json!(null)).await.unwrap();
    assert_eq!((out["exists"].clone(), out["content"].clone()), (json!(true), json!("hello ada\nmore")));
    assert!(out["modified"].as_str().unwrap().ends_with('Z'));
    let out = file_op(&base, "      operation: exists\n      path: logs", json!(null)).await.unwrap();
    assert_eq!((out["exists"].clone(), out["isDir"].clone()), (json!(true), json!(true)));
    let out = file_op(&base, "      operation: list\n      path: logs", json!(null)).await.unwrap();
    assert_eq!(out["files"][0]["name"], "7.txt");
    let out = file_op(&base, "      operation: delete\n      path: logs/7.txt", json!(null)).await.unwrap();
    assert_eq!(out["deleted"], true);
    let out = file_op(&base, "      path: logs/7.txt", json!(null)).await.unwrap();
    assert_eq!(out["exists"], false, "a missing file reads as `exists: false`");
    // A name that merely starts with `..` is inside the base (the original refused it).
    file_op(&base, "      operation: write\n      path: ..hidden\n      content: x", json!(null)).await.unwrap();
}

#[tokio::test]
async fn paths_that_leave_the_base_are_refused() {
    let base = scratch("escape");
    // At build time for fixed paths...
    let found = problems(&file_node(&base, "      path: ../secret"));
    assert!(found[0].contains("`config.path`: `../secret` contains `..`"), "{found:?}");
    let found = problems(&file_node(&base, "      path: /etc/passwd"));
    assert!(found[0].contains("`/etc/passwd` is absolute"), "{found:?}");
    // ...and at run time for rendered ones.
    let err = file_op(&base, "      path: '{{.p}}'", json!({"p": "a/../../x"})).await.unwrap_err();
    assert!(err.contains("contains `..`"), "{err}");
    // Absolute paths, even when allowed, must stay inside the base.
    let err = file_op(&base, "      path: /etc/hostname\n      allow_absolute: true", json!(null)).await.unwrap_err();
    assert!(err.contains("leads outside the base directory"), "{err}");
    let inside = base.join("in.txt");
    std::fs::write(&inside, "ok").unwrap();
    let config = format!("      path: {}\n      allow_absolute: true", inside.display());
    assert_eq!(file_op(&base, &config, json!(null)).await.unwrap()["content"], "ok");
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_out_of_the_base_are_refused() {
    let base = scratch("links");
    let outside = scratch("links-outside");
    std::fs::write(outside.join("secret.txt"), "s3cret").unwrap();
    std::os::unix::fs::symlink(&outside, base.join("door")).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), base.join("file-link")).unwrap();
    for (config, what) in [
        ("      path: door/secret.txt", "read through a directory link"),
        ("      path: file-link", "read a file link"),
        ("      operation: write\n      path: door/new.txt\n      content: x", "write through a directory link"),
        (
            "      operation: write\n      path: door/deep/new.txt\n      content: x\n      create_dirs: true",
            "create through a link",
        ),
    ] {
        let err = file_op(&base, config, json!(null)).await.unwrap_err();
        assert!(err.contains("outside the base directory"), "{what}: {err}");
    }
    assert!(!outside.join("new.txt").exists() && !outside.join("deep").exists());
    // A relative link that stays inside is fine; an absolute one is refused even when it
    // points inside (it is resolved from the root, which the node cannot reach).
    std::fs::write(base.join("real.txt"), "fine").unwrap();
    std::fs::create_dir_all(base.join("sub")).unwrap();
    std::os::unix::fs::symlink("../real.txt", base.join("sub/alias.txt")).unwrap();
    assert_eq!(file_op(&base, "      path: sub/alias.txt", json!(null)).await.unwrap()["content"], "fine");
    std::os::unix::fs::symlink(base.join("real.txt"), base.join("absolute.txt")).unwrap();
    let err = file_op(&base, "      path: absolute.txt", json!(null)).await.unwrap_err();
    assert!(err.contains("leads outside the base directory"), "{err}");
}

#[cfg(unix)]
#[tokio::test]
async fn a_dangling_symlink_out_of_the_base_is_not_followed_on_write() {
    let base = scratch("dangling");
    let outside = scratch("dangling-outside");
    let target = outside.join("created.txt");
    std::os::unix::fs::symlink(&target, base.join("trap.txt")).unwrap();
    std::os::unix::fs::symlink("../dangling-outside-rel/x.txt", base.join("rel-trap.txt")).unwrap();
    for path in ["trap.txt", "rel-trap.txt"] {
        for operation in ["append", "read"] {
            let config = format!("      operation: {operation}\n      path: {path}\n      content: x");
            let config = if operation == "read" { format!("      path: {path}") } else { config };
            let err = file_op(&base, &config, json!(null)).await.unwrap_err();
            assert!(err.contains("leads outside the base directory"), "{operation} {path}: {err}");
        }
    }
    assert!(!target.exists(), "nothing was created outside the base");
    // `write` replaces the link itself (a new file in the base), never its target.
    file_op(&base, "      operation: write\n      path: trap.txt\n      content: x", json!(null)).await.unwrap();
    assert!(!target.exists());
    assert_eq!(std::fs::read_to_string(base.join("trap.txt")).unwrap(), "x");
}

#[cfg(unix)]
#[test]
fn a_symlink_swapped_in_while_the_node_runs_never_leads_outside() {
    // A racer swaps `slot` between a directory inside the base and a link to the outside
    // while the node writes through it many times: a check-then-open would sooner or later
    // write outside; one-step resolution never does.
    let base = scratch("swap");
    let outside = scratch("swap-outside");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let racer = {
        let (base, outside, stop) = (base.clone(), outside.clone(), stop.clone());
        std::thread::spawn(move || {
            let slot = base.join("slot");
            let real = base.join("real");
            std::fs::create_dir_all(&real).unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::fs::remove_file(&slot);
                let _ = std::os::unix::fs::symlink("real", &slot);
                let _ = std::fs::remove_file(&slot);
                let _ = std::os::unix::fs::symlink(&outside, &slot);
            }
        })
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let graph =
        common::graph(&file_node(&base, "      operation: write\n      path: 'slot/{{.n}}.txt'\n      content: x"))
            .unwrap();
    rt.block_on(async {
        for n in 0..300 {
            let _ = graph.run(&Store::new(), json!({"n": n})).await;
        }
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    racer.join().unwrap();
    let leaked: Vec<_> = std::fs::read_dir(&outside).unwrap().collect();
    assert!(leaked.is_empty(), "files were written outside the base: {leaked:?}");
}

#[tokio::test]
async fn a_failed_write_keeps_the_old_file_and_leaves_no_temporary() {
    let base = scratch("atomic");
    std::fs::write(base.join("keep.txt"), "old content").unwrap();
    // The new content is a template that fails to render... after the old file is there.
    let err =
        file_op(&base, "      operation: write\n      path: keep.txt\n      content: '{{.x.y.z}}'", json!({"x": 1}))
            .await
            .unwrap_err();
    assert!(!err.is_empty());
    assert_eq!(std::fs::read_to_string(base.join("keep.txt")).unwrap(), "old content");
    // A write that cannot finish (its target is a directory) leaves no temporary file behind.
    std::fs::create_dir_all(base.join("a-dir")).unwrap();
    let err =
        file_op(&base, "      operation: write\n      path: a-dir\n      content: new", json!(null)).await.unwrap_err();
    assert!(err.contains("cannot write"), "{err}");
    let names: Vec<String> =
        std::fs::read_dir(&base).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.contains("pocket-tmp")), "{names:?}");
    // A replaced file keeps its permissions.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(base.join("keep.txt"), std::fs::Permissions::from_mode(0o600)).unwrap();
        file_op(&base, "      operation: write\n      path: keep.txt\n      content: new", json!(null)).await.unwrap();
        let mode = std::fs::metadata(base.join("keep.txt")).unwrap().permissions().mode() & 0o777;
        assert_eq!((std::fs::read_to_string(base.join("keep.txt")).unwrap(), mode), ("new".to_string(), 0o600));
    }
}

#[tokio::test]
async fn a_file_larger_than_max_size_is_not_read() {
    let base = scratch("big");
    std::fs::write(base.join("big.txt"), vec![b'a'; 2048]).unwrap();
    let err = file_op(&base, "      path: big.txt\n      max_size: 1KiB", json!(null)).await.unwrap_err();
    assert!(err.contains("big.txt is larger than 1 KiB (`max_size`)"), "{err}");
    let out = file_op(&base, "      path: big.txt\n      max_size: 4096", json!(null)).await.unwrap();
    assert_eq!(out["size"], 2048);
}

#[tokio::test]
async fn file_config_refusals() {
    let base = scratch("refusals");
    let found = problems(&file_node(&base, "      operation: write\n      path: a.txt"));
    assert!(found[0].contains("`config.content`: is required to write"), "{found:?}");
    let found = problems(&file_node(&base, "      operation: shred\n      path: a.txt"));
    assert!(found[0].contains("unknown variant `shred`"), "{found:?}");
    let found = problems(&file_node(&base, "      path: a.txt\n      encoding: latin1"));
    assert!(found[0].contains("only utf-8"), "{found:?}");
    let err = file_op(&base, "      operation: write\n      path: no/dir/a.txt\n      content: x", json!(null))
        .await
        .unwrap_err();
    assert!(err.contains("set `create_dirs: true`"), "{err}");
}

// ---------------------------------------------------------------------------------------------

fn exec_node(config: &str) -> String {
    format!("name: e\nstart: n\nnodes:\n  - name: n\n    type: exec\n    config:\n{config}\n")
}

async fn exec_with(config: &str, allow: &[&str], input: Value) -> Result<Value, String> {
    let workflow = pocket_yaml::parse_workflow(&exec_node(config), "exec.yaml").unwrap();
    let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
    let graph = build_graph(&workflow, &Registry::builtin(), BuildOptions::new(Path::new(".")).allow_exec(&allow))
        .map_err(|e| e.to_string())?;
    graph.run(&Store::new(), input).await.map_err(|e| error_text(&e))
}

#[tokio::test]
async fn exec_runs_an_allowed_program_without_a_shell() {
    let out = exec_with(
        "      command: echo\n      args: ['hi {{.who}}', '$HOME;', '*']\n      allowed_commands: [echo]",
        &["echo", "ls"],
        json!({"who": "ada"}),
    )
    .await
    .unwrap();
    // No shell: `$HOME`, `;` and `*` reach the program as they are.
    assert_eq!(out["stdout"], "hi ada $HOME; *\n");
    assert_eq!((out["exit_code"].clone(), out["command"].clone()), (json!(0), json!("echo")));
    assert_eq!(out["args"], json!(["hi ada", "$HOME;", "*"]));
    assert!(out["duration"].as_str().unwrap().ends_with('s'));
    // Allowed by the run (`--allow-exec`) instead; by name, the same program by path too.
    let out = exec_with("      command: sh\n      args: ['-c', 'echo $GREETING from $(pwd)']\n      env: { GREETING: hello }\n      working_dir: /tmp", &["sh"], json!(null))
        .await
        .unwrap();
    assert_eq!(out["stdout"], "hello from /tmp\n");
    let sh = std::process::Command::new("sh").args(["-c", "command -v sh"]).output().unwrap();
    let sh_path = String::from_utf8(sh.stdout).unwrap().trim().to_string();
    exec_with(&format!("      command: {sh_path}\n      args: ['-c', 'true']"), &["sh"], json!(null)).await.unwrap();
}

#[tokio::test]
async fn exec_refuses_programs_nobody_allowed() {
    let err = exec_with("      command: rm\n      args: ['-rf', '/tmp/nothing']", &[], json!(null)).await.unwrap_err();
    assert!(
        err.contains(
            "`rm` is not allowed to run: run with `--allow-exec rm` (a workflow's own `allowed_commands` can only narrow what the run allows)"
        ),
        "{err}"
    );
    // A workflow cannot allow itself a program the run did not allow...
    let err = exec_with("      command: sh\n      allowed_commands: [sh]", &[], json!(null)).await.unwrap_err();
    assert!(err.contains("`sh` is not allowed to run"), "{err}");
    // ...it can only narrow the run's list.
    let err =
        exec_with("      command: ls\n      allowed_commands: [echo]", &["ls", "echo"], json!(null)).await.unwrap_err();
    assert!(err.contains("`ls` is not in the node's `allowed_commands`"), "{err}");
    // Another program that happens to share an allowed name is not allowed.
    let dir = scratch("fake-echo");
    let fake = dir.join("echo");
    std::fs::write(&fake, "#!/bin/sh\necho fake\n").unwrap();
    let err = exec_with(&format!("      command: {}", fake.display()), &["echo"], json!(null)).await.unwrap_err();
    assert!(err.contains("not allowed"), "{err}");
}

#[tokio::test]
async fn exec_kills_a_program_that_runs_too_long() {
    let started = Instant::now();
    let err = exec_with("      command: sleep\n      args: ['30']\n      timeout: 200ms", &["sleep"], json!(null))
        .await
        .unwrap_err();
    assert!(err.contains("`sleep` timed out after 200ms and was killed"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_failing_program_is_an_error_unless_allowed_to_fail() {
    let config = "      command: sh\n      args: ['-c', 'echo oops >&2; exit 3']";
    let err = exec_with(config, &["sh"], json!(null)).await.unwrap_err();
    assert!(err.contains("`sh` exited with status 3 (set `allow_failure: true` to go on): oops"), "{err}");
    let out = exec_with(&format!("{config}\n      allow_failure: true"), &["sh"], json!(null)).await.unwrap();
    assert_eq!((out["exit_code"].clone(), out["stderr"].clone()), (json!(3), json!("oops\n")));
    let err =
        exec_with("      command: no-such-program-here", &["no-such-program-here"], json!(null)).await.unwrap_err();
    assert!(err.contains("`no-such-program-here` is not found"), "{err}");
}

#[cfg(unix)]
#[tokio::test]
async fn a_timeout_also_kills_what_the_program_started() {
    let dir = scratch("group");
    let marker = dir.join("still-running");
    // The shell starts a grandchild that would write the marker after a second.
    let config = format!(
        "      command: sh\n      args: ['-c', 'sleep 1 && touch {} & wait']\n      timeout: 200ms",
        marker.display()
    );
    let err = exec_with(&config, &["sh"], json!(null)).await.unwrap_err();
    assert!(err.contains("timed out"), "{err}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!marker.exists(), "the grandchild was killed with its group");
}

async fn exec_in(base: &Path, config: &str, allow: &[&str]) -> Result<Value, String> {
    let workflow = pocket_yaml::parse_workflow(&exec_node(config), "exec.yaml").unwrap();
    let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
    let graph = build_graph(&workflow, &Registry::builtin(), BuildOptions::new(base).allow_exec(&allow))
        .map_err(|e| e.to_string())?;
    graph.run(&Store::new(), json!(null)).await.map_err(|e| error_text(&e))
}

#[tokio::test]
async fn dynamic_loader_variables_are_refused_when_the_workflow_is_checked() {
    let err = exec_with(
        "      command: echo\n      env: { LD_PRELOAD: /tmp/evil.so, ld_library_path: /tmp, DYLD_INSERT_LIBRARIES: x, LANG: C }",
        &["echo"],
        json!(null),
    )
    .await
    .unwrap_err();
    for name in ["LD_PRELOAD", "ld_library_path", "DYLD_INSERT_LIBRARIES"] {
        assert!(err.contains(&format!("`config.env.{name}`: `{name}` would make `echo` load code")), "{err}");
    }
    assert!(!err.contains("env.LANG"), "{err}");
}

#[cfg(unix)]
#[tokio::test]
async fn a_relative_command_is_found_in_the_workflow_directory_like_working_dir() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("relative-command");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let tool = dir.join("tool");
    std::fs::write(&tool, "#!/bin/sh\necho \"tool in $(pwd)\"\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The test's own directory has no `tool`: the workflow's directory is where it is found.
    let out = exec_in(&dir, "      command: ./tool\n      working_dir: sub", &["./tool"]).await.unwrap();
    let expected = format!("tool in {}\n", dir.join("sub").canonicalize().unwrap().display());
    assert_eq!(out["stdout"], json!(expected));
    let err = exec_in(&dir, "      command: ./tool\n      working_dir: gone", &["./tool"]).await.unwrap_err();
    assert!(err.contains("the working directory"), "{err}");
    assert!(err.contains("gone does not exist"), "{err}");
}

#[tokio::test]
async fn a_program_that_writes_without_end_is_stopped_at_max_output() {
    let err = exec_with("      command: yes\n      max_output: 1MiB\n      timeout: 20s", &["yes"], json!(null))
        .await
        .unwrap_err();
    assert!(err.contains("`yes` wrote more than 1 MiB to stdout (`max_output`) and was stopped"), "{err}");
    let err = exec_with("      command: yes\n      max_output: lots", &["yes"], json!(null)).await.unwrap_err();
    assert!(err.contains("`config.max_output`: must be a size in bytes"), "{err}");
}

#[cfg(unix)]
#[tokio::test]
async fn what_a_program_leaves_running_stops_when_it_exits() {
    let dir = scratch("background");
    let marker = dir.join("still-running");
    // The shell exits at once, leaving a background job that would write the marker.
    let config = format!("      command: sh\n      args: ['-c', '(sleep 1 && touch {}) &']", marker.display());
    let started = Instant::now();
    exec_with(&config, &["sh"], json!(null)).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(900), "the node did not wait for the background job");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!marker.exists(), "the background job was stopped with the group");
}

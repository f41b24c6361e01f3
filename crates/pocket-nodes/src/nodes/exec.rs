//! The `exec` node type: runs an allowed program (no shell), killed with its process group on timeout or cancellation.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use pocket::NodeError;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Behaviour, StepFuture};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::support::text::Text;
use crate::support::time::go_duration;

/// `exec` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExecConfig {
    /// The program (no shell): a name looked up in `PATH`, or a path.
    command: String,
    /// Its arguments (each a template when it contains `{{`).
    #[serde(default)]
    args: Vec<String>,
    /// How long it may run before it is killed (a Go duration, default 30s).
    #[serde(default, deserialize_with = "crate::support::de::opt_duration")]
    #[schemars(with = "Option<String>")]
    timeout: Option<Duration>,
    /// Programs this node may run. The program must be allowed here or by the run
    /// (`pocket run --allow-exec`).
    #[serde(default)]
    allowed_commands: Vec<String>,
    /// Environment variables added to (or replacing those of) the inherited environment.
    #[serde(default)]
    env: BTreeMap<String, String>,
    /// The working directory (relative to the workflow file's directory).
    #[serde(default)]
    working_dir: Option<String>,
    /// The same as `working_dir`, in the original's documentation's spelling.
    #[serde(default)]
    dir: Option<String>,
    /// Capture stdout and stderr into the output (default true).
    #[serde(default = "yes")]
    capture_output: bool,
    /// A non-zero exit status is part of the output instead of an error.
    #[serde(default)]
    allow_failure: bool,
}

fn yes() -> bool {
    true
}

pub(crate) struct Exec {
    command: String,
    program: PathBuf,
    args: Vec<Text>,
    timeout: Duration,
    env: BTreeMap<String, String>,
    working_dir: PathBuf,
    capture: bool,
    allow_failure: bool,
}

/// Where `name` is found in `PATH` (a name with a `/` is a path already).
fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Path::new(name).canonicalize().ok();
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|p| p.is_file()).and_then(|p| p.canonicalize().ok())
}

/// Whether `command` is one of `allowed`: the same word, or the same program once both are
/// looked up (so allowing `ls` allows `/bin/ls`, but not another program named `ls`).
fn is_allowed(command: &str, allowed: &[String]) -> bool {
    let resolved = which(command);
    allowed.iter().any(|entry| entry == command || (resolved.is_some() && which(entry) == resolved))
}

impl NodeKind for Exec {
    const TYPE: &'static str = "exec";
    const CATEGORY: Category = Category::Io;
    const DESCRIPTION: &'static str = "Runs an allowed program with arguments (no shell); outputs {command, args, stdout, stderr, exit_code, duration}.";
    type Config = ExecConfig;

    fn example() -> Value {
        json!({"command": "echo", "args": ["hello {{.name}}"], "allowed_commands": ["echo"], "timeout": "5s"})
    }

    fn build(config: ExecConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let spec = cx.spec();
        if config.command.trim().is_empty() {
            return Err(ConfigError::field("command", "must name a program"));
        }
        let allowed =
            is_allowed(&config.command, &config.allowed_commands) || is_allowed(&config.command, spec.allow_exec);
        if !allowed {
            return Err(ConfigError::field(
                "command",
                format!(
                    "`{0}` is not allowed to run: list it in the node's `allowed_commands`, or run with `--allow-exec {0}`",
                    config.command
                ),
            ));
        }
        let Some(program) = which(&config.command) else {
            return Err(ConfigError::field("command", format!("`{}` is not found (PATH or path)", config.command)));
        };
        let dir = match (config.working_dir, config.dir) {
            (Some(_), Some(_)) => return Err(ConfigError::whole("give `working_dir` or `dir`, not both")),
            (a, b) => a.or(b),
        };
        let working_dir = dir.map_or_else(|| spec.base_dir.to_path_buf(), |d| spec.resolve(&d));
        let args = config
            .args
            .iter()
            .enumerate()
            .map(|(i, a)| Text::new(spec.name, &format!("args[{i}]"), a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(super::built(Exec {
            command: config.command,
            program,
            args,
            timeout: config.timeout.unwrap_or(Duration::from_secs(30)),
            env: config.env,
            working_dir,
            capture: config.capture_output,
            allow_failure: config.allow_failure,
        }))
    }
}

/// Kills the process group of a child that is still running when dropped.
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}

fn tail(text: &str) -> &str {
    let text = text.trim_end();
    let start = text.char_indices().rev().nth(400).map_or(0, |(i, _)| i);
    &text[start..]
}

impl Behaviour for Exec {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        Box::pin(async move {
            let args = self.args.iter().map(|a| a.render(input)).collect::<Result<Vec<_>, _>>()?;
            let mut command = tokio::process::Command::new(&self.program);
            command.args(&args).envs(&self.env).current_dir(&self.working_dir).kill_on_drop(true);
            // Its own process group, so that a timeout or a cancellation stops what it started too.
            #[cfg(unix)]
            command.process_group(0);
            command.stdin(std::process::Stdio::null());
            if self.capture {
                command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
            } else {
                command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
            }
            let started = Instant::now();
            let child =
                command.spawn().map_err(|e| NodeError::fatal_msg(format!("cannot start `{}`: {e}", self.command)))?;
            // Dropping the child (timeout, cancellation) kills it, and the guard its group.
            let mut group = GroupGuard(child.id());
            let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
                Err(_) => {
                    return Err(NodeError::retryable(format!(
                        "`{}` timed out after {} and was killed",
                        self.command,
                        go_duration(self.timeout)
                    )));
                }
                Ok(result) => result.map_err(|e| NodeError::fatal_msg(format!("`{}` failed: {e}", self.command)))?,
            };
            group.0 = None; // it ended by itself
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            let code = output.status.code();
            if !output.status.success() && !self.allow_failure {
                let how =
                    code.map_or_else(|| "was killed by a signal".to_string(), |c| format!("exited with status {c}"));
                return Err(NodeError::fatal_msg(format!(
                    "`{}` {how} (set `allow_failure: true` to go on){}",
                    self.command,
                    if stderr.trim().is_empty() { String::new() } else { format!(": {}", tail(&stderr)) }
                )));
            }
            let mut out = json!({
                "command": self.command,
                "args": args,
                "exit_code": code.unwrap_or(-1),
                "duration": go_duration(started.elapsed()),
            });
            if self.capture {
                out["stdout"] = Value::String(stdout);
                out["stderr"] = Value::String(stderr);
            }
            Ok(out)
        })
    }
}

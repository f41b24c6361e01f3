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
use crate::support::de::show_bytes;
use crate::support::process::Group;
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
    /// Programs this node may run, out of those the run allows (`pocket run --allow-exec`):
    /// it narrows the run's list, it cannot add to it.
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
    /// The most each of stdout and stderr may hold (bytes, or `10MiB`; default 16 MiB): a
    /// program that writes more is stopped and the node fails.
    #[serde(default, deserialize_with = "crate::support::de::opt_bytes")]
    #[schemars(with = "Option<serde_json::Value>")]
    max_output: Option<u64>,
}

fn yes() -> bool {
    true
}

pub(crate) struct Exec {
    /// Whether its templates mention `.run` (then they see the run: [`super::with_run`]).
    sees_run: bool,
    command: String,
    program: PathBuf,
    args: Vec<Text>,
    timeout: Duration,
    env: BTreeMap<String, String>,
    working_dir: PathBuf,
    capture: bool,
    allow_failure: bool,
    max_output: u64,
}

/// Where `name` is found: a name with a `/` is a path, relative to `base` (the workflow's
/// directory, as `working_dir` is); other names are looked up in `PATH`.
fn which(name: &str, base: &Path) -> Option<PathBuf> {
    if name.contains('/') {
        return base.join(name).canonicalize().ok();
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|p| p.is_file()).and_then(|p| p.canonicalize().ok())
}

/// Whether `command` is one of `allowed`: the same word, or the same program once both are
/// looked up (so allowing `ls` allows `/bin/ls`, but not another program named `ls`).
fn is_allowed(command: &str, allowed: &[String], base: &Path) -> bool {
    let resolved = which(command, base);
    allowed.iter().any(|entry| entry == command || (resolved.is_some() && which(entry, base) == resolved))
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
        let base = spec.base_dir;
        // The run decides what may run (`--allow-exec`); a workflow file cannot allow itself a
        // program. Its own `allowed_commands` can only narrow that list for one node.
        if !is_allowed(&config.command, spec.allow_exec, base) {
            return Err(ConfigError::field(
                "command",
                format!(
                    "`{0}` is not allowed to run: run with `--allow-exec {0}` (a workflow's own `allowed_commands` \
                     can only narrow what the run allows)",
                    config.command
                ),
            ));
        }
        if !config.allowed_commands.is_empty() && !is_allowed(&config.command, &config.allowed_commands, base) {
            return Err(ConfigError::field(
                "command",
                format!("`{}` is not in the node's `allowed_commands`", config.command),
            ));
        }
        let Some(program) = which(&config.command, base) else {
            return Err(ConfigError::field("command", format!("`{}` is not found (PATH or path)", config.command)));
        };
        let loaders: Vec<ConfigError> = config
            .env
            .keys()
            .filter(|name| loader_variable(name))
            .map(|name| {
                ConfigError::field(
                    format!("env.{name}"),
                    format!(
                        "`{name}` would make `{}` load code of the workflow's choosing; it is refused",
                        config.command
                    ),
                )
            })
            .collect();
        if let Some((first, rest)) = loaders.split_first() {
            return Err(ConfigError { also: rest.to_vec(), ..first.clone() });
        }
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
        let mut built = super::built(Exec {
            sees_run: super::mentions_run(spec.config),
            command: config.command,
            program,
            args,
            timeout: config.timeout.unwrap_or(Duration::from_secs(30)),
            env: config.env,
            working_dir,
            capture: config.capture_output,
            allow_failure: config.allow_failure,
            max_output: config.max_output.unwrap_or(DEFAULT_MAX_OUTPUT),
        });
        built.memo = true;
        Ok(built)
    }
}

/// How much of each of stdout and stderr is kept unless `max_output` says otherwise.
pub(crate) const DEFAULT_MAX_OUTPUT: u64 = 16 * 1024 * 1024;

fn tail(text: &str) -> &str {
    let text = text.trim_end();
    let start = text.char_indices().rev().nth(400).map_or(0, |(i, _)| i);
    &text[start..]
}

/// What a pipe held: its bytes, or `None` when it held more than the cap.
async fn read_capped<R: tokio::io::AsyncRead + Unpin>(pipe: Option<R>, cap: u64) -> std::io::Result<Option<Vec<u8>>> {
    use tokio::io::AsyncReadExt;
    let Some(pipe) = pipe else { return Ok(Some(Vec::new())) };
    let mut bytes = Vec::new();
    pipe.take(cap.saturating_add(1)).read_to_end(&mut bytes).await?;
    Ok((bytes.len() as u64 <= cap).then_some(bytes))
}

/// The environment variables that make the dynamic loader (or the C library) load code of the
/// caller's choosing into an allowed program.
fn loader_variable(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.starts_with("LD_") || upper.starts_with("DYLD_") || matches!(upper.as_str(), "GCONV_PATH" | "HOSTALIASES")
}

impl Exec {
    fn failed(&self, e: impl std::fmt::Display) -> NodeError {
        NodeError::fatal_msg(format!("`{}` failed: {e}", self.command))
    }

    fn too_much(&self, stream: &str) -> NodeError {
        NodeError::fatal_msg(format!(
            "`{}` wrote more than {} to {stream} (`max_output`) and was stopped",
            self.command,
            show_bytes(self.max_output)
        ))
    }

    fn cannot_start(&self, e: &std::io::Error) -> NodeError {
        if !self.working_dir.is_dir() {
            return NodeError::fatal_msg(format!(
                "cannot start `{}`: the working directory {} does not exist",
                self.command,
                self.working_dir.display()
            ));
        }
        NodeError::fatal_msg(format!("cannot start `{}`: {e}", self.command))
    }

    /// Run the program to its end: its status and what it wrote (each at most `max_output`).
    /// The whole process group goes when the program exits, when this future is dropped, or
    /// when an output exceeds its cap.
    async fn run(&self, args: &[String]) -> Result<(std::process::ExitStatus, Vec<u8>, Vec<u8>), NodeError> {
        let mut command = tokio::process::Command::new(&self.program);
        command.args(args).envs(&self.env).current_dir(&self.working_dir).kill_on_drop(true);
        // Its own process group, so that what it starts can be stopped with it.
        #[cfg(unix)]
        command.process_group(0);
        command.stdin(std::process::Stdio::null());
        if self.capture {
            command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        } else {
            command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        }
        let mut child = command.spawn().map_err(|e| self.cannot_start(&e))?;
        let mut group = Group::new(child.id());
        let stdout = read_capped(child.stdout.take(), self.max_output);
        let stderr = read_capped(child.stderr.take(), self.max_output);
        tokio::pin!(stdout, stderr);
        let (mut out, mut err) = (None, None);
        let status = loop {
            tokio::select! {
                status = child.wait() => break status.map_err(|e| self.failed(e))?,
                read = &mut stdout, if out.is_none() => {
                    out = Some(read.map_err(|e| self.failed(e))?.ok_or_else(|| self.too_much("stdout"))?);
                }
                read = &mut stderr, if err.is_none() => {
                    err = Some(read.map_err(|e| self.failed(e))?.ok_or_else(|| self.too_much("stderr"))?);
                }
            }
        };
        // The program has exited: what it left running in its group goes now, which also
        // closes the pipes those processes held.
        group.kill();
        let out = match out {
            Some(out) => out,
            None => stdout.await.map_err(|e| self.failed(e))?.ok_or_else(|| self.too_much("stdout"))?,
        };
        let err = match err {
            Some(err) => err,
            None => stderr.await.map_err(|e| self.failed(e))?.ok_or_else(|| self.too_much("stderr"))?,
        };
        Ok((status, out, err))
    }
}

impl Behaviour for Exec {
    fn sees_run(&self) -> bool {
        self.sees_run
    }

    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        Box::pin(async move {
            let args = self.args.iter().map(|a| a.render(input)).collect::<Result<Vec<_>, _>>()?;
            let started = Instant::now();
            let Ok(ran) = tokio::time::timeout(self.timeout, self.run(&args)).await else {
                return Err(NodeError::retryable(format!(
                    "`{}` timed out after {} and was killed",
                    self.command,
                    go_duration(self.timeout)
                )));
            };
            let (status, stdout, stderr) = ran?;
            let stdout = String::from_utf8_lossy(&stdout).into_owned();
            let stderr = String::from_utf8_lossy(&stderr).into_owned();
            let code = status.code();
            if !status.success() && !self.allow_failure {
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

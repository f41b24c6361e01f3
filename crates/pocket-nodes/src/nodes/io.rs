//! I/O node types: `file` (confined to a base directory) and `exec` (allowed programs only,
//! no shell).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use pocket::NodeError;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::core::Text;
use super::{Behaviour, StepFuture};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::time::{go_duration, rfc3339};

// ---------------------------------------------------------------------------------------------

/// What a `file` node does.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Operation {
    /// `{path, exists, content, size, modified}` (`exists: false` when missing).
    #[default]
    Read,
    /// Write `content` (replacing the file): `{path, exists, size, modified}`.
    Write,
    /// Append `content`: `{path, exists, size, modified}`.
    Append,
    /// `{path, exists, size, modified, isDir}`.
    Exists,
    /// The entries of a directory: `{path, exists, files: [{name, path, size, modified, isDir}]}`.
    List,
    /// Remove a file (not a directory): `{path, deleted}`.
    Delete,
}

/// `file` config.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// `read` (default), `write`, `append`, `exists`, `list` or `delete`.
    #[serde(default)]
    operation: Operation,
    /// The path, relative to `base_dir` (a template when it contains `{{`). `..`, absolute
    /// paths and symlinks that lead out of the base are refused.
    path: String,
    /// What `write` and `append` write (a template when it contains `{{`).
    #[serde(default)]
    content: Option<String>,
    /// The directory the node is confined to (default: the workflow file's directory; relative
    /// paths are resolved against it).
    #[serde(default)]
    base_dir: Option<String>,
    /// Accept absolute paths, as long as they lie inside the base directory.
    #[serde(default)]
    allow_absolute: bool,
    /// `write`/`append`: create missing parent directories (inside the base).
    #[serde(default)]
    create_dirs: bool,
    /// Text encoding; only `utf-8` is supported.
    #[serde(default)]
    encoding: Option<String>,
}

pub(crate) struct FileNode {
    inner: std::sync::Arc<FileSpec>,
}

struct FileSpec {
    operation: Operation,
    path: Text,
    content: Option<Text>,
    base: PathBuf,
    allow_absolute: bool,
    create_dirs: bool,
}

impl NodeKind for FileNode {
    const TYPE: &'static str = "file";
    const CATEGORY: Category = Category::Io;
    const DESCRIPTION: &'static str =
        "Reads, writes, appends, checks, lists or deletes files inside a base directory (default: the workflow's).";
    type Config = FileConfig;

    fn example() -> Value {
        json!({"operation": "write", "path": "out/{{.id}}.txt", "content": "{{.text}}", "create_dirs": true})
    }

    fn build(config: FileConfig, cx: &BuildCx<'_>) -> Result<Built, ConfigError> {
        let spec = cx.spec();
        if let Some(encoding) = &config.encoding
            && !matches!(encoding.to_ascii_lowercase().as_str(), "utf-8" | "utf8")
        {
            return Err(ConfigError::field("encoding", format!("only utf-8 is supported, not `{encoding}`")));
        }
        let writes = matches!(config.operation, Operation::Write | Operation::Append);
        if writes && config.content.is_none() {
            return Err(ConfigError::field("content", "is required to write or append"));
        }
        if !writes && config.content.is_some() {
            return Err(ConfigError::field("content", "is only used by `write` and `append`"));
        }
        if config.path.trim().is_empty() {
            return Err(ConfigError::field("path", "must not be empty"));
        }
        let base = match &config.base_dir {
            Some(dir) => spec.resolve(dir),
            None => spec.base_dir.to_path_buf(),
        };
        let path = Text::new(spec.name, "path", &config.path)?;
        if let Text::Plain(plain) = &path {
            check_relative(plain, config.allow_absolute).map_err(|e| ConfigError::field("path", e))?;
        }
        let content = config.content.as_deref().map(|c| Text::new(spec.name, "content", c)).transpose()?;
        Ok(super::built(FileNode {
            inner: std::sync::Arc::new(FileSpec {
                operation: config.operation,
                path,
                content,
                base,
                allow_absolute: config.allow_absolute,
                create_dirs: config.create_dirs,
            }),
        }))
    }
}

/// Refuse paths that leave the base before touching the disk.
fn check_relative(path: &str, allow_absolute: bool) -> Result<(), String> {
    let p = Path::new(path);
    if p.is_absolute() && !allow_absolute {
        return Err(format!(
            "`{path}` is absolute; paths are relative to the base directory (or set `allow_absolute`)"
        ));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(format!("`{path}` contains `..`; paths may not leave the base directory"));
    }
    Ok(())
}

/// The canonical form of `path`, or of its deepest existing ancestor with the rest appended.
fn canonical_prefix(path: &Path) -> std::io::Result<PathBuf> {
    let mut missing = Vec::new();
    let mut current = path.to_path_buf();
    loop {
        match current.canonicalize() {
            Ok(found) => {
                let mut out = found;
                for part in missing.iter().rev() {
                    out.push(part);
                }
                return Ok(out);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let Some(name) = current.file_name().map(ToOwned::to_owned) else { return Err(e) };
                missing.push(name);
                if !current.pop() {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

fn modified(meta: &std::fs::Metadata) -> Value {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(Value::Null, |d| Value::String(rfc3339(d.as_secs())))
}

fn io_error(what: &str, path: &Path, e: &std::io::Error) -> NodeError {
    NodeError::fatal_msg(format!("{what} {}: {e}", path.display()))
}

impl FileSpec {
    /// Resolve `path` inside the base: symlinks followed, the result must stay inside.
    fn resolve(&self, path: &str) -> Result<(PathBuf, PathBuf), NodeError> {
        check_relative(path, self.allow_absolute).map_err(NodeError::fatal_msg)?;
        let base = self.base.canonicalize().map_err(|e| io_error("the base directory", &self.base, &e))?;
        let joined = if Path::new(path).is_absolute() { PathBuf::from(path) } else { base.join(path) };
        let real = canonical_prefix(&joined).map_err(|e| io_error("cannot resolve", &joined, &e))?;
        if !real.starts_with(&base) {
            return Err(NodeError::fatal_msg(format!(
                "`{path}` leads outside the base directory {} (to {}); refused",
                base.display(),
                real.display()
            )));
        }
        Ok((base, real))
    }

    fn run(&self, input: &Value) -> Result<Value, NodeError> {
        let rendered = self.path.render(input)?;
        let (base, path) = self.resolve(&rendered)?;
        let shown = Value::String(path.display().to_string());
        let missing = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
        match self.operation {
            Operation::Read => match std::fs::read(&path) {
                Err(e) if missing(&e) => Ok(json!({"path": shown, "exists": false})),
                Err(e) => Err(io_error("cannot read", &path, &e)),
                Ok(bytes) => {
                    let meta = std::fs::metadata(&path).map_err(|e| io_error("cannot stat", &path, &e))?;
                    let content = String::from_utf8(bytes)
                        .map_err(|_| NodeError::fatal_msg(format!("{} is not UTF-8 text", path.display())))?;
                    Ok(
                        json!({"path": shown, "exists": true, "size": content.len(), "content": content, "modified": modified(&meta)}),
                    )
                }
            },
            Operation::Write | Operation::Append => {
                let content = self.content.as_ref().map(|c| c.render(input)).transpose()?.unwrap_or_default();
                if let Some(parent) = path.parent() {
                    if self.create_dirs {
                        std::fs::create_dir_all(parent).map_err(|e| io_error("cannot create", parent, &e))?;
                        // A directory created through a symlink must still be inside.
                        let real = parent.canonicalize().map_err(|e| io_error("cannot resolve", parent, &e))?;
                        if !real.starts_with(&base) {
                            return Err(NodeError::fatal_msg(format!(
                                "{} is outside the base directory",
                                real.display()
                            )));
                        }
                    } else if !parent.is_dir() {
                        return Err(NodeError::fatal_msg(format!(
                            "the directory {} does not exist (set `create_dirs: true` to create it)",
                            parent.display()
                        )));
                    }
                }
                let mut options = std::fs::OpenOptions::new();
                options.create(true);
                if self.operation == Operation::Append {
                    options.append(true);
                } else {
                    options.write(true).truncate(true);
                }
                let mut file = options.open(&path).map_err(|e| io_error("cannot open", &path, &e))?;
                std::io::Write::write_all(&mut file, content.as_bytes())
                    .map_err(|e| io_error("cannot write", &path, &e))?;
                let meta = file.metadata().map_err(|e| io_error("cannot stat", &path, &e))?;
                Ok(json!({"path": shown, "exists": true, "size": meta.len(), "modified": modified(&meta)}))
            }
            Operation::Exists => match std::fs::metadata(&path) {
                Err(e) if missing(&e) => Ok(json!({"path": shown, "exists": false})),
                Err(e) => Err(io_error("cannot stat", &path, &e)),
                Ok(meta) => Ok(
                    json!({"path": shown, "exists": true, "size": meta.len(), "modified": modified(&meta), "isDir": meta.is_dir()}),
                ),
            },
            Operation::List => match std::fs::read_dir(&path) {
                Err(e) if missing(&e) => Ok(json!({"path": shown, "exists": false})),
                Err(e) => Err(io_error("cannot list", &path, &e)),
                Ok(entries) => {
                    let mut files = Vec::new();
                    for entry in entries {
                        let entry = entry.map_err(|e| io_error("cannot list", &path, &e))?;
                        let meta = entry.metadata().map_err(|e| io_error("cannot stat", &entry.path(), &e))?;
                        files.push(json!({
                            "name": entry.file_name().to_string_lossy(),
                            "path": entry.path().display().to_string(),
                            "size": meta.len(),
                            "modified": modified(&meta),
                            "isDir": meta.is_dir(),
                        }));
                    }
                    files.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
                    Ok(json!({"path": shown, "exists": true, "files": files}))
                }
            },
            Operation::Delete => {
                if path == base {
                    return Err(NodeError::fatal_msg("refusing to delete the base directory"));
                }
                match std::fs::remove_file(&path) {
                    Err(e) if missing(&e) => Ok(json!({"path": shown, "deleted": false})),
                    Err(e) => Err(io_error("cannot delete", &path, &e)),
                    Ok(()) => Ok(json!({"path": shown, "deleted": true})),
                }
            }
        }
    }
}

impl Behaviour for FileNode {
    fn exec<'a>(&'a self, input: &'a Value) -> StepFuture<'a> {
        // File system calls block: keep them off the async workers.
        let spec = self.inner.clone();
        let input = input.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || spec.run(&input))
                .await
                .map_err(|e| NodeError::fatal_msg(format!("the file operation stopped: {e}")))?
        })
    }
}

// ---------------------------------------------------------------------------------------------

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
    #[serde(default, deserialize_with = "crate::de::opt_duration")]
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

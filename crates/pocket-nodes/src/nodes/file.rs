//! The `file` node type: reads, writes, lists and deletes files confined to a base directory.

use std::path::{Component, Path, PathBuf};

use pocket::NodeError;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Behaviour, StepFuture};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::support::text::Text;
use crate::support::time::rfc3339;

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

//! The `file` node type: reads, writes, lists and deletes files confined to a base directory.

use std::path::{Path, PathBuf};

use pocket::NodeError;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Behaviour, StepFuture};
use crate::kind::{BuildCx, Built, Category, ConfigError, NodeKind};
use crate::support::de::show_bytes;
use crate::support::sandbox::{Sandbox, check_relative};
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
    /// paths and symlinks that lead out of the base (absolute symlinks included) are refused.
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
    /// `read`: the largest file read (bytes, or `10MiB`; default 64 MiB); a larger one fails
    /// the node.
    #[serde(default, deserialize_with = "crate::support::de::opt_bytes")]
    #[schemars(with = "Option<serde_json::Value>")]
    max_size: Option<u64>,
}

/// The largest file `read` reads unless `max_size` says otherwise.
pub(crate) const DEFAULT_MAX_SIZE: u64 = 64 * 1024 * 1024;

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
    max_size: u64,
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
                max_size: config.max_size.unwrap_or(DEFAULT_MAX_SIZE),
            }),
        }))
    }
}

fn modified(meta: &cap_std::fs::Metadata) -> Value {
    meta.modified()
        .ok()
        .and_then(|t| t.into_std().duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(Value::Null, |d| Value::String(rfc3339(d.as_secs())))
}

impl FileSpec {
    fn run(&self, input: &Value) -> Result<Value, NodeError> {
        let rendered = self.path.render(input)?;
        let base = Sandbox::open(&self.base)?;
        let path = base.relative(&rendered, self.allow_absolute)?;
        let shown_path = base.shown.join(&path);
        let shown = Value::String(shown_path.display().to_string());
        let missing = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
        match self.operation {
            Operation::Read => match base.dir.open(&path) {
                Err(e) if missing(&e) => Ok(json!({"path": shown, "exists": false})),
                Err(e) => Err(base.error("cannot read", &path, &e)),
                Ok(file) => {
                    let meta = file.metadata().map_err(|e| base.error("cannot stat", &path, &e))?;
                    let mut bytes = Vec::new();
                    std::io::Read::read_to_end(&mut std::io::Read::take(file, self.max_size + 1), &mut bytes)
                        .map_err(|e| base.error("cannot read", &path, &e))?;
                    if bytes.len() as u64 > self.max_size {
                        return Err(NodeError::fatal_msg(format!(
                            "{} is larger than {} (`max_size`)",
                            shown_path.display(),
                            show_bytes(self.max_size)
                        )));
                    }
                    let content = String::from_utf8(bytes)
                        .map_err(|_| NodeError::fatal_msg(format!("{} is not UTF-8 text", shown_path.display())))?;
                    Ok(
                        json!({"path": shown, "exists": true, "size": content.len(), "content": content, "modified": modified(&meta)}),
                    )
                }
            },
            Operation::Write | Operation::Append => {
                let content = self.content.as_ref().map(|c| c.render(input)).transpose()?.unwrap_or_default();
                let parent = base.parent_of(&path, self.create_dirs)?;
                let meta = if self.operation == Operation::Append {
                    let mut options = cap_std::fs::OpenOptions::new();
                    options.create(true).append(true);
                    let mut file =
                        base.dir.open_with(&path, &options).map_err(|e| base.error("cannot open", &path, &e))?;
                    std::io::Write::write_all(&mut file, content.as_bytes())
                        .and_then(|()| file.sync_data())
                        .map_err(|e| base.error("cannot write", &path, &e))?;
                    file.metadata()
                } else {
                    base.replace(&path, parent, content.as_bytes())?;
                    base.dir.metadata(&path)
                }
                .map_err(|e| base.error("cannot stat", &path, &e))?;
                Ok(json!({"path": shown, "exists": true, "size": meta.len(), "modified": modified(&meta)}))
            }
            Operation::Exists => match base.dir.metadata(&path) {
                Err(e) if missing(&e) => Ok(json!({"path": shown, "exists": false})),
                Err(e) => Err(base.error("cannot stat", &path, &e)),
                Ok(meta) => Ok(
                    json!({"path": shown, "exists": true, "size": meta.len(), "modified": modified(&meta), "isDir": meta.is_dir()}),
                ),
            },
            Operation::List => match base.dir.read_dir(&path) {
                Err(e) if missing(&e) => Ok(json!({"path": shown, "exists": false})),
                Err(e) => Err(base.error("cannot list", &path, &e)),
                Ok(entries) => {
                    let mut files = Vec::new();
                    for entry in entries {
                        let entry = entry.map_err(|e| base.error("cannot list", &path, &e))?;
                        let name = entry.file_name();
                        let meta = entry.metadata().map_err(|e| base.error("cannot stat", &path.join(&name), &e))?;
                        files.push(json!({
                            "name": name.to_string_lossy(),
                            "path": shown_path.join(&name).display().to_string(),
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
                if path == Path::new(".") {
                    return Err(NodeError::fatal_msg("refusing to delete the base directory"));
                }
                match base.dir.remove_file(&path) {
                    Err(e) if missing(&e) => Ok(json!({"path": shown, "deleted": false})),
                    Err(e) => Err(base.error("cannot delete", &path, &e)),
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

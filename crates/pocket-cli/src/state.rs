//! Where `pocket` records its runs, and who owns one: the state database's path, opening it,
//! the owner id of this process, and the fingerprint of a workflow.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pocket::durable::{Durability, RunRecord, RunStatus};
use pocket_sqlite::SqliteCheckpointer;

/// The state database's file name in its directory.
const FILE: &str = "state.db";

/// The state database: `--state PATH`, else `$POCKET_HOME/state.db`, else
/// `$XDG_STATE_HOME/pocket/state.db`, else `~/.local/state/pocket/state.db`.
pub(crate) fn path(flag: Option<&PathBuf>) -> Result<PathBuf, String> {
    if let Some(path) = flag {
        return Ok(path.clone());
    }
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(home) = var("POCKET_HOME") {
        return Ok(home.join(FILE));
    }
    if let Some(state) = var("XDG_STATE_HOME") {
        return Ok(state.join("pocket").join(FILE));
    }
    match var("HOME") {
        Some(home) => Ok(home.join(".local/state/pocket").join(FILE)),
        None => Err("no state directory: set POCKET_HOME or HOME, pass --state PATH, or use --ephemeral".into()),
    }
}

/// Open the state database.
pub(crate) fn open(flag: Option<&PathBuf>, mode: Durability) -> Result<Arc<SqliteCheckpointer>, String> {
    let path = path(flag)?;
    SqliteCheckpointer::open(&path, mode).map(Arc::new).map_err(|e| format!("{}: {e}", path.display()))
}

/// This process as a run's owner: `host:pid:start`, where `start` tells this process from a
/// later one that got the same pid.
pub(crate) fn owner() -> String {
    let pid = std::process::id();
    format!("{}:{pid}:{}", host(), start_time(pid).unwrap_or_default())
}

fn host() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".into())
}

/// The start time of process `pid` (clock ticks since boot, from `/proc`), where known.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from the last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the owner `owner` is a process that still runs: `Some(false)` when it is known
/// to be gone (this host, and no such process or another one under its pid), `None` when it
/// cannot be known (another host).
pub(crate) fn owner_alive(owner: &str) -> Option<bool> {
    let mut parts = owner.rsplitn(3, ':');
    let (start, pid, host_name) = (parts.next()?, parts.next()?, parts.next()?);
    if host_name != host() {
        return None;
    }
    let pid: u32 = pid.parse().ok()?;
    let Some(now) = start_time(pid) else {
        // Linux: no `/proc` entry means no such process. Elsewhere, ask the kernel.
        if std::path::Path::new("/proc/self/stat").exists() {
            return Some(false);
        }
        return Some(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok());
    };
    Some(start.parse::<u64>().is_ok_and(|s| s == now))
}

/// The status to show for `run`: a `running` run whose owner is gone is `interrupted`.
pub(crate) fn effective_status(run: &RunRecord) -> RunStatus {
    match (run.status, run.owner.as_deref().map(owner_alive)) {
        (RunStatus::Running, Some(Some(false)) | None) => RunStatus::Interrupted,
        (status, _) => status,
    }
}

/// A hash of `bytes` as hex.
pub(crate) fn hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// The config keys whose value names a file that is part of a node's definition (a
/// template, a script, a schema, a sub-workflow); data files (`items_file`) are not.
const DEFINING_FILES: [&str; 3] = ["file", "schema_file", "workflow"];

/// What a run of `loaded` (read from `file`) goes by: a hash of the whole definition (the
/// file's text and every file its nodes name), and per node a hash of its own — type, config,
/// node-level keys and the content of the files its config names (a changed template or
/// sub-workflow file counts as a change of the node).
pub(crate) fn definition(loaded: &crate::load::Loaded, file: &Path) -> (String, Vec<(String, String)>) {
    let dir = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let nodes: Vec<(String, String)> = loaded
        .workflow
        .nodes
        .iter()
        .map(|node| {
            let mut files = Vec::new();
            named_files(&serde_json::Value::Object(node.config.clone()), &mut files);
            let contents: Vec<String> = files
                .iter()
                .map(|f| std::fs::read(dir.join(f)).map_or_else(|e| format!("unreadable: {e}"), |b| hash(&b)))
                .collect();
            let definition = serde_json::json!({
                "type": node.kind,
                "config": node.config,
                "layers": format!(
                    "{:?}",
                    (&node.retry, &node.timeout, &node.circuit_breaker, &node.cache, &node.fallback)
                ),
                "files": contents,
            });
            (node.name.clone(), hash(definition.to_string().as_bytes()))
        })
        .collect();
    let whole = serde_json::json!({"text": loaded.hash, "nodes": nodes});
    (hash(whole.to_string().as_bytes()), nodes)
}

/// The file names under [`DEFINING_FILES`] keys anywhere in `config`.
fn named_files(config: &serde_json::Value, out: &mut Vec<String>) {
    match config {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match value {
                    serde_json::Value::String(name) if DEFINING_FILES.contains(&key.as_str()) => out.push(name.clone()),
                    other => named_files(other, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| named_files(v, out)),
        _ => {}
    }
}

/// What changed between a run's fingerprint and the workflow's now, one line per node.
pub(crate) fn changes(then: &[(String, String)], now: &[(String, String)]) -> Vec<String> {
    let find = |list: &[(String, String)], name: &str| list.iter().find(|(n, _)| n == name).map(|(_, h)| h.clone());
    let mut lines = Vec::new();
    for (name, hash) in then {
        match find(now, name) {
            None => lines.push(format!("node `{name}` was removed")),
            Some(h) if &h != hash => lines.push(format!("node `{name}` changed")),
            Some(_) => {}
        }
    }
    for (name, _) in now {
        if find(then, name).is_none() {
            lines.push(format!("node `{name}` was added"));
        }
    }
    lines
}

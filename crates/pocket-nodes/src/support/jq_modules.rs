//! jq modules and data files from the workflow's directory: `import "lib" as lib;`,
//! `include "lib";`, `import "table" as $table;`.
//!
//! A module path is found as jq finds it — `X.jq`, `X/LAST.jq` or `X/jq/main.jq` (data: `X.json`,
//! `X/LAST.json`), in the directories of the import's `{search: …}` metadata (relative to the
//! importing file) and then in the workflow's directory — but only inside that directory: the
//! search is lexical (a path that climbs out is skipped) and every read goes through the file
//! sandbox, which refuses symlinks that lead out. `~`, `$ORIGIN` and absolute search paths are
//! not searched.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Term};
use jaq_core::load::{File, Import};

use super::sandbox::Sandbox;

/// A module or data file is at most this large.
pub(crate) const MAX_FILE: u64 = 16 << 20;

/// The files a program's imports name, read from one base directory.
pub(crate) struct Files {
    sandbox: Sandbox,
}

impl Files {
    /// Files under `base`.
    ///
    /// # Errors
    ///
    /// The directory cannot be opened.
    pub(crate) fn open(base: &Path) -> Result<Files, String> {
        Sandbox::open(base).map(|sandbox| Files { sandbox }).map_err(|e| e.to_string())
    }

    /// The module an `import`/`include` names, with its path relative to the base.
    pub(crate) fn module(&self, import: Import<'_, &str, PathBuf>) -> Result<File<String, PathBuf>, String> {
        let path = self.find(&import, "jq")?;
        Ok(File { code: self.read(&path)?, path })
    }

    /// The values of the data file an `import "…" as $name` names: every JSON value in it, as
    /// one array (as jq binds it).
    pub(crate) fn data(&self, import: Import<'_, &str, PathBuf>) -> Result<serde_json::Value, String> {
        let path = self.find(&import, "json")?;
        let text = self.read(&path)?;
        let values: Result<Vec<serde_json::Value>, _> =
            serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>().collect();
        values.map(serde_json::Value::Array).map_err(|e| format!("{}: not JSON: {e}", path.display()))
    }

    fn read(&self, path: &Path) -> Result<String, String> {
        let file = self.sandbox.dir.open(path).map_err(|e| self.sandbox.error("cannot read", path, &e).to_string())?;
        let mut text = String::new();
        file.take(MAX_FILE + 1)
            .read_to_string(&mut text)
            .map_err(|e| self.sandbox.error("cannot read", path, &e).to_string())?;
        if text.len() as u64 > MAX_FILE {
            return Err(format!("{}: larger than {}", path.display(), super::de::show_bytes(MAX_FILE)));
        }
        Ok(text)
    }

    /// The first candidate that is a file, searched as the module doc says.
    fn find(&self, import: &Import<'_, &str, PathBuf>, ext: &str) -> Result<PathBuf, String> {
        let name = *import.path;
        if Path::new(name).is_absolute() || name.is_empty() {
            return Err(format!("`{name}`: a module path is relative"));
        }
        // The importing file's directory (the main program's is the base).
        let parent = import.parent.parent().unwrap_or(Path::new(""));
        let mut dirs: Vec<PathBuf> = search_paths(import.meta).iter().map(|dir| parent.join(dir)).collect();
        dirs.push(PathBuf::new());
        let last = Path::new(name).file_name().map(PathBuf::from).unwrap_or_default();
        let mut tried = Vec::new();
        for dir in dirs {
            let mut candidates = vec![dir.join(format!("{name}.{ext}")), dir.join(name).join(last.with_extension(ext))];
            if ext == "jq" {
                candidates.push(dir.join(name).join("jq/main.jq"));
            }
            for candidate in candidates {
                let Some(path) = lexical(&candidate) else { continue };
                match self.sandbox.dir.metadata(&path) {
                    Ok(meta) if meta.is_file() => return Ok(path),
                    Err(e) if super::sandbox::escaped(&e) => {
                        return Err(self.sandbox.error("cannot read", &path, &e).to_string());
                    }
                    _ => {}
                }
                tried.push(path.display().to_string());
            }
        }
        Err(format!(
            "jq {} `{name}` not found in the workflow's directory {} (looked for {})",
            if ext == "jq" { "module" } else { "data file" },
            self.sandbox.shown.display(),
            tried.join(", ")
        ))
    }
}

/// `path` with `.` and `..` resolved lexically; `None` when it climbs out of the base or is
/// not relative.
fn lexical(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The `search` entries of an import's metadata (`{search: "./lib"}` or a list); those that
/// are absolute or start with `~` or `$ORIGIN` are left out.
fn search_paths(meta: &Option<Term<&str>>) -> Vec<String> {
    fn string(term: &Term<&str>) -> Option<String> {
        match term {
            Term::Str(None, parts) => match &parts[..] {
                [StrPart::Str(s)] => Some((*s).to_string()),
                _ => None,
            },
            _ => None,
        }
    }
    fn strings(term: &Term<&str>, out: &mut Vec<String>) {
        match term {
            Term::BinOp(l, BinaryOp::Comma, r) => {
                strings(l, out);
                strings(r, out);
            }
            other => out.extend(string(other)),
        }
    }
    let mut out = Vec::new();
    if let Some(Term::Obj(entries)) = meta {
        for (key, value) in entries {
            if string(key).as_deref() != Some("search") {
                continue;
            }
            match value {
                Some(Term::Arr(Some(items))) => strings(items, &mut out),
                Some(other) => out.extend(string(other)),
                None => {}
            }
        }
    }
    out.retain(|p| !p.starts_with('~') && !p.starts_with("$ORIGIN") && !Path::new(p).is_absolute());
    out
}

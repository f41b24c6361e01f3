//! A directory a node is confined to: every file system call goes through a directory handle
//! (cap-std), and files are replaced atomically. Used by the `file` node and by `http`'s
//! `save_to`.

use std::path::{Component, Path, PathBuf};

use pocket::NodeError;

/// Refuse paths that leave the base before touching the disk.
pub(crate) fn check_relative(path: &str, allow_absolute: bool) -> Result<(), String> {
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

pub(crate) fn io_error(what: &str, path: &Path, e: &std::io::Error) -> NodeError {
    NodeError::fatal_msg(format!("{what} {}: {e}", path.display()))
}

/// Whether `e` is the directory handle refusing a path that leads outside it (cap-std's own
/// error, which carries no OS error code).
pub(crate) fn escaped(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::PermissionDenied && e.raw_os_error().is_none()
}

/// Temporary files of this process get distinct names.
static TEMPORARY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// An operation's view of the base: every file system call goes through the directory handle,
/// which resolves each path component itself and refuses any step (`..`, an absolute or
/// outward symlink, a symlink swapped in meanwhile) that would leave it. Checking and using a
/// path are one step, so nothing can change in between.
pub(crate) struct Sandbox {
    pub(crate) dir: cap_std::fs::Dir,
    /// The base as a path, for messages and outputs.
    pub(crate) shown: PathBuf,
    /// The base as configured (absolute paths may name it either way).
    configured: PathBuf,
}

impl Sandbox {
    pub(crate) fn open(base: &Path) -> Result<Self, NodeError> {
        let dir = cap_std::fs::Dir::open_ambient_dir(base, cap_std::ambient_authority())
            .map_err(|e| io_error("cannot open the base directory", base, &e))?;
        let shown = base.canonicalize().unwrap_or_else(|_| base.to_path_buf());
        Ok(Sandbox { dir, shown, configured: base.to_path_buf() })
    }

    /// The error for a failed call on `path` (relative to the base).
    pub(crate) fn error(&self, what: &str, path: &Path, e: &std::io::Error) -> NodeError {
        if escaped(e) {
            return NodeError::fatal_msg(format!(
                "`{}` leads outside the base directory {}; refused",
                path.display(),
                self.shown.display()
            ));
        }
        io_error(what, &self.shown.join(path), e)
    }

    /// `path` relative to the base: plain relative paths as they are, absolute ones (when
    /// allowed) only if they name something under the base.
    pub(crate) fn relative(&self, path: &str, allow_absolute: bool) -> Result<PathBuf, NodeError> {
        check_relative(path, allow_absolute).map_err(NodeError::fatal_msg)?;
        let p = Path::new(path);
        let relative = if p.is_absolute() {
            p.strip_prefix(&self.shown).or_else(|_| p.strip_prefix(&self.configured)).map_err(|_| {
                NodeError::fatal_msg(format!(
                    "`{path}` leads outside the base directory {}; refused",
                    self.shown.display()
                ))
            })?
        } else {
            p
        };
        let relative: PathBuf = relative.components().filter(|c| *c != Component::CurDir).collect();
        Ok(if relative.as_os_str().is_empty() { PathBuf::from(".") } else { relative })
    }

    /// Make sure the directory `path` is to be written in exists: created (inside the base)
    /// when `create` is set, otherwise an error that says how to get it created.
    pub(crate) fn parent_of<'p>(&self, path: &'p Path, create: bool) -> Result<&'p Path, NodeError> {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        match self.dir.metadata(parent) {
            Ok(meta) if meta.is_dir() => Ok(parent),
            Err(e) if escaped(&e) => Err(self.error("cannot open", parent, &e)),
            _ if create => {
                self.dir.create_dir_all(parent).map_err(|e| self.error("cannot create", parent, &e))?;
                Ok(parent)
            }
            _ => Err(NodeError::fatal_msg(format!(
                "the directory {} does not exist (set `create_dirs: true` to create it)",
                self.shown.join(parent).display()
            ))),
        }
    }

    /// Replace `path` with `content` so that a crash, a signal or a full disk leaves either the
    /// old file or the new one, never a mix (see [`Replacement`]).
    pub(crate) fn replace(&self, path: &Path, parent: &Path, content: &[u8]) -> Result<(), NodeError> {
        let mut replacement = self.replacement(path, parent)?;
        let written = std::io::Write::write_all(replacement.file(), content);
        match written {
            Ok(()) => replacement.commit(),
            Err(e) => Err(self.error("cannot write", path, &e)),
        }
    }

    /// Start replacing `path`: a temporary file beside it, which [`Replacement::commit`] flushes
    /// to disk and renames over the old one (its permissions kept). Dropped uncommitted, the
    /// temporary file is removed.
    pub(crate) fn replacement<'s>(&'s self, path: &Path, parent: &Path) -> Result<Replacement<'s>, NodeError> {
        let Some(name) = path.file_name() else {
            return Err(NodeError::fatal_msg(format!(
                "{} names a directory, not a file",
                self.shown.join(path).display()
            )));
        };
        let n = TEMPORARY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let temporary = parent.join(format!(".{}.{}-{n}.pocket-tmp", name.to_string_lossy(), std::process::id()));
        let mut options = cap_std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        let file = self.dir.open_with(&temporary, &options).map_err(|e| self.error("cannot create", &temporary, &e))?;
        Ok(Replacement {
            sandbox: self,
            file: Some(file),
            temporary,
            path: path.to_path_buf(),
            parent: parent.to_path_buf(),
        })
    }
}

/// A file being replaced: write to [`file`](Replacement::file), then
/// [`commit`](Replacement::commit).
pub(crate) struct Replacement<'s> {
    sandbox: &'s Sandbox,
    file: Option<cap_std::fs::File>,
    temporary: PathBuf,
    path: PathBuf,
    parent: PathBuf,
}

impl Replacement<'_> {
    /// The temporary file.
    pub(crate) fn file(&mut self) -> &mut cap_std::fs::File {
        self.file.as_mut().expect("the file is there until commit")
    }

    /// Flush the new content to disk and rename it over the old file.
    pub(crate) fn commit(mut self) -> Result<(), NodeError> {
        let file = self.file.take().expect("the file is there until commit");
        let base = self.sandbox;
        let done = (|| {
            if let Ok(old) = base.dir.metadata(&self.path)
                && old.is_file()
            {
                file.set_permissions(old.permissions())?;
            }
            file.sync_all()?;
            drop(file);
            base.dir.rename(&self.temporary, &base.dir, &self.path)
        })();
        if let Err(e) = done {
            return Err(base.error("cannot write", &self.path, &e));
        }
        self.temporary = PathBuf::new();
        // The rename itself reaches the disk with the directory.
        if let Ok(dir) = base.dir.open(&self.parent) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

impl Drop for Replacement<'_> {
    fn drop(&mut self) {
        if !self.temporary.as_os_str().is_empty() {
            drop(self.file.take());
            let _ = self.sandbox.dir.remove_file(&self.temporary);
        }
    }
}

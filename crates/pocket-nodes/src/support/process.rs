//! Child processes started by node types. Each runs in its own process group, registered while
//! it may run, so that every way a run ends — the node finishing, a timeout, a cancellation, a
//! second Ctrl-C, SIGTERM — can stop it and everything it started ([`stop_children`]).

use std::collections::BTreeSet;
use std::sync::Mutex;

/// The process groups that may still be running.
static LIVE: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn live() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    LIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(unix)]
fn kill_group(pid: i32) {
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
}

#[cfg(not(unix))]
fn kill_group(_: i32) {}

/// A child's process group (the child is its leader): killed when dropped, unless killed already.
pub(crate) struct Group(Option<i32>);

impl Group {
    /// Register the group led by `pid` (the id of a child started with `process_group(0)`).
    pub(crate) fn new(pid: Option<u32>) -> Self {
        let pid = pid.and_then(|p| i32::try_from(p).ok());
        if let Some(pid) = pid {
            live().insert(pid);
        }
        Group(pid)
    }

    /// Kill every process of the group now. Called as soon as the leader has exited, so that
    /// background processes it left behind go too; the group id cannot be reused while any of
    /// them lives, and the leader has only just been reaped.
    pub(crate) fn kill(&mut self) {
        if let Some(pid) = self.0.take()
            && live().remove(&pid)
        {
            kill_group(pid);
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Kill every child process group a node of this process started and that may still be
/// running, with everything in it. For the end of a program that cannot wait for its nodes
/// to be dropped (a second Ctrl-C, a forced exit); nodes kill their own children otherwise.
pub fn stop_children() {
    let groups = std::mem::take(&mut *live());
    for pid in groups {
        kill_group(pid);
    }
}

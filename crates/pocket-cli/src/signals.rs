//! How a run is interrupted. SIGINT (Ctrl-C), SIGTERM and SIGHUP cancel it: its nodes stop,
//! their child processes with them, and `pocket` exits with 128 + the signal's number (130,
//! 143, 129). A second signal stops at once: every child process group still running is
//! killed first, so nothing is left behind either way.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use pocket::CancellationToken;

/// The exit code of the signal that interrupted the run, once one has.
#[derive(Debug, Clone, Default)]
pub(crate) struct Interrupted(Arc<AtomicU8>);

impl Interrupted {
    /// 128 + the signal's number, if a signal interrupted the run.
    pub(crate) fn code(&self) -> Option<u8> {
        Some(self.0.load(Ordering::SeqCst)).filter(|code| *code != 0)
    }
}

/// Waits for the next of the signals that interrupt a run.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
                hangup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal's name and exit code (128 + its number).
    async fn next(&mut self) -> (&'static str, u8) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => ("SIGINT", 130),
                _ = self.terminate.recv() => ("SIGTERM", 143),
                _ = self.hangup.recv() => ("SIGHUP", 129),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            ("Ctrl-C", 130)
        }
    }
}

/// Start watching for the signals (on the current runtime): the first cancels `token`, the
/// second kills every child process and exits.
pub(crate) fn watch(token: CancellationToken) -> Interrupted {
    let interrupted = Interrupted::default();
    let mut signals = match Signals::new() {
        Ok(signals) => signals,
        Err(e) => {
            say!("warning: cannot watch for signals ({e}): an interrupted run may leave processes behind");
            return interrupted;
        }
    };
    let seen = interrupted.clone();
    tokio::spawn(async move {
        let (name, code) = signals.next().await;
        seen.0.store(code, Ordering::SeqCst);
        say!("{name}: stopping the run (send it again to stop at once)");
        token.cancel();
        let (name, _) = signals.next().await;
        say!("{name}: stopping now");
        pocket_nodes::stop_children();
        std::process::exit(i32::from(code));
    });
    interrupted
}

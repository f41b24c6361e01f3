//! The live progress line on stderr: current node, steps taken, elapsed time. It follows the
//! graph's `node` spans (a tracing layer), appears only once a run is slow enough to need it,
//! and clears itself when the run ends.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::Context;

/// What the line shows.
#[derive(Debug, Default)]
struct State {
    node: String,
    steps: u64,
    /// Tasks done and in all, while a node that fans out (`parallel`) runs.
    items: Option<(u64, u64)>,
}

/// Shared between the tracing layer (writer) and the drawing task (reader).
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress {
    state: Arc<Mutex<State>>,
}

/// The tracing layer that records node starts.
#[derive(Debug)]
pub(crate) struct ProgressLayer {
    progress: Progress,
}

struct NameVisitor<'a>(&'a mut String);

/// Reads `done` and `total` from a `pocket::progress` event.
#[derive(Default)]
struct CountVisitor {
    done: Option<u64>,
    total: Option<u64>,
}

impl Visit for CountVisitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "done" => self.done = Some(value),
            "total" => self.total = Some(value),
            _ => {}
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl Visit for NameVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "name" {
            self.0.clear();
            let _ = write!(self.0, "{value:?}");
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "name" {
            value.clone_into(self.0);
        }
    }
}

impl<S: Subscriber> tracing_subscriber::Layer<S> for ProgressLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
        if attrs.metadata().name() != "node" {
            return;
        }
        let mut name = String::new();
        attrs.record(&mut NameVisitor(&mut name));
        if let Ok(mut state) = self.progress.state.lock() {
            state.node = name;
            state.steps += 1;
            state.items = None;
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() != "pocket::progress" {
            return;
        }
        let mut counts = CountVisitor::default();
        event.record(&mut counts);
        if let (Some(done), Some(total), Ok(mut state)) = (counts.done, counts.total, self.progress.state.lock()) {
            state.items = Some((done, total));
        }
    }
}

impl Progress {
    /// The layer feeding this progress line.
    pub(crate) fn layer(&self) -> ProgressLayer {
        ProgressLayer { progress: self.clone() }
    }

    /// The line as it reads now.
    fn line(&self, elapsed: Duration) -> Option<String> {
        let state = self.state.lock().ok()?;
        Some(format!(
            "running `{}`{} · {} step{} · {:.1}s",
            state.node,
            state.items.map(|(done, total)| format!(" ({done}/{total} tasks)")).unwrap_or_default(),
            state.steps,
            if state.steps == 1 { "" } else { "s" },
            elapsed.as_secs_f64()
        ))
    }

    /// Draw the line every 100 ms, from `after` on, until `done` resolves; then clear it.
    pub(crate) async fn draw_until(&self, after: Duration, done: tokio::sync::oneshot::Receiver<()>) {
        let started = Instant::now();
        let mut done = done;
        let mut drawn = false;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = &mut done => break,
                _ = tick.tick() => {
                    let elapsed = started.elapsed();
                    if elapsed < after {
                        continue;
                    }
                    let Some(line) = self.line(elapsed) else { continue };
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r\x1b[2K{line}");
                    let _ = err.flush();
                    drawn = true;
                }
            }
        }
        if drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tracing_subscriber::prelude::*;

    use super::Progress;

    #[test]
    fn the_line_follows_node_spans_and_task_counts() {
        let progress = Progress::default();
        let subscriber = tracing_subscriber::registry().with(progress.layer());
        tracing::subscriber::with_default(subscriber, || {
            let _first = tracing::debug_span!("node", name = "fetch").entered();
            let _second = tracing::debug_span!("node", name = %"fan").entered();
            tracing::debug!(target: "pocket::progress", done = 2u64, total = 5u64, "task done");
            // Other spans and events do not count.
            let _other = tracing::debug_span!("request", name = "ignored").entered();
            tracing::debug!(done = 9u64, total = 9u64, "not progress");
        });
        assert_eq!(progress.line(Duration::from_millis(1500)).unwrap(), "running `fan` (2/5 tasks) · 2 steps · 1.5s");
    }
}

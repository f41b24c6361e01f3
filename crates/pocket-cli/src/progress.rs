//! The live progress display on stderr (indicatif): a line for the run — current node, steps,
//! elapsed time, retries — and, while nodes that fan out run (`map`, `parallel`, `--each`),
//! one line each with done/total (or done, when the total is unknown), rate, ETA and failures,
//! nested ones included. It follows the graph's `node` spans and the `pocket::progress` events
//! (a tracing layer), appears only once a run is slow enough to need it, and clears itself
//! when the run ends. Log lines are written above it ([`Progress::writer`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::layer::Context;

/// One node that fans out, as far as its events tell.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Fan {
    done: u64,
    /// `None` while unknown (items read from a file or stdin).
    total: Option<u64>,
    failed: u64,
    retries: u64,
}

/// What the display shows.
#[derive(Debug, Default)]
struct State {
    node: String,
    steps: u64,
    retries: u64,
    /// The nodes fanning out now, in the order they started, with their bars.
    fans: Vec<(String, Fan, ProgressBar)>,
}

/// Shared between the tracing layer (writer) and the run (which shows and clears it).
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    state: Arc<Mutex<State>>,
    multi: MultiProgress,
    run: ProgressBar,
}

impl Default for Progress {
    fn default() -> Self {
        // Hidden until `show`: a quick run never draws anything.
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let run = multi.add(ProgressBar::new_spinner());
        run.set_style(
            ProgressStyle::with_template("{spinner} {msg} · {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Progress { state: Arc::default(), multi, run }
    }
}

/// The tracing layer that feeds the display.
#[derive(Debug)]
pub(crate) struct ProgressLayer {
    progress: Progress,
}

struct NameVisitor<'a>(&'a mut String);

/// Reads a `pocket::progress` event: the node, `done`, `total` (0: unknown), `failed`.
#[derive(Default)]
struct CountVisitor {
    node: String,
    done: Option<u64>,
    total: Option<u64>,
    failed: Option<u64>,
}

impl Visit for CountVisitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "done" => self.done = Some(value),
            "total" => self.total = Some(value),
            "failed" => self.failed = Some(value),
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "node" {
            value.clone_into(&mut self.node);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "node" {
            self.node = format!("{value:?}");
        }
    }
}

impl Visit for NameVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "name" || field.name() == "node" {
            *self.0 = format!("{value:?}");
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "name" || field.name() == "node" {
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
        let mut state = self.progress.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.node = name;
        state.steps += 1;
        self.progress.redraw_run(&state);
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        if meta.target() != "pocket::progress" {
            // A retry is a warning of the retry layer naming its node.
            if *meta.level() == tracing::Level::WARN && meta.target().starts_with("pocket::layer::retry") {
                let mut node = String::new();
                event.record(&mut NameVisitor(&mut node));
                self.progress.retried(&node);
            }
            return;
        }
        let mut counts = CountVisitor::default();
        event.record(&mut counts);
        if let Some(done) = counts.done {
            let total = counts.total.filter(|t| *t > 0);
            self.progress.counted(&counts.node, done, total, counts.failed.unwrap_or(0));
        }
    }
}

impl Progress {
    /// The layer feeding this display.
    pub(crate) fn layer(&self) -> ProgressLayer {
        ProgressLayer { progress: self.clone() }
    }

    /// Start drawing on stderr (a run that is still going after a moment).
    pub(crate) fn show(&self) {
        self.multi.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        self.run.enable_steady_tick(Duration::from_millis(100));
    }

    /// Clear the display (the run ended).
    pub(crate) fn clear(&self) {
        self.run.finish_and_clear();
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        for (_, _, bar) in &state.fans {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }

    /// Write log output above the display.
    pub(crate) fn writer(&self) -> SuspendingWriter {
        SuspendingWriter { multi: self.multi.clone() }
    }

    /// Show it after `after` unless `done` resolves first; clear it when `done` resolves.
    pub(crate) async fn draw_until(&self, after: Duration, done: tokio::sync::oneshot::Receiver<()>) {
        let mut done = done;
        tokio::select! {
            _ = &mut done => return,
            () = tokio::time::sleep(after) => self.show(),
        }
        let _ = done.await;
        self.clear();
    }

    fn run_message(state: &State) -> String {
        let steps = if state.steps == 1 { "step" } else { "steps" };
        let retries = match state.retries {
            0 => String::new(),
            1 => " · 1 retry".to_string(),
            n => format!(" · {n} retries"),
        };
        format!("running `{}` · {} {steps}{retries}", state.node, state.steps)
    }

    fn redraw_run(&self, state: &State) {
        self.run.set_message(Self::run_message(state));
    }

    fn retried(&self, node: &str) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.retries += 1;
        // The fan whose items run under that name (a map's items carry its name) counts it too.
        if let Some((_, fan, bar)) = state.fans.iter_mut().rev().find(|(name, ..)| name == node) {
            fan.retries += 1;
            bar.set_message(fan_message(fan));
        }
        self.redraw_run(&state);
    }

    fn counted(&self, node: &str, done: u64, total: Option<u64>, failed: u64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let at = match state.fans.iter().position(|(name, ..)| name == node) {
            Some(at) => at,
            None => {
                let bar = match total {
                    Some(total) => {
                        let bar = ProgressBar::new(total);
                        bar.set_style(style("  {prefix} [{bar:24}] {pos}/{len} · {per_sec} · ETA {eta} {msg}"));
                        bar
                    }
                    None => {
                        let bar = ProgressBar::new_spinner();
                        bar.set_style(style("  {prefix} {pos} done · {per_sec} {msg}"));
                        bar
                    }
                };
                bar.set_prefix(node.to_string());
                let bar = self.multi.add(bar);
                state.fans.push((node.to_string(), Fan::default(), bar));
                state.fans.len() - 1
            }
        };
        let finished = {
            let (_, fan, bar) = &mut state.fans[at];
            fan.done = done;
            fan.total = total;
            fan.failed = failed;
            bar.set_position(done);
            bar.set_message(fan_message(fan));
            total.is_some_and(|t| done >= t)
        };
        if finished {
            let (_, _, bar) = state.fans.remove(at);
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    /// The fans shown now, for tests.
    #[cfg(test)]
    fn fans(&self) -> Vec<(String, Fan)> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.fans.iter().map(|(name, fan, _)| (name.clone(), fan.clone())).collect()
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
}

/// A fan's line after its counts: failures and retries, when there are any.
fn fan_message(fan: &Fan) -> String {
    let mut parts = Vec::new();
    if fan.failed > 0 {
        parts.push(format!("{} failed", fan.failed));
    }
    match fan.retries {
        0 => {}
        1 => parts.push("1 retry".to_string()),
        n => parts.push(format!("{n} retries")),
    }
    if parts.is_empty() { String::new() } else { format!("· {}", parts.join(" · ")) }
}

/// Writes log lines with the display taken away and drawn again after them.
#[derive(Debug, Clone)]
pub(crate) struct SuspendingWriter {
    multi: MultiProgress,
}

impl std::io::Write for SuspendingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.multi.suspend(|| std::io::stderr().write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl tracing_subscriber::fmt::MakeWriter<'_> for SuspendingWriter {
    type Writer = SuspendingWriter;

    fn make_writer(&self) -> SuspendingWriter {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::prelude::*;

    use super::{Fan, Progress};

    #[test]
    fn the_display_follows_node_spans_fans_and_retries() {
        let progress = Progress::default();
        let subscriber = tracing_subscriber::registry().with(progress.layer());
        tracing::subscriber::with_default(subscriber, || {
            let _first = tracing::debug_span!("node", name = "fetch").entered();
            let _second = tracing::debug_span!("node", name = %"fan").entered();
            tracing::debug!(target: "pocket::progress", node = "fan", done = 2u64, total = 5u64, failed = 1u64, "item done");
            tracing::debug!(target: "pocket::progress", node = "lines", done = 7u64, total = 0u64, "item done");
            tracing::warn!(target: "pocket::layer::retry", node = "fan", attempt = 1, "retrying");
            // Other spans and events do not count.
            let _other = tracing::debug_span!("request", name = "ignored").entered();
            tracing::debug!(done = 9u64, total = 9u64, "not progress");
        });
        let fans = progress.fans();
        assert_eq!(fans[0], ("fan".to_string(), Fan { done: 2, total: Some(5), failed: 1, retries: 1 }));
        assert_eq!(fans[1], ("lines".to_string(), Fan { done: 7, total: None, failed: 0, retries: 0 }));
        let state = progress.state.lock().unwrap();
        assert_eq!(Progress::run_message(&state), "running `fan` · 2 steps · 1 retry");
        assert_eq!(super::fan_message(&fans[0].1), "· 1 failed · 1 retry");
        drop(state);
        // A fan that reaches its total is taken off.
        let subscriber = tracing_subscriber::registry().with(progress.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "pocket::progress", node = "fan", done = 5u64, total = 5u64, failed = 1u64, "item done");
        });
        assert_eq!(progress.fans().len(), 1);
    }
}

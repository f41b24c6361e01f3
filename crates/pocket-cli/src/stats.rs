//! `pocket run --stats`: what the run did, per node — visits, time, failures, retries, items
//! that failed in a `map`, LLM tokens — and the time spent waiting on each named limit,
//! gathered by a tracing layer from the graph's `node` spans and the library's events, printed
//! at the end on stderr (one JSON document with `--output json`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// One node's figures; nodes inside a sub-workflow are named by their path (`outer/inner`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct NodeStats {
    visits: u64,
    time: Duration,
    failures: u64,
    retries: u64,
    items_failed: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
}

#[derive(Debug, Default)]
struct Figures {
    /// In the order the nodes first ran.
    nodes: Vec<(String, NodeStats)>,
    /// Time waited per named limit (`""`: a node type's own limit).
    waits: Vec<(String, Duration)>,
}

impl Figures {
    fn node(&mut self, path: &str) -> &mut NodeStats {
        let at = match self.nodes.iter().position(|(p, _)| p == path) {
            Some(at) => at,
            None => {
                self.nodes.push((path.to_string(), NodeStats::default()));
                self.nodes.len() - 1
            }
        };
        &mut self.nodes[at].1
    }
}

/// The figures, shared by the layer (writer) and the end of the run (reader).
#[derive(Debug, Clone, Default)]
pub(crate) struct Stats {
    figures: Arc<Mutex<Figures>>,
}

/// A `node` span's path, start and whether it ended with an action.
struct NodeVisit {
    path: String,
    started: Instant,
    ended_well: bool,
}

#[derive(Default)]
struct Fields {
    name: Option<String>,
    node: Option<String>,
    limit: Option<String>,
    action: bool,
    numbers: Vec<(&'static str, u64)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "name" => self.name = Some(value.to_string()),
            "node" => self.node = Some(value.to_string()),
            "limit" => self.limit = Some(value.to_string()),
            "action" => self.action = true,
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.numbers.push((field.name(), value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.numbers.push((field.name(), u64::try_from(value).unwrap_or(0)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "name" => self.name = Some(text),
            "node" => self.node = Some(text),
            "action" => self.action = true,
            _ => {}
        }
    }
}

impl Fields {
    fn number(&self, name: &str) -> u64 {
        self.numbers.iter().find(|(n, _)| *n == name).map_or(0, |(_, v)| *v)
    }
}

/// The tracing layer that gathers the figures.
pub(crate) struct StatsLayer {
    stats: Stats,
}

impl Stats {
    /// The workflow's named limits: each is listed, waited on or not.
    pub(crate) fn limits<'a>(&self, names: impl IntoIterator<Item = &'a String>) {
        let mut figures = self.figures.lock().unwrap_or_else(PoisonError::into_inner);
        for name in names {
            figures.waits.push((name.clone(), Duration::ZERO));
        }
    }

    pub(crate) fn layer(&self) -> StatsLayer {
        StatsLayer { stats: self.clone() }
    }

    /// The figures as JSON: `{nodes: [{node, visits, time_ms, failures, retries, ...}],
    /// limits: [{limit, waited_ms}]}`.
    pub(crate) fn to_json(&self) -> Value {
        let figures = self.figures.lock().unwrap_or_else(PoisonError::into_inner);
        let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
        let nodes: Vec<Value> = figures
            .nodes
            .iter()
            .map(|(path, s)| {
                let mut node = json!({
                    "node": path, "visits": s.visits, "time_ms": ms(s.time), "failures": s.failures, "retries": s.retries,
                });
                if s.items_failed > 0 {
                    node["items_failed"] = json!(s.items_failed);
                }
                if s.prompt_tokens + s.completion_tokens > 0 {
                    node["prompt_tokens"] = json!(s.prompt_tokens);
                    node["completion_tokens"] = json!(s.completion_tokens);
                }
                node
            })
            .collect();
        let limits: Vec<Value> = figures
            .waits
            .iter()
            .map(|(limit, waited)| {
                let name = if limit.is_empty() { "(a node type's own rate limit)" } else { limit };
                json!({"limit": name, "waited_ms": ms(*waited)})
            })
            .collect();
        json!({"nodes": nodes, "limits": limits})
    }

    /// The figures as a table.
    pub(crate) fn to_text(&self) -> String {
        let all = self.to_json();
        let mut out = String::from("stats:\n");
        let rows: Vec<[String; 6]> = all["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| {
                let tokens = match (n["prompt_tokens"].as_u64(), n["completion_tokens"].as_u64()) {
                    (Some(p), Some(c)) => format!("{p}+{c}"),
                    _ => String::new(),
                };
                let failures = match n["items_failed"].as_u64() {
                    Some(items) => format!("{} ({items} items)", n["failures"]),
                    None => n["failures"].to_string(),
                };
                [
                    n["node"].as_str().unwrap_or_default().to_string(),
                    n["visits"].to_string(),
                    format!("{:.3}s", n["time_ms"].as_f64().unwrap_or(0.0) / 1e3),
                    failures,
                    n["retries"].to_string(),
                    tokens,
                ]
            })
            .collect();
        let header = ["node", "visits", "time", "failures", "retries", "tokens"].map(String::from);
        let widths: Vec<usize> = (0..6)
            .map(|i| std::iter::once(&header).chain(&rows).map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        for row in std::iter::once(&header).chain(&rows) {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            out.push_str(&format!("  {}\n", cells.join("  ").trim_end()));
        }
        for limit in all["limits"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "  waited on {}: {:.3}s\n",
                limit["limit"].as_str().unwrap_or_default(),
                limit["waited_ms"].as_f64().unwrap_or(0.0) / 1e3
            ));
        }
        out
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for StatsLayer {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "node" {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let Some(span) = ctx.span(id) else { return };
        let name = fields.name.unwrap_or_default();
        // Inside another node (a sub-workflow's), the path of the enclosing nodes first.
        let parent = span.scope().skip(1).find_map(|s| s.extensions().get::<NodeVisit>().map(|v| v.path.clone()));
        let path = match parent {
            Some(parent) => format!("{parent}/{name}"),
            None => name,
        };
        span.extensions_mut().insert(NodeVisit { path, started: Instant::now(), ended_well: fields.action });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        values.record(&mut fields);
        if fields.action
            && let Some(span) = ctx.span(id)
            && let Some(visit) = span.extensions_mut().get_mut::<NodeVisit>()
        {
            visit.ended_well = true;
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let extensions = span.extensions();
        let Some(visit) = extensions.get::<NodeVisit>() else { return };
        let mut figures = self.stats.figures.lock().unwrap_or_else(PoisonError::into_inner);
        let node = figures.node(&visit.path);
        node.visits += 1;
        node.time += visit.started.elapsed();
        // A node that handed on an action ended well; one that did not failed (or was stopped).
        if !visit.ended_well {
            node.failures += 1;
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let target = meta.target();
        let wanted = matches!(target, "pocket::wait" | "pocket::usage" | "pocket::progress")
            || (*meta.level() == tracing::Level::WARN && target.starts_with("pocket::layer::retry"));
        if !wanted {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        // The node an event belongs to: the innermost `node` span it happened in.
        let current = ctx.event_scope(event).and_then(|scope| {
            scope.from_root().filter_map(|s| s.extensions().get::<NodeVisit>().map(|v| v.path.clone())).last()
        });
        let mut figures = self.stats.figures.lock().unwrap_or_else(PoisonError::into_inner);
        match target {
            "pocket::wait" => {
                let limit = fields.limit.clone().unwrap_or_default();
                let waited = Duration::from_micros(fields.number("waited_us"));
                match figures.waits.iter_mut().find(|(l, _)| *l == limit) {
                    Some((_, total)) => *total += waited,
                    None => figures.waits.push((limit, waited)),
                }
            }
            "pocket::usage" => {
                let Some(path) = current else { return };
                let node = figures.node(&path);
                node.prompt_tokens += fields.number("prompt_tokens");
                node.completion_tokens += fields.number("completion_tokens");
            }
            "pocket::progress" => {
                // A `map`'s count of failed items (its events carry the running total).
                let Some(path) = current else { return };
                let failed = fields.number("failed");
                let node = figures.node(&path);
                node.items_failed = node.items_failed.max(failed);
            }
            _ => {
                let path = current.or(fields.node).unwrap_or_default();
                figures.node(&path).retries += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::prelude::*;

    use super::Stats;

    #[test]
    fn visits_failures_retries_tokens_and_waits_are_counted_per_node() {
        let stats = Stats::default();
        let subscriber = tracing_subscriber::registry().with(stats.layer());
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..2 {
                let span = tracing::debug_span!("node", name = "ask", action = tracing::field::Empty);
                let _in = span.enter();
                tracing::debug!(target: "pocket::usage", prompt_tokens = 10u64, completion_tokens = 3u64, "llm usage");
                tracing::warn!(target: "pocket::layer::retry", node = "ask", attempt = 1, "retrying");
                span.record("action", "default");
            }
            let outer = tracing::debug_span!("node", name = "flow", action = tracing::field::Empty);
            let _in = outer.enter();
            {
                let _inner = tracing::debug_span!("node", name = "step", action = tracing::field::Empty).entered();
                tracing::debug!(target: "pocket::wait", node = "step", limit = "api", waited_us = 1500u64, "waited");
            }
        });
        let out = stats.to_json();
        let nodes = out["nodes"].as_array().unwrap();
        assert_eq!(nodes[0]["node"], "ask");
        assert_eq!((nodes[0]["visits"].as_u64(), nodes[0]["failures"].as_u64()), (Some(2), Some(0)));
        assert_eq!((nodes[0]["retries"].as_u64(), nodes[0]["prompt_tokens"].as_u64()), (Some(2), Some(20)));
        assert_eq!(nodes[1]["node"], "flow/step");
        assert_eq!(nodes[1]["failures"], 1, "ended without an action");
        assert_eq!(nodes[2]["node"], "flow");
        assert_eq!(out["limits"][0]["limit"], "api");
        assert_eq!(out["limits"][0]["waited_ms"], 1.5);
        let text = stats.to_text();
        assert!(text.contains("ask") && text.contains("20+6") && text.contains("waited on api: 0.002s"), "{text}");
    }
}

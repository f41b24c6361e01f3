//! `pocket runs`: the recorded runs — list, show, remove, collect old ones.

use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use pocket::durable::{Checkpointer, Durability, Record, RunRecord, RunStatus, SavedRun};
use serde_json::{Value, json};

use crate::resume::find_run;
use crate::{Format, INVALID, STATE, output, state};

/// How long `pocket runs gc` keeps a run by default: 14 days.
pub(crate) const DEFAULT_KEEP_FOR: Duration = Duration::from_secs(14 * 24 * 3600);
/// How many runs `pocket runs gc` keeps at most by default.
pub(crate) const DEFAULT_KEEP: usize = 1000;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum RunsCommand {
    /// The recorded runs, newest first: id, status, workflow, when.
    List {
        /// Only runs with this status.
        #[arg(long, value_parser = parse_status)]
        status: Option<RunStatus>,
    },
    /// One run: its record and a timeline of its nodes (start, duration, action, next).
    Show {
        /// The run's id (or an unambiguous prefix).
        run: String,
    },
    /// Run again from a step of a recorded run, with the input and the store as they were
    /// there: a new run (its id printed) that keeps the steps before, then goes on as `pocket
    /// resume` does. The workflow file may have changed since (`--allow-changed`).
    Fork {
        /// The run's id (or an unambiguous prefix).
        run: String,
        /// The node to run from (its last visit, or the one `--visit` names).
        #[arg(long, value_name = "NODE")]
        from: String,
        /// Which visit of the node, for a node the run went through several times (1: the
        /// first; default: the last).
        #[arg(long, value_name = "N")]
        visit: Option<usize>,
        /// Allow the workflow file to have changed since the run (as `pocket resume
        /// --allow-changed`).
        #[arg(long)]
        allow_changed: bool,
    },
    /// Remove runs and their records.
    Rm {
        /// The runs' ids (or unambiguous prefixes).
        #[arg(required = true)]
        runs: Vec<String>,
    },
    /// Remove old runs: those older than `--older-than` and those beyond the newest `--keep`
    /// (runs that are running or waiting for an answer are kept).
    Gc {
        /// Keep runs younger than this (a Go duration; default 336h, 14 days).
        #[arg(long, value_name = "DURATION")]
        older_than: Option<String>,
        /// Keep at most this many runs (default 1000).
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
    },
}

fn parse_status(text: &str) -> Result<RunStatus, String> {
    text.parse()
}

/// `pocket runs ...`.
pub(crate) fn runs(registry: &pocket_nodes::Registry, command: &RunsCommand, cli: &crate::Cli) -> ExitCode {
    if let RunsCommand::Fork { run, from, visit, allow_changed } = command {
        return crate::resume::fork(registry, cli, run, from, *visit, *allow_changed);
    }
    let checkpointer = match state::open(cli.state.as_ref(), Durability::Process) {
        Ok(c) => c,
        Err(e) => {
            say!("error: {e}");
            return ExitCode::from(STATE);
        }
    };
    let result = match command {
        RunsCommand::List { status } => list(&*checkpointer, *status, cli.output),
        RunsCommand::Show { run } => show(&*checkpointer, run, cli.output),
        RunsCommand::Rm { runs } => remove(&*checkpointer, runs),
        RunsCommand::Gc { older_than, keep } => gc(&checkpointer, older_than.as_deref(), *keep),
        RunsCommand::Fork { .. } => unreachable!("handled above"),
    };
    result.unwrap_or_else(|(code, message)| {
        say!("error: {message}");
        ExitCode::from(code)
    })
}

type Outcome = Result<ExitCode, (u8, String)>;

fn state_error(e: impl std::fmt::Display) -> (u8, String) {
    (STATE, e.to_string())
}

/// Milliseconds since the epoch as `2026-12-07T14:30:02Z`.
fn when(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

fn run_json(run: &RunRecord) -> Value {
    json!({
        "id": run.id,
        "status": state::effective_status(run).as_str(),
        "workflow": run.workflow,
        "origin": run.origin,
        "durability": run.durability.as_str(),
        "created": when(run.created_ms),
        "updated": when(run.updated_ms),
        "error": run.error,
        "owner": run.owner,
    })
}

fn list(c: &dyn Checkpointer, status: Option<RunStatus>, format: Format) -> Outcome {
    let runs: Vec<RunRecord> = c
        .runs()
        .map_err(state_error)?
        .into_iter()
        .filter(|r| status.is_none_or(|s| state::effective_status(r) == s))
        .collect();
    if format != Format::Text {
        return Ok(output::print_value(&Value::Array(runs.iter().map(run_json).collect()), format));
    }
    let mut text = format!("{:<26}  {:<11}  {:<20}  {}\n", "RUN", "STATUS", "STARTED", "WORKFLOW");
    for run in &runs {
        let status = state::effective_status(run).as_str();
        text.push_str(&format!(
            "{:<26}  {:<11}  {:<20}  {} ({})\n",
            run.id,
            status,
            when(run.created_ms),
            run.workflow,
            run.origin
        ));
    }
    Ok(output::print(&text))
}

/// A run's timeline: one entry per counted step, with the memos and items recorded for it.
fn timeline(saved: &SavedRun) -> Vec<Value> {
    let mut items: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for record in &saved.log {
        if let Record::Item { node, .. } = record {
            *items.entry(node.as_str()).or_default() += 1;
        }
    }
    saved
        .steps()
        .map(|s| {
            json!({
                "step": s.step,
                "node": s.node,
                "started": when(s.started_ms),
                "duration_ms": s.elapsed_us as f64 / 1000.0,
                "action": s.action,
                "next": s.next,
                "store_changes": s.delta.len(),
                "items": items.get(s.node.as_str()),
                // An `llm` node's output carries the usage its reply reported.
                "tokens": s.value.get("usage").filter(|u| u.get("total_tokens").is_some()),
            })
        })
        .collect()
}

fn show(c: &dyn Checkpointer, wanted: &str, format: Format) -> Outcome {
    let run = find_run(c, wanted).map_err(|e| (STATE, e))?;
    let saved = c.load(&run.id).map_err(state_error)?;
    let steps = timeline(&saved);
    let status = state::effective_status(&saved.run);
    let output_value = match (status, saved.last_step()) {
        (RunStatus::Succeeded, Some(last)) if last.next.is_none() => Some(last.value.clone()),
        _ => None,
    };
    if format != Format::Text {
        let mut doc = run_json(&saved.run);
        doc["input"] = saved.run.input.clone();
        doc["steps"] = Value::Array(steps);
        doc["output"] = output_value.unwrap_or(Value::Null);
        return Ok(output::print_value(&doc, format));
    }
    let r = &saved.run;
    let mut text = format!("run       {}\nworkflow  {} ({})\nstatus    {status}\n", r.id, r.workflow, r.origin);
    text.push_str(&format!(
        "started   {}\nupdated   {}\ndurability {}\n",
        when(r.created_ms),
        when(r.updated_ms),
        r.durability.as_str()
    ));
    if let Some(error) = &r.error {
        text.push_str(&format!("error     {error}\n"));
    }
    text.push_str(&format!(
        "\n{:>5}  {:<24}  {:<20}  {:>12}  {}\n",
        "STEP", "NODE", "STARTED", "DURATION", "ACTION -> NEXT"
    ));
    for s in &steps {
        let next = s["next"].as_str().map_or("(end)".to_string(), |n| format!("`{n}`"));
        let mut line = format!(
            "{:>5}  {:<24}  {:<20}  {:>10.3}ms  {} -> {next}",
            s["step"].as_u64().unwrap_or(0),
            s["node"].as_str().unwrap_or(""),
            s["started"].as_str().unwrap_or(""),
            s["duration_ms"].as_f64().unwrap_or(0.0),
            s["action"].as_str().unwrap_or("(end)"),
        );
        if let Some(n) = s["items"].as_u64() {
            line.push_str(&format!("  [{n} items]"));
        }
        if let Some(n) = s["tokens"]["total_tokens"].as_u64() {
            line.push_str(&format!("  [{n} tokens]"));
        }
        text.push_str(&line);
        text.push('\n');
    }
    if status != RunStatus::Succeeded {
        let at = saved.last_step().and_then(|s| s.next.clone()).unwrap_or_else(|| "the start".into());
        text.push_str(&format!("\nnext: `{at}` (pocket resume {})\n", r.id));
    }
    Ok(output::print(&text))
}

fn remove(c: &dyn Checkpointer, wanted: &[String]) -> Outcome {
    let mut runs = Vec::new();
    for w in wanted {
        let run = find_run(c, w).map_err(|e| (STATE, e))?;
        if state::effective_status(&run) == RunStatus::Running {
            return Err((STATE, format!("run {} is running now: stop it first", run.id)));
        }
        runs.push(run);
    }
    for run in runs {
        c.remove(&run.id).map_err(state_error)?;
        say!("removed run {}", run.id);
    }
    Ok(ExitCode::SUCCESS)
}

fn gc(c: &pocket_sqlite::SqliteCheckpointer, older_than: Option<&str>, keep: Option<usize>) -> Outcome {
    let keep_for = match older_than {
        None => DEFAULT_KEEP_FOR,
        Some(text) => pocket_yaml::parse_duration(text).map_err(|e| (INVALID, format!("--older-than: {e}")))?,
    };
    let keep = keep.unwrap_or(DEFAULT_KEEP);
    let now = std::time::SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
    let cutoff = now.saturating_sub(keep_for.as_millis() as u64);
    let runs = c.runs().map_err(state_error)?;
    let mut removed = 0;
    for (i, run) in runs.iter().enumerate() {
        let status = state::effective_status(run);
        if matches!(status, RunStatus::Running | RunStatus::Waiting) {
            continue;
        }
        if (run.created_ms < cutoff || i >= keep) && c.remove(&run.id).map_err(state_error)? {
            removed += 1;
        }
    }
    let swept = c.sweep().map_err(state_error)?;
    say!(
        "removed {removed} run{} ({swept} stored value{} freed)",
        if removed == 1 { "" } else { "s" },
        if swept == 1 { "" } else { "s" }
    );
    Ok(ExitCode::SUCCESS)
}

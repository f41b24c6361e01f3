//! `pocket run FILE --each LINES`: the whole workflow once per line of JSON input, a bounded
//! number at once, one JSON result per line on stdout — in input order unless `--unordered`
//! — back-pressured from the consumer to the reader (the library's stream processing).

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use pocket::durable::{Checkpointer, Record, SavedRun};
use pocket::node::{Compose, Composite, RunCx};
use pocket::pattern::StreamProcessor;
use pocket::{CancellationToken, Graph, NodeError, RunOptions, Store};
use pocket_sqlite::SqliteCheckpointer;
use serde_json::{Value, json};

use crate::run::{SHUTDOWN_GRACE, Session, print_stats};
use crate::{FAILED, Format, signals};

/// How `--each` runs.
pub(crate) struct Each {
    /// Lines run at once.
    pub(crate) concurrency: usize,
    /// Print results as they finish instead of in input order.
    pub(crate) unordered: bool,
    /// Stop at the first failed line.
    pub(crate) fail_fast: bool,
    /// Each line's run: its deadline and step limit.
    pub(crate) deadline: Option<std::time::Duration>,
    pub(crate) max_steps: Option<u64>,
}

/// How the lines went.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) succeeded: u64,
    pub(crate) failed: u64,
    /// stdout failed (other than a reader that went away).
    pub(crate) write_error: Option<std::io::Error>,
}

/// Where a recorded `--each` run keeps each line's result (one `Item` record per line that
/// succeeded), and the results a resume found: those lines are printed, not run again.
pub(crate) struct Recorded {
    pub(crate) checkpointer: Arc<dyn Checkpointer>,
    pub(crate) id: String,
    /// By line number: the hash of the line's input and its result.
    pub(crate) saved: HashMap<u64, (String, Value)>,
}

/// The node name an `--each` run's line results are recorded under.
pub(crate) const EACH_NODE: &str = "--each";

impl Recorded {
    /// The results saved by the run `saved` (after its last rewind).
    pub(crate) fn of(checkpointer: Arc<dyn Checkpointer>, saved: &SavedRun) -> Self {
        let saved_items = saved
            .in_flight()
            .filter_map(|r| match r {
                Record::Item { node, index, key, value, .. } if node == EACH_NODE => {
                    Some((*index, (key.clone(), value.clone())))
                }
                _ => None,
            })
            .collect();
        Recorded { checkpointer, id: saved.run.id.clone(), saved: saved_items }
    }
}

fn line_key(input: &Value) -> String {
    blake3::hash(input.to_string().as_bytes()).to_hex().to_string()
}

/// One line's run of the workflow: its outcome is the node's output (a failed line is a
/// result to print, not a failure of the processing).
struct Line {
    graph: Graph<Value, Value>,
    deadline: Option<std::time::Duration>,
    max_steps: Option<u64>,
    recorded: Option<Arc<Recorded>>,
}

type Numbered = (u64, Result<Value, String>);

impl Compose for Line {
    type Input = Numbered;
    type Output = Numbered;

    async fn run(&self, cx: &RunCx<'_>, (line, input): &Numbered) -> Result<Numbered, NodeError> {
        let input = match input {
            Ok(value) => value.clone(),
            Err(e) => return Ok((*line, Err(e.clone()))),
        };
        let key = self.recorded.as_ref().map(|_| line_key(&input));
        if let (Some(recorded), Some(key)) = (&self.recorded, &key)
            && let Some((saved_key, value)) = recorded.saved.get(line)
            && saved_key == key
        {
            return Ok((*line, Ok(value.clone())));
        }
        let mut options = RunOptions::new().token(cx.token().clone());
        if let Some(after) = self.deadline {
            options = options.deadline(after);
        }
        if let Some(steps) = self.max_steps {
            options = options.max_steps(steps);
        }
        let result = self.graph.run_with(cx.store(), input, options).await;
        if let (Some(recorded), Some(key), Ok(value)) = (&self.recorded, key, &result) {
            let record = Record::Item { node: EACH_NODE.into(), step: 1, index: *line, key, value: value.clone() };
            // Committed with its group; a failed write leaves the line to run again on resume.
            if let Some(e) = recorded.checkpointer.append(&recorded.id, record).error_now() {
                tracing::warn!(error = %e, line, "cannot record the line's result");
            }
        }
        Ok((*line, result.map_err(|e| format!("line {line}: {}", pocket::report(&e)))))
    }
}

/// Run `graph` once per line of `source`, printing each result as one line on stdout.
pub(crate) async fn run(
    graph: Graph<Value, Value>,
    store: &Store,
    source: Box<dyn std::io::Read + Send>,
    each: &Each,
    token: &CancellationToken,
    recorded: Option<Arc<Recorded>>,
) -> Result<Outcome, String> {
    let lines = pocket_nodes::json_lines(source).map_err(|e| format!("cannot start reading the lines: {e}"))?;
    let node = Composite(Line { graph, deadline: each.deadline, max_steps: each.max_steps, recorded });
    let mut processor = StreamProcessor::new(node).name("each").limit(each.concurrency).buffer(each.concurrency);
    if each.unordered {
        processor = processor.unordered();
    }
    let mut results = processor.run_with(store, lines, token);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut outcome = Outcome::default();
    while let Some(result) = results.next().await {
        if token.is_cancelled() {
            break;
        }
        let (text, ok) = match result {
            Ok((_, Ok(value))) => (value.to_string(), true),
            Ok((line, Err(error))) => (json!({"line": line, "error": error}).to_string(), false),
            // The line's node cannot fail (its failures are results); a panic can.
            Err(e) => (json!({"index": e.index, "error": pocket::report(&e.error)}).to_string(), false),
        };
        if ok {
            outcome.succeeded += 1;
        } else {
            outcome.failed += 1;
        }
        tracing::debug!(
            target: "pocket::progress",
            node = "--each",
            done = outcome.succeeded + outcome.failed,
            total = 0u64,
            failed = outcome.failed,
            "line done"
        );
        // Each line as soon as it is known: a consumer reading as it goes sees it now, and a
        // slow one slows the processing down.
        let written = out.write_all(text.as_bytes()).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => break,
            Err(e) => {
                outcome.write_error = Some(e);
                break;
            }
        }
        if !ok && each.fail_fast {
            break;
        }
    }
    Ok(outcome)
}

/// An `--each` run to execute.
pub(crate) struct EachJob<'a> {
    pub(crate) graph: Graph<Value, Value>,
    pub(crate) store: &'a Store,
    pub(crate) name: &'a str,
    pub(crate) stats: bool,
    pub(crate) format: Format,
}

/// Execute an `--each` run (fresh or resumed), print its lines' results, record how it
/// ended, and give the exit code.
pub(crate) fn execute(
    session: Session,
    job: EachJob<'_>,
    lines: Box<dyn std::io::Read + Send>,
    each: &Each,
    recorded: Option<(Arc<SqliteCheckpointer>, Arc<Recorded>)>,
) -> ExitCode {
    let Session { progress, show_progress, stats, runtime } = session;
    let EachJob { graph, store, name, stats: show_stats, format } = job;
    let token = CancellationToken::new();
    let (outcome, interrupted, status_error) = runtime.block_on(async {
        let interrupted = signals::watch(token.clone());
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let drawer = show_progress.then(|| {
            let progress = progress.clone();
            tokio::spawn(async move { progress.draw_until(Duration::from_millis(500), done_rx).await })
        });
        let lines_record = recorded.as_ref().map(|(_, r)| r.clone());
        let outcome = run(graph, store, lines, each, &token, lines_record).await;
        let _ = done_tx.send(());
        if let Some(drawer) = drawer {
            let _ = drawer.await;
        }
        let mut status_error = None;
        if let Some((checkpointer, record)) = &recorded {
            use pocket::durable::RunStatus;
            let (status, error) = match &outcome {
                _ if token.is_cancelled() => (RunStatus::Cancelled, Some("interrupted".to_string())),
                Err(e) => (RunStatus::Failed, Some(e.clone())),
                Ok(o) if o.failed > 0 => {
                    (RunStatus::Failed, Some(format!("{} of {} lines failed", o.failed, o.failed + o.succeeded)))
                }
                Ok(_) => (RunStatus::Succeeded, None),
            };
            status_error = checkpointer.set_status(&record.id, status, error.as_deref()).wait().await.err();
        }
        (outcome, interrupted, status_error)
    });
    pocket_nodes::stop_children();
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    let run_id = recorded.as_ref().map(|(_, r)| r.id.clone());
    let resume_hint = || {
        if let Some(id) = &run_id {
            say!("run {id} can be resumed (lines that succeeded are not run again): pocket resume {id}");
        }
    };
    let code = match outcome {
        _ if token.is_cancelled() => {
            say!("interrupted: workflow `{name}` (--each)");
            resume_hint();
            ExitCode::from(interrupted.code().unwrap_or(130))
        }
        Err(e) => {
            say!("error: --each: {e}");
            ExitCode::from(FAILED)
        }
        Ok(outcome) if outcome.write_error.is_some() => {
            say!(
                "error: cannot write the output: {}",
                outcome.write_error.as_ref().map(ToString::to_string).unwrap_or_default()
            );
            ExitCode::from(FAILED)
        }
        Ok(outcome) if outcome.failed > 0 => {
            say!("error: workflow `{name}`: {} of {} lines failed", outcome.failed, outcome.failed + outcome.succeeded);
            resume_hint();
            ExitCode::from(FAILED)
        }
        Ok(_) => ExitCode::SUCCESS,
    };
    if let Some(e) = status_error {
        say!("error: cannot record how the run ended: {e}");
    }
    if show_stats {
        print_stats(&stats, format);
    }
    code
}

//! `pocket run FILE --each LINES`: the whole workflow once per line of JSON input, a bounded
//! number at once, one JSON result per line on stdout — in input order unless `--unordered`
//! — back-pressured from the consumer to the reader (the library's stream processing).

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use futures_util::StreamExt;
use pocket::durable::{Checkpointer, Record, SavedRun};
use pocket::node::{Compose, Composite, RunCx};
use pocket::pattern::StreamProcessor;
use pocket::{CancellationToken, Graph, NodeError, RunOptions, Store};
use serde_json::{Value, json};

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

//! Items read from a file as they are needed — JSON Lines, CSV (a header row, then one object
//! per row) or one JSON array — and results written to a JSON Lines file: the `map` node's
//! `items_file` and `output_file`.
//!
//! A reader thread parses the file and hands items over a small bounded channel, so that no
//! more than a few items are read ahead of the ones started, whatever the file's size; it ends
//! when the channel's receiver is dropped. (A thread of its own, not tokio's blocking pool: a
//! read of standard input that never returns must not hold the runtime's shutdown.)

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use pocket::NodeError;
use serde::de::{DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::sandbox::Sandbox;

/// The most one item may take in its file (a JSON line, a CSV record, an element of a JSON
/// array): a file with no line breaks cannot fill the memory.
pub(crate) const MAX_ITEM_BYTES: u64 = 16 << 20;

/// How many parsed items wait between the reader thread and the run.
const READ_AHEAD: usize = 8;

/// How a file of items is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Format {
    /// One JSON value per line (blank lines skipped).
    Jsonl,
    /// A header row, then one object per row (values are strings).
    Csv,
    /// One JSON array.
    Json,
}

impl Format {
    /// The format a file name says (`.jsonl`/`.ndjson`, `.csv`, `.json`); standard input and
    /// other names are JSON Lines.
    pub(crate) fn of(path: &str) -> Format {
        match Path::new(path).extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("csv") => Format::Csv,
            Some("json") => Format::Json,
            _ => Format::Jsonl,
        }
    }
}

/// One item and the line of the file it starts on.
pub(crate) struct Item {
    pub(crate) line: u64,
    pub(crate) value: Value,
}

/// The items of a file, as a stream of values. The line of each item handed out is queued in
/// [`Lines`], in the same order; a file that cannot be read or parsed ends the stream and leaves
/// its error in [`Lines::error`].
pub(crate) struct ItemStream {
    rx: mpsc::Receiver<Result<Item, String>>,
    lines: Arc<Lines>,
}

/// The lines of the items handed out and not yet taken back, and the error that ended the file.
#[derive(Default)]
pub(crate) struct Lines {
    state: Mutex<(std::collections::VecDeque<u64>, Option<String>)>,
}

impl Lines {
    /// The line of the oldest item handed out and not taken yet.
    pub(crate) fn take(&self) -> Option<u64> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).0.pop_front()
    }

    /// Why the file ended early, if it did.
    pub(crate) fn error(&self) -> Option<String> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).1.clone()
    }
}

impl futures_util::Stream for ItemStream {
    type Item = Value;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Value>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(Ok(item))) => {
                self.lines.state.lock().unwrap_or_else(PoisonError::into_inner).0.push_back(item.line);
                Poll::Ready(Some(item.value))
            }
            Poll::Ready(Some(Err(e))) => {
                self.lines.state.lock().unwrap_or_else(PoisonError::into_inner).1 = Some(e);
                self.rx.close();
                Poll::Ready(None)
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Open `path` (relative to `base`, never outside it; `-` is standard input) and start reading
/// its items in `format`.
///
/// # Errors
///
/// The file cannot be opened (or is outside `base`).
pub(crate) fn open(base: &Path, path: &str, format: Format) -> Result<(ItemStream, Arc<Lines>), NodeError> {
    let source: Box<dyn Read + Send> = if path == "-" {
        Box::new(std::io::stdin())
    } else {
        let sandbox = Sandbox::open(base)?;
        let relative = sandbox.relative(path, false)?;
        let file = sandbox.dir.open(&relative).map_err(|e| sandbox.error("cannot open", &relative, &e))?;
        Box::new(file.into_std())
    };
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    let shown = path.to_string();
    reading("pocket-items", source, move |reader| {
        let sent = match format {
            Format::Jsonl => read_jsonl(reader, &tx),
            Format::Csv => read_csv(reader, &tx),
            Format::Json => read_json_array(reader, &tx),
        };
        if let Err(Some(e)) = sent {
            let _ = tx.blocking_send(Err(format!("items_file {shown}: {e}")));
        }
    })
    .map_err(|e| NodeError::fatal_msg(format!("items_file: cannot start its reader: {e}")))?;
    let lines = Arc::new(Lines::default());
    Ok((ItemStream { rx, lines: lines.clone() }, lines))
}

/// Run `work` over `source`, buffered, on a thread of its own named `name`.
fn reading(
    name: &str,
    source: Box<dyn Read + Send>,
    work: impl FnOnce(BufReader<Box<dyn Read + Send>>) + Send + 'static,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || work(BufReader::with_capacity(64 << 10, source)))
        .map(drop)
}

/// `Err(None)`: the receiver is gone (the run ended), stop quietly; `Err(Some(e))`: the file's
/// fault.
type Sent = Result<(), Option<String>>;

fn send(tx: &mpsc::Sender<Result<Item, String>>, line: u64, value: Value) -> Sent {
    tx.blocking_send(Ok(Item { line, value })).map_err(|_| None)
}

fn read_jsonl(reader: impl BufRead, tx: &mpsc::Sender<Result<Item, String>>) -> Sent {
    each_json_line(reader, |line, value| match value {
        Ok(value) => send(tx, line, value),
        Err(e) => Err(Some(e)),
    })
}

/// Call `each` with every non-blank line of `reader` (its number and its value, or why it is
/// not JSON), until `each` says stop; a line longer than [`MAX_ITEM_BYTES`] or a read error
/// ends the reading with that error.
fn each_json_line(mut reader: impl BufRead, mut each: impl FnMut(u64, Result<Value, String>) -> Sent) -> Sent {
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        line += 1;
        let n = (&mut reader).take(MAX_ITEM_BYTES + 1).read_until(b'\n', &mut buf).map_err(|e| Some(e.to_string()))?;
        if n == 0 {
            return Ok(());
        }
        if n as u64 > MAX_ITEM_BYTES && buf.last() != Some(&b'\n') {
            return Err(Some(format!("line {line}: longer than {} MiB", MAX_ITEM_BYTES >> 20)));
        }
        let value = match std::str::from_utf8(&buf) {
            Err(_) => Err(format!("line {line}: not UTF-8 text")),
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => pocket_yaml::json_exact(text).map_err(|e| format!("line {line}: not JSON: {e}")),
        };
        each(line, value)?;
    }
}

/// The lines of JSON text from `source` (a file, standard input), read on a thread of their
/// own a few lines ahead of the consumer: each non-blank line's number and its value, or why
/// it is not JSON (the reading goes on); a line longer than 16 MiB or a read error is the last
/// item. Dropping the stream stops the reading (a read of standard input that never returns
/// keeps its thread, never the process).
///
/// # Errors
///
/// The reading thread cannot be started.
pub fn json_lines(
    source: Box<dyn Read + Send>,
) -> std::io::Result<impl futures_util::Stream<Item = (u64, Result<Value, String>)> + Send + Unpin> {
    let (tx, mut rx) = mpsc::channel(READ_AHEAD);
    reading("pocket-lines", source, move |reader| {
        let mut last = 0;
        let ended = each_json_line(reader, |line, value| {
            last = line;
            tx.blocking_send((line, value)).map_err(|_| None)
        });
        if let Err(Some(e)) = ended {
            let _ = tx.blocking_send((last + 1, Err(e)));
        }
    })?;
    Ok(futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

fn read_csv(reader: impl Read, tx: &mpsc::Sender<Result<Item, String>>) -> Sent {
    let counted = Capped::new(reader);
    let budget = counted.budget.clone();
    let mut csv = csv::ReaderBuilder::new().has_headers(true).from_reader(counted);
    let headers = csv.headers().map_err(|e| Some(csv_error(&e)))?.clone();
    let mut record = csv::StringRecord::new();
    loop {
        budget.store(0, std::sync::atomic::Ordering::Relaxed);
        match csv.read_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {
                let line = record.position().map_or(0, csv::Position::line);
                let object: Map<String, Value> =
                    headers.iter().zip(record.iter()).map(|(k, v)| (k.to_string(), Value::from(v))).collect();
                send(tx, line, Value::Object(object))?;
            }
            Err(e) => return Err(Some(csv_error(&e))),
        }
    }
}

fn csv_error(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { pos, expected_len, len } => format!(
            "line {}: {len} fields where the header has {expected_len}",
            pos.as_ref().map_or(0, csv::Position::line)
        ),
        csv::ErrorKind::Utf8 { pos, .. } => {
            format!("line {}: not UTF-8 text", pos.as_ref().map_or(0, csv::Position::line))
        }
        _ => e.to_string(),
    }
}

fn read_json_array(reader: impl Read, tx: &mpsc::Sender<Result<Item, String>>) -> Sent {
    let counted = Capped::new(reader);
    let budget = counted.budget.clone();
    let mut parser = serde_json::Deserializer::from_reader(counted);
    let result = parser.deserialize_seq(Elements { tx, budget: &budget });
    match result {
        Ok(sent) => sent?,
        // The receiver went away: not the file's fault.
        Err(_) if tx.is_closed() => return Err(None),
        Err(e) => return Err(Some(e.to_string())),
    }
    parser.end().map_err(|e| Some(e.to_string()))
}

/// Each element of the top-level array, sent as soon as it is parsed (the array itself is
/// never held).
struct Elements<'a> {
    tx: &'a mpsc::Sender<Result<Item, String>>,
    budget: &'a Arc<std::sync::atomic::AtomicU64>,
}

impl<'de> Visitor<'de> for Elements<'_> {
    type Value = Sent;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON array of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sent, A::Error> {
        let mut index = 0u64;
        loop {
            self.budget.store(0, std::sync::atomic::Ordering::Relaxed);
            let Some(value) = seq.next_element_seed(Element)? else { return Ok(Ok(())) };
            index += 1;
            // An array's elements are numbered, not lined: `line` is the element's number.
            if let Err(gone) = send(self.tx, index, value) {
                return Ok(Err(gone));
            }
        }
    }
}

struct Element;

impl<'de> DeserializeSeed<'de> for Element {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        serde::Deserialize::deserialize(d)
    }
}

/// A reader that fails once more than [`MAX_ITEM_BYTES`] are read since its budget was last
/// reset (at each item).
struct Capped<R> {
    inner: R,
    budget: Arc<std::sync::atomic::AtomicU64>,
}

impl<R> Capped<R> {
    fn new(inner: R) -> Self {
        Capped { inner, budget: Arc::default() }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let used = self.budget.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed) + n as u64;
        if used > MAX_ITEM_BYTES + (64 << 10) {
            return Err(std::io::Error::other(format!("an item longer than {} MiB", MAX_ITEM_BYTES >> 20)));
        }
        Ok(n)
    }
}

/// Results written to a JSON Lines file as they come, replacing it atomically when the run
/// succeeds (a failed or cancelled run leaves the old file, or none).
pub(crate) struct Output<'s> {
    replacement: super::sandbox::Replacement<'s>,
    writer: Vec<u8>,
    shown: String,
}

impl<'s> Output<'s> {
    /// Start writing `path` (relative to the sandbox's base, its directory created).
    pub(crate) fn create(sandbox: &'s Sandbox, path: &str) -> Result<Self, NodeError> {
        let relative = sandbox.relative(path, false)?;
        let parent = sandbox.parent_of(&relative, true)?.to_path_buf();
        let replacement = sandbox.replacement(&relative, &parent)?;
        Ok(Output { replacement, writer: Vec::with_capacity(64 << 10), shown: path.to_string() })
    }

    /// Append one result.
    pub(crate) fn write(&mut self, value: &Value) -> Result<(), NodeError> {
        serde_json::to_writer(&mut self.writer, value).map_err(|e| self.failed(&e))?;
        self.writer.push(b'\n');
        if self.writer.len() >= 64 << 10 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), NodeError> {
        let written = std::io::Write::write_all(self.replacement.file(), &self.writer);
        self.writer.clear();
        written.map_err(|e| self.failed(&e))
    }

    fn failed(&self, e: &dyn std::fmt::Display) -> NodeError {
        NodeError::fatal_msg(format!("output_file {}: cannot write: {e}", self.shown))
    }

    /// Write what is buffered and put the file in place.
    pub(crate) fn commit(mut self) -> Result<(), NodeError> {
        self.flush()?;
        self.replacement.commit()
    }
}

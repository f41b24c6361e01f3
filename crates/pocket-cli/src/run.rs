//! `pocket run`: load, check, run with input, print the final output.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use std::sync::Arc;

use pocket::durable::{Checkpointer, Durability, Durable, RunRecord, SavedRun};
use pocket::{CancellationToken, Graph, RunError, RunOptions, Store};
use pocket_nodes::{Registry, seed_store};
use pocket_sqlite::SqliteCheckpointer;
use serde_json::Value;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::prelude::*;

use crate::progress::Progress;
use crate::{FAILED, Format, INVALID, STATE, WAITING, load, output, signals, state};

/// How long `pocket` waits at exit for steps still finishing off the runtime.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Where the run keeps its shared state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StoreKind {
    /// Unbounded, in memory.
    Memory,
    /// In memory, at most `--max-entries` entries (least recently used evicted), optional `--ttl`.
    Bounded,
}

/// What a recorded run survives (`--durability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DurabilityArg {
    /// A crash or kill of `pocket` (each step is written, not synced).
    Process,
    /// Power loss (each step is synced to disk before the next starts).
    Machine,
    /// Nothing: the run is not recorded (the same as `--ephemeral`).
    Off,
}

/// `pocket run` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The workflow file.
    file: PathBuf,
    /// The run's input, as JSON.
    #[arg(long, value_name = "JSON", conflicts_with = "input_file")]
    input: Option<String>,
    /// Read the run's input (JSON) from a file, or from stdin with `-`.
    #[arg(long, value_name = "PATH")]
    input_file: Option<PathBuf>,
    /// The store: `memory` or `bounded`.
    #[arg(long, alias = "store-type", value_enum, default_value_t = StoreKind::Memory)]
    store: StoreKind,
    /// With `--store bounded`: the most entries kept (default 10000).
    #[arg(long, value_name = "N")]
    max_entries: Option<usize>,
    /// With `--store bounded`: how long an entry lives (a Go duration: `5m`, `1h30m`).
    #[arg(long, value_name = "DURATION")]
    ttl: Option<String>,
    /// Stop the run after this long (a Go duration).
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
    /// Stop a run that takes more steps than this (default 100000).
    #[arg(long, value_name = "N")]
    max_steps: Option<u64>,
    /// Check everything (every node is built) without running.
    #[arg(long)]
    dry_run: bool,
    /// Run the workflow once per line of this JSON Lines file (`-`: stdin), each line its
    /// input, printing one JSON result per line (a failed line: `{"line", "error"}`); with it,
    /// `--timeout` and `--max-steps` hold for each line.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["input", "input_file"])]
    each: Option<PathBuf>,
    /// With `--each`: lines run at once (default 16).
    #[arg(long, value_name = "N", requires = "each")]
    concurrency: Option<usize>,
    /// With `--each`: print results as they finish, not in input order.
    #[arg(long, requires = "each")]
    unordered: bool,
    /// With `--each`: stop at the first failed line.
    #[arg(long, requires = "each")]
    fail_fast: bool,
    /// At the end, print what the run did on stderr (one JSON document with `--output json`):
    /// per node visits, time, failures, retries and LLM tokens; time waited on each limit.
    #[arg(long)]
    stats: bool,
    /// Do not record the run: nothing is written to the state database, and the run cannot be
    /// resumed.
    #[arg(long)]
    ephemeral: bool,
    /// What the recorded run survives: `process` (a crash or kill of `pocket`), `machine`
    /// (power loss too: every step synced), `off` (not recorded, as `--ephemeral`).
    #[arg(long, value_enum, default_value_t = DurabilityArg::Process)]
    durability: DurabilityArg,
    /// Resume the newest unfinished run of this file (as `pocket resume RUN`) instead of
    /// starting a new one.
    #[arg(long, conflicts_with_all = ["input", "input_file", "each", "dry_run"])]
    resume_last: bool,
}

impl RunArgs {
    /// The workflow file.
    pub(crate) fn file(&self) -> &Path {
        &self.file
    }

    /// `--timeout`, `--max-steps`, `--stats`.
    pub(crate) fn limits(&self) -> (Option<String>, Option<u64>, bool) {
        (self.timeout.clone(), self.max_steps, self.stats)
    }

    /// The store as asked for: kind, `--max-entries`, `--ttl`.
    pub(crate) fn store_settings(&self) -> (String, Option<usize>, Option<String>) {
        let kind = match self.store {
            StoreKind::Memory => "memory",
            StoreKind::Bounded => "bounded",
        };
        (kind.to_string(), self.max_entries, self.ttl.clone())
    }

    /// The durability asked for; `None`: the run is not recorded.
    fn durability(&self) -> Option<Durability> {
        match (self.ephemeral, self.durability) {
            (true, _) | (_, DurabilityArg::Off) => None,
            (false, DurabilityArg::Process) => Some(Durability::Process),
            (false, DurabilityArg::Machine) => Some(Durability::Machine),
        }
    }
}

pub(crate) fn duration_arg(flag: &str, text: Option<&str>) -> Result<Option<Duration>, ()> {
    text.map(|t| pocket_yaml::parse_duration(t).map_err(|e| say!("error: {flag}: {e}"))).transpose()
}

fn read_input(args: &RunArgs) -> Result<Value, ()> {
    let (what, text) = match (&args.input, &args.input_file) {
        (Some(json), _) => ("--input".to_string(), json.clone()),
        (None, Some(path)) if path == Path::new("-") => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| say!("error: cannot read stdin: {e}"))?;
            ("stdin".to_string(), text)
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| say!("error: --input-file: cannot read {}: {e}", path.display()))?;
            (path.display().to_string(), text)
        }
        (None, None) => return Ok(Value::Null),
    };
    pocket_yaml::json_exact(&text).map_err(|e| match e {
        pocket_yaml::JsonError::Syntax(e) => say!("error: {what}: not valid JSON: {e}"),
        other => say!("error: {what}: {other}"),
    })
}

/// How many `--each` lines run at once unless `--concurrency` says otherwise.
const DEFAULT_EACH_CONCURRENCY: usize = 16;

/// The `--each` source, opened before anything runs.
fn open_each(args: &RunArgs) -> Result<Option<Box<dyn std::io::Read + Send>>, ()> {
    match &args.each {
        None => Ok(None),
        Some(path) if path == Path::new("-") => Ok(Some(Box::new(std::io::stdin()))),
        Some(path) => match std::fs::File::open(path) {
            Ok(file) => Ok(Some(Box::new(file))),
            Err(e) => {
                say!("error: --each: cannot read {}: {e}", path.display());
                Err(())
            }
        },
    }
}

fn make_store(args: &RunArgs) -> Result<Store, ()> {
    let (kind, max_entries, ttl) = args.store_settings();
    store_of(&kind, max_entries, ttl.as_deref())
}

/// The store of kind `kind` (`memory`, `bounded`) with its bound and TTL.
pub(crate) fn store_of(kind: &str, max_entries: Option<usize>, ttl: Option<&str>) -> Result<Store, ()> {
    let ttl = duration_arg("--ttl", ttl)?;
    if kind != "bounded" {
        if max_entries.is_some() || ttl.is_some() {
            say!("error: --max-entries and --ttl need --store bounded");
            return Err(());
        }
        return Ok(Store::new());
    }
    let mut builder = Store::builder().max_entries(max_entries.unwrap_or(10_000));
    if let Some(ttl) = ttl {
        builder = builder.ttl(ttl);
    }
    Ok(builder.on_evict(|evicted| tracing::debug!(?evicted, "store entry evicted")).build())
}

/// What every way of running a workflow sets up first: logs, the progress display, the
/// `--stats` figures and the runtime.
pub(crate) struct Session {
    pub(crate) progress: Progress,
    pub(crate) show_progress: bool,
    pub(crate) stats: crate::stats::Stats,
    pub(crate) runtime: tokio::runtime::Runtime,
}

impl Session {
    /// Set up logging (by `-v`/`-q`), the progress display (on a terminal) and the runtime.
    pub(crate) fn start(cli: &crate::Cli, workflow: &pocket_yaml::Workflow, stats: bool) -> Result<Self, ExitCode> {
        let (verbose, quiet) = (cli.verbose, cli.quiet);
        let progress = Progress::default();
        let show_progress = std::io::stderr().is_terminal() && !quiet && verbose == 0;
        let level = match (quiet, verbose) {
            (true, _) => LevelFilter::ERROR,
            (false, 0) => LevelFilter::WARN,
            (false, 1) => LevelFilter::DEBUG,
            (false, _) => LevelFilter::TRACE,
        };
        // Log lines go above the progress display while it is shown.
        let writer = if show_progress {
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(progress.writer())
        } else {
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr)
        };
        let logs = tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_target(false)
            .with_timer(TimeOfDay)
            .with_ansi(std::io::stderr().is_terminal() && !cli.no_color && std::env::var_os("NO_COLOR").is_none())
            .with_span_events(if verbose > 0 { FmtSpan::CLOSE } else { FmtSpan::NONE })
            .with_filter(level);
        let figures = crate::stats::Stats::default();
        figures.limits(workflow.limits.keys());
        // The figures need the library's debug events: without `-v` they are not logged, only
        // counted (the log layer has its own filter).
        tracing_subscriber::registry()
            .with(logs)
            .with(show_progress.then(|| progress.layer()))
            .with(stats.then(|| figures.layer()))
            .init();
        let runtime =
            match tokio::runtime::Builder::new_multi_thread().thread_stack_size(crate::STACK).enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    say!("error: cannot start the runtime: {e}");
                    return Err(ExitCode::from(FAILED));
                }
            };
        Ok(Session { progress, show_progress, stats: figures, runtime })
    }
}

/// How a single run begins: fresh with an input, or resumed from its records.
pub(crate) enum Begin {
    Fresh(Value),
    Resume(Box<SavedRun>),
}

/// A single run to execute.
pub(crate) struct Job<'a> {
    pub(crate) graph: Graph<Value, Value>,
    pub(crate) store: &'a Store,
    pub(crate) name: &'a str,
    pub(crate) deadline: Option<Duration>,
    pub(crate) max_steps: Option<u64>,
    pub(crate) stats: bool,
    pub(crate) format: Format,
    /// Where the run is recorded, and the record of a fresh run; `None`: not recorded.
    pub(crate) durable: Option<(Arc<SqliteCheckpointer>, RunRecord)>,
    /// The answer to the question a resumed run waits on, and its action.
    pub(crate) answer: Option<(Value, Option<String>)>,
}

/// Execute one run (fresh or resumed) to its end, print its output or its error, and give
/// the exit code.
pub(crate) fn execute(session: Session, job: Job<'_>, begin: Begin) -> ExitCode {
    let Session { progress, show_progress, stats, runtime } = session;
    let Job { graph, store, name, deadline, max_steps, stats: show_stats, format, durable, answer } = job;
    let token = CancellationToken::new();
    let run_id = match (&durable, &begin) {
        (_, Begin::Resume(saved)) => Some(saved.run.id.clone()),
        (Some((_, record)), _) => Some(record.id.clone()),
        (None, _) => None,
    };
    tracing::info!(workflow = %name, run = run_id.as_deref().unwrap_or("-"), "starting");
    let result = runtime.block_on(async {
        let interrupted = signals::watch(token.clone());
        let mut options = RunOptions::new().token(token.clone());
        if let Some(limit) = deadline {
            options = options.deadline(limit);
        }
        if let Some(steps) = max_steps {
            options = options.max_steps(steps);
        }
        if let Some((value, action)) = answer {
            options = options.answer(value, action.as_deref());
        }
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let drawer = show_progress.then(|| {
            let progress = progress.clone();
            tokio::spawn(async move { progress.draw_until(Duration::from_millis(500), done_rx).await })
        });
        let started = std::time::Instant::now();
        let result = match (begin, durable) {
            (Begin::Fresh(input), None) => graph.run_with(store, input, options).await,
            (Begin::Fresh(input), Some((checkpointer, record))) => {
                let options = options.durable(Durable::new(checkpointer, record));
                graph.run_with(store, input, options).await
            }
            (Begin::Resume(saved), Some((checkpointer, _))) => {
                let checkpointer: Arc<dyn Checkpointer> = checkpointer;
                graph.resume(store, &saved, checkpointer, options).await
            }
            (Begin::Resume(saved), None) => Err(RunError::Restore {
                node: saved.run.workflow.clone(),
                reason: "a resumed run needs its state database".into(),
            }),
        };
        let _ = done_tx.send(());
        if let Some(drawer) = drawer {
            let _ = drawer.await;
        }
        tracing::info!(elapsed = ?started.elapsed(), ok = result.is_ok(), "finished");
        (result, interrupted)
    });
    let (result, interrupted) = result;
    // However the run ended, no program it started is left running, and steps still writing
    // off the runtime (a `file` write) finish or roll back before `pocket` exits.
    pocket_nodes::stop_children();
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    let resume_hint = || {
        if let Some(id) = &run_id {
            say!("run {id} can be resumed: pocket resume {id}");
        }
    };
    let code = match result {
        Ok(out) => output::print_value(&out, format),
        Err(e @ RunError::Cancelled { .. }) => {
            say!("interrupted: workflow `{name}`: {e}");
            resume_hint();
            ExitCode::from(interrupted.code().unwrap_or(130))
        }
        Err(RunError::Interrupted { node, request }) => {
            waiting(run_id.as_deref(), &node, &request);
            ExitCode::from(WAITING)
        }
        Err(e @ (RunError::Checkpoint { .. } | RunError::Restore { .. })) => {
            say!("error: workflow `{name}`: {}", pocket::report(&e));
            ExitCode::from(STATE)
        }
        Err(e) => {
            say!("error: workflow `{name}` failed: {}", pocket::report(&e));
            resume_hint();
            ExitCode::from(FAILED)
        }
    };
    if show_stats {
        print_stats(&stats, format);
    }
    code
}

/// `pocket run`.
pub(crate) fn run(registry: &Registry, args: &RunArgs, cli: &crate::Cli) -> ExitCode {
    if args.resume_last {
        return crate::resume::resume_last(registry, args, cli);
    }
    let (format, quiet) = (cli.output, cli.quiet);
    let loaded = match load::load(registry, &args.file, quiet, &cli.allow_exec) {
        Ok(loaded) => loaded,
        Err(failed) => {
            failed.print(quiet);
            return ExitCode::from(INVALID);
        }
    };
    let (Ok(input), Ok(store), Ok(deadline), Ok(lines)) =
        (read_input(args), make_store(args), duration_arg("--timeout", args.timeout.as_deref()), open_each(args))
    else {
        return ExitCode::from(INVALID);
    };
    if args.dry_run {
        let summary = format!(
            "{}: workflow `{}` is valid and every node builds (dry run: nothing ran)",
            loaded.origin, loaded.workflow.name
        );
        return match format {
            Format::Text => output::print(&format!("{summary}\n")),
            _ => output::print_value(&serde_json::json!({"valid": true, "dry_run": true}), format),
        };
    }
    // An `--each` run from a file is recorded as one run, its lines' results as items (from
    // stdin it cannot be read again: not recorded).
    let each_from_stdin = args.each.as_deref().is_some_and(|p| p == Path::new("-"));
    let durability = if each_from_stdin { None } else { args.durability() };
    let mut durable = match durability {
        None => None,
        Some(mode) => match state::open(cli.state.as_ref(), mode) {
            Ok(checkpointer) => Some((checkpointer, new_record(&loaded, args, cli, &input, mode))),
            Err(e) => {
                say!("error: cannot record the run: {e} (--ephemeral runs without recording)");
                return ExitCode::from(STATE);
            }
        },
    };
    let each_record = match (&args.each, durable.take()) {
        (Some(path), Some((checkpointer, mut record))) => {
            let path = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            record.input = serde_json::json!({"each": path.display().to_string()});
            record.meta["each"] = serde_json::json!({
                "concurrency": args.concurrency.unwrap_or(DEFAULT_EACH_CONCURRENCY).max(1),
                "unordered": args.unordered,
                "fail_fast": args.fail_fast,
            });
            Some((checkpointer, record))
        }
        (_, durable_run) => {
            durable = durable_run;
            None
        }
    };
    let session = match Session::start(cli, &loaded.workflow, args.stats) {
        Ok(session) => session,
        Err(code) => return code,
    };
    let graph = loaded.graph;
    let name = loaded.workflow.name.clone();
    seed_store(&loaded.workflow, &store);

    if let Some(lines) = lines {
        let each = crate::each::Each {
            concurrency: args.concurrency.unwrap_or(DEFAULT_EACH_CONCURRENCY).max(1),
            unordered: args.unordered,
            fail_fast: args.fail_fast,
            deadline,
            max_steps: args.max_steps,
        };
        let recorded = match each_record {
            None => None,
            Some((checkpointer, record)) => {
                if let Err(e) = checkpointer.create(&record) {
                    say!("error: cannot record the run: {e} (--ephemeral runs without recording)");
                    return ExitCode::from(STATE);
                }
                let recorded = crate::each::Recorded {
                    checkpointer: checkpointer.clone(),
                    id: record.id.clone(),
                    saved: Default::default(),
                };
                Some((checkpointer, Arc::new(recorded)))
            }
        };
        let job = crate::each::EachJob { graph, store: &store, name: &name, stats: args.stats, format };
        return crate::each::execute(session, job, lines, &each, recorded);
    }
    let job = Job {
        graph,
        store: &store,
        name: &name,
        deadline,
        max_steps: args.max_steps,
        stats: args.stats,
        format,
        durable,
        answer: None,
    };
    execute(session, job, Begin::Fresh(input))
}

/// Say what the run waits for and how to answer.
pub(crate) fn waiting(run: Option<&str>, node: &str, request: &Value) {
    let prompt = request["prompt"].as_str().unwrap_or("(no prompt)");
    say!("waiting: node `{node}` asks: {prompt}");
    if let Some(schema) = request.get("schema").filter(|s| !s.is_null()) {
        say!("the answer must match: {schema}");
    }
    match run {
        Some(id) => say!("answer with: pocket resume {id} --input JSON"),
        None => say!("this run is not recorded (--ephemeral): it cannot be answered"),
    }
}

/// The record of a new run of `loaded`: what a resume needs to run it as it was.
fn new_record(loaded: &load::Loaded, args: &RunArgs, cli: &crate::Cli, input: &Value, mode: Durability) -> RunRecord {
    let origin = std::path::absolute(&args.file).unwrap_or_else(|_| args.file.clone());
    let mut record = RunRecord::new(pocket::durable::new_run_id(), loaded.workflow.name.clone(), input.clone());
    record.origin = origin.display().to_string();
    (record.hash, record.fingerprint) = state::definition(loaded, &args.file);
    record.meta = crate::resume::RunMeta::of(args, cli).to_json();
    record.durability = mode;
    record.owner = Some(state::owner());
    record
}

/// `--stats`, on stderr: a table, or one JSON document with `--output json`.
pub(crate) fn print_stats(stats: &crate::stats::Stats, format: Format) {
    match format {
        Format::Json => say!("{}", stats.to_json()),
        _ => {
            let text = stats.to_text();
            say!("{}", text.trim_end());
        }
    }
}

/// Log lines start with the time of day in UTC to the millisecond (`17:05:04.123`): what a
/// person reading `-v` output needs to relate lines to each other and to other logs, without
/// the date and microseconds of RFC 3339 on every line.
struct TimeOfDay;

impl tracing_subscriber::fmt::time::FormatTime for TimeOfDay {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let of_day = now.as_secs() % 86_400;
        write!(w, "{:02}:{:02}:{:02}.{:03}", of_day / 3600, of_day / 60 % 60, of_day % 60, now.subsec_millis())
    }
}

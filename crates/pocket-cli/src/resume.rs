//! `pocket resume RUN` and `pocket run FILE --resume-last`: continue a recorded run where it
//! stopped, with no wider permissions than it was given, refusing a changed workflow unless
//! told otherwise.

use std::path::PathBuf;
use std::process::ExitCode;

use pocket::durable::{Checkpointer, Record, RunRecord, RunStatus, SavedRun};
use pocket_nodes::{Registry, seed_store};
use serde_json::{Value, json};

use crate::run::{Begin, Job, RunArgs, Session, execute};
use crate::{INVALID, STATE, load, state};

/// `pocket resume` arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct ResumeArgs {
    /// The run's id (or an unambiguous prefix of it), as `pocket runs list` shows it.
    run: String,
    /// Resume even though the workflow file changed: completed nodes whose definitions are
    /// unchanged are kept, and the run goes on from the first changed one.
    #[arg(long)]
    allow_changed: bool,
    /// Stop the resumed run after this long (a Go duration).
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
    /// Stop a resumed run that takes more steps than this (counting the steps before).
    #[arg(long, value_name = "N")]
    max_steps: Option<u64>,
    /// At the end, print what the resumed part of the run did (as `pocket run --stats`).
    #[arg(long)]
    stats: bool,
    /// The answer to the question the run waits on (an `input` node), as JSON; checked
    /// against the node's schema.
    #[arg(long, value_name = "JSON")]
    input: Option<String>,
    /// The action the answer takes from the asking node (default: `default`).
    #[arg(long, value_name = "NAME", requires = "input")]
    action: Option<String>,
}

/// What a run was started with that its resume must keep: its permissions and its store.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RunMeta {
    pub(crate) allow_exec: Vec<String>,
    pub(crate) store: String,
    pub(crate) max_entries: Option<usize>,
    pub(crate) ttl: Option<String>,
}

impl RunMeta {
    pub(crate) fn of(args: &RunArgs, cli: &crate::Cli) -> Self {
        let (store, max_entries, ttl) = args.store_settings();
        RunMeta { allow_exec: cli.allow_exec.clone(), store, max_entries, ttl }
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({"allow_exec": self.allow_exec, "store": self.store, "max_entries": self.max_entries, "ttl": self.ttl})
    }

    fn from_json(value: &Value) -> Self {
        let strings = |v: &Value| -> Vec<String> {
            v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()
        };
        RunMeta {
            allow_exec: strings(&value["allow_exec"]),
            store: value["store"].as_str().unwrap_or("memory").to_string(),
            max_entries: value["max_entries"].as_u64().map(|n| n as usize),
            ttl: value["ttl"].as_str().map(str::to_string),
        }
    }
}

/// Find the run `wanted` names: its id, or the one run whose id starts with it.
pub(crate) fn find_run(checkpointer: &dyn Checkpointer, wanted: &str) -> Result<RunRecord, String> {
    let runs = checkpointer.runs().map_err(|e| e.to_string())?;
    if let Some(run) = runs.iter().find(|r| r.id == wanted) {
        return Ok(run.clone());
    }
    let upper = wanted.to_ascii_uppercase();
    let matching: Vec<&RunRecord> = runs.iter().filter(|r| !wanted.is_empty() && r.id.starts_with(&upper)).collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!("no run `{wanted}` (pocket runs list shows the runs)")),
        many => Err(format!(
            "`{wanted}` names {} runs ({}...): give more of the id",
            many.len(),
            many.iter().take(3).map(|r| r.id.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// `pocket resume`.
pub(crate) fn resume(registry: &Registry, args: &ResumeArgs, cli: &crate::Cli) -> ExitCode {
    let checkpointer = match state::open(cli.state.as_ref(), pocket::durable::Durability::Process) {
        Ok(c) => c,
        Err(e) => return refuse(e),
    };
    let run = match find_run(&*checkpointer, &args.run) {
        Ok(run) => run,
        Err(e) => return refuse(e),
    };
    let answer = match &args.input {
        None => None,
        Some(text) => match pocket_yaml::json_exact(text) {
            Ok(value) => Some((value, args.action.clone())),
            Err(e) => {
                say!("error: --input: not valid JSON: {e}");
                return ExitCode::from(INVALID);
            }
        },
    };
    let options = Resume {
        allow_changed: args.allow_changed,
        timeout: args.timeout.clone(),
        max_steps: args.max_steps,
        stats: args.stats,
        answer,
    };
    continue_run(registry, cli, run, &options)
}

/// `pocket run FILE --resume-last`: the newest unfinished run of FILE.
pub(crate) fn resume_last(registry: &Registry, args: &RunArgs, cli: &crate::Cli) -> ExitCode {
    let checkpointer = match state::open(cli.state.as_ref(), pocket::durable::Durability::Process) {
        Ok(c) => c,
        Err(e) => return refuse(e),
    };
    let origin = std::path::absolute(args.file()).unwrap_or_else(|_| args.file().to_path_buf()).display().to_string();
    let runs = match checkpointer.runs() {
        Ok(runs) => runs,
        Err(e) => return refuse(e),
    };
    let Some(run) = runs.into_iter().find(|r| {
        r.origin == origin && !matches!(state::effective_status(r), RunStatus::Succeeded | RunStatus::Running)
    }) else {
        say!("error: no unfinished run of {origin} to resume (pocket runs list shows the runs)");
        return ExitCode::from(STATE);
    };
    drop(checkpointer);
    let (timeout, max_steps, stats) = args.limits();
    continue_run(registry, cli, run, &Resume { allow_changed: false, timeout, max_steps, stats, answer: None })
}

/// `pocket runs fork RUN --from NODE`: a new run with the steps of RUN before the visit of
/// NODE, resumed at once.
pub(crate) fn fork(
    registry: &Registry,
    cli: &crate::Cli,
    wanted: &str,
    node: &str,
    visit: Option<usize>,
    allow_changed: bool,
) -> ExitCode {
    let checkpointer = match state::open(cli.state.as_ref(), pocket::durable::Durability::Process) {
        Ok(c) => c,
        Err(e) => return refuse(e),
    };
    let run = match find_run(&*checkpointer, wanted) {
        Ok(run) => run,
        Err(e) => return refuse(e),
    };
    let saved = match checkpointer.load(&run.id) {
        Ok(saved) => saved,
        Err(e) => return refuse(format_args!("run {}: {e}", run.id)),
    };
    let steps: Vec<&pocket::durable::StepRecord> = saved.steps().collect();
    // The visits of `node`: the start of the run (when it is the start node) and every step
    // that handed on to it; a visit is forked from the boundary before it.
    let mut visits: Vec<usize> = Vec::new();
    // The first step's node is the start node.
    if steps.first().is_some_and(|s| s.node == node) {
        visits.push(0);
    }
    visits.extend(steps.iter().enumerate().filter(|(_, s)| s.next.as_deref() == Some(node)).map(|(i, _)| i + 1));
    let chosen = match visit {
        None => visits.last().copied(),
        Some(n) => n.checked_sub(1).and_then(|i| visits.get(i).copied()),
    };
    let Some(keep) = chosen else {
        let seen = if visits.is_empty() {
            "never reached it".to_string()
        } else {
            format!("reached it {} times", visits.len())
        };
        return refuse(format_args!("run {}: cannot fork from node `{node}`: the run {seen}", run.id));
    };
    // A new run (created now, unowned) of the same workflow, input, permissions and mode.
    let mut forked = RunRecord::new(pocket::durable::new_run_id(), run.workflow.clone(), run.input.clone());
    forked.origin = run.origin.clone();
    forked.hash = run.hash.clone();
    forked.fingerprint = run.fingerprint.clone();
    forked.durability = run.durability;
    forked.status = RunStatus::Interrupted;
    forked.meta = run.meta.clone();
    forked.meta["forked_from"] = json!({"run": run.id, "node": node, "step": keep});
    if let Err(e) = checkpointer.create(&forked) {
        return refuse(format_args!("cannot create the forked run: {e}"));
    }
    // The definition the kept steps were made under, then the steps themselves.
    let (hash, fingerprint) = saved.definition();
    let mut records = vec![Record::Rewind { to: 0, hash: hash.to_string(), fingerprint: fingerprint.to_vec() }];
    records.extend(steps[..keep].iter().map(|s| Record::Step((*s).clone())));
    for record in records {
        if let Err(e) = checkpointer.append(&forked.id, record).wait_blocking() {
            return refuse(format_args!("cannot write the forked run: {e}"));
        }
    }
    drop(checkpointer);
    if !cli.quiet {
        say!("forked run {} from run {} at node `{node}` (step {})", forked.id, run.id, keep + 1);
    }
    let how = Resume { allow_changed, timeout: None, max_steps: None, stats: false, answer: None };
    continue_run(registry, cli, forked, &how)
}

/// How to resume.
struct Resume {
    allow_changed: bool,
    timeout: Option<String>,
    max_steps: Option<u64>,
    stats: bool,
    answer: Option<(Value, Option<String>)>,
}

fn refuse(message: impl std::fmt::Display) -> ExitCode {
    say!("error: {message}");
    ExitCode::from(STATE)
}

fn continue_run(registry: &Registry, cli: &crate::Cli, run: RunRecord, how: &Resume) -> ExitCode {
    let id = run.id.clone();
    match state::effective_status(&run) {
        RunStatus::Succeeded => {
            return refuse(format_args!("run {id} succeeded already: nothing to resume (pocket runs show {id})"));
        }
        RunStatus::Running => {
            let owner = run.owner.as_deref().unwrap_or("?");
            return refuse(format_args!("run {id} is running now (owner {owner}): stop it first"));
        }
        _ => {}
    }
    // Permissions: never wider than the original run's.
    let meta = RunMeta::from_json(&run.meta);
    let extra: Vec<&String> = cli.allow_exec.iter().filter(|p| !meta.allow_exec.contains(p)).collect();
    if !extra.is_empty() {
        let extra: Vec<&str> = extra.iter().map(|s| s.as_str()).collect();
        return refuse(format_args!(
            "run {id} was not allowed to run {}: a resume cannot widen its permissions (--allow-exec {})",
            extra.join(", "),
            if meta.allow_exec.is_empty() { "was not given".to_string() } else { meta.allow_exec.join(",") }
        ));
    }
    let allow_exec = if cli.allow_exec.is_empty() { meta.allow_exec.clone() } else { cli.allow_exec.clone() };
    let file = PathBuf::from(&run.origin);
    let loaded = match load::load(registry, &file, cli.quiet, &allow_exec) {
        Ok(loaded) => loaded,
        Err(failed) => {
            failed.print(cli.quiet);
            say!("error: run {id}: its workflow {} cannot be loaded", file.display());
            return ExitCode::from(INVALID);
        }
    };
    let checkpointer = match state::open(cli.state.as_ref(), run.durability) {
        Ok(c) => c,
        Err(e) => return refuse(e),
    };
    let mut saved = match checkpointer.load(&id) {
        Ok(saved) => saved,
        Err(e) => return refuse(format_args!("run {id}: {e}")),
    };
    let (hash_now, now) = state::definition(&loaded, &file);
    if hash_now != saved.definition().0 {
        match rewind_for_changes(&saved, &now, how.allow_changed) {
            Ok(to) => {
                // From here on the run goes by the new definition (also when no completed node
                // changed: a later resume compares with this one).
                let rewind = Record::Rewind { to, hash: hash_now, fingerprint: now };
                saved.log.push(rewind.clone());
                if let Err(e) = checkpointer.append(&id, rewind).wait_blocking() {
                    return refuse(format_args!("run {id}: {e}"));
                }
            }
            Err(message) => return refuse(format_args!("run {id}: {message}")),
        }
    }
    // A run that waits on a question goes on only with an answer that fits it (or after the
    // question's timeout, along its `on_timeout` action).
    let answer = match (saved.waiting_on(), &how.answer) {
        (None, None) => None,
        (None, Some(_)) => return refuse(format_args!("run {id} is not waiting for an answer: leave out --input")),
        (Some((_, _, request)), Some((value, action))) => {
            let problems = pocket_nodes::check_answer(request, value);
            if !problems.is_empty() {
                say!("error: run {id}: the answer does not match the question's schema:");
                for problem in problems {
                    say!("  {problem}");
                }
                return ExitCode::from(INVALID);
            }
            Some((value.clone(), action.clone()))
        }
        (Some((node, _, request)), None) => {
            let deadline = request["deadline_ms"].as_u64();
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            match deadline {
                Some(at) if (now.as_millis() as u64) >= at => {
                    let action = request["on_timeout"].as_str().unwrap_or("timeout").to_string();
                    Some((json!({"timed_out": true}), Some(action)))
                }
                _ => {
                    crate::run::waiting(Some(&id), node, request);
                    return ExitCode::from(crate::WAITING);
                }
            }
        }
    };
    // Of two processes resuming this run, one wins.
    match checkpointer.claim(&id, run.owner.as_deref(), &state::owner()) {
        Ok(true) => {}
        Ok(false) => return refuse(format_args!("run {id} was resumed by another process first")),
        Err(e) => return refuse(format_args!("run {id}: {e}")),
    }
    let store = match crate::run::store_of(&meta.store, meta.max_entries, meta.ttl.as_deref()) {
        Ok(store) => store,
        Err(()) => return ExitCode::from(INVALID),
    };
    let Ok(deadline) = crate::run::duration_arg("--timeout", how.timeout.as_deref()) else {
        return ExitCode::from(INVALID);
    };
    // An `--each` run: its lines file is read again; the lines whose results were recorded
    // are printed, not run.
    let each = match run.meta.get("each").filter(|v| v.is_object()) {
        None => None,
        Some(settings) => {
            let Some(path) = run.input["each"].as_str() else {
                return refuse(format_args!("run {id}: its record does not name its lines file"));
            };
            let lines: Box<dyn std::io::Read + Send> = match std::fs::File::open(path) {
                Ok(file) => Box::new(file),
                Err(e) => return refuse(format_args!("run {id}: cannot read its lines file {path}: {e}")),
            };
            let each = crate::each::Each {
                concurrency: settings["concurrency"].as_u64().map_or(16, |n| n.max(1) as usize),
                unordered: settings["unordered"].as_bool().unwrap_or(false),
                fail_fast: settings["fail_fast"].as_bool().unwrap_or(false),
                deadline,
                max_steps: how.max_steps,
            };
            Some((lines, each))
        }
    };
    let session = match Session::start(cli, &loaded.workflow, how.stats) {
        Ok(session) => session,
        Err(code) => return code,
    };
    if let Some((lines, each)) = each {
        let recorded = crate::each::Recorded::of(checkpointer.clone(), &saved);
        if !cli.quiet {
            say!("resuming --each run {id} of {}: {} lines done before", run.origin, recorded.saved.len());
        }
        seed_store(&loaded.workflow, &store);
        let name = loaded.workflow.name.clone();
        let job = crate::each::EachJob {
            graph: loaded.graph,
            store: &store,
            name: &name,
            stats: how.stats,
            format: cli.output,
        };
        return crate::each::execute(session, job, lines, &each, Some((checkpointer, std::sync::Arc::new(recorded))));
    }
    if !cli.quiet {
        let at = saved.last_step().and_then(|s| s.next.clone()).unwrap_or_else(|| loaded.workflow.start.clone());
        say!("resuming run {id} of {} at node `{at}`", run.origin);
    }
    seed_store(&loaded.workflow, &store);
    let name = loaded.workflow.name.clone();
    let job = Job {
        graph: loaded.graph,
        store: &store,
        name: &name,
        deadline,
        max_steps: how.max_steps,
        stats: how.stats,
        format: cli.output,
        durable: Some((checkpointer, run)),
        answer,
    };
    execute(session, job, Begin::Resume(Box::new(saved)))
}

/// The workflow changed since the run started: refuse (with what changed) unless
/// `allowed`; allowed, the step to go back to: just before the first completed node whose
/// definition changed (the last step when none did).
fn rewind_for_changes(saved: &SavedRun, now: &[(String, String)], allowed: bool) -> Result<u64, String> {
    let (_, then) = saved.definition();
    let changes = state::changes(then, now);
    if !allowed {
        let summary = if changes.is_empty() { "its text changed".to_string() } else { changes.join("; ") };
        return Err(format!(
            "the workflow changed since the run started ({summary}): resume with --allow-changed to keep the \
             completed nodes that did not change and run again from the first one that did"
        ));
    }
    let hash_now = |name: &str| now.iter().find(|(n, _)| n == name).map(|(_, h)| h.as_str());
    let hash_then = |name: &str| then.iter().find(|(n, _)| n == name).map(|(_, h)| h.clone());
    let steps: Vec<(u64, String, Option<String>)> =
        saved.steps().map(|s| (s.step, s.node.clone(), s.next.clone())).collect();
    if let Some((_, _, Some(next))) = steps.last()
        && hash_now(next).is_none()
    {
        return Err(format!("node `{next}`, where the run stopped, was removed from the workflow"));
    }
    let first_changed = steps.iter().find(|(_, node, _)| hash_then(node).as_deref() != hash_now(node));
    let Some((step, node, _)) = first_changed else { return Ok(steps.last().map_or(0, |(step, _, _)| *step)) };
    if hash_now(node).is_none() {
        return Err(format!("node `{node}`, which the run went through, was removed from the workflow"));
    }
    Ok(step - 1)
}

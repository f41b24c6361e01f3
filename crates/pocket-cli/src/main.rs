//! The `pocket` command.
//!
//! Exit codes: 0 success; 1 the workflow ran and failed; 2 usage error or invalid workflow
//! (nothing ran); 3 the state database cannot be used or the run cannot be resumed; 4 the run
//! waits for an answer (an `input` node); 130, 143, 129 interrupted (SIGINT/Ctrl-C, SIGTERM,
//! SIGHUP).

/// A line on stderr. Unlike `eprintln!` it does not panic when stderr is closed (the message
/// is lost, the exit code still tells), and control characters in it — a server's body, a
/// file's content — are escaped, so outside data cannot drive the terminal.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let text = format!($($arg)*);
        let _ = writeln!(std::io::stderr(), "{}", pocket_nodes::printable(&text));
    }};
}

mod docs;
mod each;
mod load;
mod output;
mod progress;
mod resume;
mod run;
mod runs;
mod schema;
mod signals;
mod state;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use pocket_nodes::{Category, Registry};

/// `pocket --version`: the version, the commit and the build date (from `build.rs`).
const LONG_VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (", env!("POCKET_COMMIT"), ", built ", env!("POCKET_BUILD_DATE"), ")");

/// Exit code: the workflow ran and failed.
const FAILED: u8 = 1;
/// Exit code: usage error or invalid workflow (nothing ran).
const INVALID: u8 = 2;
/// Exit code: the state database cannot be used (damaged, locked, unwritable), or the run
/// cannot be resumed (unknown, succeeded, running elsewhere, changed).
const STATE: u8 = 3;
/// Exit code: the run waits for a person's answer (an `input` node): `pocket resume RUN --input`.
const WAITING: u8 = 4;

#[derive(Debug, Parser)]
#[command(name = "pocket", version, long_version = LONG_VERSION, about = "Run and check Pocket workflows")]
struct Cli {
    /// Per-node logs on stderr (`-vv`: every step).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// No progress line and no warnings on stderr (errors are still printed).
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Programs `exec` nodes may run (comma-separated, repeatable): `--allow-exec ls,echo`.
    /// Nothing runs without it; a node's own `allowed_commands` can only narrow the list.
    #[arg(long, global = true, value_delimiter = ',', value_name = "PROGRAMS")]
    allow_exec: Vec<String>,
    /// How results are printed.
    #[arg(short, long, global = true, value_enum, default_value_t = Format::Text)]
    output: Format,
    /// No colours in logs (also when `NO_COLOR` is set, or stderr is not a terminal).
    #[arg(long, global = true)]
    no_color: bool,
    /// The state database runs are recorded in (default: `$POCKET_HOME/state.db`, else
    /// `$XDG_STATE_HOME/pocket/state.db`, else `~/.local/state/pocket/state.db`).
    #[arg(long, global = true, value_name = "PATH")]
    state: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Strings as they are, anything else as YAML.
    Text,
    /// Exactly one JSON document.
    Json,
    /// One YAML document.
    Yaml,
}

/// Graph drawing formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum GraphFormat {
    /// A Mermaid flowchart.
    Mermaid,
    /// Graphviz DOT.
    Dot,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a workflow file (recorded in the state database, so it can be resumed).
    Run(run::RunArgs),
    /// Continue a recorded run that crashed, was killed, failed or was cancelled: finished
    /// nodes do not run again.
    Resume(resume::ResumeArgs),
    /// The recorded runs: `list`, `show RUN`, `rm RUN...`, `gc`.
    Runs {
        #[command(subcommand)]
        command: runs::RunsCommand,
    },
    /// Check a workflow file (syntax, node types, every node's config) and report every problem at once.
    Validate {
        /// The workflow file.
        file: PathBuf,
        /// Treat warnings (unknown keys, duplicate connections, unreachable nodes) as errors.
        #[arg(long)]
        strict: bool,
    },
    /// List the node types, or describe one (`pocket nodes info TYPE`).
    Nodes {
        #[command(subcommand)]
        command: Option<NodesCommand>,
    },
    /// Draw a workflow's graph as built, edge labels included.
    Graph {
        /// The workflow file.
        file: PathBuf,
        /// Mermaid or DOT.
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Print the Markdown reference of every node type (generated from the registry).
    Docs,
    /// Print the JSON Schema of workflow files (every node type's config included), for editors.
    Schema,
    /// Print the version.
    Version,
    /// Print a shell completion script: `pocket completions bash > /etc/bash_completion.d/pocket`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `pocket man | man -l -`.
    Man,
}

#[derive(Debug, Subcommand)]
enum NodesCommand {
    /// One node type: description, config JSON Schema and an example.
    Info {
        /// The node type.
        #[arg(value_name = "TYPE")]
        kind: String,
    },
    /// The Markdown reference of every node type (the same as `pocket docs`).
    Docs,
}

/// Every thread of `pocket` (the main work, the runtime's workers and blocking threads) has
/// this much stack (reserved address space; pages are used only as touched): enough for
/// values nested [`pocket_yaml::DEEPEST`] levels deep, which the command allows.
const STACK: usize = 64 << 20;

fn main() -> ExitCode {
    pocket_yaml::set_max_depth(pocket_yaml::DEEPEST);
    // The main thread's stack is the system's (often 8 MiB): the work runs on one of ours.
    match std::thread::Builder::new().name("pocket".into()).stack_size(STACK).spawn(command) {
        Ok(work) => work.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
        Err(e) => {
            say!("error: cannot start: {e}");
            ExitCode::from(FAILED)
        }
    }
}

fn command() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version requests print to stdout and succeed; usage errors are printed
            // once, without a usage dump beyond clap's hint.
            let code = if e.use_stderr() { INVALID } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let registry = Registry::builtin();
    match &cli.command {
        Command::Version => version(cli.output),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut <Cli as clap::CommandFactory>::command(), "pocket", &mut out);
            output::print(&String::from_utf8_lossy(&out))
        }
        Command::Man => {
            let mut out = Vec::new();
            match clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut out) {
                Ok(()) => output::print(&String::from_utf8_lossy(&out)),
                Err(e) => {
                    say!("error: cannot write the manual page: {e}");
                    ExitCode::from(FAILED)
                }
            }
        }
        Command::Schema => schema(&registry, cli.output),
        Command::Docs | Command::Nodes { command: Some(NodesCommand::Docs) } => {
            output::print(&docs::reference(&registry))
        }
        Command::Validate { file, strict } => validate(&registry, file, *strict, &cli),
        Command::Nodes { command: None } => list_nodes(&registry, cli.output),
        Command::Nodes { command: Some(NodesCommand::Info { kind }) } => node_info(&registry, kind, cli.output),
        Command::Graph { file, format } => graph(&registry, file, *format, &cli),
        Command::Run(args) => run::run(&registry, args, &cli),
        Command::Resume(args) => resume::resume(&registry, args, &cli),
        Command::Runs { command } => runs::runs(&registry, command, &cli),
    }
}

fn version(format: Format) -> ExitCode {
    let version = env!("CARGO_PKG_VERSION");
    match format {
        Format::Text => output::print(&format!("pocket {version}\n")),
        _ => output::print_value(&serde_json::json!({"version": version}), format),
    }
}

fn validate(registry: &Registry, file: &std::path::Path, strict: bool, cli: &Cli) -> ExitCode {
    if cli.output != Format::Text {
        return validate_report(registry, file, strict, cli);
    }
    let loaded = match load::load(registry, file, cli.quiet, &cli.allow_exec) {
        Ok(loaded) => loaded,
        Err(failed) => {
            failed.print(cli.quiet);
            return ExitCode::from(INVALID);
        }
    };
    let workflow = &loaded.workflow;
    if strict && !workflow.warnings.is_empty() {
        say!("error: {}: {} warning(s) and --strict", loaded.origin, workflow.warnings.len());
        return ExitCode::from(INVALID);
    }
    output::print(&format!(
        "{}: workflow `{}` is valid ({} nodes, {} connections, start `{}`)\n",
        loaded.origin,
        workflow.name,
        workflow.nodes.len(),
        workflow.connections.len(),
        workflow.start
    ))
}

/// `validate -o json|yaml`: the whole report as one document on stdout, nothing on stderr:
/// `{file, valid, problems: [{severity, kind, line, column, node, field, message}], warnings}`.
fn validate_report(registry: &Registry, file: &std::path::Path, strict: bool, cli: &Cli) -> ExitCode {
    let (origin, problems, warnings) = match load::check(registry, file, &cli.allow_exec) {
        Ok((loaded, warnings)) => (loaded.origin, Vec::new(), warnings),
        Err(failed) => (failed.origin, failed.problems, failed.warnings),
    };
    let valid = problems.is_empty() && (!strict || warnings.is_empty());
    let report = serde_json::json!({
        "file": origin,
        "valid": valid,
        "problems": problems.iter().map(load::problem_json).collect::<Vec<_>>(),
        "warnings": warnings.iter().map(load::problem_json).collect::<Vec<_>>(),
    });
    let printed = output::print_value(&report, cli.output);
    if valid { printed } else { ExitCode::from(INVALID) }
}

/// `pocket schema`: the JSON Schema of a whole workflow file, every node type's config included
/// (for editors: `# yaml-language-server: $schema=…`).
fn schema(registry: &Registry, format: Format) -> ExitCode {
    let format = if format == Format::Text { Format::Json } else { format };
    output::print_value(&schema::workflow_schema(registry), format)
}

fn graph(registry: &Registry, file: &std::path::Path, format: GraphFormat, cli: &Cli) -> ExitCode {
    let loaded = match load::load(registry, file, cli.quiet, &cli.allow_exec) {
        Ok(loaded) => loaded,
        Err(failed) => {
            failed.print(cli.quiet);
            return ExitCode::from(INVALID);
        }
    };
    let text = match format {
        GraphFormat::Mermaid => loaded.graph.to_mermaid(),
        GraphFormat::Dot => loaded.graph.to_dot(),
    };
    output::print(&text)
}

fn list_nodes(registry: &Registry, format: Format) -> ExitCode {
    if format != Format::Text {
        let all: Vec<serde_json::Value> = registry.types().iter().map(|info| node_json(registry, info.kind)).collect();
        return output::print_value(&serde_json::Value::Array(all), format);
    }
    let mut text = String::new();
    let mut category = None;
    for info in registry.types() {
        if category != Some(info.category) {
            category = Some(info.category);
            let title = match info.category {
                Category::Core => "Core",
                Category::Data => "Data",
                Category::Io => "I/O",
                Category::Flow => "Flow",
                Category::Script => "Script",
                _ => "Other",
            };
            text.push_str(&format!("\n{title}:\n"));
        }
        text.push_str(&format!("  {:<14}{}\n", info.kind, info.description));
    }
    text.push_str(&format!(
        "\nTotal: {} node types\nUse 'pocket nodes info <type>' for a type's config schema and an example.\n",
        registry.types().len()
    ));
    output::print(&text)
}

fn node_json(registry: &Registry, kind: &str) -> serde_json::Value {
    let info = registry.info(kind);
    serde_json::json!({
        "type": kind,
        "category": info.map(|i| i.category.to_string()),
        "description": info.map(|i| i.description),
        "config_schema": registry.schema(kind),
        "example": {"config": registry.example(kind)},
    })
}

fn node_info(registry: &Registry, kind: &str, format: Format) -> ExitCode {
    let Some(info) = registry.info(kind) else {
        say!("error: {}", registry.unknown_type(kind));
        return ExitCode::from(INVALID);
    };
    if format != Format::Text {
        return output::print_value(&node_json(registry, kind), format);
    }
    let schema = registry.schema(kind).unwrap_or_default();
    let example = serde_json::json!({"name": format!("my-{kind}"), "type": kind, "config": registry.example(kind)});
    let text = format!(
        "Node type: {}\nCategory: {}\nDescription: {}\n\nConfig (JSON Schema):\n{}\n\nExample:\n{}",
        info.kind,
        info.category,
        info.description,
        serde_json::to_string_pretty(&schema).unwrap_or_default(),
        output::yaml(&serde_json::Value::Array(vec![example])),
    );
    output::print(&text)
}

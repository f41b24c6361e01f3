//! The `pocket` command.
//!
//! Exit codes: 0 success; 1 the workflow ran and failed; 2 usage error or invalid workflow
//! (nothing ran); 130 cancelled.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pocket_yaml::{LoadError, Problem, Workflow, expand_env, parse_workflow};

/// Exit code: usage error or invalid workflow (nothing ran).
const INVALID: u8 = 2;

#[derive(Debug, Parser)]
#[command(name = "pocket", version, about = "Run and check Pocket workflows", disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a workflow file and report every problem at once.
    Validate {
        /// The workflow file.
        file: PathBuf,
        /// Treat warnings (unknown keys, duplicate connections, unreachable nodes) as errors.
        #[arg(long)]
        strict: bool,
    },
    /// Print the version.
    Version,
}

fn main() -> ExitCode {
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
    match cli.command {
        Command::Version => {
            println!("pocket {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Validate { file, strict } => validate(&file, strict),
    }
}

/// Read, expand `${VAR}`s and parse a workflow file; every problem goes to stderr.
fn load(file: &Path) -> Result<Workflow, ()> {
    let origin = file.display().to_string();
    let source = std::fs::read_to_string(file).map_err(|e| eprintln!("error: cannot read {origin}: {e}"))?;
    let source = expand_env(&source, |name| std::env::var(name).ok()).map_err(|e| eprintln!("error: {origin}: {e}"))?;
    parse_workflow(&source, &origin).map_err(|e| {
        if let LoadError::Invalid { warnings, .. } = &e {
            print_warnings(&origin, warnings);
        }
        eprintln!("error: {e}");
    })
}

fn print_warnings(origin: &str, warnings: &[Problem]) {
    for warning in warnings {
        eprintln!("warning: {origin}: {warning}");
    }
}

fn validate(file: &Path, strict: bool) -> ExitCode {
    let Ok(workflow) = load(file) else { return ExitCode::from(INVALID) };
    let origin = file.display().to_string();
    print_warnings(&origin, &workflow.warnings);
    if strict && !workflow.warnings.is_empty() {
        eprintln!("error: {origin}: {} warning(s) and --strict", workflow.warnings.len());
        return ExitCode::from(INVALID);
    }
    println!(
        "{origin}: workflow `{}` is valid ({} nodes, {} connections, start `{}`)",
        workflow.name,
        workflow.nodes.len(),
        workflow.connections.len(),
        workflow.start
    );
    ExitCode::SUCCESS
}

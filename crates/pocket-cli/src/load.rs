//! Read, expand, parse and build a workflow file; every problem goes to stderr.

use std::path::Path;

use pocket::Graph;
use pocket::error::BuildWarning;
use pocket_nodes::{BuildOptions, Registry, build_graph};
use pocket_yaml::{LoadError, Problem, Workflow, expand_env, parse_workflow};
use serde_json::Value;

/// A workflow file, parsed and built.
pub(crate) struct Loaded {
    pub(crate) origin: String,
    pub(crate) workflow: Workflow,
    pub(crate) graph: Graph<Value, Value>,
}

/// Load `file`: read it, expand `${VAR}`s, parse and validate it, build every node. Warnings
/// are printed unless `quiet`; problems are always printed. `Err(())` means nothing can run.
pub(crate) fn load(registry: &Registry, file: &Path, quiet: bool, allow_exec: &[String]) -> Result<Loaded, ()> {
    let origin = file.display().to_string();
    let source = std::fs::read_to_string(file).map_err(|e| eprintln!("error: cannot read {origin}: {e}"))?;
    let source = expand_env(&source, |name| std::env::var(name).ok()).map_err(|e| eprintln!("error: {origin}: {e}"))?;
    let workflow = parse_workflow(&source, &origin).map_err(|e| {
        if let LoadError::Invalid { warnings, .. } = &e
            && !quiet
        {
            print_warnings(&origin, warnings);
        }
        eprintln!("error: {e}");
    })?;
    let base_dir = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let graph = build_graph(&workflow, registry, BuildOptions::new(base_dir).allow_exec(allow_exec)).map_err(|e| {
        if !quiet {
            print_warnings(&origin, &workflow.warnings);
        }
        let n = e.problems.len();
        eprintln!("error: {origin}: the workflow is invalid ({n} problem{}):", if n == 1 { "" } else { "s" });
        for problem in &e.problems {
            eprintln!("  {problem}");
        }
    })?;
    // The file's own reachability check cannot see edges a node's config adds (router
    // `routes`); the built graph can, so it has the last word on unreachable nodes.
    let unreachable: Vec<&str> = graph
        .warnings()
        .iter()
        .filter_map(|w| match w {
            BuildWarning::Unreachable { name } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    let mut workflow = workflow;
    workflow
        .warnings
        .retain(|w| !w.message.contains("unreachable") || w.node.as_deref().is_some_and(|n| unreachable.contains(&n)));
    if !quiet {
        print_warnings(&origin, &workflow.warnings);
    }
    Ok(Loaded { origin, workflow, graph })
}

fn print_warnings(origin: &str, warnings: &[Problem]) {
    for warning in warnings {
        eprintln!("warning: {origin}: {warning}");
    }
}

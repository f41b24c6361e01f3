//! Read, expand, parse and build a workflow file, collecting every problem of every phase into
//! one list; printing it is the caller's choice (text on stderr, or JSON).

use std::path::Path;

use pocket::Graph;
use pocket::error::BuildWarning;
use pocket_nodes::{BuildOptions, Registry, build_graph, check_nodes};
use pocket_yaml::{LoadError, Problem, ProblemKind, Severity, Workflow, parse_workflow_with_env};
use serde_json::{Value, json};

/// A workflow file, parsed and built.
pub(crate) struct Loaded {
    pub(crate) origin: String,
    /// A hash of the file's text: a recorded run knows when its workflow changed.
    pub(crate) hash: String,
    pub(crate) workflow: Workflow,
    pub(crate) graph: Graph<Value, Value>,
}

/// Why a workflow cannot run: every problem found, and the warnings found alongside.
pub(crate) struct Failed {
    pub(crate) origin: String,
    pub(crate) problems: Vec<Problem>,
    pub(crate) warnings: Vec<Problem>,
}

impl Failed {
    fn one(origin: &str, problem: Problem) -> Self {
        Failed { origin: origin.to_string(), problems: vec![problem], warnings: Vec::new() }
    }

    /// Print on stderr: warnings (unless `quiet`), then the problems once.
    pub(crate) fn print(&self, quiet: bool) {
        if !quiet {
            print_warnings(&self.origin, &self.warnings);
        }
        let origin = &self.origin;
        match self.problems.as_slice() {
            [only] if only.kind == ProblemKind::Io => say!("error: {}", only.message),
            [only] if only.kind == ProblemKind::Syntax => match only.position {
                Some(at) => say!("error: {origin}:{at}: {}", only.message),
                None => say!("error: {origin}: {}", only.message),
            },
            problems => {
                let n = problems.len();
                say!("error: {origin}: the workflow is invalid ({n} problem{}):", if n == 1 { "" } else { "s" });
                for problem in problems {
                    say!("  {problem}");
                }
            }
        }
    }
}

/// Load `file`: read it, parse it (`${VAR}`s expanded in its values), validate it, build every node. Warnings
/// are printed unless `quiet`. A file with problems in several places (its structure, node
/// types, configs) gets them all in one list.
pub(crate) fn load(registry: &Registry, file: &Path, quiet: bool, allow_exec: &[String]) -> Result<Loaded, Failed> {
    let (loaded, warnings) = check(registry, file, allow_exec)?;
    if !quiet {
        print_warnings(&loaded.origin, &warnings);
    }
    Ok(loaded)
}

/// [`load`] without printing: the loaded workflow and its warnings.
pub(crate) fn check(registry: &Registry, file: &Path, allow_exec: &[String]) -> Result<(Loaded, Vec<Problem>), Failed> {
    let origin = file.display().to_string();
    let source = std::fs::read_to_string(file)
        .map_err(|e| Failed::one(&origin, Problem::error(ProblemKind::Io, format!("cannot read {origin}: {e}"))))?;
    let base_dir = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let node_warnings = std::cell::RefCell::new(Vec::new());
    let options = BuildOptions::new(base_dir).allow_exec(allow_exec).warnings(&node_warnings);
    let env = |name: &str| std::env::var(name).ok();
    let workflow = match parse_workflow_with_env(&source, &origin, &env) {
        Ok(workflow) => workflow,
        Err(LoadError::Syntax { position, message, .. }) => {
            let mut problem = Problem::error(ProblemKind::Syntax, message);
            problem.position = position;
            return Err(Failed::one(&origin, problem));
        }
        Err(LoadError::Invalid { mut problems, mut warnings, nodes, .. }) => {
            // The nodes that parsed still have their types and configs checked, so that one
            // run shows every problem of the file.
            problems.extend(check_nodes(&nodes, registry, options));
            problems.sort_by_key(|p| p.position.map(|at| (at.line, at.column)));
            warnings.extend(node_warnings.take());
            return Err(Failed { origin, problems, warnings });
        }
        Err(other) => return Err(Failed::one(&origin, Problem::error(ProblemKind::Invalid, other.to_string()))),
    };
    let graph = match build_graph(&workflow, registry, options) {
        Ok(graph) => graph,
        Err(e) => {
            let mut warnings = workflow.warnings;
            warnings.extend(node_warnings.take());
            return Err(Failed { origin, problems: e.problems, warnings });
        }
    };
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
        .retain(|w| w.kind != ProblemKind::Unreachable || w.node.as_deref().is_some_and(|n| unreachable.contains(&n)));
    workflow.warnings.extend(node_warnings.take());
    workflow.warnings.sort_by_key(|p| p.position.map(|at| (at.line, at.column)));
    let warnings = workflow.warnings.clone();
    let hash = crate::state::hash(source.as_bytes());
    Ok((Loaded { origin, hash, workflow, graph }, warnings))
}

fn print_warnings(origin: &str, warnings: &[Problem]) {
    for warning in warnings {
        say!("warning: {origin}: {warning}");
    }
}

/// One problem as JSON: `{severity, kind, line, column, node, field, message}`.
pub(crate) fn problem_json(problem: &Problem) -> Value {
    json!({
        "severity": match problem.severity { Severity::Error => "error", _ => "warning" },
        "kind": problem.kind,
        "line": problem.position.map(|p| p.line),
        "column": problem.position.map(|p| p.column),
        "node": problem.node,
        "field": problem.field,
        "message": problem.message,
    })
}

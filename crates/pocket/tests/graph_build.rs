//! Building graphs: every problem at once, warnings, defaults.

use pocket::error::{BuildProblem, BuildWarning};
use pocket::{Action, Ctx, Graph, Next, Node, NodeError, Store, StoreView, exec_fn};

fn int() -> impl Node<Input = i64, Output = i64> {
    exec_fn(|x: i64| async move { Ok(x) })
}

fn text() -> impl Node<Input = String, Output = String> {
    exec_fn(|x: String| async move { Ok(x) })
}

/// A node that declares the actions it can return.
struct Router(Vec<&'static str>);

impl Node for Router {
    type Input = i64;
    type Prep = i64;
    type Exec = i64;
    type Output = i64;
    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, i: &i64) -> Result<i64, NodeError> {
        Ok(*i)
    }
    async fn exec(&self, _: &Ctx<'_>, p: &i64) -> Result<i64, NodeError> {
        Ok(*p)
    }
    async fn post(&self, _: &Ctx<'_>, _: &Store, _: i64, _: i64, e: i64) -> Result<(i64, Next), NodeError> {
        Ok((e, Next::to(self.0[e as usize % self.0.len()])))
    }
    fn actions(&self) -> Option<Vec<Action>> {
        Some(self.0.iter().map(|a| Action::new(a)).collect())
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let err = Graph::<i64, i64>::builder()
        .node("a", int())
        .node("a", int())
        .node("b", int())
        .node("t", text())
        .edge("a", "default", "b")
        .edge("a", "default", "t")
        .edge("b", "next", "t")
        .edge("ghost", "x", "b")
        .edge("b", "y", "phantom")
        .start("nope")
        .build()
        .unwrap_err();
    let p = &err.problems;
    assert!(p.contains(&BuildProblem::DuplicateNode { name: "a".into() }), "{p:#?}");
    assert!(p.contains(&BuildProblem::UnknownStart { name: "nope".into() }));
    assert!(p.contains(&BuildProblem::DuplicateEdge {
        from: "a".into(),
        action: "default".into(),
        first: "b".into(),
        second: "t".into()
    }));
    assert!(p.contains(&BuildProblem::TypeMismatch {
        from: "b".into(),
        action: "next".into(),
        to: "t".into(),
        output: "i64",
        input: "alloc::string::String"
    }));
    assert!(p.contains(&BuildProblem::UnknownNode {
        from: "ghost".into(),
        action: "x".into(),
        to: "b".into(),
        missing: "ghost".into()
    }));
    assert!(p.contains(&BuildProblem::UnknownNode {
        from: "b".into(),
        action: "y".into(),
        to: "phantom".into(),
        missing: "phantom".into()
    }));
    assert!(p.contains(&BuildProblem::OutputType { node: "t".into(), output: "alloc::string::String", graph: "i64" }));
    assert_eq!(p.len(), 7, "{p:#?}");
    let shown = err.to_string();
    assert!(shown.starts_with("the graph is invalid (7 problems): "), "{shown}");
}

#[test]
fn empty_graph_and_wrong_input_type_are_problems() {
    let err = Graph::<i64, i64>::builder().build().unwrap_err();
    assert_eq!(err.problems, [BuildProblem::Empty]);

    let err = Graph::<i64, String>::builder().node("t", text()).build().unwrap_err();
    assert_eq!(
        err.problems,
        [BuildProblem::InputType { node: "t".into(), graph: "i64", input: "alloc::string::String" }]
    );
}

#[test]
fn start_defaults_to_the_first_node_and_can_be_set() {
    let g = Graph::<i64, i64>::builder().node("x", int()).node("y", int()).edge("x", "default", "y").build().unwrap();
    assert_eq!(g.start(), "x");
    assert!(g.warnings().is_empty());

    let g = Graph::<i64, i64>::builder().node("x", int()).node("y", int()).start("y").build().unwrap();
    assert_eq!(g.start(), "y");
    assert_eq!(g.warnings(), [BuildWarning::Unreachable { name: "x".into() }]);
}

#[test]
fn unreachable_nodes_and_unconnected_declared_actions_are_warnings() {
    let g = Graph::<i64, i64>::builder()
        .node("route", Router(vec!["left", "right", "stop"]))
        .node("left", int())
        .node("right", int())
        .node("island", int())
        .edge("route", "left", "left")
        .edge("route", "right", "right")
        .build()
        .unwrap();
    let w = g.warnings();
    assert!(w.contains(&BuildWarning::UnconnectedAction { node: "route".into(), action: "stop".into() }), "{w:?}");
    assert!(w.contains(&BuildWarning::Unreachable { name: "island".into() }));
    assert_eq!(w.len(), 2);
    assert_eq!(g.edges().len(), 2);
}

#[test]
fn a_typed_node_that_may_end_the_run_with_another_type_is_a_warning() {
    let to_text = exec_fn(|x: i64| async move { Ok(x.to_string()) });
    let len = exec_fn(|s: String| async move { Ok(s.len() as i64) });
    let g = Graph::<i64, i64>::builder()
        .node("fmt", to_text)
        .node("len", len)
        .edge("fmt", "default", "len")
        .build()
        .unwrap();
    assert_eq!(
        g.warnings(),
        [BuildWarning::OutputType { node: "fmt".into(), output: "alloc::string::String", graph: "i64" }]
    );
}

#[test]
fn mermaid_and_dot_exports_show_every_node_and_labelled_edge() {
    let g = Graph::<i64, i64>::builder()
        .node("route", Router(vec!["left", "right"]))
        .node("left", int())
        .node("right", int())
        .edge("route", "left", "left")
        .edge("route", "right", "right")
        .edge("left", "default", "route")
        .build()
        .unwrap();
    let mermaid = g.to_mermaid();
    assert!(mermaid.starts_with("flowchart TD\n    n0([\"route\"])\n"), "{mermaid}");
    for line in ["    n0 -->|\"left\"| n1", "    n0 -->|\"right\"| n2", "    n1 -->|\"default\"| n0"] {
        assert!(mermaid.contains(line), "missing {line:?} in {mermaid}");
    }
    let dot = g.to_dot();
    assert!(dot.contains("\"route\" [shape=doublecircle];"));
    assert!(dot.contains("\"route\" -> \"right\" [label=\"right\"];"));
    assert_eq!(dot.lines().filter(|l| l.contains("->")).count(), 3);
}

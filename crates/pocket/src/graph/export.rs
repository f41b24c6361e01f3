//! Graph export: Mermaid and Graphviz DOT, edge labels included.

use std::fmt::Write;

use super::Graph;

impl<I, O> Graph<I, O> {
    /// The graph as a Mermaid flowchart (`flowchart TD`): every node, the start node marked, and
    /// every edge labelled with its action.
    ///
    /// # Examples
    ///
    /// ```
    /// use pocket::{exec_fn, Graph};
    ///
    /// let g = Graph::<u8, u8>::builder()
    ///     .node("think", exec_fn(|x: u8| async move { Ok(x) }))
    ///     .node("act", exec_fn(|x: u8| async move { Ok(x) }))
    ///     .edge("think", "act", "act")
    ///     .edge("act", "default", "think")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(
    ///     g.to_mermaid(),
    ///     "flowchart TD\n    n0([\"think\"])\n    n1[\"act\"]\n    n0 -->|\"act\"| n1\n    n1 -->|\"default\"| n0\n"
    /// );
    /// ```
    pub fn to_mermaid(&self) -> String {
        let inner = &self.inner;
        let mut out = String::from("flowchart TD\n");
        for (i, node) in inner.nodes.iter().enumerate() {
            let label = mermaid_text(&node.name);
            if i == inner.start {
                let _ = writeln!(out, "    n{i}([\"{label}\"])");
            } else {
                let _ = writeln!(out, "    n{i}[\"{label}\"]");
            }
        }
        for (i, node) in inner.nodes.iter().enumerate() {
            if inner.linear {
                if i + 1 < inner.nodes.len() {
                    let _ = writeln!(out, "    n{i} --> n{}", i + 1);
                }
                continue;
            }
            for (action, to) in &node.edges {
                let _ = writeln!(out, "    n{i} -->|\"{}\"| n{to}", mermaid_text(action.as_str()));
            }
        }
        out
    }

    /// The graph in Graphviz DOT: the start node drawn double, edges labelled with their action.
    ///
    /// # Examples
    ///
    /// ```
    /// use pocket::{exec_fn, Graph};
    ///
    /// let g = Graph::<u8, u8>::builder()
    ///     .node("a", exec_fn(|x: u8| async move { Ok(x) }))
    ///     .node("b \"quoted\"", exec_fn(|x: u8| async move { Ok(x) }))
    ///     .edge("a", "next", "b \"quoted\"")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(
    ///     g.to_dot(),
    ///     "digraph pocket {\n    \"a\" [shape=doublecircle];\n    \"b \\\"quoted\\\"\" [shape=box];\n    \"a\" -> \"b \\\"quoted\\\"\" [label=\"next\"];\n}\n"
    /// );
    /// ```
    pub fn to_dot(&self) -> String {
        let inner = &self.inner;
        let mut out = String::from("digraph pocket {\n");
        for (i, node) in inner.nodes.iter().enumerate() {
            let shape = if i == inner.start { "doublecircle" } else { "box" };
            let _ = writeln!(out, "    \"{}\" [shape={shape}];", dot_text(&node.name));
        }
        for (i, node) in inner.nodes.iter().enumerate() {
            let from = dot_text(&node.name);
            if inner.linear {
                if let Some(next) = inner.nodes.get(i + 1) {
                    let _ = writeln!(out, "    \"{from}\" -> \"{}\";", dot_text(&next.name));
                }
                continue;
            }
            for (action, to) in &node.edges {
                let to = dot_text(&inner.nodes[*to].name);
                let _ = writeln!(out, "    \"{from}\" -> \"{to}\" [label=\"{}\"];", dot_text(action.as_str()));
            }
        }
        out.push_str("}\n");
        out
    }
}

/// Mermaid labels are double-quoted; quotes inside become `#quot;`.
fn mermaid_text(s: &str) -> String {
    s.replace('"', "#quot;")
}

/// DOT strings escape backslashes and double quotes.
fn dot_text(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

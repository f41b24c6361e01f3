//! [`Boundary`]: the value between two nodes of a running graph, as a checkpoint sees it.

use std::fmt;
use std::sync::Arc;

use super::erased::{Codec, Payload};

/// What [`RunOptions::on_boundary`](crate::RunOptions::on_boundary) is shown after each node of
/// a run: which node finished, which runs next, and the value handed on — which can be written
/// down as JSON when the nodes were added with
/// [`GraphBuilder::serde_node`](crate::graph::GraphBuilder::serde_node). A run restarts from it
/// with [`Graph::run_from`](crate::Graph::run_from).
pub struct Boundary<'a> {
    pub(crate) node: &'a str,
    pub(crate) next: Option<&'a str>,
    pub(crate) steps: u64,
    pub(crate) payload: &'a Payload,
    pub(crate) codec: Option<Codec>,
}

impl fmt::Debug for Boundary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Boundary")
            .field("node", &self.node)
            .field("next", &self.next)
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl Boundary<'_> {
    /// The node that just finished.
    pub fn node(&self) -> &str {
        self.node
    }

    /// The node that runs next (`None`: the run ends with this value).
    pub fn next(&self) -> Option<&str> {
        self.next
    }

    /// Nodes run so far in this run, this one included.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The value handed on, as JSON: `None` when neither node was added with a codec.
    ///
    /// # Errors
    ///
    /// The serializer's error when the value cannot be written down.
    pub fn value_json(&self) -> Option<serde_json::Result<serde_json::Value>> {
        self.codec.and_then(|codec| codec.encode(self.payload))
    }
}

/// A function shown every [`Boundary`] of a run.
pub(crate) type Observer = Arc<dyn Fn(&Boundary<'_>) + Send + Sync>;

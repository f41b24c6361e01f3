//! [`Ctx`]: what every step receives besides its data.

use std::fmt;
use std::sync::Arc;

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::durable::{RunJournal, StepJournal};
use crate::store::Store;

/// The context of one node execution: the node's name and the run's cancellation token.
///
/// Every step gets one. Long steps should watch [`Ctx::cancelled`] (or check
/// [`Ctx::is_cancelled`]) so that a cancelled run stops promptly; steps that do not are
/// abandoned by timeouts and deadlines, never waited for.
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, Ctx, Node, NodeError};
///
/// struct Slow;
/// impl Node for Slow {
///     type Input = u64;
///     type Prep = u64;
///     type Exec = u64;
///     type Output = u64;
///     async fn prep(&self, _: &Ctx<'_>, _: &pocket::StoreView, input: &u64) -> Result<u64, NodeError> {
///         Ok(*input)
///     }
///     async fn exec(&self, ctx: &Ctx<'_>, ms: &u64) -> Result<u64, NodeError> {
///         tokio::select! {
///             _ = tokio::time::sleep(std::time::Duration::from_millis(*ms)) => Ok(*ms),
///             _ = ctx.cancelled() => Err(NodeError::cancelled()),
///         }
///     }
///     async fn post(&self, _: &Ctx<'_>, _: &pocket::Store, _: u64, _: u64, ms: u64) -> Result<(u64, pocket::Next), NodeError> {
///         Ok((ms, pocket::Next::Default))
///     }
/// }
/// ```
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    node: &'a str,
    token: &'a CancellationToken,
    store: &'a Store,
    /// A durable run's journal and the step this is.
    journal: Option<(&'a Arc<RunJournal>, u64)>,
}

impl fmt::Debug for Ctx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx").field("node", &self.node).field("cancelled", &self.token.is_cancelled()).finish()
    }
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(node: &'a str, token: &'a CancellationToken, store: &'a Store) -> Self {
        Ctx { node, token, store, journal: None }
    }

    /// This context for step `step` of a durable run with `journal`.
    pub(crate) fn with_journal(self, journal: &'a Arc<RunJournal>, step: u64) -> Self {
        Ctx { journal: Some((journal, step)), ..self }
    }

    /// The step's journal when the run is durable: what the node saved before (a resumed
    /// step) and how it saves more (see [`StepJournal`]). `None` outside durable runs.
    pub fn journal(&self) -> Option<StepJournal> {
        self.journal.map(|(run, step)| StepJournal::new(run, self.node, step))
    }

    /// The name of the node being executed (as given to the graph; `"node"` outside a graph).
    pub fn node(&self) -> &'a str {
        self.node
    }

    /// Whether the run has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes when the run is cancelled.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'a> {
        self.token.cancelled()
    }

    /// The run's cancellation token (clone it to hand it to spawned work).
    pub fn token(&self) -> &'a CancellationToken {
        self.token
    }

    /// The run's store: for composite nodes (sub-graphs, chains) that run other nodes inside
    /// their Exec. Not public: user Exec code has no store access.
    pub(crate) fn store(&self) -> &'a Store {
        self.store
    }
}

/// An owned copy of a step's [`Ctx`] (the node's name and the run's token), for closures whose
/// future must own what it uses ([`exec_fn_ctx`](crate::node::exec_fn_ctx)).
#[derive(Debug, Clone)]
pub struct OwnedCtx {
    node: smol_str::SmolStr,
    token: CancellationToken,
}

impl OwnedCtx {
    /// The name of the node being executed.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether the run has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes when the run is cancelled.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// The run's cancellation token.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl Ctx<'_> {
    /// An owned copy of this context (one token clone; names up to 23 bytes are not allocated).
    pub fn to_owned(&self) -> OwnedCtx {
        OwnedCtx { node: smol_str::SmolStr::new(self.node), token: self.token.clone() }
    }
}

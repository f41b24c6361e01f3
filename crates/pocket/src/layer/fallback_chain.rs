//! Fallback chains: alternative nodes tried when the primary node fails.

use std::fmt;
use std::sync::{Arc, Mutex};

use crate::action::Next;
use crate::ctx::Ctx;
use crate::error::{ErrorKind, NodeError, RunError, report};
use crate::node::{BoxNode, Node, run_node_unchecked, run_node_with};
use crate::pattern::TaskGauge;
use crate::pattern::engine::{self, Limit, Slot};
use crate::store::{Store, StoreView};

/// Every node of a [`FallbackChain`] failed; each attempt's error is kept, in the order the
/// nodes were tried. Retryable when any attempt's error was.
#[derive(Debug, thiserror::Error)]
#[error("all {} alternatives failed: {}", .attempts.len(), attempts_list(.attempts))]
pub struct AllFailed {
    attempts: Vec<(String, RunError)>,
}

impl AllFailed {
    /// `(node name, error)` per attempt.
    pub fn attempts(&self) -> &[(String, RunError)] {
        &self.attempts
    }

    fn into_error(self) -> NodeError {
        let retryable = self.attempts.iter().any(|(_, e)| e.node_error().is_some_and(NodeError::is_retryable));
        NodeError::new(if retryable { ErrorKind::Retryable } else { ErrorKind::Fatal }, self)
    }
}

fn attempts_list(attempts: &[(String, RunError)]) -> String {
    attempts.iter().map(|(name, e)| format!("`{name}`: {}", report(e))).collect::<Vec<_>>().join("; ")
}

/// How a [`FallbackChain`] tries its nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Strategy {
    /// One after the other, in order; the first success wins.
    #[default]
    Sequential,
    /// All at once; the first success wins and the others are cancelled (none keeps running).
    Parallel,
    /// One after the other, best past success rate first (ties keep the declared order).
    Weighted,
}

/// An ordered list of alternative nodes tried when the primary fails — a cheaper model, then a
/// canned answer. A chain is a node: it takes layers and sits in graphs. Each alternative runs
/// its whole lifecycle on the run's store; when all fail, [`AllFailed`] keeps every
/// attempt's error.
///
/// # Examples
///
/// ```
/// use pocket::layer::fallback_chain::{FallbackChain, Strategy};
/// use pocket::{exec_fn, NodeError, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let big = exec_fn(|q: String| async move { Err::<String, _>(NodeError::msg("rate limited")) });
/// let small = exec_fn(|q: String| async move { Ok(format!("small model: {q}")) });
/// let canned = exec_fn(|_: String| async move { Ok("try again later".to_string()) });
/// let chain = FallbackChain::new("big", big).or("small", small).or("canned", canned);
/// assert_eq!(pocket::run_node(&chain, &Store::new(), "hi".into()).await.unwrap(), "small model: hi");
/// # });
/// ```
pub struct FallbackChain<I, O> {
    nodes: Vec<(String, BoxNode<I, O>)>,
    strategy: Strategy,
    stats: Arc<Mutex<Vec<(u64, u64)>>>,
    gauge: TaskGauge,
}

impl<I, O> fmt::Debug for FallbackChain<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackChain")
            .field("nodes", &self.nodes.iter().map(|(n, _)| n).collect::<Vec<_>>())
            .field("strategy", &self.strategy)
            .finish()
    }
}

impl<I: Clone + Send + Sync + 'static, O: Send + 'static> FallbackChain<I, O> {
    /// A chain whose first choice is `primary`.
    pub fn new(name: impl Into<String>, primary: impl Node<Input = I, Output = O>) -> Self {
        FallbackChain {
            nodes: vec![(name.into(), BoxNode::new(primary))],
            strategy: Strategy::Sequential,
            stats: Arc::new(Mutex::new(vec![(0, 0)])),
            gauge: TaskGauge::new(),
        }
    }

    /// Add an alternative.
    #[must_use]
    pub fn or(mut self, name: impl Into<String>, node: impl Node<Input = I, Output = O>) -> Self {
        self.nodes.push((name.into(), BoxNode::new(node)));
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).push((0, 0));
        self
    }

    /// How to try the nodes (default: sequential).
    #[must_use]
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Count parallel attempts in flight on `gauge`.
    #[must_use]
    pub fn gauge(mut self, gauge: TaskGauge) -> Self {
        self.gauge = gauge;
        self
    }

    /// `(successes, attempts)` per node, in declaration order.
    pub fn stats(&self) -> Vec<(u64, u64)> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, index: usize, success: bool) {
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats[index].1 += 1;
        if success {
            stats[index].0 += 1;
        }
    }

    fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.nodes.len()).collect();
        if self.strategy == Strategy::Weighted {
            let stats = self.stats();
            // Laplace-smoothed success rate: untried nodes start at 1/2.
            let rate = |i: usize| (stats[i].0 as f64 + 1.0) / (stats[i].1 as f64 + 2.0);
            order.sort_by(|a, b| rate(*b).total_cmp(&rate(*a)));
        }
        order
    }

    async fn sequential(&self, ctx: &Ctx<'_>, input: &I) -> Result<(O, Next), NodeError> {
        let mut attempts = Vec::new();
        for index in self.order() {
            let (name, node) = &self.nodes[index];
            match run_node_with(node, name, ctx.store(), input.clone(), ctx.token()).await {
                Ok(ok) => {
                    self.record(index, true);
                    return Ok(ok);
                }
                Err(error) => {
                    self.record(index, false);
                    tracing::warn!(node = ctx.node(), alternative = %name, "fallback chain: alternative failed");
                    if ctx.is_cancelled() {
                        return Err(NodeError::cancelled());
                    }
                    attempts.push((name.clone(), error));
                }
            }
        }
        Err(AllFailed { attempts }.into_error())
    }

    async fn parallel(&self, ctx: &Ctx<'_>, input: &I) -> Result<(O, Next), NodeError> {
        let token = ctx.token().child_token();
        let store = ctx.store();
        let launch = |slot: Slot, ()| {
            let (name, node) = &self.nodes[slot.index()];
            let (input, token) = (input.clone(), &token);
            async move { (slot, run_node_unchecked(node, name, store, input, token).await) }
        };
        let mut winner = None;
        let mut failures: Vec<Option<RunError>> = (0..self.nodes.len()).map(|_| None).collect();
        // The first success wins: stopping the engine cancels (and drops) the others.
        let done = |index: usize, result: Result<(O, Next), RunError>| {
            self.record(index, result.is_ok());
            match result {
                Ok(ok) => {
                    winner = Some(ok);
                    false
                }
                Err(error) => {
                    failures[index] = Some(error);
                    true
                }
            }
        };
        let cancelled = |i: usize| RunError::Cancelled { node: self.nodes[i].0.clone() };
        let all = std::iter::repeat_n((), self.nodes.len());
        engine::run(all, launch, &mut Limit(None), &self.gauge, &token, done, cancelled).await;
        if let Some(ok) = winner {
            return Ok(ok);
        }
        let attempts =
            failures.into_iter().enumerate().filter_map(|(i, e)| e.map(|e| (self.nodes[i].0.clone(), e))).collect();
        Err(AllFailed { attempts }.into_error())
    }
}

impl<I: Clone + Send + Sync + 'static, O: Send + 'static> Node for FallbackChain<I, O> {
    type Input = I;
    type Prep = I;
    type Exec = (O, Next);
    type Output = O;

    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &I) -> Result<I, NodeError> {
        Ok(input.clone())
    }

    async fn exec(&self, ctx: &Ctx<'_>, input: &I) -> Result<(O, Next), NodeError> {
        match self.strategy {
            Strategy::Parallel => self.parallel(ctx, input).await,
            Strategy::Sequential | Strategy::Weighted => self.sequential(ctx, input).await,
        }
    }

    async fn post(&self, _: &Ctx<'_>, _: &Store, _: I, _: I, exec: (O, Next)) -> Result<(O, Next), NodeError> {
        Ok(exec)
    }
}

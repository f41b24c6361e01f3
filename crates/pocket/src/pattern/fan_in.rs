//! Fan-in: several sources on one input, their outputs aggregated by one node.

use smol_str::SmolStr;
use std::fmt;

use tokio_util::sync::CancellationToken;

use super::TaskGauge;
use super::engine::{self, Limit, Slot};
use crate::error::RunError;
use crate::node::{Node, run_node_unchecked, run_node_with};
use crate::store::Store;

/// Why a fan-in failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FanInError {
    /// A source failed (the others were cancelled).
    #[error("fan-in source {index} failed")]
    Source {
        /// The source's position.
        index: usize,
        /// Its error.
        #[source]
        error: RunError,
    },
    /// The aggregator failed.
    #[error("fan-in aggregator failed")]
    Aggregator(#[source] RunError),
}

/// Several sources run concurrently on the same input; an aggregator node receives their
/// outputs in source order. Source `i` runs on the scope `source-<i>`, the aggregator on the
/// store itself.
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, NodeExt, Store};
/// use pocket::pattern::FanIn;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let sources = vec![
///     exec_fn(|q: String| async move { Ok(vec![format!("{q}@a")]) }).boxed(),
///     exec_fn(|q: String| async move { Ok(vec![format!("{q}@b"), format!("{q}@c")]) }).boxed(),
/// ];
/// let merge = exec_fn(|parts: Vec<Vec<String>>| async move { Ok(parts.concat()) });
/// let fan_in = FanIn::new(sources, merge);
/// let all = fan_in.run(&Store::new(), "x".to_string()).await.unwrap();
/// assert_eq!(all, ["x@a", "x@b", "x@c"]);
/// # });
/// ```
pub struct FanIn<S, A> {
    sources: Vec<S>,
    names: Vec<String>,
    /// `source-<i>:`, shared by every run on a root store.
    prefixes: Vec<SmolStr>,
    aggregator: A,
    gauge: TaskGauge,
}

impl<S: fmt::Debug, A: fmt::Debug> fmt::Debug for FanIn<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanIn").field("sources", &self.sources).field("aggregator", &self.aggregator).finish()
    }
}

impl<S, A> FanIn<S, A>
where
    S: Node,
    S::Input: Clone,
    A: Node<Input = Vec<S::Output>>,
{
    /// Sources and their aggregator; source `i` is named `source-<i>` (in errors, and its scope).
    pub fn new(sources: impl IntoIterator<Item = S>, aggregator: A) -> Self {
        Self::named(sources.into_iter().enumerate().map(|(i, s)| (format!("source-{i}"), s)), aggregator)
    }

    /// Named sources and their aggregator: errors name the source, and source `name` runs on
    /// the scope `name`.
    ///
    /// ```
    /// use pocket::{exec_fn, NodeError, NodeExt, Store};
    /// use pocket::pattern::FanIn;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let web = exec_fn(|q: String| async move { Ok(vec![format!("web: {q}")]) }).boxed();
    /// let wiki = exec_fn(|_: String| async move { Err::<Vec<String>, _>(NodeError::msg("wiki is down")) }).boxed();
    /// let fan_in = FanIn::named([("web", web), ("wiki", wiki)], exec_fn(|p: Vec<Vec<String>>| async move { Ok(p.concat()) }));
    /// let err = fan_in.run(&Store::new(), "rust".into()).await.unwrap_err();
    /// assert_eq!(pocket::report(&err), "fan-in source 1 failed: node `wiki` failed in exec: wiki is down");
    /// # });
    /// ```
    pub fn named(sources: impl IntoIterator<Item = (impl Into<String>, S)>, aggregator: A) -> Self {
        let (names, sources): (Vec<String>, Vec<S>) = sources.into_iter().map(|(n, s)| (n.into(), s)).unzip();
        let prefixes = names.iter().map(|n| SmolStr::from(format!("{n}:"))).collect();
        FanIn { sources, names, prefixes, aggregator, gauge: TaskGauge::new() }
    }

    /// Count the running sources on `gauge`.
    #[must_use]
    pub fn gauge(mut self, gauge: TaskGauge) -> Self {
        self.gauge = gauge;
        self
    }

    /// Run the sources on `input`, then the aggregator on their outputs.
    ///
    /// # Errors
    ///
    /// [`FanInError`]: the first failing source (the others are cancelled), or the aggregator.
    pub async fn run(&self, store: &Store, input: S::Input) -> Result<A::Output, FanInError> {
        self.run_with(store, input, &CancellationToken::new()).await
    }

    /// [`FanIn::run`] under a cancellation token.
    ///
    /// # Errors
    ///
    /// As [`FanIn::run`].
    pub async fn run_with(
        &self,
        store: &Store,
        input: S::Input,
        token: &CancellationToken,
    ) -> Result<A::Output, FanInError> {
        if token.is_cancelled() {
            return Err(FanInError::Source { index: 0, error: RunError::Cancelled { node: self.names[0].clone() } });
        }
        let token = token.child_token();
        let launch = |slot: Slot, ()| {
            let i = slot.index();
            let source = &self.sources[i];
            let scope = store.scope_shared(&self.prefixes[i]);
            let (input, token, name) = (input.clone(), &token, &self.names[i]);
            async move {
                let result = run_node_unchecked(source, name, &scope, input, token).await;
                (slot, result.map(|(o, _)| o))
            }
        };
        let cancelled = |i: usize| RunError::Cancelled { node: self.names[i].clone() };
        let outputs = engine::fail_fast(
            std::iter::repeat_n((), self.sources.len()),
            launch,
            &mut Limit(None),
            &self.gauge,
            &token,
            cancelled,
        )
        .await
        .map_err(|(index, error)| FanInError::Source { index, error })?;
        run_node_with(&self.aggregator, "aggregator", store, outputs, &token)
            .await
            .map(|(out, _)| out)
            .map_err(FanInError::Aggregator)
    }
}

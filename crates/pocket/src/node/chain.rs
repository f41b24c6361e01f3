//! Typed chains: nodes in sequence, edge types checked by the compiler.

use crate::action::{Action, Next};
use crate::ctx::Ctx;
use crate::error::{NodeError, Step};
use crate::node::{Node, lifecycle};
use crate::store::{Store, StoreView};

/// Two nodes in sequence, built by [`NodeExt::then`](crate::NodeExt::then); chains of any
/// length nest. The second node must take the first one's output, and the compiler checks it.
///
/// A chain is a node: each stage runs its whole lifecycle (so stage layers and hooks apply),
/// the actions of all but the last stage are ignored, and the last stage's action is the
/// chain's. A failing stage is named by its position: [`StageFailed`].
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, NodeExt, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let parse = exec_fn(|s: String| async move { Ok(s.trim().len()) });
/// let double = exec_fn(|n: usize| async move { Ok(n * 2) });
/// let show = exec_fn(|n: usize| async move { Ok(format!("{n}")) });
///
/// let flow = parse.then(double).then(show);
/// assert_eq!(pocket::run_node(&flow, &Store::new(), " abc ".into()).await.unwrap(), "6");
/// # });
/// ```
///
/// A stage whose input is not the previous output does not compile:
///
/// ```compile_fail
/// use pocket::{exec_fn, NodeExt};
///
/// let count = exec_fn(|s: String| async move { Ok(s.len()) });          // String -> usize
/// let shout = exec_fn(|s: String| async move { Ok(s.to_uppercase()) }); // String -> String
/// let flow = count.then(shout); // error: `shout` takes a String, `count` gives a usize
/// ```
#[derive(Debug, Clone)]
pub struct Chain<A, B> {
    first: A,
    second: B,
    first_len: usize,
    /// The stages' names, when given ([`Chain::named`]).
    names: Option<std::sync::Arc<[String]>>,
}

impl<A, B> Chain<A, B>
where
    A: Node,
    B: Node<Input = A::Output>,
    A::Input: Clone + Sync,
{
    pub(crate) fn new(first: A, second: B) -> Self {
        Chain { first, second, first_len: 1, names: None }
    }

    /// The number of stages.
    pub fn len(&self) -> usize {
        self.first_len + 1
    }

    /// Always false: a chain has at least two stages.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Append a stage (keeps the stage numbering of the whole chain).
    pub fn then<C>(self, next: C) -> Chain<Self, C>
    where
        C: Node<Input = B::Output>,
    {
        let first_len = self.len();
        Chain { first: self, second: next, first_len, names: None }
    }

    /// Name the stages, in order, for errors ([`StageFailed::name`]): a failing stage is then
    /// `stage 1 (`double`)`, not only its position. Extra names are ignored; missing ones
    /// leave those stages unnamed.
    ///
    /// ```
    /// use pocket::{exec_fn, NodeError, NodeExt, Store};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let flow = exec_fn(|s: String| async move { s.trim().parse::<i64>().map_err(NodeError::fatal) })
    ///     .then(exec_fn(|n: i64| async move { Ok(n * 2) }))
    ///     .named(["parse", "double"]);
    /// let err = pocket::run_node(&flow, &Store::new(), "x".into()).await.unwrap_err();
    /// assert_eq!(pocket::report(&err), "node `node` failed in exec: stage 0 (`parse`) failed in exec: invalid digit found in string");
    /// # });
    /// ```
    #[must_use]
    pub fn named(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.names = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Give the failed stage its name, if this chain has names.
    fn name_stage(&self, error: NodeError) -> NodeError {
        let Some(names) = &self.names else { return error };
        let kind = error.kind();
        match error.into_source().downcast::<StageFailed>() {
            Ok(mut failed) => {
                if failed.name.is_none() {
                    failed.name = names.get(failed.index).cloned();
                }
                NodeError::new(kind, *failed)
            }
            Err(source) => NodeError::new(kind, source),
        }
    }
}

/// A stage of a [`Chain`] failed (stages count from 0); the stage's error is the source and
/// decides the classification.
#[derive(Debug, thiserror::Error)]
#[error("stage {index}{} failed in {step}", .name.as_ref().map(|n| format!(" (`{n}`)")).unwrap_or_default())]
pub struct StageFailed {
    index: usize,
    name: Option<String>,
    step: Step,
    #[source]
    source: NodeError,
}

impl StageFailed {
    /// The stage's position in the chain.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The stage's failed step.
    pub fn step(&self) -> Step {
        self.step
    }

    /// The stage's name, when the chain names its stages ([`Chain::named`]).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

fn stage_error(offset: usize, step: Step, error: NodeError) -> NodeError {
    let kind = error.kind();
    // A nested chain's stage keeps its own step; only its index moves by the offset.
    let failed = match error.into_source().downcast::<StageFailed>() {
        Ok(inner) => StageFailed { index: inner.index + offset, ..*inner },
        Err(source) => StageFailed { index: offset, name: None, step, source: NodeError::new(kind, source) },
    };
    NodeError::new(kind, failed)
}

impl<A, B> Node for Chain<A, B>
where
    A: Node,
    B: Node<Input = A::Output>,
    A::Input: Clone + Sync,
{
    type Input = A::Input;
    type Prep = A::Input;
    type Exec = (B::Output, Next);
    type Output = B::Output;

    async fn prep(&self, _: &Ctx<'_>, _: &StoreView, input: &A::Input) -> Result<A::Input, NodeError> {
        Ok(input.clone())
    }

    async fn exec(&self, ctx: &Ctx<'_>, input: &A::Input) -> Result<Self::Exec, NodeError> {
        let store = ctx.store();
        let view = store.view();
        let (middle, _) = lifecycle(&self.first, ctx, store, &view, input.clone())
            .await
            .map_err(|(step, e)| self.name_stage(stage_error(0, step, e)))?;
        lifecycle(&self.second, ctx, store, &view, middle)
            .await
            .map_err(|(step, e)| self.name_stage(stage_error(self.first_len, step, e)))
    }

    async fn post(
        &self,
        _: &Ctx<'_>,
        _: &Store,
        _: A::Input,
        _: A::Input,
        exec: Self::Exec,
    ) -> Result<(B::Output, Next), NodeError> {
        Ok(exec)
    }

    fn actions(&self) -> Option<Vec<Action>> {
        self.second.actions()
    }
}

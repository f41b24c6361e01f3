//! Type erasure of nodes inside a graph (the payload itself is in `crate::erased`); its type was
//! checked when the graph was built, so taking it out cannot fail for a built graph.

use std::future::Future;
use std::pin::Pin;

use crate::action::{Action, Next};
use crate::ctx::Ctx;
use crate::erased;
pub(crate) use crate::erased::{Codec, Payload, TypeInfo, payload, unpack};
use crate::error::{NodeError, Step};
use crate::node::{Node, lifecycle};
use crate::node::{SyncNode, run_sync};
use crate::store::{Store, StoreView};

/// A step's outcome; the error is boxed to keep the success path's moves small.
pub(crate) type StepResult = Result<(Payload, Next), Box<(Step, NodeError)>>;
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The codecs of a node's input and output, when it was added with them.
#[derive(Clone, Copy, Default)]
pub(crate) struct Codecs {
    pub(crate) input: Option<Codec>,
    pub(crate) output: Option<Codec>,
}

pub(crate) trait DynNode: Send + Sync {
    fn run<'a>(
        &'a self,
        ctx: &'a Ctx<'a>,
        store: &'a Store,
        view: &'a StoreView,
        input: Payload,
    ) -> BoxFuture<'a, StepResult>;
    /// Whether [`DynNode::run_in_place`] can run this node (it never waits).
    fn is_sync(&self) -> bool {
        false
    }
    /// Run a node that never waits on the payload in place: its input is taken out of the box
    /// and its output put back in (the same box when the types agree). Only called when
    /// [`DynNode::is_sync`] is true.
    fn run_in_place(
        &self,
        ctx: &Ctx<'_>,
        store: &Store,
        view: &StoreView,
        payload: &mut Payload,
    ) -> Result<Next, Box<(Step, NodeError)>> {
        let _ = (ctx, store, view, payload);
        Err(Box::new((Step::Prep, NodeError::fatal_msg("this node cannot run in place"))))
    }
    fn input(&self) -> TypeInfo;
    fn output(&self) -> TypeInfo;
    fn actions(&self) -> Option<Vec<Action>>;
    /// How its input and output are written down, if known.
    fn codecs(&self) -> Codecs {
        Codecs::default()
    }
}

/// A node with the codecs of its step values (added by `serde_node` / `serde_sync_node`).
pub(crate) struct WithCodecs<D> {
    pub(crate) node: D,
    pub(crate) codecs: Codecs,
}

impl<D: DynNode> DynNode for WithCodecs<D> {
    fn run<'a>(
        &'a self,
        ctx: &'a Ctx<'a>,
        store: &'a Store,
        view: &'a StoreView,
        input: Payload,
    ) -> BoxFuture<'a, StepResult> {
        self.node.run(ctx, store, view, input)
    }

    fn is_sync(&self) -> bool {
        self.node.is_sync()
    }

    fn run_in_place(
        &self,
        ctx: &Ctx<'_>,
        store: &Store,
        view: &StoreView,
        payload: &mut Payload,
    ) -> Result<Next, Box<(Step, NodeError)>> {
        self.node.run_in_place(ctx, store, view, payload)
    }

    fn input(&self) -> TypeInfo {
        self.node.input()
    }

    fn output(&self) -> TypeInfo {
        self.node.output()
    }

    fn actions(&self) -> Option<Vec<Action>> {
        self.node.actions()
    }

    fn codecs(&self) -> Codecs {
        self.codecs
    }
}

fn type_error<T>() -> (Step, NodeError) {
    (
        Step::Prep,
        NodeError::fatal_msg(format!("input is not a `{}` (graph type check bypassed)", std::any::type_name::<T>())),
    )
}

fn take_input<T: 'static>(payload: &mut Payload) -> Result<T, Box<(Step, NodeError)>> {
    erased::take::<T>(payload).ok_or_else(|| Box::new(type_error::<T>()))
}

pub(crate) struct ErasedSync<S>(pub(crate) S);

impl<S: SyncNode> DynNode for ErasedSync<S> {
    fn run<'a>(
        &'a self,
        ctx: &'a Ctx<'a>,
        store: &'a Store,
        view: &'a StoreView,
        input: Payload,
    ) -> BoxFuture<'a, StepResult> {
        Box::pin(async move {
            let mut payload = input;
            let next = self.run_in_place(ctx, store, view, &mut payload)?;
            Ok((payload, next))
        })
    }

    fn is_sync(&self) -> bool {
        true
    }

    fn run_in_place(
        &self,
        ctx: &Ctx<'_>,
        store: &Store,
        view: &StoreView,
        payload: &mut Payload,
    ) -> Result<Next, Box<(Step, NodeError)>> {
        let Some(slot) = erased::slot::<S::Input>(payload) else {
            return Err(Box::new(type_error::<S::Input>()));
        };
        let Some(value) = slot.take() else { return Err(Box::new(type_error::<S::Input>())) };
        let (output, next) = run_sync(&self.0, ctx, store, view, value).map_err(Box::new)?;
        // `slot` has a static type here, so this check is resolved at compile time.
        match erased::same_type::<Option<S::Input>, Option<S::Output>>(slot) {
            Some(out) => *out = Some(output),
            None => *payload = self::payload(output),
        }
        Ok(next)
    }

    fn input(&self) -> TypeInfo {
        TypeInfo::of::<S::Input>()
    }

    fn output(&self) -> TypeInfo {
        TypeInfo::of::<S::Output>()
    }

    fn actions(&self) -> Option<Vec<Action>> {
        self.0.actions()
    }
}

pub(crate) struct Erased<N>(pub(crate) N);

impl<N: Node> DynNode for Erased<N> {
    fn run<'a>(
        &'a self,
        ctx: &'a Ctx<'a>,
        store: &'a Store,
        view: &'a StoreView,
        input: Payload,
    ) -> BoxFuture<'a, StepResult> {
        Box::pin(async move {
            let mut payload = input;
            let value = take_input::<N::Input>(&mut payload)?;
            let (output, next) = lifecycle(&self.0, ctx, store, view, value).await.map_err(Box::new)?;
            erased::put(&mut payload, output);
            Ok((payload, next))
        })
    }

    fn input(&self) -> TypeInfo {
        TypeInfo::of::<N::Input>()
    }

    fn output(&self) -> TypeInfo {
        TypeInfo::of::<N::Output>()
    }

    fn actions(&self) -> Option<Vec<Action>> {
        self.0.actions()
    }
}

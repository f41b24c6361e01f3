//! Type erasure of nodes inside a graph. The payload between nodes is boxed; its type was
//! checked when the graph was built, so the downcasts here cannot fail for a built graph.

use std::any::{Any, TypeId};
use std::future::Future;
use std::pin::Pin;

use crate::action::{Action, Next};
use crate::ctx::Ctx;
use crate::error::{NodeError, Step};
use crate::node::{Node, lifecycle};
use crate::node::{SyncNode, run_sync};
use crate::store::{Store, StoreView};

/// The value travelling between nodes: a box holding `Option<T>`. A node takes its input out of
/// the box and, when its output has the same type, puts the output back into the same box, so a
/// run of same-typed nodes allocates no payloads.
pub(crate) type Payload = Box<dyn Any + Send>;

pub(crate) fn payload<T: Send + 'static>(value: T) -> Payload {
    Box::new(Some(value))
}

pub(crate) fn unpack<T: 'static>(mut payload: Payload) -> Result<T, Payload> {
    match payload.downcast_mut::<Option<T>>().and_then(Option::take) {
        Some(value) => Ok(value),
        None => Err(payload),
    }
}
/// A step's outcome; the error is boxed to keep the success path's moves small.
pub(crate) type StepResult = Result<(Payload, Next), Box<(Step, NodeError)>>;
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How a payload of one type is written down and read back (JSON), captured where the type is
/// still known: by [`GraphBuilder::serde_node`](crate::graph::GraphBuilder::serde_node).
#[derive(Clone, Copy)]
pub(crate) struct Codec {
    encode: fn(&Payload) -> Option<serde_json::Result<serde_json::Value>>,
    decode: fn(serde_json::Value) -> serde_json::Result<Payload>,
}

impl Codec {
    pub(crate) fn of<T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static>() -> Self {
        fn encode<T: serde::Serialize + 'static>(payload: &Payload) -> Option<serde_json::Result<serde_json::Value>> {
            payload.downcast_ref::<Option<T>>()?.as_ref().map(serde_json::to_value)
        }
        fn decode<T: serde::de::DeserializeOwned + Send + 'static>(
            value: serde_json::Value,
        ) -> serde_json::Result<Payload> {
            serde_json::from_value::<T>(value).map(payload)
        }
        Codec { encode: encode::<T>, decode: decode::<T> }
    }

    /// The payload as JSON (`None` if it does not hold this codec's type).
    pub(crate) fn encode(&self, payload: &Payload) -> Option<serde_json::Result<serde_json::Value>> {
        (self.encode)(payload)
    }

    pub(crate) fn decode(&self, value: serde_json::Value) -> serde_json::Result<Payload> {
        (self.decode)(value)
    }
}

/// The codecs of a node's input and output, when it was added with them.
#[derive(Clone, Copy, Default)]
pub(crate) struct Codecs {
    pub(crate) input: Option<Codec>,
    pub(crate) output: Option<Codec>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct TypeInfo {
    pub(crate) id: TypeId,
    pub(crate) name: &'static str,
}

impl TypeInfo {
    pub(crate) fn of<T: 'static>() -> Self {
        TypeInfo { id: TypeId::of::<T>(), name: std::any::type_name::<T>() }
    }
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
    payload.downcast_mut::<Option<T>>().and_then(Option::take).ok_or_else(|| Box::new(type_error::<T>()))
}

/// Put `output` into the payload box: in place when it holds the same type, else a new box.
fn put_output<T: Send + 'static>(payload: &mut Payload, output: T) {
    match payload.downcast_mut::<Option<T>>() {
        Some(slot) => *slot = Some(output),
        None => *payload = self::payload(output),
    }
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
        let Some(slot) = payload.downcast_mut::<Option<S::Input>>() else {
            return Err(Box::new(type_error::<S::Input>()));
        };
        let Some(value) = slot.take() else { return Err(Box::new(type_error::<S::Input>())) };
        let (output, next) = run_sync(&self.0, ctx, store, view, value).map_err(Box::new)?;
        // `slot` has a static type here, so this check is resolved at compile time.
        match (slot as &mut dyn Any).downcast_mut::<Option<S::Output>>() {
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
            put_output(&mut payload, output);
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

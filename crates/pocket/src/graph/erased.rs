//! Type erasure of nodes inside a graph. The payload between nodes is boxed; its type was
//! checked when the graph was built, so the downcasts here cannot fail for a built graph.

use std::any::{Any, TypeId};
use std::future::Future;
use std::pin::Pin;

use crate::action::{Action, Next};
use crate::ctx::Ctx;
use crate::error::{NodeError, Step};
use crate::node::{Node, lifecycle};
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
pub(crate) type StepResult = Result<(Payload, Next), (Step, NodeError)>;
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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
    fn input(&self) -> TypeInfo;
    fn output(&self) -> TypeInfo;
    fn actions(&self) -> Option<Vec<Action>>;
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
            let mut input = input;
            let value = match input.downcast_mut::<Option<N::Input>>().and_then(Option::take) {
                Some(value) => value,
                None => {
                    return Err((
                        Step::Prep,
                        NodeError::fatal_msg(format!(
                            "input is not a `{}` (graph type check bypassed)",
                            std::any::type_name::<N::Input>()
                        )),
                    ));
                }
            };
            let (output, next) = lifecycle(&self.0, ctx, store, view, value).await?;
            let output = match input.downcast_mut::<Option<N::Output>>() {
                Some(slot) => {
                    *slot = Some(output);
                    input
                }
                None => payload(output),
            };
            Ok((output, next))
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

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

pub(crate) type Payload = Box<dyn Any + Send>;
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
            let input = match input.downcast::<N::Input>() {
                Ok(input) => *input,
                Err(_) => {
                    return Err((
                        Step::Prep,
                        NodeError::fatal_msg(format!(
                            "input is not a `{}` (graph type check bypassed)",
                            std::any::type_name::<N::Input>()
                        )),
                    ));
                }
            };
            let (output, next) = lifecycle(&self.0, ctx, store, view, input).await?;
            Ok((Box::new(output) as Payload, next))
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

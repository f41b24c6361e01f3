//! Run-concurrent: several nodes at once, one input each; results in node order.

use std::future::Future;

use tokio_util::sync::CancellationToken;

use super::engine::{self, Limit, Slot};
use super::{ItemError, TaskGauge};
use crate::error::RunError;
use crate::node::{Node, run_node_racing, run_node_unchecked};
use crate::store::Store;

/// Run `nodes[i]` on `inputs[i]`, all at once, each on the scope `concurrent-<i>`; results in
/// node order. Fails fast: the first error cancels the others. For nodes of different types,
/// box them ([`NodeExt::boxed`](crate::NodeExt::boxed)) or use [`ConcurrentNodes`] on a tuple.
///
/// # Errors
///
/// The first failing node's [`ItemError`] (its index); [`ItemError`] with index `nodes.len()`
/// if the numbers of nodes and inputs differ.
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, NodeExt, Store};
/// use pocket::pattern::run_concurrent;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let nodes = [
///     exec_fn(|x: u32| async move { Ok(x + 1) }).boxed(),
///     exec_fn(|x: u32| async move { Ok(x * 2) }).boxed(),
/// ];
/// assert_eq!(run_concurrent(&nodes, &Store::new(), vec![1, 10]).await.unwrap(), [2, 20]);
/// # });
/// ```
pub async fn run_concurrent<N: Node>(
    nodes: &[N],
    store: &Store,
    inputs: Vec<N::Input>,
) -> Result<Vec<N::Output>, ItemError> {
    run_concurrent_with(nodes, store, inputs, &CancellationToken::new()).await
}

/// [`run_concurrent`] under a cancellation token (each node sees it; steps that ignore it are
/// dropped).
///
/// # Errors
///
/// As [`run_concurrent`]; cancelling fails it with the first unfinished node's index.
pub async fn run_concurrent_with<N: Node>(
    nodes: &[N],
    store: &Store,
    inputs: Vec<N::Input>,
    token: &CancellationToken,
) -> Result<Vec<N::Output>, ItemError> {
    if nodes.len() != inputs.len() {
        return Err(ItemError {
            index: nodes.len().min(inputs.len()),
            error: RunError::Node {
                node: "run-concurrent".into(),
                step: crate::error::Step::Prep,
                source: crate::NodeError::fatal_msg(format!(
                    "{} nodes but {} inputs: give one input per node",
                    nodes.len(),
                    inputs.len()
                )),
            },
        });
    }
    let token = token.child_token();
    let launch = |slot: Slot, input: N::Input| {
        let i = slot.index();
        let node = &nodes[i];
        let scope = store.scope_indexed("concurrent", i);
        let token = &token;
        async move {
            let name = format!("concurrent-{i}");
            let result = run_node_unchecked(node, &name, &scope, input, token).await;
            (slot, result.map(|(out, _)| out))
        }
    };
    let cancelled = |i| RunError::Cancelled { node: format!("concurrent-{i}") };
    engine::fail_fast(inputs, launch, &mut Limit(None), &TaskGauge::new(), &token, cancelled)
        .await
        .map_err(|(index, error)| ItemError { index, error })
}

/// Tuples of differently typed nodes run concurrently, with a tuple of differently typed
/// results: no boxing, no downcasts. Implemented for tuples of 2 to 6 nodes.
///
/// # Examples
///
/// ```
/// use pocket::{exec_fn, Store};
/// use pocket::pattern::ConcurrentNodes;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let inventory = exec_fn(|order: u32| async move { Ok(order % 2 == 0) });
/// let price = exec_fn(|order: u32| async move { Ok(f64::from(order) * 1.5) });
/// let label = exec_fn(|order: u32| async move { Ok(format!("order-{order}")) });
///
/// let (in_stock, total, name): (bool, f64, String) =
///     (inventory, price, label).run_concurrent(&Store::new(), (4, 4, 4)).await.unwrap();
/// assert_eq!((in_stock, total, name.as_str()), (true, 6.0, "order-4"));
/// # });
/// ```
pub trait ConcurrentNodes: Sync {
    /// One input per node.
    type Inputs: Send;
    /// One output per node.
    type Outputs;

    /// Run all nodes at once (node `i` on the scope `concurrent-<i>`); the first error cancels
    /// the others.
    fn run_concurrent(
        &self,
        store: &Store,
        inputs: Self::Inputs,
    ) -> impl Future<Output = Result<Self::Outputs, ItemError>> + Send {
        async move { self.run_concurrent_with(store, inputs, &CancellationToken::new()).await }
    }

    /// [`ConcurrentNodes::run_concurrent`] under a cancellation token.
    fn run_concurrent_with(
        &self,
        store: &Store,
        inputs: Self::Inputs,
        token: &CancellationToken,
    ) -> impl Future<Output = Result<Self::Outputs, ItemError>> + Send;
}

macro_rules! concurrent_tuple {
    ($(($N:ident, $input:ident, $i:tt)),+) => {
        impl<$($N: Node),+> ConcurrentNodes for ($($N,)+) {
            type Inputs = ($($N::Input,)+);
            type Outputs = ($($N::Output,)+);

            async fn run_concurrent_with(
                &self,
                store: &Store,
                inputs: Self::Inputs,
                token: &CancellationToken,
            ) -> Result<Self::Outputs, ItemError> {
                let token = token.child_token();
                // Differently typed nodes cannot share the engine's queue: they are joined
                // statically, and still count on the task gauge.
                let gauge = TaskGauge::new();
                let ($($input,)+) = inputs;
                tokio::try_join!($(
                    async {
                        let _task = gauge.enter();
                        let name = concat!("concurrent-", $i);
                        let scope = store.scope(name);
                        let result = run_node_racing(&self.$i, name, &scope, $input, &token).await;
                        result.map(|(out, _)| out).map_err(|error| {
                            token.cancel();
                            ItemError { index: $i, error }
                        })
                    }
                ),+)
            }
        }
    };
}

concurrent_tuple!((A, a, 0), (B, b, 1));
concurrent_tuple!((A, a, 0), (B, b, 1), (C, c, 2));
concurrent_tuple!((A, a, 0), (B, b, 1), (C, c, 2), (D, d, 3));
concurrent_tuple!((A, a, 0), (B, b, 1), (C, c, 2), (D, d, 3), (E, e, 4));
concurrent_tuple!((A, a, 0), (B, b, 1), (C, c, 2), (D, d, 3), (E, e, 4), (F, f, 5));

//! [`BoxLayer`]: a type-erased layer for nodes of one input and output type.

use std::fmt;
use std::sync::Arc;

use super::Layer;
use crate::node::{BoxExec, BoxNode, BoxPrep, Node};

/// Any layer (or stack) for boxed nodes of input `I` and output `O`, its type erased. Lists of
/// layers chosen at run time — the YAML loader's node-level keys — are `Vec<BoxLayer<…>>`,
/// applied in order.
///
/// `BoxLayer<I, O>` wraps opaque [`BoxNode<I, O>`]s and may change their step types
/// ([`BoxLayer::new`]); `BoxLayer<I, O, P, X>` wraps step-typed `BoxNode<I, O, P, X>`s with
/// layers that keep the step types ([`BoxLayer::typed`]: a rate limit priced from the Prep
/// result, a cache keyed by it, a breaker, a retry).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use pocket::layer::{BoxLayer, Layer, timeout::{TimeoutLayer, Timeouts}};
/// use pocket::{exec_fn, NodeExt, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let layers: Vec<BoxLayer<u32, u32>> = vec![BoxLayer::new(TimeoutLayer(Timeouts::step(Duration::from_secs(1))))];
/// let node = layers.iter().fold(exec_fn(|x: u32| async move { Ok(x + 1) }).boxed(), |n, l| l.layer(n));
/// assert_eq!(pocket::run_node(&node, &Store::new(), 1).await.unwrap(), 2);
/// # });
/// ```
pub struct BoxLayer<I, O, P = BoxPrep, X = BoxExec> {
    wrap: Arc<Wrap<I, O, P, X>>,
}

type Wrap<I, O, P, X> = dyn Fn(BoxNode<I, O, P, X>) -> BoxNode<I, O, P, X> + Send + Sync;

impl<I, O, P, X> Clone for BoxLayer<I, O, P, X> {
    fn clone(&self) -> Self {
        BoxLayer { wrap: self.wrap.clone() }
    }
}

impl<I, O, P, X> fmt::Debug for BoxLayer<I, O, P, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxLayer")
    }
}

impl<I: Send + Sync + 'static, O: Send + 'static> BoxLayer<I, O> {
    /// Erase `layer`; the node it makes is boxed again (so it may change the step types).
    pub fn new<L>(layer: L) -> Self
    where
        L: Layer<BoxNode<I, O>> + Send + Sync + 'static,
        L::Node: Node<Input = I, Output = O>,
    {
        BoxLayer { wrap: Arc::new(move |node| BoxNode::new(layer.layer(node))) }
    }
}

impl<I, O, P, X> BoxLayer<I, O, P, X>
where
    I: Send + Sync + 'static,
    O: Send + 'static,
    P: Send + Sync + 'static,
    X: Send + 'static,
{
    /// Erase `layer`, which keeps the step types of the nodes it wraps.
    pub fn typed<L>(layer: L) -> Self
    where
        L: Layer<BoxNode<I, O, P, X>> + Send + Sync + 'static,
        L::Node: Node<Input = I, Output = O, Prep = P, Exec = X>,
    {
        BoxLayer { wrap: Arc::new(move |node| BoxNode::typed(layer.layer(node))) }
    }

    /// A layer from a function of the boxed node.
    pub fn from_fn(wrap: impl Fn(BoxNode<I, O, P, X>) -> BoxNode<I, O, P, X> + Send + Sync + 'static) -> Self {
        BoxLayer { wrap: Arc::new(wrap) }
    }

    /// Apply to an already boxed node (no further boxing).
    pub fn apply(&self, node: BoxNode<I, O, P, X>) -> BoxNode<I, O, P, X> {
        (self.wrap)(node)
    }
}

impl<N, I, O> Layer<N> for BoxLayer<I, O>
where
    N: Node<Input = I, Output = O>,
    I: Send + Sync + 'static,
    O: Send + 'static,
{
    type Node = BoxNode<I, O>;
    fn layer(&self, inner: N) -> BoxNode<I, O> {
        (self.wrap)(BoxNode::new(inner))
    }
}

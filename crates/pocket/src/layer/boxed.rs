//! [`BoxLayer`]: a type-erased layer for nodes of one input and output type.

use std::fmt;
use std::sync::Arc;

use super::Layer;
use crate::node::{BoxNode, Node};

/// Any layer (or stack) for nodes of input `I` and output `O`, its type erased: the result is a
/// [`BoxNode`]. Lists of layers chosen at run time — the YAML loader's node-level keys — are
/// `Vec<BoxLayer<I, O>>`, applied in order.
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
pub struct BoxLayer<I, O> {
    wrap: Arc<Wrap<I, O>>,
}

type Wrap<I, O> = dyn Fn(BoxNode<I, O>) -> BoxNode<I, O> + Send + Sync;

impl<I, O> Clone for BoxLayer<I, O> {
    fn clone(&self) -> Self {
        BoxLayer { wrap: self.wrap.clone() }
    }
}

impl<I, O> fmt::Debug for BoxLayer<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxLayer")
    }
}

impl<I: Send + Sync + 'static, O: Send + 'static> BoxLayer<I, O> {
    /// Erase `layer`.
    pub fn new<L>(layer: L) -> Self
    where
        L: Layer<BoxNode<I, O>> + Send + Sync + 'static,
        L::Node: Node<Input = I, Output = O>,
    {
        BoxLayer { wrap: Arc::new(move |node| BoxNode::new(layer.layer(node))) }
    }

    /// A layer from a function of the boxed node.
    pub fn from_fn(wrap: impl Fn(BoxNode<I, O>) -> BoxNode<I, O> + Send + Sync + 'static) -> Self {
        BoxLayer { wrap: Arc::new(wrap) }
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

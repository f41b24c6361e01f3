//! Stacks of layers: [`Identity`], [`Stack`] and tuples.

use super::Layer;
use crate::node::Node;

/// The empty stack: leaves the node as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Identity;

impl<N: Node> Layer<N> for Identity {
    type Node = N;
    fn layer(&self, inner: N) -> N {
        inner
    }
}

/// Two layers, `inner` applied first and `outer` around it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stack<Inner, Outer> {
    inner: Inner,
    outer: Outer,
}

impl<Inner, Outer> Stack<Inner, Outer> {
    /// `outer` around `inner`.
    pub fn new(inner: Inner, outer: Outer) -> Self {
        Stack { inner, outer }
    }

    /// This stack with `layer` around it.
    pub fn push<L>(self, layer: L) -> Stack<Self, L> {
        Stack::new(self, layer)
    }
}

impl<N, Inner, Outer> Layer<N> for Stack<Inner, Outer>
where
    N: Node,
    Inner: Layer<N>,
    Outer: Layer<Inner::Node>,
{
    type Node = Outer::Node;
    fn layer(&self, inner: N) -> Outer::Node {
        self.outer.layer(self.inner.layer(inner))
    }
}

/// Tuples are stacks, applied left to right: `(a, b)` is `node.layer(a).layer(b)`, so the first
/// element is the innermost — the order of a chain of `NodeExt` calls. Implemented up to 8.
impl<N: Node> Layer<N> for () {
    type Node = N;
    fn layer(&self, inner: N) -> N {
        inner
    }
}

impl<N: Node, A> Layer<N> for (A,)
where
    A: Layer<N>,
{
    type Node = A::Node;
    fn layer(&self, inner: N) -> Self::Node {
        let (a,) = self;
        a.layer(inner)
    }
}

impl<N: Node, A, B> Layer<N> for (A, B)
where
    A: Layer<N>,
    B: Layer<A::Node>,
{
    type Node = B::Node;
    fn layer(&self, inner: N) -> Self::Node {
        let (a, b) = self;
        b.layer(a.layer(inner))
    }
}

impl<N: Node, A, B, C> Layer<N> for (A, B, C)
where
    A: Layer<N>,
    B: Layer<A::Node>,
    C: Layer<B::Node>,
{
    type Node = C::Node;
    fn layer(&self, inner: N) -> Self::Node {
        let (a, b, c) = self;
        c.layer(b.layer(a.layer(inner)))
    }
}

impl<N: Node, A, B, C, D> Layer<N> for (A, B, C, D)
where
    A: Layer<N>,
    B: Layer<A::Node>,
    C: Layer<B::Node>,
    D: Layer<C::Node>,
{
    type Node = D::Node;
    fn layer(&self, inner: N) -> Self::Node {
        let (a, b, c, d) = self;
        d.layer(c.layer(b.layer(a.layer(inner))))
    }
}

impl<N: Node, A, B, C, D, E> Layer<N> for (A, B, C, D, E)
where
    A: Layer<N>,
    B: Layer<A::Node>,
    C: Layer<B::Node>,
    D: Layer<C::Node>,
    E: Layer<D::Node>,
{
    type Node = E::Node;
    fn layer(&self, inner: N) -> Self::Node {
        let (a, b, c, d, e) = self;
        e.layer(d.layer(c.layer(b.layer(a.layer(inner)))))
    }
}

impl<N: Node, A, B, C, D, E, F> Layer<N> for (A, B, C, D, E, F)
where
    A: Layer<N>,
    B: Layer<A::Node>,
    C: Layer<B::Node>,
    D: Layer<C::Node>,
    E: Layer<D::Node>,
    F: Layer<E::Node>,
{
    type Node = F::Node;
    fn layer(&self, inner: N) -> Self::Node {
        let (a, b, c, d, e, f) = self;
        f.layer(e.layer(d.layer(c.layer(b.layer(a.layer(inner))))))
    }
}

impl<N: Node, A, B, C, D, E, F, G> Layer<N> for (A, B, C, D, E, F, G)
where
    A: Layer<N>,
    B: Layer<A::Node>,
    C: Layer<B::Node>,
    D: Layer<C::Node>,
    E: Layer<D::Node>,
    F: Layer<E::Node>,
    G: Layer<F::Node>,
{
    type Node = G::Node;
    fn layer(&self, inner: N) -> Self::Node {
        let (a, b, c, d, e, f, g) = self;
        g.layer(f.layer(e.layer(d.layer(c.layer(b.layer(a.layer(inner)))))))
    }
}

impl<N: Node, A, B, C, D, E, F, G, H> Layer<N> for (A, B, C, D, E, F, G, H)
where
    A: Layer<N>,
    B: Layer<A::Node>,
    C: Layer<B::Node>,
    D: Layer<C::Node>,
    E: Layer<D::Node>,
    F: Layer<E::Node>,
    G: Layer<F::Node>,
    H: Layer<G::Node>,
{
    type Node = H::Node;
    fn layer(&self, inner: N) -> Self::Node {
        let (a, b, c, d, e, f, g, h) = self;
        h.layer(g.layer(f.layer(e.layer(d.layer(c.layer(b.layer(a.layer(inner))))))))
    }
}

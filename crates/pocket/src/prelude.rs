//! The traits a program using Pocket needs in scope: `use pocket::prelude::*;`.

pub use crate::error::ResultExt;
pub use crate::layer::Layer;
pub use crate::node::{Node, NodeExt, SyncNode};
pub use crate::pattern::ConcurrentNodes;

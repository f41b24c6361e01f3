//! The shared key/value store of a run.
//!
//! One [`Store`] is shared by every node of a run (and by concurrent runs if you pass the same
//! one). Prep sees it through a read-only [`StoreView`]; Post and hooks get the writable
//! [`Store`]. The split is enforced by the types: a `StoreView` has no setter, and no method
//! turns it back into a `Store`.
//!
//! Values are kept either as JSON ([`serde_json::Value`], the view YAML workflows use) or as
//! the Rust value written through a typed [`Key`]; each side can read what the other wrote.
//!
//! # Scopes
//!
//! [`Store::scope`] returns a view whose keys are prefixed with `prefix:`. Scopes share the
//! parent's data *and its locks*: a parent and any number of scopes may be used from many
//! tasks at once.
//!
//! # Bounds
//!
//! [`Store::builder`] sets an LRU bound on the number of entries, a time-to-live and an
//! eviction callback:
//!
//! * **LRU**: reads and writes make an entry most recently used; inserting past the bound
//!   evicts the least recently used entry. A bound of N keeps exactly the N most recently
//!   used entries: a bounded store keeps one LRU order under one lock (an unbounded store is
//!   sharded, 64 ways, for concurrent tasks).
//! * **TTL**: an entry lives for the TTL counted from its **last write** (a write refreshes
//!   it; a read does not). Expired entries are never returned, never counted by
//!   [`Store::len`], and are purged before any live entry is evicted, so they never take
//!   capacity from live ones.
//! * **Eviction callback**: called with the key, the value and the [`EvictReason`] after the
//!   store's lock is released, so it may use the store. Explicit deletes and overwrites do not
//!   call it.
//!
//! # Examples
//!
//! ```
//! use pocket::{Key, Store};
//! use serde_json::json;
//!
//! const VISITS: Key<u64> = Key::new("visits");
//!
//! let store = Store::new();
//! store.set(&VISITS, 3);
//! assert_eq!(store.get(&VISITS).unwrap(), Some(3));
//!
//! // The JSON view sees the typed value, and scopes share the data.
//! assert_eq!(store.get_value("visits").unwrap(), Some(json!(3)));
//! store.scope("user").set_value("name", json!("ada"));
//! assert_eq!(store.get_value("user:name").unwrap(), Some(json!("ada")));
//! ```

mod key;
mod memory;

pub use key::Key;
pub use memory::{EvictReason, Evicted, Store, StoreBackend, StoreBuilder, StoreValue, StoreView};

/// A store read that could not produce the requested type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stored value is not of the type the key asks for.
    #[error("store key `{key}` holds a `{found}`, not a `{expected}`")]
    TypeMismatch {
        /// The full key.
        key: String,
        /// The requested type.
        expected: &'static str,
        /// What is stored.
        found: String,
    },
    /// A typed value could not be shown as JSON.
    #[error("store key `{key}` holds a value that cannot be converted to JSON")]
    NotJson {
        /// The full key.
        key: String,
        /// The serializer's error.
        #[source]
        source: serde_json::Error,
    },
}

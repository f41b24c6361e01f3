use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use hashlink::LinkedHashMap;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use smol_str::{SmolStr, SmolStrBuilder};

use crate::erased::{Stored, stored};
use tokio::time::Instant;

use super::{Key, StoreError};

type Hasher = foldhash::fast::FixedState;
type Callback = Arc<dyn Fn(Evicted) + Send + Sync>;

/// Shards of an unbounded store: enough that concurrent tasks rarely share a lock. A bounded
/// store is one shard: one exact LRU order over all its entries (shards with their own orders
/// and bounds keep fewer entries than the bound and evict what is not the least recently
/// used; see BENCHMARKS.md for what the one lock costs).
const SHARDS: usize = 64;

/// Why the store dropped an entry on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvictReason {
    /// The LRU bound was reached and this was the least recently used entry.
    Evicted,
    /// The entry outlived the store's TTL.
    Expired,
}

/// An entry the store dropped on its own, handed to the eviction callback.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Evicted {
    /// The full key (scope prefixes included).
    pub key: String,
    /// The value, as JSON (`Null` if a typed value cannot be shown as JSON).
    pub value: Value,
    /// Why it was dropped.
    pub reason: EvictReason,
}

#[derive(Clone)]
enum Slot {
    Json(Value),
    Typed(Arc<dyn Stored>),
}

/// A value as a [`StoreBackend`] holds it: the JSON written through [`Store::set_value`], or
/// the Rust value written through a typed [`Key`] (kept as itself, readable as JSON). Cheap to
/// clone.
#[derive(Clone)]
pub struct StoreValue(Slot);

impl fmt::Debug for StoreValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreValue").field(&self.0.type_name()).finish()
    }
}

impl StoreValue {
    /// A JSON value.
    pub fn json(value: Value) -> Self {
        StoreValue(Slot::Json(value))
    }

    /// The value as JSON (what a durable backend writes down).
    ///
    /// # Errors
    ///
    /// The serializer's, for a typed value that cannot be shown as JSON.
    pub fn to_json(&self) -> serde_json::Result<Value> {
        self.0.to_json()
    }

    /// The value's type, for messages (`JSON object`, or the Rust type's name).
    pub fn type_name(&self) -> String {
        self.0.type_name()
    }
}

/// Where a [`Store`]'s data lives when it is not the built-in in-memory map
/// ([`Store::with_backend`]): keys are full keys (scope prefixes included); values are
/// [`StoreValue`]s. A durable backend writes `value.to_json()` and reads back
/// `StoreValue::json`. Nodes do not see the difference: they get the same [`Store`] handle.
pub trait StoreBackend: Send + Sync + 'static {
    /// The value under `key`, if any.
    fn get(&self, key: &str) -> Option<StoreValue>;
    /// Write `value` under `key`.
    fn set(&self, key: &str, value: StoreValue);
    /// Remove `key`; whether it was there.
    fn delete(&self, key: &str) -> bool;
    /// The full keys that start with `prefix`.
    fn keys(&self, prefix: &str) -> Vec<String>;
    /// The number of entries.
    fn len(&self) -> usize;
    /// Whether there is no entry.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Slot {
    fn type_name(&self) -> String {
        match self {
            Slot::Json(v) => format!("JSON {}", json_kind(v)),
            Slot::Typed(v) => v.type_name().to_string(),
        }
    }

    fn to_json(&self) -> serde_json::Result<Value> {
        match self {
            Slot::Json(v) => Ok(v.clone()),
            Slot::Typed(v) => v.to_json(),
        }
    }

    /// As [`Slot::to_json`], without copying a JSON value that is already owned.
    fn into_json(self) -> serde_json::Result<Value> {
        match self {
            Slot::Json(v) => Ok(v),
            Slot::Typed(v) => v.to_json(),
        }
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

struct Entry {
    slot: Slot,
    written: Instant,
    generation: u64,
}

/// The entries of one shard: a plain hash map for unbounded stores, a linked one (LRU order)
/// for bounded stores.
enum Map {
    Plain(HashMap<SmolStr, Entry, Hasher>),
    Linked(LinkedHashMap<SmolStr, Entry, Hasher>),
}

impl Map {
    fn get(&self, key: &str) -> Option<&Entry> {
        match self {
            Map::Plain(m) => m.get(key),
            Map::Linked(m) => m.get(key),
        }
    }

    /// The entry under `key` (whose hash is `hash`), made the most recently used.
    fn touched(&mut self, hash: u64, key: &str) -> Option<&mut Entry> {
        use hashlink::linked_hash_map::RawEntryMut;
        match self {
            Map::Plain(m) => m.get_mut(key),
            Map::Linked(m) => match m.raw_entry_mut().from_key_hashed_nocheck(hash, key) {
                RawEntryMut::Occupied(mut found) => {
                    found.to_back();
                    Some(found.into_mut())
                }
                RawEntryMut::Vacant(_) => None,
            },
        }
    }

    /// Put `entry` in place of the one under `key` (made the most recently used) and give
    /// back the replaced value, or give `entry` back when there is none.
    fn replace(&mut self, hash: u64, key: &str, entry: Entry) -> Result<Slot, Entry> {
        match self.touched(hash, key) {
            Some(old) => Ok(std::mem::replace(old, entry).slot),
            None => Err(entry),
        }
    }

    /// Insert `entry` under `key`, known to be absent (the most recently used).
    fn insert_new(&mut self, hash: u64, key: &str, entry: Entry) {
        use hashlink::linked_hash_map::RawEntryMut;
        match self {
            Map::Plain(m) => {
                m.insert(key.into(), entry);
            }
            Map::Linked(m) => match m.raw_entry_mut().from_key_hashed_nocheck(hash, key) {
                RawEntryMut::Vacant(vacant) => {
                    vacant.insert_hashed_nocheck(hash, key.into(), entry);
                }
                RawEntryMut::Occupied(mut found) => {
                    found.to_back();
                    *found.get_mut() = entry;
                }
            },
        }
    }

    fn remove(&mut self, key: &str) -> Option<Entry> {
        match self {
            Map::Plain(m) => m.remove(key),
            Map::Linked(m) => m.remove(key),
        }
    }

    fn len(&self) -> usize {
        match self {
            Map::Plain(m) => m.len(),
            Map::Linked(m) => m.len(),
        }
    }

    fn pop_front(&mut self) -> Option<(SmolStr, Entry)> {
        match self {
            Map::Plain(_) => None,
            Map::Linked(m) => m.pop_front(),
        }
    }

    fn keys(&self) -> Box<dyn Iterator<Item = &SmolStr> + '_> {
        match self {
            Map::Plain(m) => Box::new(m.keys()),
            Map::Linked(m) => Box::new(m.keys()),
        }
    }
}

struct Shard {
    map: Map,
    /// Keys in write order (TTL only); stale items are skipped by generation.
    writes: VecDeque<(SmolStr, u64)>,
    generation: u64,
}

struct Config {
    /// The entry bound (`0`: none).
    bound: usize,
    ttl: Option<Duration>,
    on_evict: Option<Callback>,
}

struct Shared {
    shards: Box<[Mutex<Shard>]>,
    hasher: Hasher,
    config: Config,
    /// Another backend holds the data instead of the shards (which are then empty).
    backend: Option<Arc<dyn StoreBackend>>,
    /// The keys written, deleted or evicted since the last checkpoint (durable runs only:
    /// unset, it costs one atomic load per write).
    journal: OnceLock<Mutex<Vec<SmolStr>>>,
}

/// The writable handle to a run's shared store. Cheap to clone (all clones share the data).
///
/// See the [module documentation](crate::store) for scopes, bounds and TTL.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
    /// `scope:` (nested: `a:b:`); inline (no allocation) up to 23 bytes.
    prefix: Option<SmolStr>,
}

/// A read-only view of a [`Store`], as given to Prep. It has no setter, and nothing turns it
/// back into a writable store.
///
/// # Examples
///
/// ```
/// use pocket::Store;
/// use serde_json::json;
///
/// let store = Store::new();
/// store.set_value("k", json!(1));
/// let view = store.view();
/// assert_eq!(view.get_value("k").unwrap(), Some(json!(1)));
/// ```
#[derive(Clone)]
pub struct StoreView {
    store: Store,
}

/// Configures a bounded store. See [`Store::builder`].
#[derive(Default)]
#[must_use]
pub struct StoreBuilder {
    max_entries: Option<usize>,
    ttl: Option<Duration>,
    on_evict: Option<Callback>,
}

impl fmt::Debug for StoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreBuilder")
            .field("max_entries", &self.max_entries)
            .field("ttl", &self.ttl)
            .field("on_evict", &self.on_evict.is_some())
            .finish()
    }
}

impl StoreBuilder {
    /// Bound the store to `n` entries, evicting the least recently used. `0` means unbounded.
    pub fn max_entries(mut self, n: usize) -> Self {
        self.max_entries = (n > 0).then_some(n);
        self
    }

    /// Let entries expire `ttl` after their last write. A zero duration means no expiry.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = (!ttl.is_zero()).then_some(ttl);
        self
    }

    /// Call `f` for every entry the store drops on its own (eviction or expiry), outside the
    /// store's lock.
    pub fn on_evict(mut self, f: impl Fn(Evicted) + Send + Sync + 'static) -> Self {
        self.on_evict = Some(Arc::new(f));
        self
    }

    /// Build the store.
    pub fn build(self) -> Store {
        let (shards, bound) = match self.max_entries {
            None => (SHARDS, 0),
            Some(n) => (1, n),
        };
        Store {
            shared: Arc::new(Shared {
                shards: (0..shards)
                    .map(|_| {
                        let map = if bound > 0 {
                            Map::Linked(LinkedHashMap::with_hasher(Hasher::default()))
                        } else {
                            Map::Plain(HashMap::with_hasher(Hasher::default()))
                        };
                        Mutex::new(Shard { map, writes: VecDeque::new(), generation: 0 })
                    })
                    .collect(),
                hasher: Hasher::default(),
                config: Config { bound, ttl: self.ttl, on_evict: self.on_evict },
                backend: None,
                journal: OnceLock::new(),
            }),
            prefix: None,
        }
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("prefix", &self.prefix.as_deref().unwrap_or(""))
            .field("max_entries", &self.max_entries())
            .field("ttl", &self.shared.config.ttl)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for StoreView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreView").field(&self.store).finish()
    }
}

impl Store {
    /// An unbounded store without expiry.
    pub fn new() -> Self {
        StoreBuilder::default().build()
    }

    /// A store whose data lives in `backend` (a database, a remote store): the handles —
    /// scopes, typed keys, the JSON view, the read-only view — work as on the in-memory store;
    /// bounds and expiry are the backend's business.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::sync::{Arc, Mutex};
    /// use pocket::store::{StoreBackend, StoreValue};
    /// use pocket::{Key, Store};
    ///
    /// #[derive(Default)]
    /// struct Recorded(Mutex<BTreeMap<String, StoreValue>>);
    ///
    /// impl StoreBackend for Recorded {
    ///     fn get(&self, key: &str) -> Option<StoreValue> {
    ///         self.0.lock().unwrap().get(key).cloned()
    ///     }
    ///     fn set(&self, key: &str, value: StoreValue) {
    ///         self.0.lock().unwrap().insert(key.to_string(), value);
    ///     }
    ///     fn delete(&self, key: &str) -> bool {
    ///         self.0.lock().unwrap().remove(key).is_some()
    ///     }
    ///     fn keys(&self, prefix: &str) -> Vec<String> {
    ///         self.0.lock().unwrap().keys().filter(|k| k.starts_with(prefix)).cloned().collect()
    ///     }
    ///     fn len(&self) -> usize {
    ///         self.0.lock().unwrap().len()
    ///     }
    /// }
    ///
    /// let backend = Arc::new(Recorded::default());
    /// let store = Store::with_backend(backend.clone());
    /// store.scope("user").set(&Key::<u32>::new("age"), 36);
    /// let written = backend.0.lock().unwrap()["user:age"].to_json().unwrap();
    /// assert_eq!(written, serde_json::json!(36));
    /// assert_eq!(store.scope("user").get(&Key::<u32>::new("age")).unwrap(), Some(36));
    /// ```
    pub fn with_backend(backend: Arc<dyn StoreBackend>) -> Self {
        Store {
            shared: Arc::new(Shared {
                shards: Box::new([]),
                hasher: Hasher::default(),
                config: Config { bound: 0, ttl: None, on_evict: None },
                backend: Some(backend),
                journal: OnceLock::new(),
            }),
            prefix: None,
        }
    }

    /// Configure a bounded store (LRU bound, TTL, eviction callback).
    ///
    /// ```
    /// use std::time::Duration;
    /// use pocket::Store;
    /// use serde_json::json;
    ///
    /// let store = Store::builder().max_entries(2).ttl(Duration::from_secs(60)).build();
    /// for k in ["a", "b", "c"] {
    ///     store.set_value(k, json!(k));
    /// }
    /// assert_eq!(store.len(), 2);
    /// assert_eq!(store.get_value("a").unwrap(), None); // least recently used: evicted
    /// ```
    pub fn builder() -> StoreBuilder {
        StoreBuilder::default()
    }

    /// The entry bound, if any.
    pub fn max_entries(&self) -> Option<usize> {
        let bound = self.shared.config.bound;
        (bound > 0).then_some(bound)
    }

    /// A read-only view of this store (same scope).
    pub fn view(&self) -> StoreView {
        StoreView { store: self.clone() }
    }

    /// A view whose keys are prefixed with `prefix:` (nested scopes stack: `a:b:key`). It
    /// shares this store's data, bounds and locks.
    pub fn scope(&self, prefix: &str) -> Store {
        self.scope_parts(prefix, None)
    }

    /// The scope `<name>-<index>` (e.g. `item-7`), built without formatting machinery: fan-outs
    /// make one per item.
    pub(crate) fn scope_indexed(&self, name: &str, index: usize) -> Store {
        self.scope_parts(name, Some(index))
    }

    /// The scope whose full prefix is `prefix` (ending in `:`) when this is the root store —
    /// sharing the given string, no allocation — else the scope `prefix` below this one.
    pub(crate) fn scope_shared(&self, prefix: &SmolStr) -> Store {
        match &self.prefix {
            None => Store { shared: self.shared.clone(), prefix: Some(prefix.clone()) },
            Some(_) => self.scope(prefix.strip_suffix(':').unwrap_or(prefix)),
        }
    }

    fn scope_parts(&self, name: &str, index: Option<usize>) -> Store {
        let mut digits = [0u8; 20];
        let mut prefix = SmolStrBuilder::new();
        prefix.push_str(self.prefix.as_deref().unwrap_or(""));
        prefix.push_str(name);
        if let Some(index) = index {
            prefix.push('-');
            prefix.push_str(decimal(index, &mut digits));
        }
        prefix.push(':');
        Store { shared: self.shared.clone(), prefix: Some(prefix.finish()) }
    }

    /// The prefix of this scope (`""` for the root store).
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or("")
    }

    /// Read a typed value. `Ok(None)` when absent or expired; an error when the stored value
    /// is of another type.
    pub fn get<T>(&self, key: &Key<T>) -> Result<Option<T>, StoreError>
    where
        T: Clone + DeserializeOwned + Send + Sync + 'static,
    {
        self.with_key(key.name(), |full| {
            let Some(slot) = self.lookup(full) else { return Ok(None) };
            match &slot {
                Slot::Typed(v) => match stored::<T>(&**v) {
                    Some(v) => Ok(Some(v.clone())),
                    None => Err(StoreError::TypeMismatch {
                        key: full.to_string(),
                        expected: std::any::type_name::<T>(),
                        found: slot.type_name(),
                    }),
                },
                Slot::Json(v) => T::deserialize(v).map(Some).map_err(|_| StoreError::TypeMismatch {
                    key: full.to_string(),
                    expected: std::any::type_name::<T>(),
                    found: slot.type_name(),
                }),
            }
        })
    }

    /// Write a typed value.
    pub fn set<T>(&self, key: &Key<T>, value: T)
    where
        T: Serialize + Send + Sync + 'static,
    {
        let slot = Slot::Typed(Arc::new(value));
        self.with_key(key.name(), |full| self.put(full, slot));
    }

    /// Read a typed value under a dynamic key: `None` when absent, expired or of another type
    /// (for caches, where a type mismatch is a miss).
    pub(crate) fn get_typed<T: Clone + 'static>(&self, key: &str) -> Option<T> {
        self.with_key(key, |full| match self.lookup(full)? {
            Slot::Typed(v) => stored::<T>(&*v).cloned(),
            Slot::Json(_) => None,
        })
    }

    /// Write a typed value under a dynamic key.
    pub(crate) fn set_typed<T: Serialize + Send + Sync + 'static>(&self, key: &str, value: T) {
        self.with_key(key, |full| self.put(full, Slot::Typed(Arc::new(value))));
    }

    /// Read a value as JSON. `Ok(None)` when absent or expired.
    pub fn get_value(&self, key: &str) -> Result<Option<Value>, StoreError> {
        self.with_key(key, |full| match self.lookup(full) {
            None => Ok(None),
            Some(slot) => {
                slot.into_json().map(Some).map_err(|source| StoreError::NotJson { key: full.to_string(), source })
            }
        })
    }

    /// Write a JSON value.
    pub fn set_value(&self, key: &str, value: Value) {
        self.with_key(key, |full| self.put(full, Slot::Json(value)));
    }

    /// Whether a live entry exists under `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.with_key(key, |full| match &self.shared.backend {
            Some(backend) => backend.get(full).is_some(),
            None => self.read_with(full, |_| ()).is_some(),
        })
    }

    /// Remove `key`; returns whether it was present. The eviction callback is not called.
    pub fn delete(&self, key: &str) -> bool {
        self.with_key(key, |full| {
            self.note(full);
            match &self.shared.backend {
                Some(backend) => backend.delete(full),
                None => self.shard(full).map.remove(full).is_some(),
            }
        })
    }

    /// The number of live entries in the whole store (all scopes).
    pub fn len(&self) -> usize {
        if let Some(backend) = &self.shared.backend {
            return backend.len();
        }
        let now = Instant::now();
        let mut evicted = Vec::new();
        let mut total = 0;
        for shard in self.shared.shards.iter() {
            let mut shard = lock(shard);
            self.purge_expired(&mut shard, now, &mut evicted);
            total += shard.map.len();
        }
        self.notify(evicted);
        total
    }

    /// Whether the store holds no live entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live keys of this scope, without the scope's prefix, sorted.
    pub fn keys(&self) -> Vec<String> {
        let prefix = self.prefix();
        if let Some(backend) = &self.shared.backend {
            let mut keys: Vec<String> =
                backend.keys(prefix).iter().filter_map(|k| k.strip_prefix(prefix)).map(str::to_string).collect();
            keys.sort_unstable();
            return keys;
        }
        let now = Instant::now();
        let mut keys = Vec::new();
        let mut evicted = Vec::new();
        for shard in self.shared.shards.iter() {
            let mut shard = lock(shard);
            self.purge_expired(&mut shard, now, &mut evicted);
            keys.extend(shard.map.keys().filter_map(|k| k.strip_prefix(prefix)).map(str::to_string));
        }
        self.notify(evicted);
        keys.sort_unstable();
        keys
    }

    fn with_key<R>(&self, key: &str, f: impl FnOnce(&str) -> R) -> R {
        match &self.prefix {
            None => f(key),
            Some(prefix) => {
                // Scoped keys up to 23 bytes are built inline, without an allocation.
                let mut full = SmolStrBuilder::new();
                full.push_str(prefix);
                full.push_str(key);
                f(&full.finish())
            }
        }
    }

    fn shard(&self, full: &str) -> MutexGuard<'_, Shard> {
        self.shard_of(self.shared.hasher.hash_one(full))
    }

    /// The shard of a key whose hash is `hash` (computed before the lock is taken, and used by
    /// a bounded store's map too).
    fn shard_of(&self, hash: u64) -> MutexGuard<'_, Shard> {
        let shards = &self.shared.shards;
        lock(&shards[(hash as usize) % shards.len()])
    }

    /// The value under the full key `full`, from whichever backend holds the data.
    fn lookup(&self, full: &str) -> Option<Slot> {
        match &self.shared.backend {
            None => self.read_with(full, Slot::clone),
            Some(backend) => backend.get(full).map(|v| v.0),
        }
    }

    /// Write `slot` under the full key `full`, to whichever backend holds the data.
    fn put(&self, full: &str, slot: Slot) {
        self.note(full);
        match &self.shared.backend {
            None => self.write(full, slot),
            Some(backend) => backend.set(full, StoreValue(slot)),
        }
    }

    /// Look `full` up (expiring it if its time is over, refreshing its LRU position) and apply
    /// `f` to it under the shard's lock; `f` must be cheap and must not run user code.
    fn read_with<R>(&self, full: &str, f: impl FnOnce(&Slot) -> R) -> Option<R> {
        let config = &self.shared.config;
        let hash = self.shared.hasher.hash_one(full);
        let mut shard = self.shard_of(hash);
        if let Some(ttl) = config.ttl
            && expired(shard.map.get(full)?.written, ttl, Instant::now())
        {
            let entry = shard.map.remove(full)?;
            drop(shard);
            self.note(full);
            self.notify(vec![evicted(full, &entry.slot, EvictReason::Expired)]);
            return None;
        }
        shard.map.touched(hash, full).map(|entry| f(&entry.slot))
    }

    fn write(&self, full: &str, slot: Slot) {
        let config = &self.shared.config;
        let mut dropped = Vec::new();
        let hash = self.shared.hasher.hash_one(full);
        let now = if config.ttl.is_some() { Instant::now() } else { zero_instant() };
        let mut shard = self.shard_of(hash);
        shard.generation += 1;
        let generation = shard.generation;
        // A replaced value is dropped after the lock is released (a large value's drop is not
        // the lock's business).
        let mut replaced = None;
        match shard.map.replace(hash, full, Entry { slot, written: now, generation }) {
            Ok(old) => replaced = Some(old),
            Err(entry) => {
                if config.bound > 0 && shard.map.len() >= config.bound {
                    self.purge_expired(&mut shard, now, &mut dropped);
                    while shard.map.len() >= config.bound {
                        let Some((key, entry)) = shard.map.pop_front() else { break };
                        self.note(&key);
                        if config.on_evict.is_some() {
                            dropped.push(evicted(&key, &entry.slot, EvictReason::Evicted));
                        }
                    }
                }
                shard.map.insert_new(hash, full, entry);
            }
        }
        if config.ttl.is_some() {
            shard.writes.push_back((full.into(), generation));
            self.purge_expired(&mut shard, now, &mut dropped);
            if shard.writes.len() > 2 * shard.map.len() + 64 {
                let Shard { map, writes, .. } = &mut *shard;
                writes.retain(|(k, g)| map.get(k).is_some_and(|e| e.generation == *g));
            }
        }
        drop(shard);
        drop(replaced);
        self.notify(dropped);
    }

    /// Drop expired entries from the front of the write queue (oldest writes first).
    fn purge_expired(&self, shard: &mut Shard, now: Instant, out: &mut Vec<Evicted>) {
        let Some(ttl) = self.shared.config.ttl else { return };
        let notify = self.shared.config.on_evict.is_some();
        while let Some((key, generation)) = shard.writes.front() {
            match shard.map.get(key) {
                Some(entry) if entry.generation == *generation => {
                    if !expired(entry.written, ttl, now) {
                        break;
                    }
                    let (key, _) = shard.writes.pop_front().expect("front exists");
                    self.note(&key);
                    if let Some(entry) = shard.map.remove(&key)
                        && notify
                    {
                        out.push(evicted(&key, &entry.slot, EvictReason::Expired));
                    }
                }
                _ => {
                    shard.writes.pop_front();
                }
            }
        }
    }

    /// Journal a change to the full key `full`, if the store keeps a journal.
    #[inline]
    fn note(&self, full: &str) {
        if let Some(journal) = self.shared.journal.get() {
            lock(journal).push(full.into());
        }
    }

    /// Keep a journal of changed keys from now on ([`Store::take_changes`]): what a durable
    /// run checkpoints at each node boundary.
    /// With `existing`, every key the store holds now is in the first changes.
    pub(crate) fn start_journal(&self, existing: bool) {
        let keys = if existing { self.root().full_keys() } else { Vec::new() };
        let _ = self.shared.journal.set(Mutex::new(Vec::new()));
        if let Some(journal) = self.shared.journal.get() {
            lock(journal).extend(keys);
        }
    }

    /// The store without this handle's scope.
    pub(crate) fn root(&self) -> Store {
        Store { shared: self.shared.clone(), prefix: None }
    }

    /// Every live full key.
    fn full_keys(&self) -> Vec<SmolStr> {
        self.keys().into_iter().map(SmolStr::from).collect()
    }

    /// The keys changed since the last call (full keys, each once, in first-change order) with
    /// their values now (`None`: deleted, evicted or expired); empty without a journal.
    ///
    /// # Errors
    ///
    /// The key of a typed value that cannot be shown as JSON.
    pub(crate) fn take_changes(&self) -> Result<Vec<(String, Option<Value>)>, StoreError> {
        let Some(journal) = self.shared.journal.get() else { return Ok(Vec::new()) };
        let keys = std::mem::take(&mut *lock(journal));
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        let root = self.root();
        let mut changes = Vec::with_capacity(keys.len());
        for key in keys {
            if !seen.insert(key.clone()) {
                continue;
            }
            let value = match root.lookup(&key) {
                None => None,
                Some(slot) => {
                    Some(slot.into_json().map_err(|source| StoreError::NotJson { key: key.to_string(), source })?)
                }
            };
            changes.push((key.to_string(), value));
        }
        Ok(changes)
    }

    fn notify(&self, dropped: Vec<Evicted>) {
        if let Some(callback) = &self.shared.config.on_evict {
            for event in dropped {
                callback(event);
            }
        }
    }
}

fn evicted(key: &str, slot: &Slot, reason: EvictReason) -> Evicted {
    Evicted { key: key.to_string(), value: slot.to_json().unwrap_or(Value::Null), reason }
}

/// Whether an entry written at `written` has outlived `ttl` at `now` (a TTL too large to add
/// never expires).
fn expired(written: Instant, ttl: Duration, now: Instant) -> bool {
    written.checked_add(ttl).is_some_and(|end| end <= now)
}

/// `n` in decimal, written at the end of `buffer`.
fn decimal(mut n: usize, buffer: &mut [u8; 20]) -> &str {
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buffer[at..]).unwrap_or_default()
}

fn zero_instant() -> Instant {
    use std::sync::OnceLock;
    static ZERO: OnceLock<std::time::Instant> = OnceLock::new();
    Instant::from_std(*ZERO.get_or_init(std::time::Instant::now))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // No user code runs under the lock, so a poisoned lock still holds consistent data.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl StoreView {
    /// Read a typed value; see [`Store::get`].
    pub fn get<T>(&self, key: &Key<T>) -> Result<Option<T>, StoreError>
    where
        T: Clone + DeserializeOwned + Send + Sync + 'static,
    {
        self.store.get(key)
    }

    /// Read a value as JSON; see [`Store::get_value`].
    pub fn get_value(&self, key: &str) -> Result<Option<Value>, StoreError> {
        self.store.get_value(key)
    }

    /// Whether a live entry exists under `key`.
    pub fn contains(&self, key: &str) -> bool {
        self.store.contains(key)
    }

    /// A read-only view of the scope `prefix`; see [`Store::scope`].
    pub fn scope(&self, prefix: &str) -> StoreView {
        self.store.scope(prefix).view()
    }

    /// The live keys of this scope; see [`Store::keys`].
    pub fn keys(&self) -> Vec<String> {
        self.store.keys()
    }

    /// The number of live entries in the whole store.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether the store holds no live entry.
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }
}

/// A `StoreView` cannot write:
///
/// ```compile_fail
/// let store = pocket::Store::new();
/// let view = store.view();
/// view.set_value("k", serde_json::json!(1)); // no such method
/// ```
///
/// and cannot be turned back into a `Store`:
///
/// ```compile_fail
/// let view = pocket::Store::new().view();
/// let store: pocket::Store = view.into();
/// ```
#[allow(dead_code)]
fn read_only_view_is_enforced_by_types() {}

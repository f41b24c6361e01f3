//! The result-cache layer: skip Exec when the same Prep result was computed recently.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use super::{Around, AroundExec, Layer};
use crate::ctx::Ctx;
use crate::error::NodeError;
use crate::node::Node;
use crate::store::Store;

/// A shared, bounded cache of Exec results: LRU over `max_entries`, entries expire `ttl` after
/// they were stored, and an expired entry is never returned. Clones share the entries and the
/// counters, so one cache can serve several nodes (their keys must then identify the call).
///
/// It is built on the same bounded [`Store`] as run stores (one LRU/TTL implementation).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use pocket::layer::cache::ResultCache;
/// use pocket::{exec_fn, NodeExt, Store};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let cache = ResultCache::new(1_000, Some(Duration::from_secs(600)));
/// let answer = exec_fn(|q: String| async move { Ok(format!("answer to {q}")) }).cache(cache.clone());
/// let store = Store::new();
/// pocket::run_node(&answer, &store, "why".into()).await.unwrap();
/// pocket::run_node(&answer, &store, "why".into()).await.unwrap(); // served from the cache
/// assert_eq!((cache.hits(), cache.misses()), (1, 1));
/// # });
/// ```
#[derive(Clone)]
pub struct ResultCache {
    entries: Store,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl fmt::Debug for ResultCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultCache")
            .field("entries", &self.entries.len())
            .field("hits", &self.hits())
            .field("misses", &self.misses())
            .finish()
    }
}

impl ResultCache {
    /// At most `max_entries` results (0: unbounded), each kept for `ttl` (`None`: no expiry).
    pub fn new(max_entries: usize, ttl: Option<Duration>) -> Self {
        let mut builder = Store::builder().max_entries(max_entries);
        if let Some(ttl) = ttl {
            builder = builder.ttl(ttl);
        }
        ResultCache { entries: builder.build(), counters: Arc::default() }
    }

    /// Lookups answered from the cache.
    pub fn hits(&self) -> u64 {
        self.counters.hits.load(Ordering::Relaxed)
    }

    /// Lookups that ran Exec.
    pub fn misses(&self) -> u64 {
        self.counters.misses.load(Ordering::Relaxed)
    }

    /// Live entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache holds no live entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forget every entry.
    pub fn clear(&self) {
        for key in self.entries.keys() {
            self.entries.delete(&key);
        }
    }
}

/// A [`ResultCache`] and the function naming each call: the behaviour around Exec of
/// [`NodeExt::cache`](crate::NodeExt::cache) (key: the Prep result serialized as JSON, [`JsonKey`])
/// and [`NodeExt::cache_by`](crate::NodeExt::cache_by) (a key function; `None` skips the cache).
/// Only successful results are cached.
#[derive(Clone)]
pub struct CacheBy<K> {
    cache: ResultCache,
    key: K,
}

impl<K> fmt::Debug for CacheBy<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBy").field("cache", &self.cache).finish_non_exhaustive()
    }
}

impl<K> CacheBy<K> {
    /// Cache in `cache` under `key(prep)`.
    pub fn new(cache: ResultCache, key: K) -> Self {
        CacheBy { cache, key }
    }
}

/// How a cached call is named: a function of the Prep result (`None`: do not cache this call).
pub trait CacheKey<P>: Send + Sync + 'static {
    /// The key of the call with Prep result `prep`.
    fn key(&self, prep: &P) -> Option<String>;
}

impl<P, F: Fn(&P) -> Option<String> + Send + Sync + 'static> CacheKey<P> for F {
    fn key(&self, prep: &P) -> Option<String> {
        self(prep)
    }
}

/// The default cache key: the Prep result as JSON (not cached if it cannot be serialized).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonKey;

impl<P: Serialize> CacheKey<P> for JsonKey {
    fn key(&self, prep: &P) -> Option<String> {
        serde_json::to_string(prep).ok()
    }
}

impl<N, K> AroundExec<N> for CacheBy<K>
where
    N: Node,
    N::Exec: Clone + Serialize + Sync,
    K: CacheKey<N::Prep>,
{
    async fn exec(&self, inner: &N, ctx: &Ctx<'_>, prep: &N::Prep) -> Result<N::Exec, NodeError> {
        let Some(key) = self.key.key(prep) else { return inner.exec(ctx, prep).await };
        if let Some(hit) = self.cache.entries.get_typed::<N::Exec>(&key) {
            self.cache.counters.hits.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(node = ctx.node(), "result cache hit");
            return Ok(hit);
        }
        self.cache.counters.misses.fetch_add(1, Ordering::Relaxed);
        let value = inner.exec(ctx, prep).await?;
        self.cache.entries.set_typed(&key, value.clone());
        Ok(value)
    }
}

/// A cache is a layer keyed by the Prep result as JSON; its nodes share the entries.
impl<N> Layer<N> for ResultCache
where
    N: Node,
    N::Prep: Serialize,
    N::Exec: Clone + Serialize + Sync,
{
    type Node = Around<N, CacheBy<JsonKey>>;
    fn layer(&self, inner: N) -> Self::Node {
        Around::new(inner, CacheBy::new(self.clone(), JsonKey))
    }
}

//! The result cache: hits skip Exec, expired entries are never returned, bounds and sharing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use pocket::layer::cache::ResultCache;
use pocket::{NodeError, NodeExt, Store, exec_fn, run_node};

fn counted(
    calls: Arc<AtomicUsize>,
) -> impl pocket::Node<Input = String, Prep = String, Exec = String, Output = String> {
    exec_fn(move |q: String| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move { if q == "bad" { Err(NodeError::msg("cannot answer")) } else { Ok(format!("A:{q}")) } }
    })
}

#[tokio::test(start_paused = true)]
async fn hits_do_not_run_exec_and_expired_entries_are_never_returned() {
    let calls = Arc::new(AtomicUsize::new(0));
    let cache = ResultCache::new(100, Some(Duration::from_secs(60)));
    let node = counted(calls.clone()).cache(cache.clone());
    let store = Store::new();
    for _ in 0..5 {
        assert_eq!(run_node(&node, &store, "q1".into()).await.unwrap(), "A:q1");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!((cache.hits(), cache.misses()), (4, 1));

    tokio::time::advance(Duration::from_secs(59)).await;
    run_node(&node, &store, "q1".into()).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "still fresh at 59 s");
    tokio::time::advance(Duration::from_secs(1)).await;
    run_node(&node, &store, "q1".into()).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "expired at 60 s: recomputed");
}

#[tokio::test]
async fn failures_are_not_cached_and_keys_can_opt_out() {
    let calls = Arc::new(AtomicUsize::new(0));
    let cache = ResultCache::new(10, None);
    let node = counted(calls.clone()).cache(cache.clone());
    let store = Store::new();
    assert!(run_node(&node, &store, "bad".into()).await.is_err());
    assert!(run_node(&node, &store, "bad".into()).await.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(cache.is_empty());

    // A key function: case-insensitive, and never cache questions about time.
    let node =
        counted(calls.clone()).cache_by(cache.clone(), |q: &String| (!q.contains("time")).then(|| q.to_lowercase()));
    run_node(&node, &store, "Hello".into()).await.unwrap();
    run_node(&node, &store, "hello".into()).await.unwrap();
    run_node(&node, &store, "what time".into()).await.unwrap();
    run_node(&node, &store, "what time".into()).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2 + 1 + 2);
}

#[tokio::test]
async fn the_cache_is_bounded_and_shared() {
    let calls = Arc::new(AtomicUsize::new(0));
    let cache = ResultCache::new(2, None);
    let a = counted(calls.clone()).cache(cache.clone());
    let b = counted(calls.clone()).cache(cache.clone());
    let store = Store::new();
    run_node(&a, &store, "x".into()).await.unwrap();
    run_node(&b, &store, "x".into()).await.unwrap(); // shared: hit
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    run_node(&a, &store, "y".into()).await.unwrap();
    run_node(&a, &store, "z".into()).await.unwrap(); // evicts "x" (least recently used)
    assert_eq!(cache.len(), 2);
    run_node(&b, &store, "x".into()).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    cache.clear();
    assert!(cache.is_empty());
}

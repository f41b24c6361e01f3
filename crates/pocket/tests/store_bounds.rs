//! Bounded stores: LRU, TTL (paused clock) and the eviction callback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pocket::Store;
use pocket::store::{EvictReason, Evicted};
use serde_json::json;

type EvictLog = Arc<Mutex<Vec<(String, EvictReason)>>>;

fn recorder() -> (EvictLog, impl Fn(Evicted) + Send + Sync + 'static) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    (log, move |e: Evicted| l.lock().unwrap().push((e.key, e.reason)))
}

#[test]
fn lru_evicts_the_least_recently_used_entry() {
    let (log, cb) = recorder();
    let store = Store::builder().max_entries(3).on_evict(cb).build();
    for k in ["a", "b", "c"] {
        store.set_value(k, json!(k));
    }
    // Reading "a" and rewriting "b" make them recent: "c" is now the oldest.
    store.get_value("a").unwrap();
    store.set_value("b", json!("b2"));
    store.set_value("d", json!("d"));
    assert_eq!(store.keys(), ["a", "b", "d"]);
    assert_eq!(*log.lock().unwrap(), [("c".to_string(), EvictReason::Evicted)]);
    assert_eq!(store.len(), 3);
    assert_eq!(store.max_entries(), Some(3));
}

#[test]
fn scopes_share_the_bound() {
    let store = Store::builder().max_entries(2).build();
    store.scope("x").set_value("1", json!(1));
    store.scope("y").set_value("1", json!(1));
    store.set_value("z", json!(1));
    assert_eq!(store.keys(), ["y:1", "z"]);
}

#[test]
fn large_bounds_are_sharded_and_never_exceeded() {
    let store = Store::builder().max_entries(10_000).build();
    for i in 0..50_000 {
        store.set_value(&format!("k{i}"), json!(i));
        if i % 7 == 0 {
            let _ = store.get_value(&format!("k{}", i / 2)).unwrap();
        }
    }
    assert!(store.len() <= 10_000);
    assert!(store.len() >= 9_000, "{}", store.len());
    // The most recent writes are all there.
    assert!((49_000..50_000).all(|i| store.contains(&format!("k{i}"))));
}

#[test]
fn explicit_deletes_and_overwrites_do_not_call_the_callback() {
    let (log, cb) = recorder();
    let store = Store::builder().max_entries(10).on_evict(cb).build();
    store.set_value("a", json!(1));
    store.set_value("a", json!(2));
    assert!(store.delete("a"));
    assert!(log.lock().unwrap().is_empty());
}

#[test]
fn the_callback_runs_outside_the_lock_and_may_use_the_store() {
    let store = Store::builder().max_entries(1).build();
    let slot: Arc<Mutex<Option<Store>>> = Arc::default();
    let s = slot.clone();
    let store = {
        // Build a second store whose callback writes into the first.
        let target = store.clone();
        let bounded = Store::builder()
            .max_entries(1)
            .on_evict(move |e| {
                // Re-entering the *same* store from the callback must not deadlock.
                let me = s.lock().unwrap().clone();
                if let Some(me) = me {
                    me.set_value("last-evicted-seen", json!(me.len()));
                }
                target.set_value("evicted", json!(e.key));
            })
            .build();
        *slot.lock().unwrap() = Some(bounded.clone());
        (store, bounded)
    };
    let (target, bounded) = store;
    bounded.set_value("one", json!(1));
    // Evicts "one"; its callback writes into `bounded` (evicting "two", whose callback runs
    // nested and finishes first), then records "one" last.
    bounded.set_value("two", json!(2));
    assert_eq!(target.get_value("evicted").unwrap(), Some(json!("one")));
    assert_eq!(bounded.keys(), ["last-evicted-seen"]);
}

#[tokio::test(start_paused = true)]
async fn ttl_expires_entries_counted_from_the_last_write() {
    let (log, cb) = recorder();
    let store = Store::builder().ttl(Duration::from_secs(10)).on_evict(cb).build();
    store.set_value("a", json!(1));
    store.set_value("b", json!(1));
    tokio::time::advance(Duration::from_secs(6)).await;
    store.set_value("b", json!(2)); // refreshes b
    let _ = store.get_value("a").unwrap(); // a read does not refresh
    tokio::time::advance(Duration::from_secs(5)).await;
    assert_eq!(store.get_value("a").unwrap(), None);
    assert_eq!(store.get_value("b").unwrap(), Some(json!(2)));
    assert_eq!(store.len(), 1);
    tokio::time::advance(Duration::from_secs(5)).await;
    assert!(!store.contains("b"));
    assert!(store.is_empty());
    let log = log.lock().unwrap();
    assert_eq!(*log, [("a".to_string(), EvictReason::Expired), ("b".to_string(), EvictReason::Expired)]);
}

#[tokio::test(start_paused = true)]
async fn expired_entries_never_take_capacity_from_live_ones() {
    let (log, cb) = recorder();
    let store = Store::builder().max_entries(3).ttl(Duration::from_secs(10)).on_evict(cb).build();
    store.set_value("old1", json!(1));
    store.set_value("old2", json!(1));
    tokio::time::advance(Duration::from_secs(5)).await;
    store.set_value("live", json!(1));
    // Touch the old ones so that, by LRU order alone, "live" would be the victim.
    let _ = store.get_value("old1").unwrap();
    let _ = store.get_value("old2").unwrap();
    tokio::time::advance(Duration::from_secs(6)).await; // old1, old2 expired; live has 4s left
    store.set_value("new1", json!(1));
    store.set_value("new2", json!(1));
    assert_eq!(store.keys(), ["live", "new1", "new2"]);
    let log = log.lock().unwrap();
    assert!(log.iter().all(|(_, r)| *r == EvictReason::Expired), "{log:?}");
    assert_eq!(log.len(), 2);
}

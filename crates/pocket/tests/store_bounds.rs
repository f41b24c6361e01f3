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
fn a_bound_of_n_keeps_exactly_the_n_most_recently_used_entries() {
    // Against a reference model (keys by last use), for small and large bounds: the store
    // keeps exactly the model's entries, and evicts exactly what the model evicts.
    use std::collections::{BTreeMap, HashMap};
    #[derive(Default)]
    struct Model {
        by_use: BTreeMap<usize, String>,
        last_use: HashMap<String, usize>,
    }
    impl Model {
        fn touch(&mut self, key: &str, now: usize) {
            if let Some(then) = self.last_use.insert(key.to_string(), now) {
                self.by_use.remove(&then);
            }
            self.by_use.insert(now, key.to_string());
        }
        fn pop_oldest(&mut self) -> String {
            let (_, key) = self.by_use.pop_first().unwrap();
            self.last_use.remove(&key);
            key
        }
    }
    for bound in [7, 4096, 4097, 5000, 10_000] {
        let (log, callback) = recorder();
        let store = Store::builder().max_entries(bound).on_evict(callback).build();
        let mut model = Model::default();
        let mut expected_evictions = Vec::new();
        // A pseudo-random mix of new keys, rewrites and reads (a fixed linear congruential
        // sequence, so the run is the same every time).
        let mut x: u64 = 12345;
        for step in 0..(bound * 3) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let key = format!("k{}", (x >> 33) % (bound as u64 * 2));
            let present = model.last_use.contains_key(&key);
            if step % 3 == 2 {
                let hit = store.get_value(&key).unwrap().is_some();
                assert_eq!(hit, present, "bound {bound}, step {step}: get {key}");
                if hit {
                    model.touch(&key, step);
                }
            } else {
                store.set_value(&key, json!(step));
                if !present && model.last_use.len() == bound {
                    expected_evictions.push(model.pop_oldest());
                }
                model.touch(&key, step);
            }
        }
        assert_eq!(store.len(), model.last_use.len(), "bound {bound}");
        assert_eq!(store.len(), bound, "bound {bound}");
        assert_eq!(store.max_entries(), Some(bound));
        let mut kept = store.keys();
        let mut expected: Vec<String> = model.last_use.into_keys().collect();
        kept.sort();
        expected.sort();
        assert!(kept == expected, "bound {bound}: the entries kept differ from the model's");
        let evicted: Vec<String> = log.lock().unwrap().iter().map(|(key, _)| key.clone()).collect();
        assert!(evicted == expected_evictions, "bound {bound}: the evictions differ from the model's");
    }
}

#[test]
fn ten_thousand_distinct_writes_to_a_bound_of_ten_thousand_keep_all_of_them() {
    let store = Store::builder().max_entries(10_000).build();
    for i in 0..10_000 {
        store.set_value(&format!("k{i}"), json!(i));
    }
    assert_eq!(store.len(), 10_000);
    assert_eq!(Store::builder().max_entries(5000).build().max_entries(), Some(5000));
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

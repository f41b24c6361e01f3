//! A store whose data lives in another backend: nodes, scopes, typed keys and the JSON view
//! work unchanged, and the backend sees every write with its full key.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use pocket::store::{StoreBackend, StoreValue};
use pocket::{FanOut, Key, Next, Store, exec_post_fn, run_node};
use serde_json::json;

#[derive(Default)]
struct Journal {
    data: Mutex<BTreeMap<String, StoreValue>>,
    writes: Mutex<Vec<String>>,
}

impl StoreBackend for Journal {
    fn get(&self, key: &str) -> Option<StoreValue> {
        self.data.lock().unwrap().get(key).cloned()
    }
    fn set(&self, key: &str, value: StoreValue) {
        self.writes.lock().unwrap().push(key.to_string());
        self.data.lock().unwrap().insert(key.to_string(), value);
    }
    fn delete(&self, key: &str) -> bool {
        self.data.lock().unwrap().remove(key).is_some()
    }
    fn keys(&self, prefix: &str) -> Vec<String> {
        self.data.lock().unwrap().keys().filter(|k| k.starts_with(prefix)).cloned().collect()
    }
    fn len(&self) -> usize {
        self.data.lock().unwrap().len()
    }
}

const SEEN: Key<Vec<u32>> = Key::new("seen");

#[tokio::test]
async fn nodes_and_patterns_run_on_another_backend_unchanged() {
    let journal = Arc::new(Journal::default());
    let store = Store::with_backend(journal.clone());

    // A node's Post writes; a fan-out's items write their own scopes.
    let remember = exec_post_fn(
        |x: u32| async move { Ok(x * 10) },
        |store: Store, _x: u32, y: u32| async move {
            store.set_value("last", json!(y));
            Ok((y, Next::Default))
        },
    );
    assert_eq!(run_node(&remember, &store, 4).await.unwrap(), 40);
    let out = FanOut::new(remember).run(&store, [1, 2]).await.unwrap();
    assert_eq!(out, [10, 20]);
    store.set(&SEEN, vec![1, 2]);

    let writes = journal.writes.lock().unwrap().clone();
    assert_eq!(writes, ["last", "item-0:last", "item-1:last", "seen"]);
    assert_eq!(store.get_value("item-1:last").unwrap(), Some(json!(20)));
    assert_eq!(store.scope("item-0").view().get_value("last").unwrap(), Some(json!(10)));
    assert_eq!(store.get(&SEEN).unwrap(), Some(vec![1, 2]), "a typed value reads back as itself");
    assert_eq!(journal.get("seen").unwrap().to_json().unwrap(), json!([1, 2]), "and is JSON for the backend");
    assert_eq!(store.scope("item-0").keys(), ["last"]);
    assert_eq!(store.len(), 4);
    assert!(store.delete("last") && !store.contains("last"));

    // A value the backend holds as JSON reads through a typed key too.
    journal.set("user:age", StoreValue::json(json!(36)));
    assert_eq!(store.scope("user").get(&Key::<u32>::new("age")).unwrap(), Some(36));
}

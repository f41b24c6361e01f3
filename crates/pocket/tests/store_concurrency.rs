//! The store under concurrency: parent and scopes share one synchronisation domain.

use std::collections::HashSet;

use pocket::store::StoreError;
use pocket::{Key, Store};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parent_and_scopes_hammered_from_many_tasks() {
    let store = Store::new();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..32u64 {
        // Even tasks write through scopes (nested for some), odd ones through the parent.
        let store = store.clone();
        tasks.spawn(async move {
            let scope = match t % 4 {
                0 => store.scope(&format!("item-{t}")),
                2 => store.scope("shared").scope(&format!("t{t}")),
                _ => store.clone(),
            };
            for i in 0..500u64 {
                let key = format!("k{i}");
                let key = if t % 2 == 1 { format!("p{t}:{key}") } else { key };
                scope.set_value(&key, json!(i));
                assert_eq!(scope.get_value(&key).unwrap(), Some(json!(i)));
                if i % 3 == 0 {
                    assert!(scope.delete(&key));
                }
                // Everyone also reads and writes one hot key on the parent.
                store.set_value("hot", json!(t));
                let _ = store.get_value("hot").unwrap();
                if i % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("no task panicked");
    }
    // 32 tasks x (500 - 167 deleted) keys, plus "hot".
    assert_eq!(store.len(), 32 * 333 + 1);
    assert_eq!(store.scope("item-4").keys().len(), 333);
    assert_eq!(store.get_value("shared:t2:k1").unwrap(), Some(json!(1)));
    assert_eq!(store.scope("shared").scope("t2").get_value("k2").unwrap(), Some(json!(2)));
    assert!(!store.contains("shared:t2:k3"));
}

#[test]
fn scopes_see_each_other_through_prefixes() {
    let store = Store::new();
    let user = store.scope("user");
    user.set_value("123", json!({"name": "ada"}));
    assert_eq!(store.get_value("user:123").unwrap(), Some(json!({"name": "ada"})));
    assert_eq!(user.prefix(), "user:");
    assert_eq!(user.scope("x").prefix(), "user:x:");
    assert_eq!(user.keys(), ["123"]);
    assert!(store.view().scope("user").contains("123"));
    assert!(user.delete("123"));
    assert!(!user.delete("123"));
    assert!(store.is_empty());
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    name: String,
    visits: u32,
}

const PROFILE: Key<Profile> = Key::new("profile");
const VISITS: Key<u32> = Key::new("visits");
const WRONG: Key<String> = Key::new("visits");

#[test]
fn typed_keys_and_the_json_view_interoperate() {
    let store = Store::new();
    store.set(&PROFILE, Profile { name: "ada".into(), visits: 2 });
    assert_eq!(store.get(&PROFILE).unwrap(), Some(Profile { name: "ada".into(), visits: 2 }));
    // Typed -> JSON view.
    assert_eq!(store.get_value("profile").unwrap(), Some(json!({"name": "ada", "visits": 2})));
    // JSON -> typed.
    store.set_value("visits", json!(7));
    assert_eq!(store.get(&VISITS).unwrap(), Some(7));
    // Mismatches are errors, never panics or silent defaults.
    let err = store.get(&WRONG).unwrap_err();
    assert!(matches!(&err, StoreError::TypeMismatch { key, .. } if key == "visits"));
    assert_eq!(err.to_string(), "store key `visits` holds a `JSON number`, not a `alloc::string::String`");
    store.set(&VISITS, 3);
    let err = store.get(&WRONG).unwrap_err();
    assert_eq!(err.to_string(), "store key `visits` holds a `u32`, not a `alloc::string::String`");
    assert_eq!(store.get(&Key::<u8>::new("absent")).unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn typed_writes_from_many_tasks_land() {
    let store = Store::new();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..16u32 {
        let scope = store.scope(&format!("w{t}"));
        tasks.spawn(async move {
            for i in 0..200u32 {
                scope.set(&VISITS, i);
            }
            scope.get(&VISITS).unwrap()
        });
    }
    let mut finals = HashSet::new();
    while let Some(r) = tasks.join_next().await {
        finals.insert(r.unwrap());
    }
    assert_eq!(finals, HashSet::from([Some(199)]));
    assert_eq!(store.len(), 16);
}

#[test]
fn scope_prefixes_long_and_short_nest_correctly() {
    let store = Store::new();
    let long = "x".repeat(200);
    let deep = store.scope("a").scope(&long).scope("b");
    deep.set_value("k", json!(1));
    assert_eq!(deep.prefix(), format!("a:{long}:b:"));
    assert_eq!(store.get_value(&format!("a:{long}:b:k")).unwrap(), Some(json!(1)));
}
